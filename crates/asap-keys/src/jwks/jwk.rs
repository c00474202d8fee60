//! JSON Web Keys (RFC 7517) and the algorithms' key parameters (RFC 7518 §6, RFC 8037 §2): a
//! key set parsed strictly into [`PublicKey`]s, and written back from them.
//!
//! Parsing goes through the same constructors as every other public key
//! ([`PublicKey::from_spki_der`] on the document the one DER writer builds), so a JWK key meets
//! the same rules as a PEM key: RSA of at least [`MIN_RSA_BITS`](asap_core::MIN_RSA_BITS)
//! bits, EC points on their curve, no small-order Ed25519 point.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use asap_core::{Algorithm, KeyError, KeyId, KeyKind, KidError, PublicKey, parse_json_object, truncate};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pkcs8::der::Decode as _;
use pkcs8::der::asn1::UintRef;
use serde_json::{Map, Value, json};

use crate::formats::der;

/// The most keys one set may hold. A key set publishes the current key and the next one or
/// two; a set far larger is not one this library should hold in memory per source.
pub const MAX_JWKS_KEYS: usize = 100;

/// The members that carry private key material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2):
/// a set that publishes one has leaked a private key, and is refused whole.
pub const PRIVATE_JWK_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a JWK set was refused. Every problem refuses the whole set: a publisher that sends one
/// key this library cannot read, or a private key, is not trusted for the others either.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwkError {
    /// Not a JSON object with a `keys` array (or the JSON itself is malformed).
    #[error("not a JWK set: {0}")]
    NotASet(&'static str),
    /// A JSON member name repeats (at any depth): two parsers could read two different sets.
    #[error("JSON member {0:?} repeats in the JWK set")]
    DuplicateMember(String),
    /// More keys than [`MAX_JWKS_KEYS`].
    #[error("the JWK set holds {count} keys; at most {max} are accepted")]
    TooManyKeys {
        /// Keys in the set.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A member is missing, of the wrong JSON type, or not canonical unpadded base64url.
    #[error("key {index}: member {member:?} {reason}")]
    Member {
        /// The key's position in `keys`.
        index: usize,
        /// The member.
        member: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `kty` other than `RSA`, `EC` and `OKP`.
    #[error("key {index}: unsupported key type {kty:?}")]
    UnknownKeyType {
        /// The key's position in `keys`.
        index: usize,
        /// The `kty` (truncated).
        kty: String,
    },
    /// A `crv` other than `P-256`, `P-384`, `P-521` (EC) and `Ed25519` (OKP).
    #[error("key {index}: unsupported curve {crv:?}")]
    UnknownCurve {
        /// The key's position in `keys`.
        index: usize,
        /// The `crv` (truncated).
        crv: String,
    },
    /// `use` other than `sig`, or `key_ops` naming anything but `verify`: the key is not
    /// published for verifying signatures.
    #[error("key {index}: {member} {value:?} does not publish the key for signature verification")]
    NotForSignatures {
        /// The key's position in `keys`.
        index: usize,
        /// `use` or `key_ops`.
        member: &'static str,
        /// The value (truncated).
        value: String,
    },
    /// An `alg` that is not an asymmetric signature algorithm, or not one this key can verify
    /// (an RSA key marked `ES256`, a P-384 key marked `ES256`, any key marked `HS256`).
    #[error("key {index}: alg {alg:?} does not fit a {kind} key")]
    AlgorithmMismatch {
        /// The key's position in `keys`.
        index: usize,
        /// The `alg` (truncated).
        alg: String,
        /// The kind of key.
        kind: KeyKind,
    },
    /// A private key member ([`PRIVATE_JWK_MEMBERS`]) is present.
    #[error("key {index}: private key member {member:?} is present; a key set publishes public keys only")]
    PrivateMember {
        /// The key's position in `keys`.
        index: usize,
        /// The member.
        member: &'static str,
    },
    /// Two keys share a kid: which one a token means would be the verifier's guess.
    #[error("kid {0} is used by more than one key")]
    DuplicateKid(KeyId),
    /// The kid breaks the kid syntax ([`KeyId::parse`]): keys are looked up by a [`KeyId`].
    #[error("key {index}: invalid kid: {source}")]
    Kid {
        /// The key's position in `keys`.
        index: usize,
        /// Why.
        #[source]
        source: KidError,
    },
    /// The key parameters do not make an acceptable public key (an RSA key under 2048 bits, a
    /// point off the curve, a small-order Ed25519 point).
    #[error("key {index}: {source}")]
    Key {
        /// The key's position in `keys`.
        index: usize,
        /// Why.
        #[source]
        source: KeyError,
    },
}

/// One key of a set, as published.
///
/// A key whose JWK names an `alg` verifies that algorithm only: its [`PublicKey`] is
/// restricted to it ([`PublicKey::only_for`]), so an RSA key published for `RS256` refuses a
/// `PS256` or `RS512` token with [`TokenError::KeyAlgorithmMismatch`](asap_core::TokenError),
/// as a key of the wrong type does. A JWK without `alg` verifies every algorithm of its type
/// (an RSA key RS* and PS*), as RFC 7517 §4.4 leaves it: the profile using the set decides
/// which algorithms it accepts (Forge: RS256 only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    key: Arc<PublicKey>,
}

impl Jwk {
    /// The public key (restricted to [`algorithm`](Jwk::algorithm) when the set names one).
    pub fn key(&self) -> &Arc<PublicKey> {
        &self.key
    }

    /// The `alg` the set names for this key, when it names one (already checked to fit it).
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.key.only_algorithm()
    }
}

/// A JSON Web Key Set, parsed strictly: every key is a public signature key with a unique kid.
///
/// ```
/// use asap_core::{KeyId, KeyKind, KeySpec, PrivateKey};
/// use asap_keys::JwkSet;
///
/// let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?.public_key()?;
/// let kid = KeyId::parse("k1")?;
/// let json = JwkSet::to_json([(&kid, &key)]);
/// let set = JwkSet::parse(json.as_bytes())?;
/// assert_eq!(set.get(&kid).map(|jwk| &**jwk.key()), Some(&key));
///
/// // A private member refuses the whole set.
/// let leaked = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"AA","d":"AA"}]}"#;
/// assert!(matches!(
///     JwkSet::parse(leaked.as_bytes()),
///     Err(asap_keys::JwkError::PrivateMember { member: "d", .. })
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwkSet {
    keys: HashMap<KeyId, Jwk>,
}

impl JwkSet {
    /// Parses a JWK set document (`{"keys": [...]}`): one JSON object without repeated member
    /// names at any depth; at most [`MAX_JWKS_KEYS`] keys; each key
    ///
    /// - has a `kid` that is a [`KeyId`], unique in the set;
    /// - is `kty` `RSA` (`n`, `e`), `EC` with `crv` `P-256`/`P-384`/`P-521` (`x`, `y` of the
    ///   curve's width) or `OKP` with `crv` `Ed25519` (`x`), each in canonical unpadded
    ///   base64url;
    /// - carries no private member ([`PRIVATE_JWK_MEMBERS`]);
    /// - has `use` `sig` and `key_ops` `["verify"]` when they are present, and an `alg` that
    ///   fits the key when present (the key then verifies that algorithm only, see [`Jwk`]);
    /// - makes an acceptable [`PublicKey`].
    ///
    /// Members this library gives no meaning to (`x5c`, `x5t`, vendor members) are ignored, as
    /// RFC 7517 §4 asks. Anything else refuses the whole set.
    pub fn parse(json: &[u8]) -> Result<JwkSet, JwkError> {
        let document = parse_json_object(json).map_err(|e| match e {
            Some(member) => JwkError::DuplicateMember(member),
            None => JwkError::NotASet("not one JSON object"),
        })?;
        let Some(Value::Array(keys)) = document.get("keys") else {
            return Err(JwkError::NotASet("no \"keys\" array"));
        };
        if keys.len() > MAX_JWKS_KEYS {
            return Err(JwkError::TooManyKeys {
                count: keys.len(),
                max: MAX_JWKS_KEYS,
            });
        }
        let mut set = HashMap::with_capacity(keys.len());
        for (index, key) in keys.iter().enumerate() {
            let Value::Object(members) = key else {
                return Err(JwkError::NotASet("a key is not a JSON object"));
            };
            let (kid, jwk) = parse_key(index, members)?;
            match set.entry(kid) {
                Entry::Occupied(taken) => return Err(JwkError::DuplicateKid(taken.key().clone())),
                Entry::Vacant(free) => {
                    free.insert(jwk);
                }
            }
        }
        Ok(JwkSet { keys: set })
    }

    /// The key published under `kid`.
    pub fn get(&self, kid: &KeyId) -> Option<&Jwk> {
        self.keys.get(kid)
    }

    /// The kids in the set, in no particular order.
    pub fn kids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.keys()
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Writes public keys as a JWK set document: each key with its `kid`, `use` `sig` and the
    /// parameters of its type (no `alg`: an RSA key verifies RS* and PS*), keys in the order
    /// given.
    pub fn to_json<'a>(keys: impl IntoIterator<Item = (&'a KeyId, &'a PublicKey)>) -> String {
        let keys: Vec<Value> = keys
            .into_iter()
            .filter_map(|(kid, key)| JwkSet::key_json(kid, key).map(Value::Object))
            .collect();
        json!({ "keys": keys }).to_string()
    }

    /// One key as [`JwkSet::to_json`] writes it (`kid`, `use` `sig`, `kty` and its
    /// parameters), for a profile that adds members of its own (an `alg`) to the same writer.
    pub fn key_json(kid: &KeyId, key: &PublicKey) -> Option<Map<String, Value>> {
        let mut jwk = public_members(key)?;
        jwk.insert("kid".to_owned(), Value::from(kid.as_str()));
        jwk.insert("use".to_owned(), Value::from("sig"));
        Some(jwk)
    }
}

fn parse_key(index: usize, members: &Map<String, Value>) -> Result<(KeyId, Jwk), JwkError> {
    if let Some(member) = PRIVATE_JWK_MEMBERS.into_iter().find(|m| members.contains_key(*m)) {
        return Err(JwkError::PrivateMember { index, member });
    }
    let text = |member: &'static str| -> Result<Option<&str>, JwkError> {
        match members.get(member) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(JwkError::Member {
                index,
                member,
                reason: "is not a string",
            }),
        }
    };
    let required = |member: &'static str| {
        text(member)?.ok_or(JwkError::Member {
            index,
            member,
            reason: "is missing",
        })
    };
    let bytes = |member: &'static str| -> Result<Vec<u8>, JwkError> {
        let value = required(member)?;
        let decoded = URL_SAFE_NO_PAD.decode(value).ok().filter(|b| !b.is_empty());
        decoded.ok_or(JwkError::Member {
            index,
            member,
            reason: "is not non-empty unpadded base64url",
        })
    };
    let kid = KeyId::parse(required("kid")?).map_err(|source| JwkError::Kid { index, source })?;
    if let Some(usage) = text("use")?
        && usage != "sig"
    {
        return Err(JwkError::NotForSignatures {
            index,
            member: "use",
            value: truncate(usage),
        });
    }
    if let Some(ops) = members.get("key_ops") {
        let verify_only = ops
            .as_array()
            .is_some_and(|ops| !ops.is_empty() && ops.iter().all(|op| op == "verify"));
        if !verify_only {
            return Err(JwkError::NotForSignatures {
                index,
                member: "key_ops",
                value: truncate(&ops.to_string()),
            });
        }
    }
    let curve = |known: &[(&str, KeyKind)]| -> Result<KeyKind, JwkError> {
        let crv = required("crv")?;
        known
            .iter()
            .find(|(name, _)| *name == crv)
            .map(|(_, kind)| *kind)
            .ok_or_else(|| JwkError::UnknownCurve {
                index,
                crv: truncate(crv),
            })
    };
    let (kind, spki) = match required("kty")? {
        "RSA" => (KeyKind::Rsa, der::rsa_spki(&bytes("n")?, &bytes("e")?)),
        "EC" => {
            let kind = curve(&[
                ("P-256", KeyKind::P256),
                ("P-384", KeyKind::P384),
                ("P-521", KeyKind::P521),
            ])?;
            let width = match kind {
                KeyKind::P256 => 32,
                KeyKind::P384 => 48,
                _ => 66,
            };
            let (x, y) = (bytes("x")?, bytes("y")?);
            for (member, coordinate) in [("x", &x), ("y", &y)] {
                if coordinate.len() != width {
                    return Err(JwkError::Member {
                        index,
                        member,
                        reason: "is not the width of the curve",
                    });
                }
            }
            // SEC1 uncompressed point: 0x04 || x || y.
            let point = [&[4u8][..], &x, &y].concat();
            (kind, der::ec_spki(kind, &point))
        }
        "OKP" => {
            let kind = curve(&[("Ed25519", KeyKind::Ed25519)])?;
            let x = bytes("x")?;
            if x.len() != 32 {
                return Err(JwkError::Member {
                    index,
                    member: "x",
                    reason: "is not 32 bytes",
                });
            }
            (kind, der::ed25519_spki(&x))
        }
        kty => {
            return Err(JwkError::UnknownKeyType {
                index,
                kty: truncate(kty),
            });
        }
    };
    let alg = match text("alg")? {
        None => None,
        Some(name) => match name.parse::<Algorithm>() {
            Ok(alg) if alg.key_kind() == kind => Some(alg),
            _ => {
                return Err(JwkError::AlgorithmMismatch {
                    index,
                    alg: truncate(name),
                    kind,
                });
            }
        },
    };
    let spki = spki.map_err(|e| JwkError::Key {
        index,
        source: KeyError::Malformed(e.to_string()),
    })?;
    let key = PublicKey::from_spki_der(&spki).map_err(|source| JwkError::Key { index, source })?;
    // The kind was checked against `alg` above, so the restriction always applies.
    let key = match alg {
        Some(alg) => key.only_for(alg).ok_or(JwkError::AlgorithmMismatch {
            index,
            alg: alg.to_string(),
            kind,
        })?,
        None => key,
    };
    Ok((kid, Jwk { key: Arc::new(key) }))
}

/// The JWK members of a public key's type (`kty` and its parameters), read from its
/// `SubjectPublicKeyInfo`.
fn public_members(key: &PublicKey) -> Option<Map<String, Value>> {
    let spki = pkcs8::SubjectPublicKeyInfoRef::from_der(key.spki_der()).ok()?;
    let raw = spki.subject_public_key.as_bytes()?;
    let b64 = |bytes: &[u8]| Value::from(URL_SAFE_NO_PAD.encode(bytes));
    let mut jwk = Map::new();
    match key.kind() {
        KeyKind::Rsa => {
            let [n, e] = <[UintRef<'_>; 2]>::from_der(raw).ok()?;
            jwk.insert("kty".into(), "RSA".into());
            jwk.insert("n".into(), b64(n.as_bytes()));
            jwk.insert("e".into(), b64(e.as_bytes()));
        }
        KeyKind::Ed25519 => {
            jwk.insert("kty".into(), "OKP".into());
            jwk.insert("crv".into(), "Ed25519".into());
            jwk.insert("x".into(), b64(raw));
        }
        kind => {
            let crv = match kind {
                KeyKind::P256 => "P-256",
                KeyKind::P384 => "P-384",
                _ => "P-521",
            };
            let (x, y) = raw.get(1..)?.split_at(raw.len().checked_sub(1)? / 2);
            jwk.insert("kty".into(), "EC".into());
            jwk.insert("crv".into(), crv.into());
            jwk.insert("x".into(), b64(x));
            jwk.insert("y".into(), b64(y));
        }
    }
    Some(jwk)
}

//! Private and public keys, and the one signing/verifying seam: every algorithm, ES512 included,
//! goes through aws-lc-rs here and nowhere else. Keys are parsed once, when loaded.

use std::fmt;
use std::sync::OnceLock;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, ParsedPublicKey, RsaKeyPair,
    VerificationAlgorithm,
};

use crate::algorithm::{Algorithm, KeyKind};
use crate::der;
use crate::error::{KeyError, SignError, TokenError};

/// The smallest RSA modulus accepted, for signing and for verifying.
pub const MIN_RSA_BITS: usize = 2048;

fn ecdsa_signing(kind: KeyKind) -> Option<&'static EcdsaSigningAlgorithm> {
    match kind {
        KeyKind::P256 => Some(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
        KeyKind::P384 => Some(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
        KeyKind::P521 => Some(&signature::ECDSA_P521_SHA512_FIXED_SIGNING),
        KeyKind::Rsa | KeyKind::Ed25519 => None,
    }
}

fn verification(alg: Algorithm) -> &'static dyn VerificationAlgorithm {
    match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        // JWS wants the fixed-width (IEEE P1363) r || s form, not ASN.1.
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::ES512 => &signature::ECDSA_P521_SHA512_FIXED,
        Algorithm::EdDSA => &signature::ED25519,
    }
}

fn rsa_encoding(alg: Algorithm) -> Option<&'static dyn signature::RsaEncoding> {
    Some(match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_SHA512,
        _ => return None,
    })
}

enum PrivateInner {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private key that signs tokens: RSA (≥ 2048 bits), EC P-256/P-384/P-521 or Ed25519.
///
/// `Debug` shows the key kind only, never key material.
pub struct PrivateKey {
    kind: KeyKind,
    inner: PrivateInner,
}

/// The kinds of key [`PrivateKey::generate`] can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySpec {
    /// RSA with this many bits (2048, 3072 or 4096).
    Rsa(usize),
    /// An EC or Ed25519 key of this kind.
    Curve(KeyKind),
}

impl KeySpec {
    /// The usual key for an algorithm: RSA 3072 for RS*/PS*, the algorithm's curve otherwise.
    pub fn for_algorithm(alg: Algorithm) -> KeySpec {
        match alg.key_kind() {
            KeyKind::Rsa => KeySpec::Rsa(3072),
            kind => KeySpec::Curve(kind),
        }
    }
}

impl PrivateKey {
    /// Generates a new key.
    pub fn generate(spec: KeySpec) -> Result<PrivateKey, KeyError> {
        let failed = |_| KeyError::Malformed("key generation failed".to_owned());
        match spec {
            KeySpec::Rsa(bits) => {
                let size = match bits {
                    2048 => KeySize::Rsa2048,
                    3072 => KeySize::Rsa3072,
                    4096 => KeySize::Rsa4096,
                    bits if bits < MIN_RSA_BITS => return Err(KeyError::RsaTooSmall { bits }),
                    _ => {
                        return Err(KeyError::Malformed(format!(
                            "RSA keys of {bits} bits are not supported"
                        )));
                    }
                };
                let pair = RsaKeyPair::generate(size).map_err(failed)?;
                Ok(PrivateKey {
                    kind: KeyKind::Rsa,
                    inner: PrivateInner::Rsa(pair),
                })
            }
            KeySpec::Curve(KeyKind::Ed25519) => Ok(PrivateKey {
                kind: KeyKind::Ed25519,
                inner: PrivateInner::Ed25519(Ed25519KeyPair::generate().map_err(failed)?),
            }),
            KeySpec::Curve(kind) => {
                let alg = ecdsa_signing(kind)
                    .ok_or_else(|| KeyError::Malformed(format!("{kind} is not a curve")))?;
                let pair = EcdsaKeyPair::generate(alg).map_err(failed)?;
                Ok(PrivateKey {
                    kind,
                    inner: PrivateInner::Ec(pair),
                })
            }
        }
    }

    /// Parses a PEM private key: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1) or
    /// `EC PRIVATE KEY` (SEC1). Encrypted and OpenSSH keys are read by the `asap-keys` crate.
    pub fn from_pem(text: &str) -> Result<PrivateKey, KeyError> {
        let blocks = pem::parse_many(text).map_err(|e| KeyError::Pem(e.to_string()))?;
        for block in &blocks {
            match block.tag() {
                "PRIVATE KEY" => return PrivateKey::from_pkcs8_der(block.contents()),
                "RSA PRIVATE KEY" => return PrivateKey::from_pkcs1_der(block.contents()),
                "EC PRIVATE KEY" => return PrivateKey::from_sec1_der(block.contents()),
                "ENCRYPTED PRIVATE KEY" | "OPENSSH PRIVATE KEY" => {
                    return Err(KeyError::Pem(format!(
                        "a {} needs a passphrase or the OpenSSH reader: load it with asap-keys",
                        block.tag()
                    )));
                }
                "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => {
                    return Err(KeyError::WrongKeyClass { expected: "private" });
                }
                _ => {}
            }
        }
        Err(KeyError::Pem("no PRIVATE KEY block found".to_owned()))
    }

    /// Parses a DER PKCS#8 `PrivateKeyInfo` (v1 or v2).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
        let kind = der::pkcs8_kind(der).map_err(KeyError::Malformed)?;
        let rejected = |e: aws_lc_rs::error::KeyRejected| KeyError::Malformed(e.to_string());
        let inner = match kind {
            KeyKind::Rsa => {
                PrivateInner::Rsa(RsaKeyPair::from_pkcs8(der).map_err(|e| rsa_rejected(der, true, e))?)
            }
            KeyKind::Ed25519 => {
                PrivateInner::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(rejected)?)
            }
            KeyKind::P256 | KeyKind::P384 | KeyKind::P521 => {
                let alg = ecdsa_signing(kind).ok_or_else(|| KeyError::Malformed("curve".into()))?;
                PrivateInner::Ec(EcdsaKeyPair::from_pkcs8(alg, der).map_err(rejected)?)
            }
        };
        PrivateKey::checked(kind, inner)
    }

    /// Parses a DER PKCS#1 `RSAPrivateKey`.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
        let pair = RsaKeyPair::from_der(der).map_err(|e| rsa_rejected(der, false, e))?;
        PrivateKey::checked(KeyKind::Rsa, PrivateInner::Rsa(pair))
    }

    /// Parses a DER SEC1 `ECPrivateKey`; the curve comes from the key itself.
    pub fn from_sec1_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
        for kind in [KeyKind::P256, KeyKind::P384, KeyKind::P521] {
            let Some(alg) = ecdsa_signing(kind) else { continue };
            if let Ok(pair) = EcdsaKeyPair::from_private_key_der(alg, der) {
                return PrivateKey::checked(kind, PrivateInner::Ec(pair));
            }
        }
        Err(KeyError::Malformed(
            "not a SEC1 EC private key on P-256, P-384 or P-521".to_owned(),
        ))
    }

    fn checked(kind: KeyKind, inner: PrivateInner) -> Result<PrivateKey, KeyError> {
        if let PrivateInner::Rsa(pair) = &inner {
            let bits = pair.public_modulus_len() * 8;
            if bits < MIN_RSA_BITS {
                return Err(KeyError::RsaTooSmall { bits });
            }
        }
        Ok(PrivateKey { kind, inner })
    }

    /// The kind of this key.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The algorithm this key signs with unless told otherwise.
    pub fn default_algorithm(&self) -> Algorithm {
        Algorithm::default_for(self.kind)
    }

    /// The key's PKCS#8 DER encoding (for data URIs and files). Handle it as a secret.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, KeyError> {
        let failed = |_| KeyError::Malformed("cannot encode the key".to_owned());
        Ok(match &self.inner {
            PrivateInner::Rsa(pair) => {
                let der: Pkcs8V1Der<'static> = pair.as_der().map_err(failed)?;
                der.as_ref().to_vec()
            }
            PrivateInner::Ec(pair) => pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec(),
            PrivateInner::Ed25519(pair) => pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec(),
        })
    }

    /// The key as a PKCS#8 PEM document. Handle it as a secret.
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        Ok(pem::encode(&pem::Pem::new("PRIVATE KEY", self.to_pkcs8_der()?)))
    }

    /// The matching public key.
    pub fn public_key(&self) -> Result<PublicKey, KeyError> {
        let failed = |_| KeyError::Malformed("cannot encode the public key".to_owned());
        let spki: PublicKeyX509Der<'static> = match &self.inner {
            PrivateInner::Rsa(pair) => pair.public_key().as_der().map_err(failed)?,
            PrivateInner::Ec(pair) => pair.public_key().as_der().map_err(failed)?,
            PrivateInner::Ed25519(pair) => pair.public_key().as_der().map_err(failed)?,
        };
        PublicKey::from_spki_der(spki.as_ref())
    }

    /// Signs `message` (the JWS signing input) with `alg`: the seam every signature goes through.
    /// ECDSA signatures are in the fixed-width JWS form (`r || s`).
    pub fn sign(&self, alg: Algorithm, message: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok(self.signature(alg, message)?.as_ref().to_vec())
    }

    /// [`PrivateKey::sign`], the signature left where aws-lc-rs put it (no copy onto the heap
    /// for the curves): what the signer writes into every token.
    pub(crate) fn signature(&self, alg: Algorithm, message: &[u8]) -> Result<SignatureValue, SignError> {
        if alg.key_kind() != self.kind {
            return Err(SignError::Key(KeyError::AlgorithmMismatch {
                alg,
                key: self.kind,
            }));
        }
        let rng = SystemRandom::new();
        match &self.inner {
            PrivateInner::Rsa(pair) => {
                let encoding = rsa_encoding(alg).ok_or(SignError::Crypto)?;
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(encoding, &rng, message, &mut sig)
                    .map_err(|_| SignError::Crypto)?;
                Ok(SignatureValue::Rsa(sig))
            }
            PrivateInner::Ec(pair) => {
                SignatureValue::curve(pair.sign(&rng, message).map_err(|_| SignError::Crypto)?.as_ref())
            }
            PrivateInner::Ed25519(pair) => {
                SignatureValue::curve(pair.try_sign(message).map_err(|_| SignError::Crypto)?.as_ref())
            }
        }
    }
}

/// The longest curve signature: P-521's `r || s`.
const MAX_CURVE_SIGNATURE: usize = 132;

/// A signature from [`PrivateKey::signature`].
pub(crate) enum SignatureValue {
    /// ECDSA or Ed25519: copied out of aws-lc-rs's `Signature` (4.6 KB, most of it unused,
    /// which would otherwise be moved whole).
    Curve([u8; MAX_CURVE_SIGNATURE], usize),
    /// RSA, signed into a buffer of the modulus's length.
    Rsa(Vec<u8>),
}

impl SignatureValue {
    // Inlined into the call that made `sig`, so that aws-lc-rs's `Signature` is not moved.
    #[inline(always)]
    fn curve(sig: &[u8]) -> Result<SignatureValue, SignError> {
        let mut bytes = [0; MAX_CURVE_SIGNATURE];
        bytes
            .get_mut(..sig.len())
            .ok_or(SignError::Crypto)?
            .copy_from_slice(sig);
        Ok(SignatureValue::Curve(bytes, sig.len()))
    }
}

impl AsRef<[u8]> for SignatureValue {
    fn as_ref(&self) -> &[u8] {
        match self {
            SignatureValue::Curve(bytes, len) => &bytes[..*len],
            SignatureValue::Rsa(sig) => sig,
        }
    }
}

/// aws-lc-rs refuses small RSA keys itself; say how small.
fn rsa_rejected(der: &[u8], pkcs8: bool, e: aws_lc_rs::error::KeyRejected) -> KeyError {
    match der::rsa_private_modulus_bits(der, pkcs8) {
        Some(bits) if bits < MIN_RSA_BITS => KeyError::RsaTooSmall { bits },
        _ => KeyError::Malformed(e.to_string()),
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A public key that verifies tokens, parsed once and then verified against without re-parsing.
///
/// An RSA key may verify any of RS*/PS*; an EC key only the ES* of its own curve; an Ed25519
/// key only EdDSA. A key published for one algorithm ([`PublicKey::only_for`], a JWK's `alg`)
/// verifies that one only.
pub struct PublicKey {
    kind: KeyKind,
    /// The one algorithm the key was published for, when it was published for one.
    only: Option<Algorithm>,
    spki: Box<[u8]>,
    /// One parsed key per algorithm, made on first use (RSA keys serve six algorithms).
    parsed: [OnceLock<ParsedPublicKey>; Algorithm::ALL.len()],
}

impl PublicKey {
    /// Parses a PEM public key: `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` (PKCS#1).
    /// A private key or a certificate is refused: a key repository must publish a bare public key.
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        let blocks = pem::parse_many(text).map_err(|e| KeyError::Pem(e.to_string()))?;
        let [block] = blocks.as_slice() else {
            return Err(KeyError::Pem(format!(
                "expected exactly one PEM block, found {}",
                blocks.len()
            )));
        };
        match block.tag() {
            "PUBLIC KEY" => PublicKey::from_spki_der(block.contents()),
            "RSA PUBLIC KEY" => PublicKey::from_pkcs1_der(block.contents()),
            "CERTIFICATE" => Err(KeyError::Pem("a certificate, not a public key".to_owned())),
            tag if tag.contains("PRIVATE KEY") => Err(KeyError::WrongKeyClass { expected: "public" }),
            tag => Err(KeyError::Pem(format!("unexpected PEM block {tag:?}"))),
        }
    }

    /// Parses a DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let kind = der::spki_kind(der).map_err(KeyError::Malformed)?;
        PublicKey::new(kind, der)
    }

    /// Parses a DER PKCS#1 `RSAPublicKey`.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let key = aws_lc_rs::rsa::PublicKey::from_der(der).map_err(|e| KeyError::Malformed(e.to_string()))?;
        let spki: PublicKeyX509Der<'static> = key
            .as_der()
            .map_err(|_| KeyError::Malformed("cannot re-encode RSA key".to_owned()))?;
        PublicKey::new(KeyKind::Rsa, spki.as_ref())
    }

    fn new(kind: KeyKind, spki: &[u8]) -> Result<PublicKey, KeyError> {
        let key = PublicKey {
            kind,
            only: None,
            spki: spki.into(),
            parsed: Default::default(),
        };
        if kind == KeyKind::Rsa {
            let bits = der::rsa_public_modulus_bits(spki)
                .ok_or_else(|| KeyError::Malformed("not an RSA public key".to_owned()))?;
            if bits < MIN_RSA_BITS {
                return Err(KeyError::RsaTooSmall { bits });
            }
        }
        // Parse once now so that a bad key is refused when loaded, not on first use.
        let alg = Algorithm::default_for(kind);
        let parsed = key.parse_for(alg)?;
        if kind == KeyKind::Ed25519 {
            // The re-encoded SubjectPublicKeyInfo ends with the raw 32-byte point, whatever
            // encoding the key was given in.
            let spki: PublicKeyX509Der<'static> = parsed
                .as_der()
                .map_err(|_| KeyError::Malformed("cannot re-encode the Ed25519 key".to_owned()))?;
            let point = spki
                .as_ref()
                .last_chunk::<32>()
                .ok_or_else(|| KeyError::Malformed("not an Ed25519 public key".to_owned()))?;
            if is_small_order_ed25519(point) {
                return Err(KeyError::SmallOrder);
            }
        }
        let _ = key.parsed[alg.index()].set(parsed);
        Ok(key)
    }

    fn parse_for(&self, alg: Algorithm) -> Result<ParsedPublicKey, KeyError> {
        ParsedPublicKey::new(verification(alg), &self.spki).map_err(|e| KeyError::Malformed(e.to_string()))
    }

    /// The kind of this key.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// This key, restricted to verifying `alg` only: for a key its publisher names one
    /// algorithm for (a JWK's `alg`), so that an RSA key published for RS256 does not verify a
    /// PS256 or RS512 token. `None` when the key cannot verify `alg` at all.
    #[must_use]
    pub fn only_for(mut self, alg: Algorithm) -> Option<PublicKey> {
        if !self.fits(alg) {
            return None;
        }
        self.only = Some(alg);
        Some(self)
    }

    /// The one algorithm this key verifies, when it was restricted to one
    /// ([`PublicKey::only_for`]).
    pub fn only_algorithm(&self) -> Option<Algorithm> {
        self.only
    }

    /// Whether this key can verify `alg`: its kind fits, and it is not restricted to another
    /// algorithm.
    pub fn fits(&self, alg: Algorithm) -> bool {
        alg.key_kind() == self.kind && self.only.is_none_or(|only| only == alg)
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The key as a `PUBLIC KEY` PEM document, as a key repository serves it.
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.spki.to_vec()))
    }

    /// Verifies `sig` over `message` with `alg`: the seam every verification goes through.
    /// ECDSA signatures must be in the fixed-width JWS form (`r || s`); a key of another kind than
    /// `alg` needs, or restricted to another algorithm, is refused with
    /// [`TokenError::KeyAlgorithmMismatch`].
    pub fn verify(&self, alg: Algorithm, message: &[u8], sig: &[u8]) -> Result<(), TokenError> {
        if !self.fits(alg) {
            return Err(TokenError::KeyAlgorithmMismatch { alg, key: self.kind });
        }
        let slot = &self.parsed[alg.index()];
        let parsed = match slot.get() {
            Some(p) => p,
            None => {
                // A key that parsed for one RSA algorithm parses for all of them.
                let p = self.parse_for(alg).map_err(|_| TokenError::BadSignature)?;
                slot.get_or_init(|| p)
            }
        };
        parsed
            .verify_sig(message, sig)
            .map_err(|_| TokenError::BadSignature)
    }
}

/// The `y` coordinates (little-endian, sign bit clear) of the eight Ed25519 points of small
/// order, canonical and not: 0 (order 4), 1 (the identity), the two of order 8, p − 1 (order 2),
/// and p and p + 1, the non-canonical encodings (y ≥ p) of 0 and 1. Each with either sign bit.
/// The same list as libsodium's `has_small_order`.
const SMALL_ORDER_ED25519_Y: [[u8; 32]; 7] = {
    const fn y(low: u8, fill: u8, high: u8) -> [u8; 32] {
        let mut y = [fill; 32];
        y[0] = low;
        y[31] = high;
        y
    }
    [
        y(0x00, 0x00, 0x00),
        y(0x01, 0x00, 0x00),
        [
            0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
            0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05,
        ],
        [
            0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
            0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
        ],
        y(0xec, 0xff, 0x7f),
        y(0xed, 0xff, 0x7f),
        y(0xee, 0xff, 0x7f),
    ]
};

/// Whether an encoded Ed25519 point has small order. aws-lc-rs accepts these keys, and the
/// signature check (`[s]B = R + [k]A`) then holds for `s = 0` and a small-order `R` whatever
/// the message, so they are refused when the key is loaded.
fn is_small_order_ed25519(point: &[u8; 32]) -> bool {
    let mut y = *point;
    y[31] &= 0x7f;
    SMALL_ORDER_ED25519_Y.contains(&y)
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Clone for PublicKey {
    fn clone(&self) -> Self {
        PublicKey {
            kind: self.kind,
            only: self.only,
            spki: self.spki.clone(),
            parsed: self.parsed.clone(),
        }
    }
}

/// Keys are equal when their key material is, whatever algorithm either is restricted to.
impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki == other.spki
    }
}

impl Eq for PublicKey {}

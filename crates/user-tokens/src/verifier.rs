//! The server side: verify a per-user token against the claimed user's registered keys.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use asap_core::{
    Algorithm, ClaimValue, Clock, ConfigError, DEFAULT_MAX_TOKEN_BYTES, InMemoryReplayGuard, Jws, KeyKind,
    KeySpec, PrivateKey, PublicKey, ReplayGuard, SystemClock, TimeClaims, TimeRule, TokenError, TypedClaims,
};
use serde::de::Deserializer;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::error::UserTokenError;
use crate::fingerprint::Fingerprint;
use crate::signer::{AUTH_SCHEME, USER_TOKEN_ALGORITHMS};
use crate::source::UserKeySource;

/// The time window by default: a token's `time` within ±20 s of now (the package's
/// `TIMESTAMP_TOLERANCE`). At most [`asap_core::MAX_LEEWAY`] (300 s) can be configured.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(20);

/// The longest nonce accepted, in bytes. The package's nonces are 11 characters; the bound keeps
/// every nonce store entry small whatever a caller sends.
pub const MAX_NONCE_LEN: usize = 128;

/// How many nonces the default in-memory store holds at most, in all.
pub const DEFAULT_MAX_NONCES: usize = 100_000;

/// How many nonces the default in-memory store holds at most for one user: 1,000 is 24
/// requests a second for the 41 seconds a ±20 s window keeps a nonce. A user over it gets 503s
/// for their own requests only; it takes 100 users at that rate to fill the whole store (users
/// are less trusted than services: for more, use Redis, which has no such bound).
pub const DEFAULT_MAX_NONCES_PER_USER: usize = 1_000;

/// A verified per-user token: who signed, with which key, and its claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUser {
    username: String,
    time: i64,
    nonce: String,
    fingerprint: Fingerprint,
    algorithm: Algorithm,
}

impl VerifiedUser {
    /// The user whose key signed the token.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The token's `time`, seconds since the Unix epoch.
    pub fn time(&self) -> i64 {
        self.time
    }

    /// The token's nonce.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// The token's `kid`: the fingerprint under which the [`UserKeySource`](crate::UserKeySource) found the key that
    /// verified it. [`StaticUserKeys`](crate::StaticUserKeys) files each key under its own
    /// [`Fingerprint::of`]; a [`PerUserJwks`](crate::PerUserJwks) set files it under the `kid`
    /// the user's set gives it, which the user chose: key allow-lists and audit records that
    /// must name the key itself take `Fingerprint::of` the key, not this.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// Serializes the claims as the token carried them: `{"nonce", "time", "username"}`.
impl Serialize for VerifiedUser {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("nonce", &self.nonce)?;
        map.serialize_entry("time", &self.time)?;
        map.serialize_entry("username", &self.username)?;
        map.end()
    }
}

/// The token of an `Authorization` header value `JWT <token>`: the scheme in any letter case
/// (the package upper-cases it), one space, a token without whitespace.
///
/// ```
/// use user_tokens::{UserTokenError, jwt_token};
/// assert_eq!(jwt_token("JWT abc.def.ghi")?, "abc.def.ghi");
/// assert_eq!(jwt_token("jwt abc.def.ghi")?, "abc.def.ghi");
/// assert!(matches!(jwt_token("Bearer abc"), Err(UserTokenError::BadAuthorization(_))));
/// # Ok::<(), UserTokenError>(())
/// ```
pub fn jwt_token(value: &str) -> Result<&str, UserTokenError> {
    let Some((scheme, token)) = value.split_once(' ') else {
        return Err(UserTokenError::BadAuthorization("expected `JWT <token>`"));
    };
    if !scheme.eq_ignore_ascii_case(AUTH_SCHEME) {
        return Err(UserTokenError::BadAuthorization("the scheme is not JWT"));
    }
    if token.is_empty() || token.contains(|c: char| c.is_ascii_whitespace()) {
        return Err(UserTokenError::BadAuthorization(
            "expected exactly one space and a token",
        ));
    }
    Ok(token)
}

/// The registered claims of a per-user token as asymmetric-jwt-auth's verifier reads them: its
/// format has none, but it decodes with PyJWT's defaults, which refuse any `aud` (no audience
/// is expected), an `exp` at or before now, and an `nbf` or `iat` after now, with no leeway. A
/// client that adds them to limit a token gets the same answer here as from the package: one
/// token, one reading.
fn registered_claims_as_the_package_reads_them(
    claims: &asap_core::RegisteredClaims,
    now: i64,
) -> Result<(), TokenError> {
    if !claims.aud.is_empty() {
        return Err(TokenError::AudienceMismatch);
    }
    if let Some(exp) = claims.exp
        && exp <= now
    {
        return Err(TokenError::Expired { exp, now });
    }
    if let Some(nbf) = claims.nbf
        && nbf > now
    {
        return Err(TokenError::NotYetValid { nbf, now });
    }
    if let Some(iat) = claims.iat
        && iat > now
    {
        return Err(TokenError::IssuedInFuture { iat, now });
    }
    Ok(())
}

/// Verifies per-user tokens (asymmetric-jwt-auth 1.3.0's wire format). In order, cheapest
/// refusal first:
///
/// 1. size, framing and strict header ([`Jws::parse`]); `alg` one of RS512, RS384, RS256,
///    EdDSA; `kid` a [`Fingerprint`];
/// 2. claims strictly typed ([`Jws::decode_claims_with`]): `username` and `nonce` non-empty
///    strings, `time` a JSON integer; the nonce at most [`MAX_NONCE_LEN`] bytes;
/// 3. `time` within the tolerance of now (default ±20 s), by the core [`TimeRule`]; and the
///    registered claims the package's verifier (PyJWT with its defaults) reads, should a client
///    send them, read the same way: no `aud` (no audience is ever expected), `exp` after now,
///    `nbf` and `iat` not after now, with no leeway;
/// 4. the key: one lookup of `(username, fingerprint)` in the [`UserKeySource`], then one
///    signature check. When there is no such key (unknown user, unknown fingerprint) or it does
///    not fit `alg`, the signature is checked against a decoy key of the same kind and size
///    instead (an RSA decoy of the signature's length, for every size accepted, 2048 to 8192
///    bits; an Ed25519 decoy for EdDSA) and the token refused: the same work and the same
///    [`UserTokenError::NoMatchingKey`] as a wrong signature, so neither the answer nor the time
///    it takes says which users exist;
/// 5. the nonce: atomically recorded for `(username, time)` in the [`ReplayGuard`] (in memory and
///    bounded per user by default; `asap_redis::RedisReplayGuard` for a fleet), a second use
///    refused. Only a token that passed every other rule is recorded, so filling a user's quota
///    takes that user's key.
///
/// ```
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use asap_core::{KeyKind, KeySpec, PrivateKey};
/// use user_tokens::{StaticUserKeys, UserSigner, UserTokenError, UserVerifier};
///
/// let private = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519))?;
/// let keys = StaticUserKeys::new().with_key("ann", private.public_key()?);
/// let verifier = UserVerifier::builder(keys).build()?;
///
/// let header = UserSigner::new("ann", private)?.authorization()?;
/// let user = verifier.verify_authorization(&header).await?;
/// assert_eq!(user.username(), "ann");
/// // The same header again is a replay.
/// assert!(matches!(verifier.verify_authorization(&header).await, Err(UserTokenError::Replayed)));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct UserVerifier {
    keys: Arc<dyn UserKeySource>,
    nonces: Arc<dyn ReplayGuard>,
    window: TimeRule,
    clock: Arc<dyn Clock>,
    max_token_bytes: usize,
    decoys: &'static Decoys,
}

impl fmt::Debug for UserVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserVerifier")
            .field("keys", &self.keys)
            .field("nonces", &self.nonces)
            .field("tolerance_secs", &self.window.leeway_secs())
            .finish_non_exhaustive()
    }
}

/// Builds a [`UserVerifier`].
#[must_use]
pub struct UserVerifierBuilder {
    keys: Arc<dyn UserKeySource>,
    nonces: Option<Arc<dyn ReplayGuard>>,
    tolerance: Duration,
    clock: Arc<dyn Clock>,
    max_token_bytes: usize,
}

impl fmt::Debug for UserVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserVerifierBuilder")
            .field("keys", &self.keys)
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

impl UserVerifierBuilder {
    /// How far a token's `time` may be from now, either way (default [`DEFAULT_TOLERANCE`],
    /// at most 300 s).
    pub fn tolerance(mut self, tolerance: Duration) -> UserVerifierBuilder {
        self.tolerance = tolerance;
        self
    }

    /// Where used nonces are remembered. Default: in memory, at most [`DEFAULT_MAX_NONCES`] in
    /// all and [`DEFAULT_MAX_NONCES_PER_USER`] per user, and one per verifier built: two
    /// verifiers in one process (two `UserLayer`s built separately) share nonces only when given
    /// one store, or a token can be used once on each. Every instance of a fleet must share one
    /// store (`asap_redis::RedisReplayGuard` with its own key prefix), or a token can be used
    /// once per instance.
    pub fn nonce_store(mut self, store: Arc<dyn ReplayGuard>) -> UserVerifierBuilder {
        self.nonces = Some(store);
        self
    }

    /// Reads time from `clock` (for tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> UserVerifierBuilder {
        self.clock = clock;
        self
    }

    /// The largest token accepted (default 8 KiB).
    pub fn max_token_bytes(mut self, max: usize) -> UserVerifierBuilder {
        self.max_token_bytes = max;
        self
    }

    /// Checks the configuration. The first verifier of a process also makes the decoy keys
    /// that unknown users are checked against (RSA 2048, 3072 and 4096 bits, Ed25519), here
    /// rather than while a request waits; a decoy of a less common RSA size is made on its
    /// first use.
    pub fn build(self) -> Result<UserVerifier, ConfigError> {
        let window = TimeRule::new(self.tolerance, Duration::from_secs(1))?;
        let decoys = Decoys::get().ok_or_else(|| ConfigError("cannot generate the decoy keys".into()))?;
        let nonces = self.nonces.unwrap_or_else(|| {
            Arc::new(
                InMemoryReplayGuard::new(DEFAULT_MAX_NONCES)
                    .max_entries_per_issuer(DEFAULT_MAX_NONCES_PER_USER),
            )
        });
        Ok(UserVerifier {
            keys: self.keys,
            nonces,
            window,
            clock: self.clock,
            max_token_bytes: self.max_token_bytes,
            decoys,
        })
    }
}

impl UserVerifier {
    /// Starts a verifier that finds users' keys in `keys`.
    pub fn builder(keys: impl UserKeySource + 'static) -> UserVerifierBuilder {
        UserVerifier::builder_shared(Arc::new(keys))
    }

    /// Starts a verifier with a shared key source.
    pub fn builder_shared(keys: Arc<dyn UserKeySource>) -> UserVerifierBuilder {
        UserVerifierBuilder {
            keys,
            nonces: None,
            tolerance: DEFAULT_TOLERANCE,
            clock: Arc::new(SystemClock),
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }

    /// The tolerance, in seconds.
    pub fn tolerance_secs(&self) -> i64 {
        self.window.leeway_secs()
    }

    /// Verifies the token of an `Authorization` header value (`JWT <token>`).
    pub async fn verify_authorization(&self, value: &str) -> Result<VerifiedUser, UserTokenError> {
        self.verify(jwt_token(value)?).await
    }

    /// Verifies a token (see [`UserVerifier`] for the rules, in order).
    pub async fn verify(&self, token: &str) -> Result<VerifiedUser, UserTokenError> {
        let jws = Jws::parse(token, self.max_token_bytes)?;
        let header = jws.header();
        let alg = USER_TOKEN_ALGORITHMS
            .into_iter()
            .find(|a| a.as_str() == header.alg())
            .ok_or_else(|| header.alg_not_accepted("RS512, RS384, RS256 or EdDSA"))?;
        let fingerprint = Fingerprint::parse(header.require_kid()?).ok_or(UserTokenError::BadFingerprint)?;

        let mut own = UserClaims::default();
        let registered = jws.decode_claims_with(&mut own)?;
        let username = own.username.ok_or(TokenError::MissingClaim("username"))?;
        let time = own.time.ok_or(TokenError::MissingClaim("time"))?;
        let nonce = own.nonce.ok_or(TokenError::MissingClaim("nonce"))?;
        for (claim, value) in [("username", &username), ("nonce", &nonce)] {
            if value.is_empty() {
                return Err(TokenError::InvalidClaim {
                    claim,
                    reason: "must not be empty",
                }
                .into());
            }
        }
        if nonce.len() > MAX_NONCE_LEN {
            return Err(UserTokenError::NonceTooLong(nonce.len()));
        }

        // `time` is both the start and the end of validity: the core rule with the tolerance
        // as leeway is then exactly `now - tolerance <= time <= now + tolerance`.
        let window = TimeClaims {
            issued_at: time,
            not_before: None,
            expires_at: time,
        };
        let now = self.clock.now();
        self.window.check(&window, now)?;
        registered_claims_as_the_package_reads_them(&registered, now)?;

        let signature = jws.signature()?;
        let key = self
            .keys
            .user_key(&username, &fingerprint)
            .await
            .map_err(UserTokenError::KeysUnavailable)?;
        let verified = match key.filter(|k| k.fits(alg)) {
            Some(key) => signature.verify(&*key, alg).is_ok(),
            None => {
                // The same signature check a real key would cost; its result is irrelevant.
                let decoy = self.decoys.like(alg, signature_len(token));
                let _ = signature.verify(decoy, alg);
                false
            }
        };
        if !verified {
            // One event for a key that is not registered and for one that is but did not sign
            // this token: a log tells the two apart no better than the answer does.
            tracing::debug!(username, %fingerprint, "per-user token: no key of this user verifies it");
            return Err(UserTokenError::NoMatchingKey);
        }

        // Again after the key lookup, which may have waited for a key set: the window is the
        // one at the moment the token is admitted, and the nonce is kept from that moment.
        let nonce_id = nonce_key(time, &nonce);
        let use_ = self
            .window
            .admit(&window, self.clock.now(), &username, &nonce_id)?;
        let first = self
            .nonces
            .first_use(use_)
            .await
            .map_err(UserTokenError::NonceStoreUnavailable)?;
        if !first {
            return Err(UserTokenError::Replayed);
        }
        Ok(VerifiedUser {
            username,
            time,
            nonce,
            fingerprint,
            algorithm: alg,
        })
    }
}

/// A per-user token's own claims, typed by the claims walk ([`Jws::decode_claims_with`])
/// instead of kept as JSON and taken out again: `username` and `nonce` strings, `time` a JSON
/// integer. `null` reads as absent.
#[derive(Default)]
struct UserClaims {
    username: Option<String>,
    time: Option<i64>,
    nonce: Option<String>,
}

impl TypedClaims for UserClaims {
    const NAMES: &'static [&'static str] = &["username", "time", "nonce"];
    type Error = UserTokenError;

    fn type_claim<'de, D: Deserializer<'de>>(
        &mut self,
        name: &'static str,
        value: ClaimValue<'_, D>,
    ) -> Result<(), D::Error> {
        match name {
            "time" => self.time = value.integer()?,
            "username" => self.username = value.string()?,
            _ => self.nonce = value.string()?,
        }
        Ok(())
    }

    fn refused(claim: &'static str, _reason: String) -> UserTokenError {
        let reason = match claim {
            "time" => "must be a JSON integer number of seconds",
            _ => "must be a string",
        };
        TokenError::InvalidClaim { claim, reason }.into()
    }
}

/// The RSA signature lengths, in bytes, of the moduli the core verifies (2048 to 8192 bits,
/// [`asap_core::MIN_RSA_BITS`] and aws-lc-rs's upper bound): one decoy per length.
const RSA_DECOY_BYTES: std::ops::RangeInclusive<usize> = 256..=1024;

/// The nonce store's key for a token, `"{time}:{nonce}"` (a nonce is unique per user and
/// second), written without `format!`, whose machinery cost as much as the rest of the nonce
/// bookkeeping outside the store: the digits through asap-core's integer writer.
fn nonce_key(time: i64, nonce: &str) -> String {
    let mut key = Vec::with_capacity(21 + 1 + nonce.len());
    // Writing to a `Vec` cannot fail.
    asap_core::json_write::int(&mut key, time).unwrap_or_default();
    key.push(b':');
    key.extend_from_slice(nonce.as_bytes());
    // Digits, a colon and a `&str`: always UTF-8.
    String::from_utf8(key).unwrap_or_default()
}

/// An RSA public key with a random odd `bytes`-byte modulus (top bit set) and `e = 65537`, as
/// a PKCS#1 `RSAPublicKey`: SEQUENCE { INTEGER n, INTEGER e }.
fn rsa_decoy(bytes: usize) -> Option<PublicKey> {
    let mut modulus = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut modulus).ok()?;
    modulus[0] |= 0x80;
    modulus[bytes - 1] |= 1;
    // INTEGER n: a leading zero keeps it positive.
    let mut n = vec![0x02];
    push_len(&mut n, bytes + 1);
    n.push(0);
    n.extend_from_slice(&modulus);
    let e = [0x02, 0x03, 0x01, 0x00, 0x01];
    let mut der = vec![0x30];
    push_len(&mut der, n.len() + e.len());
    der.extend_from_slice(&n);
    der.extend_from_slice(&e);
    PublicKey::from_pkcs1_der(&der).ok()
}

/// A DER length (long form for the sizes used here).
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | u8::try_from(bytes.len() - skip).unwrap_or(0));
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// The decoded length of the signature segment (base64url without padding).
fn signature_len(token: &str) -> usize {
    token.rsplit('.').next().map_or(0, |s| s.len() * 3 / 4)
}

/// Public keys no token verifies against: an RSA key per signature length the core accepts
/// (2048 to 8192 bits), so that a forged token for an unknown user costs what it costs against
/// a real key of that size (aws-lc refuses an RSA signature of the wrong length before any
/// arithmetic, for real and decoy keys alike), and one Ed25519 key.
///
/// An RSA decoy is a random odd modulus of the full size with `e = 65537`, not a generated key
/// pair: verifying against it is the same modular exponentiation, it costs nothing to make (RSA
/// key generation takes seconds, which a command line or a service start should not pay), and
/// no private key for it exists anywhere. Its verification result is never used. The three
/// usual sizes are made at start; another on its first use, which costs a key parse (about as
/// much as one verification) once per process. At most 769 exist, about 1 KiB each plus the
/// parsed forms of the algorithms used.
struct Decoys {
    /// By signature length, from the first of [`RSA_DECOY_BYTES`]; `None` in a slot whose
    /// decoy could not be made (the 2048-bit one answers for it).
    rsa: Box<[OnceLock<Option<PublicKey>>]>,
    ed25519: PublicKey,
}

impl Decoys {
    fn get() -> Option<&'static Decoys> {
        static DECOYS: OnceLock<Option<Decoys>> = OnceLock::new();
        DECOYS
            .get_or_init(|| {
                let decoys = Decoys {
                    rsa: RSA_DECOY_BYTES.map(|_| OnceLock::new()).collect(),
                    ed25519: PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519))
                        .and_then(|k| k.public_key())
                        .ok()?,
                };
                for bytes in [256, 384, 512] {
                    decoys.rsa_of_length(bytes)?;
                }
                Some(decoys)
            })
            .as_ref()
    }

    /// The RSA decoy whose modulus is `bytes` long, made on first use.
    fn rsa_of_length(&self, bytes: usize) -> Option<&PublicKey> {
        let slot = self.rsa.get(bytes.checked_sub(*RSA_DECOY_BYTES.start())?)?;
        slot.get_or_init(|| rsa_decoy(bytes)).as_ref()
    }

    /// The decoy a token of `alg` with a `signature_len`-byte signature is checked against: of
    /// `alg`'s kind and, for RSA, of the signature's length (the 2048-bit one for a length no
    /// accepted key has, which any key refuses before any arithmetic).
    fn like(&self, alg: Algorithm, signature_len: usize) -> &PublicKey {
        let decoy = match alg.key_kind() {
            KeyKind::Rsa => self
                .rsa_of_length(signature_len)
                .or_else(|| self.rsa_of_length(*RSA_DECOY_BYTES.start()))
                .unwrap_or(&self.ed25519),
            _ => &self.ed25519,
        };
        #[cfg(test)]
        tests::LAST_DECOY.set(Some((decoy.kind(), decoy.spki_der().len())));
        decoy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_needs_the_jwt_scheme_and_one_space() {
        assert_eq!(jwt_token("JWT a.b.c").expect("ok"), "a.b.c");
        assert_eq!(jwt_token("jWt a.b.c").expect("ok"), "a.b.c");
        for bad in [
            "JWT",
            "JWT ",
            "JWT  a.b.c",
            "Bearer a.b.c",
            "JWT a.b c",
            "JWTa.b.c",
        ] {
            assert!(
                matches!(jwt_token(bad), Err(UserTokenError::BadAuthorization(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn nonce_keys_are_time_colon_nonce() {
        for time in [0, 7, 10, 1_800_000_000, -1, -20, i64::MAX, i64::MIN] {
            assert_eq!(nonce_key(time, "n0nce_-x"), format!("{time}:n0nce_-x"));
        }
        assert_eq!(nonce_key(1, ""), "1:");
    }

    #[test]
    fn decoys_match_the_signature_size() {
        let decoys = Decoys::get().expect("decoys");
        let rsa = |len| decoys.rsa_of_length(len).expect("decoy");
        assert!(std::ptr::eq(decoys.like(Algorithm::RS512, 512), rsa(512)));
        assert!(std::ptr::eq(decoys.like(Algorithm::RS256, 384), rsa(384)));
        // A length no accepted key has: the 2048-bit decoy, which refuses it as any key does.
        assert!(std::ptr::eq(decoys.like(Algorithm::RS256, 7), rsa(256)));
        assert!(std::ptr::eq(decoys.like(Algorithm::RS256, 1025), rsa(256)));
        assert_eq!(decoys.like(Algorithm::EdDSA, 64).kind(), KeyKind::Ed25519);
        assert_eq!(signature_len("a.b.AAAA"), 3);
    }

    thread_local! {
        /// The kind and `SubjectPublicKeyInfo` length of the decoy last chosen on this thread.
        pub(super) static LAST_DECOY: std::cell::Cell<Option<(KeyKind, usize)>> = const { std::cell::Cell::new(None) };
    }

    /// A per-user token for `username` whose signature is `signature_len` bytes of garbage.
    fn forged(alg: Algorithm, username: &str, signature_len: usize) -> String {
        let header = serde_json::json!({"alg": alg.as_str(), "kid": "ab".repeat(32), "typ": "JWT"});
        let now = asap_core::Clock::now(&SystemClock);
        let claims = serde_json::json!({"username": username, "time": now, "nonce": "n0nce"});
        asap_core::encode_compact(
            header.to_string().as_bytes(),
            claims.to_string().as_bytes(),
            |_| Ok::<_, std::convert::Infallible>(vec![7u8; signature_len]),
        )
        .expect("token")
    }

    #[tokio::test]
    async fn an_unknown_users_token_is_checked_against_the_decoy_of_its_algorithm_and_size() {
        let ed = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("ed25519");
        let verifier = UserVerifier::builder(
            crate::StaticUserKeys::new().with_key("ann", ed.public_key().expect("public")),
        )
        .build()
        .expect("verifier");
        // Every RSA size the core accepts, the usual ones and others (2056, 2560, 8192 bits);
        // RS512 and RS384 alike; an Ed25519 user's fingerprint under RS256 is a miss too.
        for (alg, user, len) in [
            (Algorithm::RS256, "nobody", 256),
            (Algorithm::RS256, "nobody", 257),
            (Algorithm::RS384, "nobody", 320),
            (Algorithm::RS512, "nobody", 384),
            (Algorithm::RS512, "nobody", 512),
            (Algorithm::RS256, "ann", 640),
            (Algorithm::RS256, "nobody", 1024),
        ] {
            LAST_DECOY.set(None);
            let refused = verifier.verify(&forged(alg, user, len)).await;
            assert!(
                matches!(refused, Err(UserTokenError::NoMatchingKey)),
                "{refused:?}"
            );
            let expected = rsa_decoy(len).expect("decoy").spki_der().len();
            assert_eq!(LAST_DECOY.get(), Some((KeyKind::Rsa, expected)), "{alg} {len}");
        }
        LAST_DECOY.set(None);
        let refused = verifier.verify(&forged(Algorithm::EdDSA, "nobody", 64)).await;
        assert!(
            matches!(refused, Err(UserTokenError::NoMatchingKey)),
            "{refused:?}"
        );
        assert_eq!(LAST_DECOY.get().map(|(kind, _)| kind), Some(KeyKind::Ed25519));
    }

    #[test]
    fn rsa_decoys_have_full_size_moduli_and_refuse_signatures() {
        for bytes in [256, 257, 320, 384, 512, 1024] {
            let decoy = rsa_decoy(bytes).expect("decoy");
            assert_eq!(decoy.kind(), KeyKind::Rsa);
            let signature = vec![1u8; bytes];
            assert!(decoy.verify(Algorithm::RS512, b"input", &signature).is_err());
        }
    }
}

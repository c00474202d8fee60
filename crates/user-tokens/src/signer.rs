//! The client side: a user signs `{username, time, nonce}` with their own key.

use std::fmt;
use std::sync::Arc;

use asap_core::{Algorithm, Clock, KeyKind, PrivateKey, SystemClock, encode_compact};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::error::UserSignError;
use crate::fingerprint::Fingerprint;

/// The algorithms of this profile, most preferred first per key kind (asymmetric-jwt-auth
/// 1.3.0's `RSA_ALGORITHMS` and `ED25519_ALGORITHMS`).
pub const USER_TOKEN_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::RS512,
    Algorithm::RS384,
    Algorithm::RS256,
    Algorithm::EdDSA,
];

/// The scheme of the `Authorization` header: `JWT <token>`.
pub const AUTH_SCHEME: &str = "JWT";

/// Random bytes in a nonce: 8, as the package's `secrets.token_urlsafe(nbytes=8)`. A nonce only
/// has to differ from the user's other nonces of the same second.
const NONCE_BYTES: usize = 8;

/// Makes per-user tokens: `{"username", "time", "nonce"}` signed with the user's private key,
/// `kid` = the public key's [`Fingerprint`], sent as `Authorization: JWT <token>`. Each token
/// has a fresh nonce and is good once, within the verifier's time window (±20 s by default).
///
/// The key can come from anywhere a [`PrivateKey`] comes from: PEM, encrypted PKCS#8 or an
/// OpenSSH key such as `~/.ssh/id_ed25519` (`asap_keys::read_private_key`).
///
/// ```
/// use asap_core::{KeyKind, KeySpec, PrivateKey};
/// use user_tokens::UserSigner;
///
/// let signer = UserSigner::new("ann", PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519))?)?;
/// let header = signer.authorization()?;
/// assert!(header.starts_with("JWT ey"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct UserSigner {
    username: Arc<str>,
    key: Arc<PrivateKey>,
    alg: Algorithm,
    header: Arc<[u8]>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for UserSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSigner")
            .field("username", &self.username)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    kid: &'a str,
    typ: &'static str,
}

#[derive(Serialize)]
struct Payload<'a> {
    username: &'a str,
    time: i64,
    nonce: &'a str,
}

impl UserSigner {
    /// A signer for `username` with `key`, in the package's preferred algorithm for the key:
    /// RS512 for RSA, EdDSA for Ed25519.
    pub fn new(username: impl Into<String>, key: PrivateKey) -> Result<UserSigner, UserSignError> {
        let alg = match key.kind() {
            KeyKind::Rsa => Algorithm::RS512,
            _ => Algorithm::EdDSA,
        };
        UserSigner::with_algorithm(username, key, alg)
    }

    /// A signer with an explicit algorithm: RS512, RS384 or RS256 for an RSA key, EdDSA for an
    /// Ed25519 key; anything else (EC keys included, which the package cannot verify) is refused.
    pub fn with_algorithm(
        username: impl Into<String>,
        key: PrivateKey,
        alg: Algorithm,
    ) -> Result<UserSigner, UserSignError> {
        let username: String = username.into();
        if username.is_empty() {
            return Err(UserSignError::EmptyUsername);
        }
        if !USER_TOKEN_ALGORITHMS.contains(&alg) || alg.key_kind() != key.kind() {
            return Err(UserSignError::Unsupported { key: key.kind(), alg });
        }
        let fingerprint = Fingerprint::of(&key.public_key().map_err(asap_core::SignError::from)?);
        let header = serde_json::to_vec(&Header {
            alg: alg.as_str(),
            kid: fingerprint.as_str(),
            typ: "JWT",
        })
        .map_err(|_| asap_core::SignError::Crypto)?;
        Ok(UserSigner {
            username: username.into(),
            key: Arc::new(key),
            alg,
            header: header.into(),
            clock: Arc::new(SystemClock),
        })
    }

    /// Reads time from `clock` instead of the system clock (for tests).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> UserSigner {
        self.clock = clock;
        self
    }

    /// The username tokens claim.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The signing algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// A fresh token: now, a new nonce.
    pub fn sign(&self) -> Result<String, UserSignError> {
        let mut random = [0u8; NONCE_BYTES];
        aws_lc_rs::rand::fill(&mut random).map_err(|_| asap_core::SignError::Crypto)?;
        let nonce = URL_SAFE_NO_PAD.encode(random);
        self.sign_with(self.clock.now(), &nonce)
    }

    /// A token with this `time` and `nonce` (tests, and peers that choose their own nonces).
    pub fn sign_with(&self, time: i64, nonce: &str) -> Result<String, UserSignError> {
        let payload = serde_json::to_vec(&Payload {
            username: &self.username,
            time,
            nonce,
        })
        .map_err(|_| asap_core::SignError::Crypto)?;
        Ok(encode_compact(&self.header, &payload, |input| {
            self.key.sign(self.alg, input)
        })?)
    }

    /// The `Authorization` header value for a fresh token: `JWT <token>`.
    pub fn authorization(&self) -> Result<String, UserSignError> {
        Ok(format!("{AUTH_SCHEME} {}", self.sign()?))
    }
}

#[cfg(test)]
mod tests {
    use asap_core::{Jws, KeySpec};

    use super::*;

    #[test]
    fn default_algorithm_is_the_packages_first_choice() {
        let rsa = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
        assert_eq!(
            UserSigner::new("ann", rsa).expect("signer").algorithm(),
            Algorithm::RS512
        );
        let ed = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("ed25519");
        assert_eq!(
            UserSigner::new("ann", ed).expect("signer").algorithm(),
            Algorithm::EdDSA
        );
    }

    #[test]
    fn keys_and_algorithms_outside_the_profile_are_refused() {
        let ec = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("p256");
        assert!(matches!(
            UserSigner::new("ann", ec),
            Err(UserSignError::Unsupported { .. })
        ));
        let rsa = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
        assert!(matches!(
            UserSigner::with_algorithm("ann", rsa, Algorithm::PS256),
            Err(UserSignError::Unsupported { .. })
        ));
        let ed = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("ed25519");
        assert!(matches!(
            UserSigner::new("", ed),
            Err(UserSignError::EmptyUsername)
        ));
    }

    #[test]
    fn tokens_carry_the_fingerprint_and_fresh_nonces() {
        let key = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("ed25519");
        let fingerprint = Fingerprint::of(&key.public_key().expect("public"));
        let signer = UserSigner::new("ann", key).expect("signer");
        let (a, b) = (signer.sign().expect("a"), signer.sign().expect("b"));
        let jws = Jws::parse(&a, 8192).expect("parses");
        assert_eq!(jws.header().kid(), Some(fingerprint.as_str()));
        assert_eq!(jws.header().alg(), "EdDSA");
        let nonce = |t: &str| {
            let payload = Jws::parse(t, 8192).expect("parses").payload().expect("payload");
            serde_json::from_slice::<serde_json::Value>(&payload).expect("json")["nonce"].clone()
        };
        assert_ne!(nonce(&a), nonce(&b));
        assert_eq!(nonce(&a).as_str().map(str::len), Some(11));
    }
}

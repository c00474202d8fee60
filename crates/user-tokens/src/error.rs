//! Why a per-user token was refused or not made.

use asap_core::{BoxError, Outcome, ReplayError, SignError, TokenError};

/// Why a per-user token was refused. [`UserTokenError::outcome`] maps each to 401 or 503.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserTokenError {
    /// The request carries no `Authorization` header.
    #[error("no Authorization header")]
    MissingToken,
    /// The `Authorization` header is not exactly `JWT <token>`, or there is more than one.
    #[error("bad Authorization header: {0}")]
    BadAuthorization(&'static str),
    /// A rule every token profile shares: size, framing, strict JSON, claim types, the time
    /// window (reported as `iat`/`exp` of the token's `time`).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The `kid` header is not a key fingerprint (64 lowercase hex digits).
    #[error("kid is not a key fingerprint (64 lowercase hex digits)")]
    BadFingerprint,
    /// The nonce is longer than [`MAX_NONCE_LEN`](crate::MAX_NONCE_LEN) bytes.
    #[error("nonce is {0} bytes long; at most 128 are accepted")]
    NonceTooLong(usize),
    /// No key of the claimed user verifies the token: the user is unknown, has no key with the
    /// token's fingerprint, the key does not fit the algorithm, or the signature is wrong. One
    /// variant for all of these, so that neither the answer nor its timing tells a caller which
    /// users exist or which keys they hold.
    #[error("no key registered for this user verifies the token")]
    NoMatchingKey,
    /// The nonce was already used for this `(username, time)`.
    #[error("nonce was already used (replay)")]
    Replayed,
    /// The key store could not answer.
    #[error("cannot look up the user's keys: {0}")]
    KeysUnavailable(#[source] BoxError),
    /// The nonce store could not answer, or is full.
    #[error("cannot check the nonce: {0}")]
    NonceStoreUnavailable(#[source] ReplayError),
}

impl UserTokenError {
    /// The HTTP outcome: 503 when a store could not answer, 401 for everything else.
    pub fn outcome(&self) -> Outcome {
        match self {
            UserTokenError::KeysUnavailable(_) | UserTokenError::NonceStoreUnavailable(_) => {
                Outcome::Unavailable
            }
            _ => Outcome::Unauthorized,
        }
    }
}

/// Why a per-user token could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserSignError {
    /// The key cannot sign this profile's tokens: asymmetric-jwt-auth takes RSA (RS512, RS384,
    /// RS256) and Ed25519 (EdDSA) keys only.
    #[error("a {key} key cannot sign per-user tokens with {alg} (RSA: RS512, RS384, RS256; Ed25519: EdDSA)")]
    Unsupported {
        /// The key's kind.
        key: asap_core::KeyKind,
        /// The algorithm asked for.
        alg: asap_core::Algorithm,
    },
    /// The username is empty.
    #[error("the username must not be empty")]
    EmptyUsername,
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_store_failures_are_503() {
        assert_eq!(UserTokenError::NoMatchingKey.outcome().status(), 401);
        assert_eq!(UserTokenError::Replayed.outcome().status(), 401);
        assert_eq!(UserTokenError::BadFingerprint.outcome().status(), 401);
        assert_eq!(
            UserTokenError::KeysUnavailable("down".into()).outcome().status(),
            503
        );
        assert_eq!(
            UserTokenError::NonceStoreUnavailable(ReplayError::Full(1))
                .outcome()
                .status(),
            503
        );
    }
}

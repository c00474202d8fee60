//! HMAC keys behind the signature seam: Atlassian Connect signs tenant tokens with HS256 and the
//! tenant's shared secret. ASAP never accepts them: its verifier asks a [`PublicKey`] for an
//! [`Algorithm`](crate::Algorithm), which cannot name HS256.
//!
//! [`PublicKey`]: crate::PublicKey

use std::fmt;

use aws_lc_rs::hmac;

use crate::error::TokenError;
use crate::jws::VerifyingKey;

/// An HMAC JWS algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HmacAlgorithm {
    /// HMAC with SHA-256.
    HS256,
}

impl HmacAlgorithm {
    /// The name used in the JWS `alg` header.
    pub const fn as_str(self) -> &'static str {
        match self {
            HmacAlgorithm::HS256 => "HS256",
        }
    }

    fn aws_lc(self) -> hmac::Algorithm {
        match self {
            HmacAlgorithm::HS256 => hmac::HMAC_SHA256,
        }
    }
}

impl fmt::Display for HmacAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A shared secret used as an HMAC key. `Debug` never shows it.
///
/// ```
/// use asap_core::{HmacAlgorithm, HmacKey, VerifyingKey};
/// let key = HmacKey::new(b"s3cr3t");
/// let tag = key.sign(HmacAlgorithm::HS256, b"header.claims");
/// assert!(key.verify_signature(HmacAlgorithm::HS256, b"header.claims", &tag).is_ok());
/// assert!(HmacKey::new(b"other").verify_signature(HmacAlgorithm::HS256, b"header.claims", &tag).is_err());
/// assert_eq!(format!("{key:?}"), "HmacKey(<redacted>)");
/// ```
pub struct HmacKey<'s> {
    secret: &'s [u8],
}

impl<'s> HmacKey<'s> {
    /// A key over `secret` (borrowed: the caller owns, and wipes, the secret).
    pub fn new(secret: &'s [u8]) -> HmacKey<'s> {
        HmacKey { secret }
    }

    /// The `alg` tag of `message`.
    pub fn sign(&self, alg: HmacAlgorithm, message: &[u8]) -> Vec<u8> {
        let key = hmac::Key::new(alg.aws_lc(), self.secret);
        hmac::sign(&key, message).as_ref().to_vec()
    }
}

impl VerifyingKey for HmacKey<'_> {
    type Algorithm = HmacAlgorithm;

    /// Compares the tag in constant time (aws-lc-rs `hmac::verify`).
    fn verify_signature(
        &self,
        alg: HmacAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), TokenError> {
        let key = hmac::Key::new(alg.aws_lc(), self.secret);
        hmac::verify(&key, message, signature).map_err(|_| TokenError::BadSignature)
    }
}

impl fmt::Debug for HmacKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_message_tag_or_secret_fails() {
        let key = HmacKey::new(b"secret");
        let tag = key.sign(HmacAlgorithm::HS256, b"m");
        assert_eq!(tag.len(), 32);
        assert!(key.verify_signature(HmacAlgorithm::HS256, b"m", &tag).is_ok());
        assert!(matches!(
            key.verify_signature(HmacAlgorithm::HS256, b"n", &tag),
            Err(TokenError::BadSignature)
        ));
        assert!(matches!(
            key.verify_signature(HmacAlgorithm::HS256, b"m", &tag[..31]),
            Err(TokenError::BadSignature)
        ));
        assert!(matches!(
            HmacKey::new(b"other").verify_signature(HmacAlgorithm::HS256, b"m", &tag),
            Err(TokenError::BadSignature)
        ));
    }
}

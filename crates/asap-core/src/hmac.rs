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

/// A shared secret prepared as an HMAC key: the key schedule (RFC 2104's inner and outer
/// hash states over the padded secret) is computed once, by [`HmacKey::new`], so that a
/// [`sign`](HmacKey::sign) or [`verify_signature`](VerifyingKey::verify_signature) costs the
/// hashing of its message and nothing more. Keep one per secret rather than one per token.
/// `Debug` never shows it.
///
/// What is wiped, and what is not:
///
/// - The key does not keep the secret's bytes: the caller owns, and wipes, those.
/// - The prepared states are key-equivalent (they sign like the secret). They live in aws-lc's
///   `HMAC_CTX`, which aws-lc zeroes when the key is dropped (`HMAC_CTX_cleanup`, an
///   `OPENSSL_cleanse` of the whole context); so is the copy each signature or verification
///   works on, and the padded-secret buffers `HMAC_Init_ex` uses while preparing.
/// - Not wiped: the bytes that Rust moves of the context leave behind in stack frames while
///   [`HmacKey::new`] returns it (aws-lc-rs builds the context on its stack and moves it out);
///   they stay there until the stack is reused.
///
/// ```
/// use asap_core::{HmacAlgorithm, HmacKey, VerifyingKey};
/// let key = HmacKey::new(b"s3cr3t");
/// let tag = key.sign(HmacAlgorithm::HS256, b"header.claims");
/// assert!(key.verify_signature(HmacAlgorithm::HS256, b"header.claims", &tag).is_ok());
/// assert!(HmacKey::new(b"other").verify_signature(HmacAlgorithm::HS256, b"header.claims", &tag).is_err());
/// assert_eq!(format!("{key:?}"), "HmacKey(<redacted>)");
/// ```
pub struct HmacKey {
    /// The prepared HMAC-SHA256 key, the only algorithm there is.
    hs256: hmac::Key,
}

impl HmacKey {
    /// Prepares `secret` as a key (the key schedule runs here, once).
    pub fn new(secret: &[u8]) -> HmacKey {
        HmacKey {
            hs256: hmac::Key::new(HmacAlgorithm::HS256.aws_lc(), secret),
        }
    }

    /// The prepared key for `alg`.
    fn prepared(&self, alg: HmacAlgorithm) -> &hmac::Key {
        match alg {
            HmacAlgorithm::HS256 => &self.hs256,
        }
    }

    /// The `alg` tag of `message`.
    pub fn sign(&self, alg: HmacAlgorithm, message: &[u8]) -> Vec<u8> {
        hmac::sign(self.prepared(alg), message).as_ref().to_vec()
    }
}

impl VerifyingKey for HmacKey {
    type Algorithm = HmacAlgorithm;

    /// Compares the tag in constant time (aws-lc-rs `hmac::verify`).
    fn verify_signature(
        &self,
        alg: HmacAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), TokenError> {
        hmac::verify(self.prepared(alg), message, signature).map_err(|_| TokenError::BadSignature)
    }
}

impl fmt::Debug for HmacKey {
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

    #[test]
    fn a_prepared_key_gives_the_rfc_4231_tags_for_every_message() {
        // RFC 4231 test cases 2 (a short key) and 6 (a key longer than the block, hashed
        // first), each signed twice with one prepared key: preparing once changes no tag.
        let cases: [(&[u8], &[u8], &str); 2] = [
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (secret, message, expected) in cases {
            let key = HmacKey::new(secret);
            for _ in 0..2 {
                let tag = key.sign(HmacAlgorithm::HS256, message);
                let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(hex, expected);
                assert!(key.verify_signature(HmacAlgorithm::HS256, message, &tag).is_ok());
            }
        }
    }
}

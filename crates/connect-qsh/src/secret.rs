//! The tenant's shared secret: never printed, wiped from memory when dropped, prepared as an
//! HMAC key once.

use std::fmt;
use std::sync::Arc;

use asap_core::HmacKey;
use zeroize::Zeroizing;

use crate::error::SharedSecretError;

/// A tenant's Connect shared secret, the HS256 key for every request between the app and that
/// tenant. Cheap to clone; `Debug` never shows it.
///
/// The secret is prepared as an HMAC key when it is made ([`HmacKey`]), so that signing or
/// verifying a token with it runs no key schedule: keep the `SharedSecret` (a
/// [`SharedSecretStore`](crate::SharedSecretStore) keeps it with the tenant) rather than
/// making one per request.
///
/// Wiped when the last clone is dropped: the secret's bytes (zeroized) and the prepared key
/// (aws-lc zeroes its HMAC context). Not wiped: what the caller's `String` left behind before
/// it was handed over (a reallocation, a copy it kept), and the stack bytes that moving the
/// prepared context out of aws-lc-rs leaves behind (see [`HmacKey`]).
///
/// ```
/// use connect_qsh::{SharedSecret, SharedSecretError};
/// let secret = SharedSecret::new("s3cr3t")?;
/// assert_eq!(format!("{secret:?}"), "SharedSecret(<redacted>)");
/// assert_eq!(secret.expose(), "s3cr3t");
/// assert_eq!(SharedSecret::new(""), Err(SharedSecretError::Empty));
/// # Ok::<(), SharedSecretError>(())
/// ```
#[derive(Clone)]
pub struct SharedSecret(Arc<Prepared>);

/// The secret and the HMAC key made from it, shared by every clone.
struct Prepared {
    secret: Zeroizing<String>,
    key: HmacKey,
}

impl SharedSecret {
    /// Wraps a shared secret as received in the `installed` callback, and prepares its HMAC key.
    ///
    /// An empty secret is refused ([`SharedSecretError::Empty`]): HMAC accepts an empty key, so
    /// a secret read from configuration that defaulted to `""` would let anyone sign (and the
    /// app accept) HS256 tokens for the tenant. This is the one place that rule lives; every
    /// `SharedSecret`, and so every key that signs or verifies, comes through here.
    pub fn new(secret: impl Into<String>) -> Result<SharedSecret, SharedSecretError> {
        let secret = Zeroizing::new(secret.into());
        if secret.is_empty() {
            return Err(SharedSecretError::Empty);
        }
        let key = HmacKey::new(secret.as_bytes());
        Ok(SharedSecret(Arc::new(Prepared { secret, key })))
    }

    /// The secret itself, for storing. Handle with care.
    pub fn expose(&self) -> &str {
        &self.0.secret
    }

    /// The HS256 key, prepared once when the secret was made.
    pub(crate) fn hmac_key(&self) -> &HmacKey {
        &self.0.key
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

impl PartialEq for SharedSecret {
    /// Constant time, as any comparison of secrets should be.
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.expose().as_bytes().ct_eq(other.expose().as_bytes()).into()
    }
}

impl Eq for SharedSecret {}

impl TryFrom<String> for SharedSecret {
    type Error = SharedSecretError;

    /// [`SharedSecret::new`].
    fn try_from(s: String) -> Result<Self, Self::Error> {
        SharedSecret::new(s)
    }
}

impl TryFrom<&str> for SharedSecret {
    type Error = SharedSecretError;

    /// [`SharedSecret::new`].
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        SharedSecret::new(s)
    }
}

#[cfg(test)]
mod tests {
    use asap_core::{HmacAlgorithm, VerifyingKey};

    use super::*;
    use crate::{InMemorySharedSecretStore, SharedSecretStore};

    #[tokio::test]
    async fn the_prepared_key_is_the_secrets_and_made_once_for_every_clone_and_lookup() {
        let secret = SharedSecret::new("s3cr3t").expect("not empty");
        let tag = HmacKey::new(b"s3cr3t").sign(HmacAlgorithm::HS256, b"input");
        assert!(
            secret
                .hmac_key()
                .verify_signature(HmacAlgorithm::HS256, b"input", &tag)
                .is_ok()
        );
        // Clones, and what a store hands out, share the one key made by `new`.
        let store = InMemorySharedSecretStore::new();
        store.insert("tenant", secret.clone());
        let found = store
            .shared_secret("tenant")
            .await
            .expect("in memory")
            .expect("inserted");
        assert!(std::ptr::eq(secret.clone().hmac_key(), secret.hmac_key()));
        assert!(std::ptr::eq(found.hmac_key(), secret.hmac_key()));
        assert_eq!(format!("{:?}", secret.hmac_key()), "HmacKey(<redacted>)");
    }

    #[test]
    fn an_empty_secret_is_refused() {
        assert_eq!(SharedSecret::new(""), Err(SharedSecretError::Empty));
        assert_eq!(
            SharedSecret::try_from(String::new()),
            Err(SharedSecretError::Empty)
        );
        assert_eq!(SharedSecret::try_from(""), Err(SharedSecretError::Empty));
        // Any other string is a key, even one that is only whitespace or a NUL.
        for secret in [" ", "\0", "s"] {
            assert_eq!(SharedSecret::new(secret).expect("not empty").expose(), secret);
        }
    }
}

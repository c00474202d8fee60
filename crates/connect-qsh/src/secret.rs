//! The tenant's shared secret: never printed, wiped from memory when dropped.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

/// A tenant's Connect shared secret, the HS256 key for every request between the app and that
/// tenant. Cheap to clone; `Debug` never shows it; the bytes are zeroed when the last clone
/// is dropped.
///
/// ```
/// use connect_qsh::SharedSecret;
/// let secret = SharedSecret::new("s3cr3t");
/// assert_eq!(format!("{secret:?}"), "SharedSecret(<redacted>)");
/// assert_eq!(secret.expose(), "s3cr3t");
/// ```
#[derive(Clone)]
pub struct SharedSecret(Arc<Zeroizing<String>>);

impl SharedSecret {
    /// Wraps a shared secret as received in the `installed` callback.
    pub fn new(secret: impl Into<String>) -> SharedSecret {
        SharedSecret(Arc::new(Zeroizing::new(secret.into())))
    }

    /// The secret itself, for signing and for storing. Handle with care.
    pub fn expose(&self) -> &str {
        &self.0
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

impl From<String> for SharedSecret {
    fn from(s: String) -> Self {
        SharedSecret::new(s)
    }
}

impl From<&str> for SharedSecret {
    fn from(s: &str) -> Self {
        SharedSecret::new(s)
    }
}

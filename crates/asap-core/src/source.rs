//! Where a verifier gets public keys: the [`PublicKeySource`] trait and a static map.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::KeySourceError;
use crate::keys::PublicKey;
use crate::kid::KeyId;

/// The future returned by [`PublicKeySource::public_key`]: boxed and `Send`, so a source can be
/// shared as `Arc<dyn PublicKeySource>` and awaited inside axum handlers and `tokio::spawn`.
pub type KeyFuture<'a> = Pin<Box<dyn Future<Output = Result<Arc<PublicKey>, KeySourceError>> + Send + 'a>>;

/// A place public keys come from, by kid: a static map, a directory, an HTTP(S) repository
/// (`asap-keys`), or a chain of these.
///
/// The kid handed in has already passed the syntax and ownership rules.
pub trait PublicKeySource: Send + Sync + Debug {
    /// The public key published for `kid`.
    fn public_key<'a>(&'a self, kid: &'a KeyId) -> KeyFuture<'a>;
}

impl<T: PublicKeySource + ?Sized> PublicKeySource for Arc<T> {
    fn public_key<'a>(&'a self, kid: &'a KeyId) -> KeyFuture<'a> {
        (**self).public_key(kid)
    }
}

/// A fixed map from kid to public key.
///
/// ```
/// use asap_core::{KeyId, PrivateKey, KeySpec, KeyKind, StaticKeySource};
/// let private = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?;
/// let keys = StaticKeySource::new()
///     .with_key(KeyId::parse("billing/k1")?, private.public_key()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticKeySource {
    keys: HashMap<KeyId, Arc<PublicKey>>,
}

impl StaticKeySource {
    /// An empty map.
    pub fn new() -> StaticKeySource {
        StaticKeySource::default()
    }

    /// Adds a key.
    #[must_use]
    pub fn with_key(mut self, kid: KeyId, key: PublicKey) -> StaticKeySource {
        self.insert(kid, key);
        self
    }

    /// Adds a key in place.
    pub fn insert(&mut self, kid: KeyId, key: PublicKey) {
        self.keys.insert(kid, Arc::new(key));
    }

    /// The key for `kid`, without a future.
    pub fn get(&self, kid: &KeyId) -> Option<&Arc<PublicKey>> {
        self.keys.get(kid)
    }
}

impl PublicKeySource for StaticKeySource {
    fn public_key<'a>(&'a self, kid: &'a KeyId) -> KeyFuture<'a> {
        let found = self
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| KeySourceError::NotFound(kid.clone()));
        Box::pin(std::future::ready(found))
    }
}

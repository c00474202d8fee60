//! Where a verifier finds a user's keys: the [`UserKeySource`] trait and a static map.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use asap_core::{BoxError, PublicKey};

use crate::fingerprint::Fingerprint;

/// The future returned by [`UserKeySource::user_key`]: boxed and `Send`, so sources can be
/// shared as `Arc<dyn UserKeySource>`.
pub type UserKeyFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Arc<PublicKey>>, BoxError>> + Send + 'a>>;

/// A place a user's public keys come from, by `(username, fingerprint)`: the key registry
/// (`asap_registry::KeyRegistry`, SQLite or PostgreSQL), a static map, or a JWKS URL
/// registered for the user.
///
/// `Ok(None)` means "no such key", whether the user is unknown or has no key with this
/// fingerprint: an implementation must answer both the same way, with the same work (one
/// indexed query, one cache probe), so that its timing does not tell which users exist. `Err`
/// means the store could not answer (503).
///
/// The fingerprint handed in is well-formed ([`Fingerprint::parse`]); the username is the
/// token's unverified claim, any non-empty string.
pub trait UserKeySource: Send + Sync + Debug {
    /// The active key of `username` whose fingerprint is `fingerprint`, if any.
    fn user_key<'a>(&'a self, username: &'a str, fingerprint: &'a Fingerprint) -> UserKeyFuture<'a>;
}

impl<T: UserKeySource + ?Sized> UserKeySource for Arc<T> {
    fn user_key<'a>(&'a self, username: &'a str, fingerprint: &'a Fingerprint) -> UserKeyFuture<'a> {
        (**self).user_key(username, fingerprint)
    }
}

/// A fixed map of users' keys, looked up by `(username, fingerprint)` in one hash probe.
///
/// ```
/// use asap_core::{KeyKind, KeySpec, PrivateKey};
/// use user_tokens::StaticUserKeys;
///
/// let key = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519))?.public_key()?;
/// let keys = StaticUserKeys::new().with_key("ann", key);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticUserKeys {
    keys: HashMap<(String, Fingerprint), Arc<PublicKey>>,
}

impl StaticUserKeys {
    /// An empty map.
    pub fn new() -> StaticUserKeys {
        StaticUserKeys::default()
    }

    /// Adds one of `username`'s keys.
    #[must_use]
    pub fn with_key(mut self, username: impl Into<String>, key: PublicKey) -> StaticUserKeys {
        self.insert(username, key);
        self
    }

    /// Adds one of `username`'s keys.
    pub fn insert(&mut self, username: impl Into<String>, key: PublicKey) {
        self.keys
            .insert((username.into(), Fingerprint::of(&key)), Arc::new(key));
    }
}

impl UserKeySource for StaticUserKeys {
    fn user_key<'a>(&'a self, username: &'a str, fingerprint: &'a Fingerprint) -> UserKeyFuture<'a> {
        let found = self
            .keys
            .get(&(username.to_owned(), fingerprint.clone()))
            .cloned();
        Box::pin(async move { Ok(found) })
    }
}

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
    /// By fingerprint, then username: a lookup hashes the borrowed fingerprint and compares
    /// names, with no key of its own to allocate.
    keys: HashMap<Fingerprint, Vec<(String, Arc<PublicKey>)>>,
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
        let username = username.into();
        let users = self.keys.entry(Fingerprint::of(&key)).or_default();
        match users.iter_mut().find(|(name, _)| *name == username) {
            Some((_, held)) => *held = Arc::new(key),
            None => users.push((username, Arc::new(key))),
        }
    }
}

impl UserKeySource for StaticUserKeys {
    fn user_key<'a>(&'a self, username: &'a str, fingerprint: &'a Fingerprint) -> UserKeyFuture<'a> {
        let found = self
            .keys
            .get(fingerprint)
            .and_then(|users| users.iter().find(|(name, _)| name == username))
            .map(|(_, key)| key.clone());
        Box::pin(async move { Ok(found) })
    }
}

#[cfg(test)]
mod tests {
    use asap_core::{KeyKind, KeySpec, PrivateKey};

    use super::*;

    fn ed25519() -> PublicKey {
        PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519))
            .and_then(|k| k.public_key())
            .expect("key")
    }

    fn lookup(keys: &StaticUserKeys, username: &str, key: &PublicKey) -> Option<Arc<PublicKey>> {
        let fingerprint = Fingerprint::of(key);
        let found = keys.user_key(username, &fingerprint);
        match std::pin::pin!(found)
            .as_mut()
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
        {
            std::task::Poll::Ready(found) => found.expect("a static map always answers"),
            std::task::Poll::Pending => panic!("a static map answers at once"),
        }
    }

    #[test]
    fn a_key_is_found_only_for_the_users_it_is_registered_for() {
        let (shared, own) = (ed25519(), ed25519());
        let keys = StaticUserKeys::new()
            .with_key("ann", shared.clone())
            .with_key("bob", shared.clone())
            .with_key("ann", own.clone());
        assert_eq!(lookup(&keys, "ann", &shared).as_deref(), Some(&shared));
        assert_eq!(lookup(&keys, "bob", &shared).as_deref(), Some(&shared));
        assert_eq!(lookup(&keys, "ann", &own).as_deref(), Some(&own));
        assert_eq!(lookup(&keys, "bob", &own), None);
        assert_eq!(lookup(&keys, "mallory", &shared), None);
        assert_eq!(lookup(&keys, "an", &shared), None);
    }

    #[test]
    fn registering_a_key_again_keeps_one_entry() {
        let key = ed25519();
        let keys = StaticUserKeys::new()
            .with_key("ann", key.clone())
            .with_key("ann", key.clone());
        assert_eq!(keys.keys.get(&Fingerprint::of(&key)).map(Vec::len), Some(1));
    }
}

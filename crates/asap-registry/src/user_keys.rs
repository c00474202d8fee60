//! The registry as the key store of per-user tokens (`user_tokens`), by `(username,
//! fingerprint)`.

use user_tokens::{Fingerprint, UserKeyFuture, UserKeySource};

use crate::KeyRegistry;

/// A user's keys by fingerprint, for [`user_tokens::UserVerifier`]: the user is the principal,
/// the fingerprint is the package's (SHA-256 of the key's SPKI PEM text), whatever name the key
/// was registered under. Only active keys match; a revoked key stops matching within the cache
/// TTL, the same bound as for ASAP kids.
///
/// A user may have any number of keys (once each stored key has its fingerprint: see
/// docs/reliability.md for rows an older version wrote): the lookup is one indexed query by
/// `(username, fingerprint)`, cached per pair for the TTL. A key registered under two names
/// verifies until both are revoked (revoking one logs a warning naming the others). An unknown
/// user costs what a known one costs: the same cache (a miss is cached like a key) or the same
/// single query, and the verifier then checks a decoy signature. A database that cannot answer
/// is an error (503), never a "no key".
impl UserKeySource for KeyRegistry {
    fn user_key<'a>(&'a self, username: &'a str, fingerprint: &'a Fingerprint) -> UserKeyFuture<'a> {
        Box::pin(async move {
            self.active_user_key(username, fingerprint).await.map_err(|e| {
                tracing::warn!(error = %e, "key registry unavailable for a per-user token");
                e.into()
            })
        })
    }
}

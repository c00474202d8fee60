//! Replay protection: a `jti` may be used once per issuer while its token lives.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use crate::error::ReplayError;

/// One use of a token, as a [`ReplayGuard`] records it.
#[derive(Debug, Clone, Copy)]
pub struct TokenUse<'a> {
    /// The token's issuer. Entries are keyed by `(issuer, jti)`: one issuer cannot burn
    /// another issuer's ids.
    pub issuer: &'a str,
    /// The token's `jti`.
    pub jti: &'a str,
    /// The verifier's clock.
    pub now: i64,
    /// When the entry may be forgotten: `exp + leeway`, after which the token is refused anyway.
    pub expires_at: i64,
}

/// The future returned by [`ReplayGuard::first_use`].
pub type ReplayFuture<'a> = Pin<Box<dyn Future<Output = Result<bool, ReplayError>> + Send + 'a>>;

/// Remembers which `(iss, jti)` pairs have been used.
pub trait ReplayGuard: Send + Sync + Debug {
    /// Atomically records the use; `Ok(true)` if this is the first use, `Ok(false)` if the pair
    /// was seen before and has not expired.
    fn first_use<'a>(&'a self, use_: TokenUse<'a>) -> ReplayFuture<'a>;
}

impl<T: ReplayGuard + ?Sized> ReplayGuard for std::sync::Arc<T> {
    fn first_use<'a>(&'a self, use_: TokenUse<'a>) -> ReplayFuture<'a> {
        (**self).first_use(use_)
    }
}

/// A bounded in-memory replay guard for a single process.
///
/// When it holds `max_entries` unexpired entries it refuses new tokens ([`ReplayError::Full`],
/// a 503) rather than forget an entry early, which would let that token be replayed.
#[derive(Debug)]
pub struct InMemoryReplayGuard {
    max_entries: usize,
    entries: Mutex<HashMap<ReplayKey, i64>>,
}

/// `(issuer, jti)`.
type ReplayKey = (Box<str>, Box<str>);

impl InMemoryReplayGuard {
    /// A guard holding at most `max_entries` live entries.
    pub fn new(max_entries: usize) -> InMemoryReplayGuard {
        InMemoryReplayGuard {
            max_entries,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn record(&self, use_: TokenUse<'_>) -> Result<bool, ReplayError> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still sound.
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (Box::from(use_.issuer), Box::from(use_.jti));
        if let Some(&expires_at) = entries.get(&key)
            && expires_at >= use_.now
        {
            return Ok(false);
        }
        if entries.len() >= self.max_entries {
            entries.retain(|_, expires_at| *expires_at >= use_.now);
            if entries.len() >= self.max_entries {
                return Err(ReplayError::Full(entries.len()));
            }
        }
        entries.insert(key, use_.expires_at);
        Ok(true)
    }
}

impl ReplayGuard for InMemoryReplayGuard {
    fn first_use<'a>(&'a self, use_: TokenUse<'a>) -> ReplayFuture<'a> {
        Box::pin(std::future::ready(self.record(use_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn use_at<'a>(issuer: &'a str, jti: &'a str, now: i64) -> TokenUse<'a> {
        TokenUse {
            issuer,
            jti,
            now,
            expires_at: now + 60,
        }
    }

    #[test]
    fn second_use_is_refused_until_expiry() {
        let g = InMemoryReplayGuard::new(10);
        assert!(g.record(use_at("a", "1", 0)).expect("ok"));
        assert!(!g.record(use_at("a", "1", 10)).expect("ok"));
        assert!(!g.record(use_at("a", "1", 60)).expect("ok"));
        assert!(g.record(use_at("a", "1", 61)).expect("ok"));
    }

    #[test]
    fn entries_are_keyed_by_issuer_and_jti() {
        let g = InMemoryReplayGuard::new(10);
        assert!(g.record(use_at("a", "1", 0)).expect("ok"));
        assert!(g.record(use_at("b", "1", 0)).expect("ok"));
    }

    #[test]
    fn full_guard_fails_closed_and_recovers_after_expiry() {
        let g = InMemoryReplayGuard::new(2);
        assert!(g.record(use_at("a", "1", 0)).expect("ok"));
        assert!(g.record(use_at("a", "2", 0)).expect("ok"));
        assert!(matches!(g.record(use_at("a", "3", 1)), Err(ReplayError::Full(2))));
        assert!(g.record(use_at("a", "3", 61)).expect("expired entries are swept"));
    }
}

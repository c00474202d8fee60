//! Replay protection: a `jti` may be used once per issuer while its token lives.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

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

/// How many issuers must each hold their whole quota before the guard as a whole is full, by
/// default: the quota is `max_entries / ISSUER_SHARES` (rounded up).
const ISSUER_SHARES: usize = 8;

/// A bounded in-memory replay guard for a single process.
///
/// It never forgets an unexpired entry early (that would let that token be replayed), so when
/// it is full it refuses new tokens instead, as a 503 ([`VerifyError::ReplayUnavailable`]).
/// Two bounds decide when it is full:
///
/// - **per issuer**: one issuer holds at most [`max_entries_per_issuer`] unexpired entries
///   ([`ReplayError::IssuerFull`]). An entry is recorded only for a token that passed every
///   other check, so filling a quota takes a valid key; a caller with one valid key can then
///   only refuse its own tokens, not everyone's. The default quota is an eighth of the total.
/// - **in total**: at most `max_entries` entries ([`ReplayError::Full`]), so that many issuers
///   together cannot exhaust memory. Callers holding valid keys of
///   `max_entries / max_entries_per_issuer` issuers can still fill it: size the quota for the
///   busiest legitimate issuer (its request rate × (token lifetime + leeway)) and the total
///   for the issuers that may be full at once.
///
/// An entry costs about 100 bytes whatever the `jti`: the `jti` is kept as its SHA-256, and
/// the issuer once per issuer (it is at most a kid long). Expired entries are dropped in the
/// order they expire, so recording a use costs O(log n), however full the guard is.
///
/// [`VerifyError::ReplayUnavailable`]: crate::VerifyError::ReplayUnavailable
/// [`max_entries_per_issuer`]: InMemoryReplayGuard::max_entries_per_issuer
///
/// ```
/// use asap_core::InMemoryReplayGuard;
/// // 100,000 entries in all, at most 20,000 for any one issuer.
/// let guard = InMemoryReplayGuard::new(100_000).max_entries_per_issuer(20_000);
/// ```
pub struct InMemoryReplayGuard {
    max_entries: usize,
    max_per_issuer: usize,
    entries: Mutex<Entries>,
}

/// The SHA-256 of a `jti`: a fixed size per entry, whatever the token carries.
type JtiDigest = [u8; 32];

#[derive(Default)]
struct Entries {
    /// Per issuer: each recorded `jti` and when it may be forgotten.
    by_issuer: HashMap<Arc<str>, HashMap<JtiDigest, i64>>,
    /// Every entry, soonest to expire first. Exactly one item per entry in `by_issuer`.
    by_expiry: BinaryHeap<Reverse<(i64, Arc<str>, JtiDigest)>>,
}

impl Entries {
    fn len(&self) -> usize {
        self.by_expiry.len()
    }

    /// Forgets every entry that expired before `now` (amortised O(log n) per entry).
    fn sweep(&mut self, now: i64) {
        while let Some(Reverse((expires_at, _, _))) = self.by_expiry.peek()
            && *expires_at < now
        {
            let Some(Reverse((_, issuer, jti))) = self.by_expiry.pop() else {
                break;
            };
            if let Some(jtis) = self.by_issuer.get_mut(&issuer) {
                jtis.remove(&jti);
                if jtis.is_empty() {
                    self.by_issuer.remove(&issuer);
                }
            }
        }
    }
}

impl InMemoryReplayGuard {
    /// A guard holding at most `max_entries` live entries, and at most an eighth of them
    /// (rounded up) for any one issuer.
    pub fn new(max_entries: usize) -> InMemoryReplayGuard {
        InMemoryReplayGuard {
            max_entries,
            max_per_issuer: max_entries.div_ceil(ISSUER_SHARES),
            entries: Mutex::new(Entries::default()),
        }
    }

    /// At most `max` live entries for any one issuer (at most `max_entries`; more is the same).
    #[must_use]
    pub fn max_entries_per_issuer(mut self, max: usize) -> InMemoryReplayGuard {
        self.max_per_issuer = max;
        self
    }

    fn record(&self, use_: TokenUse<'_>) -> Result<bool, ReplayError> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still sound.
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.sweep(use_.now);
        let jti: JtiDigest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, use_.jti.as_bytes())
            .as_ref()
            .try_into()
            .map_err(|_| ReplayError::Unavailable("SHA-256 is not 32 bytes".into()))?;
        // After the sweep every entry left is live: present means seen.
        let held = match entries.by_issuer.get(use_.issuer) {
            Some(jtis) if jtis.contains_key(&jti) => return Ok(false),
            Some(jtis) => jtis.len(),
            None => 0,
        };
        if entries.len() >= self.max_entries {
            crate::metrics::memory_replay_store_full(true);
            return Err(ReplayError::Full(entries.len()));
        }
        if held >= self.max_per_issuer {
            crate::metrics::memory_replay_store_full(false);
            return Err(ReplayError::IssuerFull {
                issuer: crate::truncate(use_.issuer),
                entries: held,
            });
        }
        let issuer = match entries.by_issuer.get_key_value(use_.issuer) {
            Some((issuer, _)) => issuer.clone(),
            None => Arc::from(use_.issuer),
        };
        entries
            .by_issuer
            .entry(issuer.clone())
            .or_default()
            .insert(jti, use_.expires_at);
        entries.by_expiry.push(Reverse((use_.expires_at, issuer, jti)));
        Ok(true)
    }
}

impl Debug for InMemoryReplayGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryReplayGuard")
            .field("max_entries", &self.max_entries)
            .field("max_entries_per_issuer", &self.max_per_issuer)
            .finish_non_exhaustive()
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
        assert!(g.record(use_at("a", "2", 0)).expect("ok"));
    }

    #[test]
    fn full_guard_fails_closed_and_recovers_after_expiry() {
        let g = InMemoryReplayGuard::new(2).max_entries_per_issuer(2);
        assert!(g.record(use_at("a", "1", 0)).expect("ok"));
        assert!(g.record(use_at("a", "2", 0)).expect("ok"));
        assert!(matches!(g.record(use_at("a", "3", 1)), Err(ReplayError::Full(2))));
        assert!(
            !g.record(use_at("a", "1", 1))
                .expect("a full guard still spots a replay")
        );
        assert!(g.record(use_at("a", "3", 61)).expect("expired entries are swept"));
    }

    /// Issue 13, item 8: one issuer with a valid key fills its quota; it gets the error, the
    /// others are still accepted.
    #[test]
    fn an_issuer_that_fills_its_quota_is_refused_alone() {
        let g = InMemoryReplayGuard::new(100).max_entries_per_issuer(10);
        for jti in 0..10 {
            assert!(
                g.record(use_at("mallory", &jti.to_string(), 0))
                    .expect("within quota")
            );
        }
        assert!(matches!(
            g.record(use_at("mallory", "10", 0)),
            Err(ReplayError::IssuerFull { ref issuer, entries: 10 }) if issuer == "mallory"
        ));
        assert!(
            g.record(use_at("alice", "1", 0))
                .expect("another issuer is unaffected")
        );
        assert!(
            !g.record(use_at("mallory", "3", 0))
                .expect("replays are still spotted")
        );
        // Once mallory's entries expire, its quota is free again.
        assert!(g.record(use_at("mallory", "10", 61)).expect("quota freed"));
    }

    /// The total bound holds however many issuers there are: many issuers, each within its
    /// quota, cannot grow the guard past `max_entries`.
    #[test]
    fn many_issuers_cannot_grow_the_guard_past_its_total_bound() {
        let g = InMemoryReplayGuard::new(50).max_entries_per_issuer(5);
        let mut accepted = 0;
        for issuer in 0..20 {
            for jti in 0..5 {
                match g.record(use_at(&format!("issuer-{issuer}"), &jti.to_string(), 0)) {
                    Ok(true) => accepted += 1,
                    Err(ReplayError::Full(50)) => {}
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(accepted, 50);
        let entries = g.entries.lock().expect("lock");
        assert_eq!(entries.len(), 50);
        assert_eq!(entries.by_issuer.len(), 10);
    }

    #[test]
    fn the_default_quota_is_an_eighth_of_the_total() {
        let g = InMemoryReplayGuard::new(80);
        for jti in 0..10 {
            assert!(g.record(use_at("a", &jti.to_string(), 0)).expect("ok"));
        }
        assert!(matches!(
            g.record(use_at("a", "10", 0)),
            Err(ReplayError::IssuerFull { entries: 10, .. })
        ));
        assert_eq!(InMemoryReplayGuard::new(1).max_per_issuer, 1);
    }

    /// Recording stays cheap when the guard is full of live entries (no scan per use), and
    /// expired entries are all dropped: the heap and the maps agree.
    #[test]
    fn expired_entries_are_swept_in_expiry_order() {
        let g = InMemoryReplayGuard::new(1000).max_entries_per_issuer(1000);
        for jti in 0..500 {
            let use_ = TokenUse {
                issuer: "a",
                jti: &jti.to_string(),
                now: 0,
                expires_at: jti,
            };
            assert!(g.record(use_).expect("ok"));
        }
        assert!(g.record(use_at("b", "x", 250)).expect("ok"));
        let entries = g.entries.lock().expect("lock");
        // jtis 0..250 expired before 250; 250..500 and b's are live.
        assert_eq!(entries.len(), 251);
        assert_eq!(entries.by_issuer["a"].len(), 250);
        assert!(entries.by_issuer["a"].values().all(|&e| e >= 250));
    }
}

//! Replay protection: a `jti` may be used once per issuer while its token lives.

use std::fmt::Debug;
use std::future::Future;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use crate::error::ReplayError;
use crate::expiry::ExpiryIndex;

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

impl TokenUse<'_> {
    /// How long from `now` a guard must keep this use's pair, by the rules every guard
    /// applies before it looks the pair up:
    ///
    /// - `Ok(None)`: the use is already past its own `expires_at` by its caller's clock
    ///   (`expires_at < now`: its token expired while it was being checked). It counts as
    ///   seen, and nothing is kept: an entry could be forgotten before a replay arrived.
    /// - `Err(`[`ReplayError::ExpiresTooLate`]`)`: `expires_at` is more than
    ///   [`MAX_REPLAY_HORIZON`] ahead of `now`.
    /// - `Ok(Some(d))`: the rest of `expires_at - now` seconds, the whole second `expires_at`
    ///   (times are whole seconds, and the caller's second began up to a second before it read
    ///   `now`), and [`SWEEP_GRACE`] beyond it, for a caller that read the clock a moment
    ///   before another caller reached the store.
    ///
    /// ```
    /// use std::time::Duration;
    /// use asap_core::TokenUse;
    ///
    /// let at = |now, expires_at| TokenUse { issuer: "billing", jti: "j", now, expires_at };
    /// assert_eq!(at(1000, 1090).retention().unwrap(), Some(Duration::from_secs(93)));
    /// assert_eq!(at(1091, 1090).retention().unwrap(), None);
    /// assert!(at(1000, 1000 + 100_000).retention().is_err());
    /// ```
    pub fn retention(&self) -> Result<Option<Duration>, ReplayError> {
        let latest = self.now.saturating_add(HORIZON_SECS);
        if self.expires_at > latest {
            return Err(ReplayError::ExpiresTooLate {
                expires_at: self.expires_at,
                latest,
            });
        }
        let Ok(left) = u64::try_from(self.expires_at.saturating_sub(self.now)) else {
            return Ok(None);
        };
        Ok(Some(Duration::from_secs(left + 1) + SWEEP_GRACE))
    }
}

/// The future returned by [`ReplayGuard::first_use`].
pub type ReplayFuture<'a> = Pin<Box<dyn Future<Output = Result<bool, ReplayError>> + Send + 'a>>;

/// Remembers which `(iss, jti)` pairs have been used.
///
/// A guard answers `Ok(true)` at most once per pair for as long as a token carrying it can be
/// accepted, whatever order concurrent callers reach it in. It keeps each pair for
/// [`TokenUse::retention`], and answers as that says before looking anything up: a use already
/// past its own `expires_at` by its caller's clock is answered `Ok(false)` (the guard may
/// forget the pair at any moment from then on, and a replay could no longer be told apart).
pub trait ReplayGuard: Send + Sync + Debug {
    /// Atomically records the use; `Ok(true)` if this is the first use, `Ok(false)` if the pair
    /// was seen before and is still kept, or if the use is already past its own expiry
    /// ([`TokenUse::retention`] is `Ok(None)`).
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

/// How long past its `expires_at` a guard keeps an entry ([`TokenUse::retention`]): long
/// enough for a caller that read the clock just before another one swept (or just before its
/// command reached a shared store) to still find what it must (see [`InMemoryReplayGuard`]).
pub const SWEEP_GRACE: Duration = Duration::from_secs(2);

/// The furthest ahead of `now` a guard records an expiry ([`TokenUse::retention`]): the longest
/// token lifetime any verifier accepts ([`MAX_LIFETIME`]) plus its leeway twice (`iat` may be a
/// leeway ahead of the clock, and the entry is kept a leeway past `exp`). Every verifier in
/// this workspace refuses a token that would go further before it reaches the guard; a caller
/// that does not is refused with [`ReplayError::ExpiresTooLate`].
///
/// [`MAX_LIFETIME`]: crate::MAX_LIFETIME
pub const MAX_REPLAY_HORIZON: Duration =
    Duration::from_secs(crate::signer::MAX_LIFETIME.as_secs() + 2 * crate::time::MAX_LEEWAY.as_secs());

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
///   busiest legitimate issuer (its request rate × (token lifetime + leeway + [`SWEEP_GRACE`]))
///   and the total for the issuers that may be full at once.
///
/// An entry is forgotten once the clock is more than [`SWEEP_GRACE`] past its `expires_at`,
/// and not a second before, whatever the clock did in between (a clock stepped back keeps every
/// entry until it is past that entry's own expiry again). The grace is for callers that read
/// the clock a moment before they reach the guard: without it, one that read second `T` could
/// arrive just after another caller, at `T + 1`, forgot the entries of second `T`, and take a
/// replay of a token expiring at `T` for a first use. A use that is already past its own
/// `expires_at` (`expires_at < now`: its token expired while it was being checked) counts as
/// seen (`Ok(false)`): its entry could be forgotten before a replay arrived. An expiry more
/// than [`MAX_REPLAY_HORIZON`] ahead is refused ([`ReplayError::ExpiresTooLate`]).
///
/// # Cost
///
/// An entry costs about 50 bytes whatever the `jti` or issuer (the issuer's name is kept once
/// per issuer): a 16-byte key in an open-addressing table at most 5/8 full, and the same key
/// in its per-second expiry bucket (see the `expiry` module). Recording a use costs O(1)
/// amortised however full the guard is: one probe of the table (one cache line, usually), an
/// append to its second's bucket, and its share of a sweep that drops whole expired buckets
/// in order.
///
/// # The key
///
/// `(issuer, jti)` is kept as a 128-bit key: two SipHash-1-3 outputs (the standard library's
/// keyed hash) under its random keys (a `RandomState`, distinct for each guard), of the pair
/// (the issuer length-prefixed, so that no two pairs share an encoding) followed by a domain
/// byte, one per half. Two pairs share a key only by
/// chance, about 2⁻¹²⁸ for a given pair (2⁻⁶⁴ even if only one half held), and nobody can aim
/// for that: the hash key never leaves the process, and nothing the guard answers depends on
/// the key beyond "seen" or "not seen". A collision could only refuse one token as a replay,
/// never accept one: a guard must fail that way if at all. Keeping the `jti` itself (or its
/// SHA-256) would cost at least 32 bytes per entry in each of the two places instead of 16.
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
    hash_key: RandomState,
    entries: Mutex<Entries>,
}

/// An `(issuer, jti)` pair as the guard keeps it (see "The key" on [`InMemoryReplayGuard`]).
/// Never [`UseKey::EMPTY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct UseKey([u64; 2]);

impl UseKey {
    /// What an empty slot of a [`KeySet`] holds.
    const EMPTY: UseKey = UseKey([0, 0]);
}

/// The keys of the live entries: open addressing with linear probing over the keys
/// themselves, so that a probe reads one cache line (a swiss table keeps its control bytes
/// apart from the entries, a second line), and deletion shifts the following keys back
/// instead of leaving tombstones, so that a guard that keeps recording and forgetting never
/// rehashes in place. Keys are already uniform (a keyed hash), so their first word places
/// them. At most 5/8 full; shrunk when under 1/8.
struct KeySet {
    slots: Vec<UseKey>,
    len: usize,
}

impl KeySet {
    const MIN_SLOTS: usize = 64;

    fn new() -> KeySet {
        KeySet {
            slots: vec![UseKey::EMPTY; KeySet::MIN_SLOTS],
            len: 0,
        }
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    #[allow(clippy::cast_possible_truncation)] // the low bits are the ones wanted
    fn home(&self, key: UseKey) -> usize {
        key.0[0] as usize & self.mask()
    }

    /// The slot holding `key`, or the empty slot where it would go.
    fn find(&self, key: UseKey) -> (usize, bool) {
        let mut i = self.home(key);
        loop {
            match self.slots[i] {
                k if k == key => return (i, true),
                UseKey::EMPTY => return (i, false),
                _ => i = (i + 1) & self.mask(),
            }
        }
    }

    fn contains(&self, key: UseKey) -> bool {
        self.find(key).1
    }

    fn insert(&mut self, key: UseKey) {
        if (self.len + 1) * 8 > self.slots.len() * 5 {
            self.resize(self.slots.len() * 2);
        }
        if let (i, false) = self.find(key) {
            self.slots[i] = key;
            self.len += 1;
        }
    }

    fn remove(&mut self, key: UseKey) {
        let (mut hole, true) = self.find(key) else {
            return;
        };
        // Shift back each following key of the run that may sit in the hole: one whose home
        // is not between the hole and where it is now.
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let k = self.slots[j];
            if k == UseKey::EMPTY {
                break;
            }
            if (j.wrapping_sub(self.home(k)) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = k;
                hole = j;
            }
        }
        self.slots[hole] = UseKey::EMPTY;
        self.len -= 1;
        if self.len * 8 < self.slots.len() && self.slots.len() > KeySet::MIN_SLOTS {
            self.resize(self.slots.len() / 2);
        }
    }

    fn resize(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.slots, vec![UseKey::EMPTY; slots]);
        for key in old.into_iter().filter(|&k| k != UseKey::EMPTY) {
            let (i, _) = self.find(key);
            self.slots[i] = key;
        }
    }
}

struct Entries {
    /// Every entry recorded and not yet forgotten.
    seen: KeySet,
    /// The same entries, by issuer and expiry.
    by_expiry: ExpiryIndex<UseKey>,
}

impl InMemoryReplayGuard {
    /// A guard holding at most `max_entries` live entries, and at most an eighth of them
    /// (rounded up) for any one issuer.
    pub fn new(max_entries: usize) -> InMemoryReplayGuard {
        InMemoryReplayGuard {
            max_entries,
            max_per_issuer: max_entries.div_ceil(ISSUER_SHARES),
            hash_key: RandomState::new(),
            entries: Mutex::new(Entries {
                seen: KeySet::new(),
                by_expiry: ExpiryIndex::new(),
            }),
        }
    }

    /// At most `max` live entries for any one issuer (at most `max_entries`; more is the same).
    #[must_use]
    pub fn max_entries_per_issuer(mut self, max: usize) -> InMemoryReplayGuard {
        self.max_per_issuer = max;
        self
    }

    fn key(&self, issuer: &str, jti: &str) -> UseKey {
        // The pair is hashed once, then each half adds its domain byte last: two inputs
        // that differ, so two independent outputs, for the cost of one pass over the pair.
        let mut pair = self.hash_key.build_hasher();
        pair.write_usize(issuer.len());
        pair.write(issuer.as_bytes());
        pair.write(jti.as_bytes());
        let half = |domain: u8| {
            let mut h = pair.clone();
            h.write_u8(domain);
            h.finish()
        };
        match UseKey([half(0), half(1)]) {
            UseKey::EMPTY => UseKey([0, 1]),
            key => key,
        }
    }

    fn record(&self, use_: TokenUse<'_>) -> Result<bool, ReplayError> {
        // The entry is kept by its `expires_at`: swept once the clock is SWEEP_GRACE past it.
        if use_.retention()?.is_none() {
            return Ok(false);
        }
        let key = self.key(use_.issuer, use_.jti);
        // A poisoned lock only means another thread panicked mid-insert; the sets are sound.
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Entries { seen, by_expiry } = &mut *entries;
        by_expiry.sweep(use_.now.saturating_sub(GRACE_SECS), |gone| {
            seen.remove(gone);
        });
        // After the sweep every entry left is live: present means seen.
        if seen.contains(key) {
            return Ok(false);
        }
        if by_expiry.len() >= self.max_entries {
            crate::metrics::memory_replay_store_full(true);
            return Err(ReplayError::Full(by_expiry.len()));
        }
        let held = by_expiry.held(use_.issuer);
        if held >= self.max_per_issuer {
            crate::metrics::memory_replay_store_full(false);
            return Err(ReplayError::IssuerFull {
                issuer: crate::truncate(use_.issuer),
                entries: held,
            });
        }
        seen.insert(key);
        by_expiry.insert(use_.issuer, use_.expires_at, key);
        Ok(true)
    }
}

/// [`MAX_REPLAY_HORIZON`] in seconds.
const HORIZON_SECS: i64 = MAX_REPLAY_HORIZON.as_secs() as i64;
/// [`SWEEP_GRACE`] in seconds.
const GRACE_SECS: i64 = SWEEP_GRACE.as_secs() as i64;

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

    impl Entries {
        fn len(&self) -> usize {
            self.by_expiry.len()
        }
    }

    impl InMemoryReplayGuard {
        /// The entries, checked: the table and the index hold the same number.
        fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
            let entries = self.entries.lock().expect("lock");
            entries.by_expiry.assert_consistent();
            assert_eq!(entries.seen.len, entries.by_expiry.len(), "table and index agree");
            entries
        }
    }

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
        assert!(
            !g.record(use_at("a", "1", 60 + GRACE_SECS))
                .expect("kept for the grace")
        );
        assert!(g.record(use_at("a", "1", 61 + GRACE_SECS)).expect("ok"));
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
        assert!(
            g.record(use_at("a", "3", 61 + GRACE_SECS))
                .expect("expired entries are swept")
        );
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
        assert!(
            g.record(use_at("mallory", "10", 61 + GRACE_SECS))
                .expect("quota freed")
        );
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
        let entries = g.entries();
        assert_eq!(entries.len(), 50);
        assert_eq!(entries.by_expiry.issuers(), 10);
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
        assert!(g.record(use_at("b", "x", 250 + GRACE_SECS)).expect("ok"));
        let entries = g.entries();
        // jtis 0..250 expired before 250; 250..500 and b's are live.
        assert_eq!(entries.len(), 251);
        assert_eq!(entries.by_expiry.held("a"), 250);
        assert!(entries.by_expiry.expiries_of("a").iter().all(|&e| e >= 250));
    }

    fn use_until<'a>(issuer: &'a str, jti: &'a str, now: i64, expires_at: i64) -> TokenUse<'a> {
        TokenUse {
            issuer,
            jti,
            now,
            expires_at,
        }
    }

    /// Bucket boundaries: entries expiring in neighbouring seconds are each forgotten right
    /// after their own second and the grace, and not a second before.
    #[test]
    fn each_entry_is_forgotten_right_after_its_expiry_and_the_grace() {
        const G: i64 = GRACE_SECS;
        let g = InMemoryReplayGuard::new(10);
        assert!(g.record(use_until("a", "1", 0, 100)).expect("ok"));
        assert!(g.record(use_until("a", "2", 0, 101)).expect("ok"));
        assert!(
            !g.record(use_until("a", "1", 100 + G, 200)).expect("ok"),
            "100 is within"
        );
        assert!(!g.record(use_until("a", "2", 100 + G, 200)).expect("ok"));
        assert!(
            g.record(use_until("a", "1", 101 + G, 200))
                .expect("past 100: forgotten")
        );
        assert!(
            !g.record(use_until("a", "2", 101 + G, 200))
                .expect("101 is within")
        );
        assert!(
            g.record(use_until("a", "2", 102 + G, 200))
                .expect("past 101: forgotten")
        );
        assert_eq!(g.entries().len(), 2, "only the two new entries");
    }

    /// The quota counts exactly the unexpired entries: expiry frees exactly what expired, and
    /// replays do not count.
    #[test]
    fn the_quota_counts_unexpired_entries_exactly() {
        let g = InMemoryReplayGuard::new(100).max_entries_per_issuer(3);
        assert!(g.record(use_until("a", "1", 0, 10)).expect("ok"));
        assert!(g.record(use_until("a", "2", 0, 20)).expect("ok"));
        assert!(g.record(use_until("a", "3", 0, 20)).expect("ok"));
        assert!(
            !g.record(use_until("a", "1", 5, 10))
                .expect("a replay is not counted")
        );
        const G: i64 = GRACE_SECS;
        assert!(matches!(
            g.record(use_until("a", "4", 10 + G, 30)),
            Err(ReplayError::IssuerFull { entries: 3, .. })
        ));
        assert!(
            g.record(use_until("a", "4", 11 + G, 30))
                .expect("one expired, one free")
        );
        assert!(matches!(
            g.record(use_until("a", "5", 11 + G, 30)),
            Err(ReplayError::IssuerFull { entries: 3, .. })
        ));
        assert_eq!(g.entries().by_expiry.held("a"), 3);
        assert!(g.record(use_until("a", "5", 21 + G, 30)).expect("two expired"));
        assert_eq!(g.entries().by_expiry.held("a"), 2);
    }

    /// A full guard refuses every new pair, of any issuer, with the total; it still tells a
    /// replay apart; the first expiry makes room again.
    #[test]
    fn a_full_guard_refuses_new_pairs_of_every_issuer() {
        let g = InMemoryReplayGuard::new(3).max_entries_per_issuer(3);
        assert!(g.record(use_until("a", "1", 0, 10)).expect("ok"));
        assert!(g.record(use_until("b", "1", 0, 20)).expect("ok"));
        assert!(g.record(use_until("c", "1", 0, 20)).expect("ok"));
        const G: i64 = GRACE_SECS;
        for issuer in ["a", "d"] {
            assert!(matches!(
                g.record(use_until(issuer, "2", 10 + G, 30)),
                Err(ReplayError::Full(3))
            ));
        }
        assert!(
            !g.record(use_until("b", "1", 10 + G, 30))
                .expect("a replay, not full")
        );
        assert!(
            g.record(use_until("d", "2", 11 + G, 30))
                .expect("room once a's entry expired")
        );
        assert!(matches!(
            g.record(use_until("a", "2", 11 + G, 30)),
            Err(ReplayError::Full(3))
        ));
        assert_eq!(g.entries().len(), 3);
    }

    /// A clock stepped back keeps every entry until the clock is past its expiry again, and
    /// entries recorded meanwhile keep their own, earlier expiry; a clock that jumped ahead
    /// and came back does not hold later entries until the far time.
    #[test]
    fn a_clock_stepped_back_forgets_nothing_early_and_nothing_late() {
        const G: i64 = GRACE_SECS;
        let g = InMemoryReplayGuard::new(10);
        assert!(g.record(use_until("a", "late", 1000, 1060)).expect("ok"));
        // The clock steps back 500 s: the entry is still there.
        assert!(!g.record(use_until("a", "late", 500, 560)).expect("still seen"));
        assert!(g.record(use_until("a", "early", 500, 560)).expect("ok"));
        assert!(
            !g.record(use_until("a", "early", 560 + G, 620))
                .expect("still seen")
        );
        assert!(
            g.record(use_until("a", "early", 561 + G, 620))
                .expect("past its own expiry")
        );
        assert!(
            !g.record(use_until("a", "late", 561 + G, 620))
                .expect("the later entry stays")
        );
        assert!(
            !g.record(use_until("a", "late", 1060 + G, 1120))
                .expect("still seen at 1060")
        );
        assert!(
            g.record(use_until("a", "late", 1061 + G, 1120))
                .expect("gone after 1060")
        );
        assert_eq!(
            g.entries().by_expiry.expiries_of("a"),
            [1120],
            "early went at 621"
        );
    }

    /// The guard bounds how far ahead it keeps an entry itself, whatever its caller checked.
    #[test]
    fn an_expiry_beyond_the_horizon_is_refused() {
        let g = InMemoryReplayGuard::new(10);
        let latest = 1000 + HORIZON_SECS;
        assert_eq!(HORIZON_SECS, 3600 + 2 * 300);
        assert!(
            g.record(use_until("a", "1", 1000, latest))
                .expect("at the horizon")
        );
        assert!(matches!(
            g.record(use_until("a", "2", 1000, latest + 1)),
            Err(ReplayError::ExpiresTooLate { expires_at, latest: l }) if expires_at == latest + 1 && l == latest
        ));
        assert!(
            matches!(g.record(use_until("a", "3", i64::MAX, i64::MAX)), Ok(true)),
            "no overflow at the end of time"
        );
        assert!(matches!(
            g.record(use_until("a", "4", 0, i64::MAX)),
            Err(ReplayError::ExpiresTooLate { .. })
        ));
        assert_eq!(g.entries().len(), 1, "the entry at i64::MAX swept the others");
    }

    /// A use whose token expired while it was being checked (its caller's clock is already
    /// past its `expires_at`) counts as seen and is not recorded: its entry would go at the
    /// next sweep, and a replay right after it would be taken for a first use.
    #[test]
    fn a_use_already_past_its_expiry_counts_as_seen() {
        let g = InMemoryReplayGuard::new(10);
        assert!(!g.record(use_until("a", "1", 101, 100)).expect("refused"));
        assert!(!g.record(use_until("a", "1", 101, 100)).expect("and again"));
        assert!(
            g.record(use_until("a", "2", 100, 100))
                .expect("the last second is within")
        );
        assert_eq!(g.entries().len(), 1);
    }

    /// A caller that read the clock at second `T` and reaches the guard just after another
    /// caller, at `T + 1`, swept: the entry of a token expiring at `T` is still there, so the
    /// replay is refused (without the grace, that sweep forgot it).
    #[test]
    fn a_caller_behind_a_sweep_still_finds_the_entry() {
        let g = InMemoryReplayGuard::new(10);
        assert!(g.record(use_until("a", "1", 100, 100)).expect("first use"));
        assert!(
            g.record(use_until("b", "1", 101, 160))
                .expect("another caller, a second on")
        );
        assert!(
            !g.record(use_until("a", "1", 100, 100))
                .expect("the replay, read at 100")
        );
    }

    /// Issuers whose entries all expired leave nothing behind.
    #[test]
    fn many_issuers_leave_nothing_once_expired() {
        let g = InMemoryReplayGuard::new(1000).max_entries_per_issuer(1);
        for issuer in 0..500 {
            assert!(
                g.record(use_until(&format!("issuer-{issuer}"), "1", 0, 10))
                    .expect("ok")
            );
        }
        assert_eq!(g.entries().by_expiry.issuers(), 500);
        assert!(g.record(use_until("last", "1", 11 + GRACE_SECS, 20)).expect("ok"));
        let entries = g.entries();
        assert_eq!((entries.len(), entries.by_expiry.issuers()), (1, 1));
    }

    /// The key tells apart pairs that concatenate alike, and is drawn per guard.
    #[test]
    fn the_key_is_keyed_per_guard_and_separates_issuer_from_jti() {
        let g = InMemoryReplayGuard::new(10);
        assert_ne!(g.key("ab", "c"), g.key("a", "bc"));
        assert_ne!(g.key("a", "b"), g.key("b", "a"));
        assert_eq!(g.key("a", "b"), g.key("a", "b"));
        assert_ne!(g.key("a", "b"), InMemoryReplayGuard::new(10).key("a", "b"));
        let UseKey([first, second]) = g.key("a", "b");
        assert_ne!(first, second, "two halves, two domains");
        assert!(g.record(use_at("ab", "c", 0)).expect("ok"));
        assert!(g.record(use_at("a", "bc", 0)).expect("another pair"));
    }

    /// The key set agrees with a standard set through inserts and removals that collide,
    /// wrap around the end of the slots, grow and shrink it; it never holds more slots than
    /// 16 per key (or the minimum).
    #[test]
    fn the_key_set_agrees_with_a_set_through_collisions_growth_and_shrinking() {
        let mut set = KeySet::new();
        let mut model = std::collections::HashSet::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for step in 0..10_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Few distinct homes and a tail near the end of the slots: long runs that wrap.
            let key = UseKey([(x % 16) | (u64::MAX << 8), x >> 8 | 1]);
            if step % 3 == 2 || model.len() > 500 {
                let gone = *model.iter().next().unwrap_or(&key);
                set.remove(gone);
                model.remove(&gone);
            } else {
                set.insert(key);
                model.insert(key);
            }
            assert_eq!(set.len, model.len());
            assert!(set.contains(key) == model.contains(&key));
        }
        assert!(model.iter().all(|&k| set.contains(k)));
        assert_eq!(
            set.slots.iter().filter(|&&k| k != UseKey::EMPTY).count(),
            model.len()
        );
        for key in model.drain() {
            set.remove(key);
        }
        assert_eq!((set.len, set.slots.len()), (0, KeySet::MIN_SLOTS), "shrunk back");
    }
}

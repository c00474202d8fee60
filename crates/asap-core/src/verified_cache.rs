//! The verified-token cache: tokens that passed every rule, by their exact text, until their
//! `exp`, so that a client reusing its token costs a lookup instead of a signature check.
//!
//! # Bounded under attack
//!
//! Any issuer with a valid key can fill the cache with tokens of its own. So:
//!
//! - a lookup is lock-free and an insertion costs O(log issuers) (the expiry index shared with
//!   the replay guard, no scan), however full the cache is;
//! - when it is full, expired entries go first; then an insertion may only displace an entry of
//!   the issuer holding the most entries, and only if that is another issuer holding more than
//!   the inserting one. An issuer that already holds the most simply is not cached (it keeps
//!   what it has). So one issuer can take the room nobody else uses, but cannot push out the
//!   entries of an issuer holding fewer: every issuer keeps an equal share of a full cache if
//!   it uses it. Many issuers (many valid keys) can at worst shrink each share;
//! - a token longer than [`MAX_CACHED_TOKEN_BYTES`], or whose claims parse into more than
//!   [`MAX_CACHED_CLAIMS_BYTES`] (counted from above, [`Expiring::heap_bytes`]), is verified
//!   every time and never kept, so the memory is bounded by `max_entries` × (the two sizes and
//!   the entry's own): about 13 KiB an entry at worst, 130 MB for 10,000 entries filled by one
//!   issuer with tokens made for it, against about 0.9 KB for a usual token. The second bound
//!   matters because parsed JSON can hold a hundred times its text: a 4 KiB token of `{"":0}`
//!   objects parses into over 250 KB.
//!
//! An entry answers from the first second the time rule accepts the token (the later of `iat`
//! and `nbf`, less the leeway: [`TimeRule::accepted_from`](crate::TimeRule::accepted_from))
//! until the token's own `exp`, and never outside (not `exp + leeway`, nor before that start
//! if the clock steps back); outside that the token is verified again, by every rule.
//!
//! # ECDSA signature malleability
//!
//! An ECDSA signature `(r, s)` has a twin `(r, n − s)` that verifies as well. The project
//! accepts such "high-S" signatures (docs/asap-rules.md, round 2: the Python and Node peers do not
//! normalise S, so refusing them would refuse about half of their tokens), so anyone who sees a
//! token can make a second, different token text with the same claims. This is harmless
//! because nothing that matters is keyed on the signature bytes:
//!
//! - here, the twin is just another token text: it is verified in full on its first use, then
//!   cached under its own text, with the same claims, the same `exp` and the same issuer's
//!   share. It is accepted exactly when the original would be, and at most doubles the entries
//!   one token can make;
//! - replay protection is keyed by `(iss, jti)`, so the twin of a used token is a replay; and
//!   with a replay guard this cache is off, so that every use reaches the guard;
//! - nothing identifies a token by its text in logs or errors.

use std::sync::{Arc, Mutex};

use crate::expiry::ExpiryIndex;
use crate::verifier::Verified;

/// The longest token the cache keeps, in bytes. Longer ones are verified every time.
pub(crate) const MAX_CACHED_TOKEN_BYTES: usize = 4096;

/// The most heap a kept token's claims may hold ([`Expiring::heap_bytes`]), in bytes: twice
/// the longest token kept. The registered claims of a usual token hold a few hundred bytes; six
/// small nested objects of extra claims about 5 KiB.
pub(crate) const MAX_CACHED_CLAIMS_BYTES: usize = 2 * MAX_CACHED_TOKEN_BYTES;

/// What the cache must know of what it keeps: whose it is and until when it answers.
pub(crate) trait Expiring: Clone {
    /// The issuer whose share the entry counts against.
    fn issuer(&self) -> &str;
    /// The last second at which the entry answers (the token's `exp`).
    fn expires_at(&self) -> i64;
    /// About how many heap bytes the entry holds beyond its own size, counted from above.
    fn heap_bytes(&self) -> usize;
}

impl Expiring for Verified {
    fn issuer(&self) -> &str {
        Verified::issuer(self)
    }

    fn expires_at(&self) -> i64 {
        self.claims().expires_at()
    }

    fn heap_bytes(&self) -> usize {
        // The kid's text behind its `Arc` (two counters).
        let kid = crate::json::allocation(self.kid().as_str().len() + 2 * size_of::<usize>());
        self.claims().heap_bytes().saturating_add(kid)
    }
}

/// An entry and the first second it answers: from then until its `exp`.
struct Kept<V> {
    value: V,
    accepted_from: i64,
}

/// Verified tokens by their exact text (see the module documentation).
pub(crate) struct VerifiedCache<V = Verified> {
    max_entries: usize,
    entries: papaya::HashMap<Arc<str>, Kept<V>, TailHash>,
    /// Who holds which token text until when, for choosing what to drop. Changed only with
    /// `entries`, under the lock.
    index: Mutex<ExpiryIndex<Arc<str>>>,
}

/// Hashes a token by its length and its last [`TailHash::BYTES`] bytes: those are signature
/// characters, which differ between any two tokens, so hashing the whole text (hundreds of
/// bytes) would buy nothing but time on every lookup. The four words are mixed by folded
/// multiplications with keys drawn per process (from the standard library's random hasher
/// keys), so no token can aim for a collision it cannot see; equality still compares the whole
/// text. A lookup hashes once, so this is most of what a cache hit costs.
#[derive(Clone)]
struct TailHash([u64; 4]);

impl TailHash {
    const BYTES: usize = 32;
}

impl Default for TailHash {
    fn default() -> TailHash {
        use std::hash::BuildHasher as _;
        let random = std::hash::RandomState::new();
        TailHash([0u64, 1, 2, 3].map(|i| random.hash_one(i)))
    }
}

impl std::hash::BuildHasher for TailHash {
    type Hasher = TailHasher;
    fn build_hasher(&self) -> TailHasher {
        TailHasher {
            keys: self.0,
            hash: 0,
        }
    }
}

struct TailHasher {
    keys: [u64; 4],
    hash: u64,
}

/// The high and low halves of the full product, folded together.
#[allow(clippy::cast_possible_truncation)] // truncating to each half is the point
fn fold_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

impl std::hash::Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = [0u64; 4];
        if let Some((_, tail)) = bytes.split_last_chunk::<{ TailHash::BYTES }>() {
            // Every real token: four whole words, last word first as below.
            for (word, chunk) in words.iter_mut().zip(tail.rchunks_exact(8)) {
                *word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            }
        } else {
            for (word, chunk) in words.iter_mut().zip(bytes.rchunks(8)) {
                *word = match <[u8; 8]>::try_from(chunk) {
                    Ok(full) => u64::from_le_bytes(full),
                    // Only a token shorter than the tail has a partial word.
                    Err(_) => chunk.iter().fold(0, |w, &b| w << 8 | u64::from(b)),
                };
            }
        }
        let [k0, k1, k2, k3] = self.keys;
        let len = bytes.len() as u64;
        self.hash = fold_multiply(words[0] ^ k0, words[1] ^ k1 ^ len)
            ^ fold_multiply(words[2] ^ k2, words[3] ^ k3)
            ^ self.hash.rotate_left(29);
    }

    /// `str` hashing ends with a `0xff` byte to separate strings; a key here is one whole
    /// string, so there is nothing to separate.
    fn write_u8(&mut self, _: u8) {}

    fn finish(&self) -> u64 {
        fold_multiply(self.hash ^ self.keys[0], self.keys[3] | 1)
    }
}

impl<V: Expiring> VerifiedCache<V> {
    /// A cache of at most `max_entries` tokens.
    pub(crate) fn new(max_entries: usize) -> VerifiedCache<V> {
        VerifiedCache {
            max_entries,
            entries: papaya::HashMap::with_hasher(TailHash::default()),
            index: Mutex::new(ExpiryIndex::by_size()),
        }
    }

    /// The bound it was built with.
    pub(crate) fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// The verified token for exactly this text, while `now` is between the first second it
    /// answers and its `exp`. The verifier counts the lookup (`metrics::verified_cache_lookup`),
    /// not this.
    pub(crate) fn get(&self, token: &str, now: i64) -> Option<V> {
        let entries = self.entries.pin();
        // Inside the token's own lifetime (the leeway is not stretched by caching), and not
        // before its `iat` and `nbf` pass (a clock stepped back).
        entries
            .get(token)
            .filter(|hit| (hit.accepted_from..=hit.value.expires_at()).contains(&now))
            .map(|hit| hit.value.clone())
    }

    /// Keeps `verified` for `token` if there is room for it (see the module documentation), to
    /// answer from `accepted_from` on.
    pub(crate) fn insert(&self, token: &str, verified: &V, now: i64, accepted_from: i64) {
        let exp = verified.expires_at();
        if token.len() > MAX_CACHED_TOKEN_BYTES
            || verified.heap_bytes() > MAX_CACHED_CLAIMS_BYTES
            || exp < now
        {
            return;
        }
        // A poisoned lock only means another thread panicked mid-insert; the index is sound.
        let mut index = self
            .index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entries = self.entries.pin();
        if entries.contains_key(token) {
            return;
        }
        index.sweep(now, |expired| {
            entries.remove(&*expired);
        });
        if index.len() >= self.max_entries {
            let held = index.held(verified.issuer());
            let Some((largest, victim)) = index.largest() else {
                return;
            };
            if held >= largest {
                return;
            }
            if let Some(evicted) = index.pop_soonest(victim) {
                entries.remove(&*evicted);
            }
        }
        let token: Arc<str> = Arc::from(token);
        index.insert(verified.issuer(), exp, token.clone());
        entries.insert(
            token,
            Kept {
                value: verified.clone(),
                accepted_from,
            },
        );
    }

    /// How many tokens each issuer holds (for tests).
    #[cfg(test)]
    fn held(&self, issuer: &str) -> usize {
        self.index.lock().expect("lock").held(issuer)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let index = self.index.lock().expect("lock");
        assert_eq!(index.len(), self.entries.pin().len(), "index and map agree");
        index.assert_consistent();
        index.len()
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher as _;

    use super::*;

    #[test]
    fn the_tail_hash_tells_tails_and_lengths_apart() {
        let hash = TailHash::default();
        let tokens: Vec<String> = (0..10_000).map(|i| format!("h.p.{i:032}")).collect();
        let distinct: std::collections::HashSet<u64> =
            tokens.iter().map(|t| hash.hash_one(t.as_str())).collect();
        assert_eq!(distinct.len(), tokens.len(), "no collisions among 10,000 tails");
        let tail = "t".repeat(TailHash::BYTES);
        assert_ne!(
            hash.hash_one(format!("a{tail}").as_str()),
            hash.hash_one(format!("ab{tail}").as_str())
        );
        // Keyed per cache: another cache hashes the same token differently.
        assert_ne!(
            hash.hash_one(tail.as_str()),
            TailHash::default().hash_one(tail.as_str())
        );
    }

    #[test]
    fn tokens_that_differ_only_before_their_tail_are_still_two_entries() {
        let tail = "s".repeat(TailHash::BYTES);
        let (a, b) = (format!("a.{tail}"), format!("b.{tail}"));
        let hash = TailHash::default();
        assert_eq!(
            hash.hash_one(a.as_str()),
            hash.hash_one(b.as_str()),
            "same tail, same hash"
        );
        let cache = VerifiedCache::<Entry>::new(10);
        cache.insert(&a, &verified("alice", 100), 0, i64::MIN);
        cache.insert(&b, &verified("bob", 100), 0, i64::MIN);
        assert_eq!(cache.get(&a, 0).map(|e| e.0), Some("alice"));
        assert_eq!(cache.get(&b, 0).map(|e| e.0), Some("bob"));
        assert!(cache.get(&format!("c.{tail}"), 0).is_none());
    }

    #[derive(Clone)]
    struct Entry(&'static str, i64, usize);

    impl Expiring for Entry {
        fn issuer(&self) -> &str {
            self.0
        }
        fn expires_at(&self) -> i64 {
            self.1
        }
        fn heap_bytes(&self) -> usize {
            self.2
        }
    }

    fn verified(issuer: &'static str, exp: i64) -> Entry {
        Entry(issuer, exp, 100)
    }

    #[test]
    fn a_full_cache_lets_a_smaller_issuer_displace_the_largest_only() {
        let cache = VerifiedCache::<Entry>::new(10);
        for i in 0..10 {
            cache.insert(
                &format!("mallory-{i}"),
                &verified("mallory", 1000 + i),
                0,
                i64::MIN,
            );
        }
        assert_eq!(cache.held("mallory"), 10);
        // Mallory holds the most: more of its tokens are not cached, its own are kept.
        cache.insert("mallory-10", &verified("mallory", 5000), 0, i64::MIN);
        assert!(cache.get("mallory-10", 0).is_none());
        assert!(cache.get("mallory-0", 0).is_some());
        // Alice holds fewer: she displaces mallory's soonest-expiring entry.
        for i in 0..5 {
            cache.insert(&format!("alice-{i}"), &verified("alice", 100), 0, i64::MIN);
        }
        assert_eq!((cache.held("alice"), cache.held("mallory")), (5, 5));
        assert!(
            cache.get("mallory-0", 0).is_none(),
            "soonest to expire went first"
        );
        assert!(cache.get("mallory-9", 0).is_some());
        // Now neither holds more than the other: mallory cannot push alice out.
        for i in 20..40 {
            cache.insert(&format!("mallory-{i}"), &verified("mallory", 5000), 0, i64::MIN);
        }
        assert_eq!((cache.held("alice"), cache.held("mallory")), (5, 5));
        for i in 0..5 {
            assert!(cache.get(&format!("alice-{i}"), 0).is_some());
        }
        assert_eq!(cache.len(), 10);
    }

    #[test]
    fn expired_entries_make_room_first() {
        let cache = VerifiedCache::<Entry>::new(3);
        cache.insert("a", &verified("x", 10), 0, i64::MIN);
        cache.insert("b", &verified("x", 20), 0, i64::MIN);
        cache.insert("c", &verified("x", 30), 0, i64::MIN);
        // At 21, a and b have expired: x (the only issuer) gets room without displacing c.
        cache.insert("d", &verified("x", 40), 21, i64::MIN);
        assert!(cache.get("c", 21).is_some() && cache.get("d", 21).is_some());
        assert!(cache.get("a", 0).is_none() && cache.get("b", 0).is_none());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn entries_answer_until_exp_and_not_after() {
        let cache = VerifiedCache::<Entry>::new(3);
        cache.insert("t", &verified("x", 100), 0, i64::MIN);
        assert!(cache.get("t", 100).is_some());
        assert!(cache.get("t", 101).is_none());
        cache.insert("late", &verified("x", 100), 101, i64::MIN);
        assert_eq!(cache.len(), 1, "an expired token is not kept");
    }

    #[test]
    fn long_tokens_are_not_kept() {
        let cache = VerifiedCache::<Entry>::new(3);
        let long = "t".repeat(MAX_CACHED_TOKEN_BYTES + 1);
        cache.insert(&long, &verified("x", 100), 0, i64::MIN);
        assert!(cache.get(&long, 0).is_none());
        let limit = "t".repeat(MAX_CACHED_TOKEN_BYTES);
        cache.insert(&limit, &verified("x", 100), 0, i64::MIN);
        assert!(cache.get(&limit, 0).is_some());
    }

    #[test]
    fn entries_whose_claims_hold_more_than_the_bound_are_not_kept() {
        let cache = VerifiedCache::<Entry>::new(3);
        cache.insert(
            "heavy",
            &Entry("x", 100, MAX_CACHED_CLAIMS_BYTES + 1),
            0,
            i64::MIN,
        );
        assert!(cache.get("heavy", 0).is_none());
        cache.insert("limit", &Entry("x", 100, MAX_CACHED_CLAIMS_BYTES), 0, i64::MIN);
        assert!(cache.get("limit", 0).is_some());
    }

    #[test]
    fn an_entry_does_not_answer_before_it_is_accepted() {
        let cache = VerifiedCache::<Entry>::new(3);
        cache.insert("t", &verified("x", 100), 50, 40);
        assert!(cache.get("t", 40).is_some());
        assert!(cache.get("t", 39).is_none(), "the clock stepped back");
    }

    #[test]
    fn the_same_token_is_kept_once() {
        let cache = VerifiedCache::<Entry>::new(3);
        cache.insert("t", &verified("x", 100), 0, i64::MIN);
        cache.insert("t", &verified("x", 100), 0, i64::MIN);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.held("x"), 1);
    }
}

//! The expiry index shared by the replay guard and the verified-token cache: which entries each
//! issuer holds, and when each may be forgotten, so that expired entries are dropped in the
//! order they expire, per-issuer counts are exact, and an issuer's soonest-expiring entry can
//! be given up, each without scanning.
//!
//! Expiry times are whole seconds, and nearly every entry expires at or after the latest one
//! recorded (a token's `exp` is its issue time plus a fixed lifetime), so each issuer's entries
//! are kept in per-second buckets in expiry order: recording one appends to the last bucket,
//! and a sweep takes whole buckets off the front. That is O(1) per entry (amortised) and walks
//! memory in order, where a heap of single entries costs O(log n) cache misses per entry once
//! it outgrows the CPU caches. Only the non-empty buckets exist, so a far-away expiry costs one
//! bucket, not one per second in between; an entry that expires before the latest one (another
//! lifetime, a clock stepped back) goes into its bucket found by binary search, so the order
//! stays exact.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

/// Which issuer an entry counts against: a slot of [`ExpiryIndex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct IssuerId(u32);

/// Entries `K` by issuer and by the second after which each is forgotten.
pub(crate) struct ExpiryIndex<K> {
    /// The slot of every issuer holding entries.
    ids: HashMap<Arc<str>, IssuerId>,
    /// Slots by [`IssuerId`]; the slots of issuers that hold nothing any more are in `free`.
    issuers: Vec<Issuer<K>>,
    free: Vec<IssuerId>,
    /// Every issuer holding entries, by the second its soonest entry expires: what a sweep
    /// visits, soonest first, so that it touches only issuers with something to drop.
    soonest: BTreeSet<(i64, IssuerId)>,
    /// If kept ([`ExpiryIndex::by_size`]): every issuer holding entries by how many, the
    /// largest last.
    sizes: Option<BTreeSet<(usize, IssuerId)>>,
    len: usize,
    /// The storage of a bucket the last sweep dropped (the largest, if it dropped several),
    /// emptied, for the next new one: a steady stream of entries then records into memory it
    /// has just freed, without allocating or growing.
    spare: VecDeque<K>,
}

struct Issuer<K> {
    name: Arc<str>,
    len: usize,
    /// Only non-empty buckets, by their second, soonest first.
    buckets: VecDeque<Bucket<K>>,
}

/// The entries that expire at the end of one second, in the order they were recorded.
struct Bucket<K> {
    expires_at: i64,
    keys: VecDeque<K>,
}

impl<K> Bucket<K> {
    /// A bucket holding `key`, with room for as many keys as `like` holds (its neighbour:
    /// steady traffic fills each second alike), or for one without a neighbour. The storage of
    /// a bucket the last sweep dropped (`spare`) is taken only when its room is within twice
    /// that: room sized by a neighbour's length, never by what some earlier bucket once held,
    /// so that the buckets' storage stays within a small factor of the entries they hold.
    /// (Handing any spare to any new bucket let one issuer with a valid key make each second's
    /// bucket of one long-lived entry keep the storage of thousands, and grow memory a
    /// thousandfold within its quota.)
    fn new(expires_at: i64, key: K, spare: &mut VecDeque<K>, like: Option<&Bucket<K>>) -> Bucket<K> {
        let room = like.map_or(1, |b| b.keys.len()).max(1);
        let mut keys = if (room..=2 * room).contains(&spare.capacity()) {
            std::mem::take(spare)
        } else {
            VecDeque::with_capacity(room)
        };
        keys.push_back(key);
        Bucket { expires_at, keys }
    }
}

impl<K> ExpiryIndex<K> {
    /// An index that does not keep issuers ordered by size.
    pub(crate) fn new() -> ExpiryIndex<K> {
        ExpiryIndex {
            ids: HashMap::new(),
            issuers: Vec::new(),
            free: Vec::new(),
            soonest: BTreeSet::new(),
            sizes: None,
            len: 0,
            spare: VecDeque::new(),
        }
    }

    /// An index that also keeps issuers ordered by how many entries they hold
    /// ([`ExpiryIndex::largest`]), at O(log issuers) per change.
    pub(crate) fn by_size() -> ExpiryIndex<K> {
        ExpiryIndex {
            sizes: Some(BTreeSet::new()),
            ..ExpiryIndex::new()
        }
    }

    /// How many entries it holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// How many entries `issuer` holds.
    pub(crate) fn held(&self, issuer: &str) -> usize {
        self.ids.get(issuer).map_or(0, |&id| self.issuer(id).len)
    }

    /// The issuer holding the most entries, and how many (`None` if empty or not
    /// [`ExpiryIndex::by_size`]). Among equals, the latest slot.
    pub(crate) fn largest(&self) -> Option<(usize, IssuerId)> {
        self.sizes.as_ref()?.last().copied()
    }

    fn issuer(&self, id: IssuerId) -> &Issuer<K> {
        &self.issuers[id.0 as usize]
    }

    fn issuer_mut(&mut self, id: IssuerId) -> &mut Issuer<K> {
        &mut self.issuers[id.0 as usize]
    }

    /// Records `key` for `issuer`, to be forgotten once the clock is past `expires_at`.
    pub(crate) fn insert(&mut self, issuer: &str, expires_at: i64, key: K) {
        let id = match self.ids.get(issuer) {
            Some(&id) => id,
            None => self.add_issuer(issuer),
        };
        let slot = &mut self.issuers[id.0 as usize];
        let held = slot.len;
        let old_soonest = slot.buckets.front().map(|b| b.expires_at);
        match slot.buckets.back_mut() {
            Some(last) if last.expires_at == expires_at => last.keys.push_back(key),
            Some(last) if last.expires_at > expires_at => {
                let at = slot.buckets.partition_point(|b| b.expires_at < expires_at);
                match slot.buckets.get_mut(at) {
                    Some(bucket) if bucket.expires_at == expires_at => bucket.keys.push_back(key),
                    // Sized on the bucket before it only when that is the second before (the
                    // same stream a second earlier, when tokens of several lifetimes
                    // interleave): each bucket lends its size to one other at most. Sized on
                    // any bucket before it, one large bucket lent its size to every bucket
                    // later inserted after it, and an issuer inserting single entries in
                    // descending order made room for its quota squared.
                    _ => {
                        let like = at
                            .checked_sub(1)
                            .and_then(|i| slot.buckets.get(i))
                            .filter(|b| b.expires_at == expires_at - 1);
                        let bucket = Bucket::new(expires_at, key, &mut self.spare, like);
                        slot.buckets.insert(at, bucket);
                    }
                }
            }
            _ => {
                let bucket = Bucket::new(expires_at, key, &mut self.spare, slot.buckets.back());
                slot.buckets.push_back(bucket);
            }
        }
        slot.len += 1;
        self.len += 1;
        match old_soonest {
            Some(old) if old <= expires_at => {}
            Some(old) => {
                self.soonest.remove(&(old, id));
                self.soonest.insert((expires_at, id));
            }
            None => {
                self.soonest.insert((expires_at, id));
            }
        }
        self.resized(id, held, held + 1);
    }

    fn add_issuer(&mut self, name: &str) -> IssuerId {
        let name: Arc<str> = Arc::from(name);
        let id = match self.free.pop() {
            Some(id) => {
                self.issuer_mut(id).name = name.clone();
                id
            }
            None => {
                // An issuer holds at least one entry, so there are never more than entries.
                let id = IssuerId(u32::try_from(self.issuers.len()).unwrap_or(u32::MAX));
                self.issuers.push(Issuer {
                    name: name.clone(),
                    len: 0,
                    buckets: VecDeque::new(),
                });
                id
            }
        };
        self.ids.insert(name, id);
        id
    }

    /// Forgets every entry that expired before `now` (whose `expires_at` is less than `now`),
    /// handing each to `forget`.
    pub(crate) fn sweep(&mut self, now: i64, mut forget: impl FnMut(K)) {
        // The spare is replaced by the first bucket this sweep drops, then by any larger one:
        // storage sized on what traffic was a moment ago, never kept from one old burst (a
        // spare larger than twice every later bucket would never be taken again).
        let mut replaced = false;
        while let Some(&(expires_at, id)) = self.soonest.first()
            && expires_at < now
        {
            self.soonest.pop_first();
            let slot = &mut self.issuers[id.0 as usize];
            let held = slot.len;
            while let Some(bucket) = slot.buckets.front()
                && bucket.expires_at < now
            {
                let Some(mut bucket) = slot.buckets.pop_front() else {
                    break;
                };
                slot.len -= bucket.keys.len();
                bucket.keys.drain(..).for_each(&mut forget);
                if !replaced || bucket.keys.capacity() > self.spare.capacity() {
                    self.spare = bucket.keys;
                    replaced = true;
                }
            }
            let (left, next) = (slot.len, slot.buckets.front().map(|b| b.expires_at));
            self.len -= held - left;
            if let Some(next) = next {
                self.soonest.insert((next, id));
            }
            self.resized(id, held, left);
        }
    }

    /// Forgets the soonest-expiring entry of `id` (the first recorded among equals) and
    /// returns it.
    pub(crate) fn pop_soonest(&mut self, id: IssuerId) -> Option<K> {
        let slot = self.issuers.get_mut(id.0 as usize)?;
        let bucket = slot.buckets.front_mut()?;
        let key = bucket.keys.pop_front()?;
        let held = slot.len;
        slot.len -= 1;
        if bucket.keys.is_empty() {
            let old = bucket.expires_at;
            slot.buckets.pop_front();
            let next = slot.buckets.front().map(|b| b.expires_at);
            self.soonest.remove(&(old, id));
            if let Some(next) = next {
                self.soonest.insert((next, id));
            }
        }
        self.len -= 1;
        self.resized(id, held, held - 1);
        Some(key)
    }

    /// Keeps `sizes` in step with a change of `id` from `before` to `after` entries, and
    /// frees the slot of an issuer left with none.
    fn resized(&mut self, id: IssuerId, before: usize, after: usize) {
        if let Some(sizes) = &mut self.sizes {
            if before > 0 {
                sizes.remove(&(before, id));
            }
            if after > 0 {
                sizes.insert((after, id));
            }
        }
        if after == 0 {
            let name = self.issuer(id).name.clone();
            self.ids.remove(&name);
            self.free.push(id);
        }
    }

    /// How many issuers hold entries (for tests).
    #[cfg(test)]
    pub(crate) fn issuers(&self) -> usize {
        self.ids.len()
    }

    /// The expiry of every entry `issuer` holds, soonest first (for tests).
    #[cfg(test)]
    pub(crate) fn expiries_of(&self, issuer: &str) -> Vec<i64> {
        let Some(&id) = self.ids.get(issuer) else {
            return Vec::new();
        };
        self.issuer(id)
            .buckets
            .iter()
            .flat_map(|b| b.keys.iter().map(|_| b.expires_at))
            .collect()
    }

    /// How many keys the storage of every bucket, and the spare, has room for (for tests).
    #[cfg(test)]
    pub(crate) fn room(&self) -> usize {
        let buckets: usize = self
            .ids
            .values()
            .flat_map(|&id| self.issuer(id).buckets.iter())
            .map(|b| b.keys.capacity())
            .sum();
        buckets + self.spare.capacity()
    }

    /// Asserts that every count, order and set agrees with the buckets (for tests).
    #[cfg(test)]
    pub(crate) fn assert_consistent(&self) {
        let mut total = 0;
        for (name, &id) in &self.ids {
            let slot = self.issuer(id);
            assert_eq!(&slot.name, name, "slot names its issuer");
            assert!(slot.buckets.iter().all(|b| !b.keys.is_empty()), "no empty bucket");
            assert!(
                slot.buckets
                    .iter()
                    .zip(slot.buckets.iter().skip(1))
                    .all(|(a, b)| a.expires_at < b.expires_at),
                "buckets in order"
            );
            let held: usize = slot.buckets.iter().map(|b| b.keys.len()).sum();
            assert_eq!(slot.len, held, "count matches the buckets");
            assert!(held > 0, "an issuer without entries has no slot");
            let front = slot.buckets.front().map(|b| b.expires_at);
            assert!(
                front.is_some_and(|f| self.soonest.contains(&(f, id))),
                "listed by soonest"
            );
            if let Some(sizes) = &self.sizes {
                assert!(sizes.contains(&(held, id)), "listed by size");
            }
            total += held;
        }
        assert_eq!(self.soonest.len(), self.ids.len(), "one soonest per issuer");
        if let Some(sizes) = &self.sizes {
            assert_eq!(sizes.len(), self.ids.len(), "one size per issuer");
        }
        assert_eq!(self.len, total, "total matches the buckets");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swept(index: &mut ExpiryIndex<u32>, now: i64) -> Vec<u32> {
        let mut gone = Vec::new();
        index.sweep(now, |k| gone.push(k));
        index.assert_consistent();
        gone
    }

    /// One issuer, within a quota of a few thousand entries, each second records 1,000 entries
    /// that expire at once (and are swept the next second) and one long-lived entry, which
    /// opens a new last bucket. The storage of the swept bucket must not go to the bucket of
    /// one entry, second after second: the room kept stays within a small factor of the
    /// entries held.
    #[test]
    fn a_swept_buckets_storage_does_not_pile_up_under_single_entries() {
        let mut index = ExpiryIndex::new();
        let mut key = 0u32;
        for t in 0..300 {
            swept(&mut index, t);
            key += 1;
            index.insert("mallory", 10_000 + t, key);
            for _ in 0..1000 {
                key += 1;
                index.insert("mallory", t, key);
            }
        }
        assert_eq!(index.len(), 300 + 1000);
        assert!(
            index.room() <= 4 * index.len() + 64,
            "room for {} keys kept for {} entries",
            index.room(),
            index.len()
        );
    }

    /// The boundary of a bucket: an entry is forgotten once the clock is past its second, and
    /// not a second before.
    #[test]
    fn an_entry_is_forgotten_right_after_its_second_and_not_before() {
        let mut index = ExpiryIndex::new();
        index.insert("a", 10, 1);
        index.insert("a", 11, 2);
        assert!(
            swept(&mut index, 10).is_empty(),
            "10 is still within the first entry's life"
        );
        assert_eq!(swept(&mut index, 11), [1]);
        assert_eq!(index.len(), 1);
        assert!(swept(&mut index, 11).is_empty());
        assert_eq!(swept(&mut index, 12), [2]);
        assert_eq!((index.len(), index.issuers()), (0, 0));
    }

    /// Entries recorded out of order (shorter lifetimes, a clock stepped back) keep the exact
    /// expiry order: the sweep drops exactly those past, and no other.
    #[test]
    fn entries_recorded_out_of_order_expire_in_order() {
        let mut index = ExpiryIndex::new();
        for (key, expires_at) in [(0, 50), (1, 10), (2, 30), (3, 30), (4, 5), (5, 60), (6, 10)] {
            index.insert("a", expires_at, key);
            index.assert_consistent();
        }
        assert_eq!(index.expiries_of("a"), [5, 10, 10, 30, 30, 50, 60]);
        assert_eq!(swept(&mut index, 11), [4, 1, 6]);
        assert_eq!(swept(&mut index, 51), [2, 3, 0]);
        assert_eq!(index.expiries_of("a"), [60]);
    }

    /// A sweep visits issuers by their soonest entry and leaves each issuer's later ones.
    #[test]
    fn sweeping_counts_each_issuer_exactly() {
        let mut index = ExpiryIndex::by_size();
        for key in 0..6 {
            index.insert("a", 10 + i64::from(key), key);
        }
        for key in 10..13 {
            index.insert("b", 12, key);
        }
        index.insert("c", 100, 20);
        assert_eq!((index.held("a"), index.held("b"), index.held("c")), (6, 3, 1));
        assert_eq!(index.largest().map(|(n, _)| n), Some(6));
        let mut gone = swept(&mut index, 13);
        gone.sort_unstable();
        assert_eq!(gone, [0, 1, 2, 10, 11, 12]);
        assert_eq!((index.held("a"), index.held("b"), index.held("c")), (3, 0, 1));
        assert_eq!(index.issuers(), 2, "b holds nothing and has no slot");
        assert_eq!(index.len(), 4);
    }

    /// An issuer's soonest entry is given up first, the first recorded among equals; the
    /// largest issuer is found by size.
    #[test]
    fn pop_soonest_takes_the_issuers_soonest_oldest_entry() {
        let mut index = ExpiryIndex::by_size();
        index.insert("a", 20, 1);
        index.insert("a", 10, 2);
        index.insert("a", 10, 3);
        index.insert("b", 5, 4);
        let (n, a) = index.largest().expect("a is largest");
        assert_eq!((n, index.issuer(a).name.as_ref()), (3, "a"));
        assert_eq!(index.pop_soonest(a), Some(2));
        assert_eq!(index.pop_soonest(a), Some(3));
        index.assert_consistent();
        assert_eq!(index.expiries_of("a"), [20]);
        assert_eq!(index.pop_soonest(a), Some(1));
        assert_eq!(index.pop_soonest(a), None);
        index.assert_consistent();
        assert_eq!((index.len(), index.issuers()), (1, 1));
    }

    /// Slots of issuers that hold nothing are reused, so churn through many issuers does not
    /// grow the index past the most issuers it held at once.
    #[test]
    fn issuer_slots_are_reused() {
        let mut index = ExpiryIndex::new();
        for round in 0..100 {
            for issuer in 0..10 {
                index.insert(&format!("issuer-{round}-{issuer}"), round, issuer);
            }
            swept(&mut index, round + 1);
        }
        assert_eq!(index.len(), 0);
        assert_eq!(index.issuers.len(), 10);
    }

    /// A new bucket takes the storage of the last one swept, or room for as many keys as the
    /// bucket before it: steady traffic neither allocates nor grows a bucket key by key. A
    /// spare with far more room than the neighbour holds is left alone (see
    /// `a_swept_buckets_storage_does_not_pile_up_under_single_entries`).
    #[test]
    fn a_new_bucket_reuses_swept_storage_or_sizes_itself_on_its_neighbour() {
        let mut index = ExpiryIndex::new();
        for key in 0..100 {
            index.insert("a", 10, key);
        }
        index.insert("a", 11, 100);
        let capacity = |index: &ExpiryIndex<u32>, at: usize| index.issuers[0].buckets[at].keys.capacity();
        assert!(capacity(&index, 1) >= 100, "sized like second 10");
        for key in 101..200 {
            index.insert("a", 11, key);
        }
        assert_eq!(swept(&mut index, 11).len(), 100);
        assert!(index.spare.capacity() >= 100);
        index.insert("a", 12, 200);
        assert!(capacity(&index, 1) >= 100, "took the spare");
        assert_eq!(index.spare.capacity(), 0);
        assert_eq!(swept(&mut index, 12).len(), 100);
        index.insert("a", 13, 201);
        assert!(capacity(&index, 1) < 100, "a neighbour of one key: not the spare");
        assert!(index.spare.capacity() >= 100);
    }

    /// The spare is what the last sweep dropped, not the largest storage ever dropped: after
    /// one burst, steady traffic of a few keys a second reuses its own storage again (a spare
    /// kept from the burst would be too large for every later bucket to take).
    #[test]
    fn a_spare_from_an_old_burst_gives_way_to_later_storage() {
        let mut index = ExpiryIndex::new();
        for key in 0..1000 {
            index.insert("a", 10, key);
        }
        // One key a second from then on (the first sized on the burst, the next on it).
        for (second, key) in (11..14).zip(1000..) {
            index.insert("a", second, key);
        }
        assert_eq!(swept(&mut index, 12).len(), 1001);
        assert!(index.spare.capacity() >= 1000, "the burst's storage");
        assert_eq!(swept(&mut index, 13).len(), 1);
        assert!(
            index.spare.capacity() < 1000,
            "replaced by the bucket just dropped"
        );
        index.insert("a", 14, 1003);
        assert_eq!(index.spare.capacity(), 0, "taken by the next bucket");
    }

    /// A bucket that goes between two others (tokens of several lifetimes from one issuer) is
    /// sized on the one a second before it, and so takes the spare when that one is like it.
    #[test]
    fn a_bucket_between_others_is_sized_on_its_neighbour() {
        let mut index = ExpiryIndex::new();
        for key in 0..100 {
            index.insert("a", 5, key);
            index.insert("a", 10, 100 + key);
        }
        index.insert("a", 3600, 200);
        assert_eq!(swept(&mut index, 6).len(), 100);
        assert!(index.spare.capacity() >= 100);
        index.insert("a", 11, 201);
        assert_eq!(
            index.issuers[0]
                .buckets
                .iter()
                .map(|b| b.expires_at)
                .collect::<Vec<_>>(),
            [10, 11, 3600]
        );
        assert!(
            index.issuers[0].buckets[1].keys.capacity() >= 100,
            "sized like second 10"
        );
        assert_eq!(index.spare.capacity(), 0, "took the spare");
    }

    /// Whatever order one issuer records its expiries in, the buckets' storage stays within a
    /// small factor of the entries they hold: one large bucket lends its size once, not to
    /// every bucket inserted next to it (single entries recorded in descending or ascending
    /// order between a large bucket and a far one).
    #[test]
    fn no_insertion_order_lends_one_buckets_size_to_many() {
        for descending in [true, false] {
            let mut index = ExpiryIndex::new();
            let (near, far) = (100, 3100);
            for key in 0..1000 {
                index.insert("a", if descending { near } else { far }, key);
            }
            index.insert("a", if descending { far } else { near }, 1000);
            let seconds: Vec<i64> = if descending {
                (near + 1..far).rev().collect()
            } else {
                (near + 1..far).collect()
            };
            for (second, key) in seconds.into_iter().zip(1001..) {
                index.insert("a", second, key);
            }
            index.assert_consistent();
            assert!(
                index.room() <= 4 * index.len(),
                "descending {descending}: room for {} keys, {} held",
                index.room(),
                index.len()
            );
        }
    }
}

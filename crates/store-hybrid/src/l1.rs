//! The L1: a bounded, sharded map of `Arc<Session>` with CLOCK eviction.
//!
//! **Eviction: CLOCK (second chance).** Each shard keeps its entries in insertion order; a hit
//! sets the entry's "referenced" bit (an atomic store under the shard's read lock, so hits
//! never take a write lock). When a shard is full, the oldest entry is evicted unless its bit
//! is set, in which case the bit is cleared and the entry goes to the back. That keeps the
//! sessions that are being used (an active user's session is read on every request) and drops
//! the ones that are not, at O(1) per insert, without the global list lock that exact LRU needs.
//! The order queue may hold ids of entries already invalidated (skipped when met); it is
//! compacted whenever it runs more than a tenth of the shard's capacity ahead of the map, and
//! its buffer is sized once, so a shard's bookkeeping stays within 1.1x its capacity in ids.
//!
//! **Fill tickets.** Every insert carries a ticket taken *before* the Redis command whose
//! answer it inserts: the global epoch and the epoch of the id's bucket (64 buckets per shard,
//! so unrelated invalidations rarely void a fill). An invalidation or a write-through bumps the
//! bucket's epoch, a flush the global one; a fill whose ticket is out of date is dropped. So a
//! value read before a concurrent write can never be cached after that write's invalidation
//! has been processed, nor over a newer value this instance has just written.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use hashbrown::{DefaultHashBuilder, HashTable};
use parking_lot::RwLock;
use session_core::{Session, SessionId, Timestamp};

struct Entry {
    session: Arc<Session>,
    /// The entry is not served at or after this instant.
    deadline: Timestamp,
    referenced: AtomicBool,
}

/// Epoch buckets per shard.
const BUCKETS: usize = 64;

struct Shard {
    map: HashTable<Entry>,
    /// Ids in insertion order, for CLOCK; may hold ids already removed (skipped when met).
    order: VecDeque<SessionId>,
    epochs: [u64; BUCKETS],
}

/// A ticket for a fill: the epochs at the time the Redis command was sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    global: u64,
    bucket: u64,
}

/// A shard on cache lines of its own.
#[repr(align(128))]
struct Slot {
    lock: RwLock<Shard>,
}

/// How many hit counters an L1 keeps; a thread counts in `its index % HIT_SLOTS`.
const HIT_SLOTS: usize = 64;

/// One thread's hit counter, on a cache line of its own.
#[derive(Default)]
#[repr(align(128))]
struct HitCount(AtomicU64);

/// A thread's hit-counter index, given back when the thread ends so that live threads share
/// a counter only when more than [`HIT_SLOTS`] of them have hit at once.
struct HitSlot(usize);

/// Indices given back by threads that ended.
static FREE_HIT_SLOTS: parking_lot::Mutex<Vec<usize>> = parking_lot::Mutex::new(Vec::new());
static NEXT_HIT_SLOT: AtomicUsize = AtomicUsize::new(0);

impl HitSlot {
    fn take() -> Self {
        let reused = FREE_HIT_SLOTS.lock().pop();
        HitSlot(reused.unwrap_or_else(|| NEXT_HIT_SLOT.fetch_add(1, Ordering::Relaxed) % HIT_SLOTS))
    }
}

impl Drop for HitSlot {
    fn drop(&mut self) {
        FREE_HIT_SLOTS.lock().push(self.0);
    }
}

thread_local! {
    static HIT_SLOT: HitSlot = HitSlot::take();
}

/// This thread's hit-counter index (0 if the thread is being torn down).
#[inline]
fn hit_slot() -> usize {
    HIT_SLOT.try_with(|slot| slot.0).unwrap_or(0)
}

pub(crate) struct L1 {
    shards: Box<[Slot]>,
    /// Hits, per thread: a hit adds one to its thread's counter with a plain load and store,
    /// no read-modify-write (an atomic add costs as much as the rest of a hit on some hosts).
    /// Exact while no two live threads share a counter; two that do (more than
    /// [`HIT_SLOTS`] threads hitting at once) may lose each other's concurrent counts, so the
    /// figure can only undercount.
    hits: Box<[HitCount]>,
    mask: usize,
    per_shard: usize,
    /// How far the order queue may run ahead of the map before it is compacted.
    slack: usize,
    hasher: DefaultHashBuilder,
    global: AtomicU64,
}

/// What a write-through did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteThrough {
    /// The written version is cached.
    Cached,
    /// The ticket was void and the entry held was older or of another incarnation: dropped.
    Evicted,
    /// The ticket was void and the entry held (if any) is newer: left alone.
    Kept,
}

impl L1 {
    pub(crate) fn new(capacity: usize) -> Self {
        let shards = (capacity / 64).clamp(1, 64).next_power_of_two();
        let per_shard = capacity.div_ceil(shards).max(1);
        L1 {
            shards: (0..shards)
                .map(|_| Slot {
                    lock: RwLock::new(Shard {
                        map: HashTable::new(),
                        order: VecDeque::new(),
                        epochs: [0; BUCKETS],
                    }),
                })
                .collect(),
            hits: (0..HIT_SLOTS).map(|_| HitCount::default()).collect(),
            mask: shards - 1,
            per_shard,
            slack: per_shard / 10 + 1,
            hasher: DefaultHashBuilder::default(),
            global: AtomicU64::new(0),
        }
    }

    /// The id's hash, shard and epoch bucket.
    fn locate(&self, id: &SessionId) -> (u64, usize, usize) {
        let hash = self.hasher.hash_one(id);
        (
            hash,
            (hash >> 48) as usize & self.mask,
            (hash >> 40) as usize % BUCKETS,
        )
    }

    /// The cached session, if present and before its deadline (counted as a hit).
    #[inline]
    pub(crate) fn get(&self, id: &SessionId, now: Timestamp) -> Option<Arc<Session>> {
        let (hash, i, _) = self.locate(id);
        let slot = &self.shards[i];
        let shard = slot.lock.read();
        let e = shard.map.find(hash, |e| e.session.id == *id)?;
        if e.deadline <= now {
            return None;
        }
        if !e.referenced.load(Ordering::Relaxed) {
            e.referenced.store(true, Ordering::Relaxed);
        }
        let s = Arc::clone(&e.session);
        drop(shard);
        let count = &self.hits[hit_slot()].0;
        count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        Some(s)
    }

    /// Hits served so far (the shards' counters summed).
    pub(crate) fn hits(&self) -> u64 {
        self.hits.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
    }

    /// The entry for `id` (past its deadline or not), without marking it referenced: for
    /// tests and diagnostics.
    pub(crate) fn peek(&self, id: &SessionId) -> Option<Arc<Session>> {
        let (hash, i, _) = self.locate(id);
        self.shards[i]
            .lock
            .read()
            .map
            .find(hash, |e| e.session.id == *id)
            .map(|e| Arc::clone(&e.session))
    }

    pub(crate) fn ticket(&self, id: &SessionId) -> Ticket {
        let (_, i, b) = self.locate(id);
        // Global first: a flush bumps the global epoch before it clears the shards.
        let global = self.global.load(Ordering::Acquire);
        Ticket {
            global,
            bucket: self.shards[i].lock.read().epochs[b],
        }
    }

    fn valid(&self, shard: &Shard, b: usize, ticket: Ticket) -> bool {
        shard.epochs[b] == ticket.bucket && self.global.load(Ordering::Acquire) == ticket.global
    }

    /// Caches `session` (a Redis read's answer) until `deadline` unless an invalidation,
    /// a write-through or a flush came after `ticket`.
    pub(crate) fn fill(&self, ticket: Ticket, session: Arc<Session>, deadline: Timestamp) {
        let (hash, i, b) = self.locate(&session.id);
        let mut shard = self.shards[i].lock.write();
        if !self.valid(&shard, b, ticket) {
            return;
        }
        self.put(&mut shard, hash, session, deadline, false);
    }

    /// Caches `session`, which a write through this instance has just stored (its ticket
    /// taken before the write was sent), and voids every fill of its bucket under way: they
    /// may have read the version before it.
    ///
    /// With a void ticket (an invalidation or flush arrived meanwhile, perhaps of a newer
    /// write), the written version is cached only over an older version of the same session
    /// (which no arrived invalidation has condemned, or it would be gone): what is cached
    /// is never older than what was cached. A newer version is kept; anything else is dropped.
    pub(crate) fn write_through(
        &self,
        ticket: Ticket,
        session: Arc<Session>,
        deadline: Timestamp,
    ) -> WriteThrough {
        let (hash, i, b) = self.locate(&session.id);
        let mut shard = self.shards[i].lock.write();
        let valid = self.valid(&shard, b, ticket);
        // Every outcome voids the fills under way, the void-ticket ones included: a fill whose
        // ticket was taken after the invalidation that voided this write's, but whose read
        // ran before the write, holds the version before it. Left valid, it landed after this
        // write returned and served that older version to a read that began after it (seen
        // in `write_through::two_instances_writing_one_session_never_read_an_overtaken_version`).
        shard.epochs[b] += 1;
        if !valid {
            let id = session.id;
            let Ok(held) = shard.map.find_entry(hash, |e| e.session.id == id) else {
                return WriteThrough::Kept;
            };
            let same = held.get().session.created_at == session.created_at;
            let held_version = held.get().session.version;
            if same && held_version >= session.version {
                return WriteThrough::Kept;
            }
            if !same {
                held.remove();
                return WriteThrough::Evicted;
            }
        }
        self.put(&mut shard, hash, session, deadline, true);
        WriteThrough::Cached
    }

    fn put(
        &self,
        shard: &mut Shard,
        hash: u64,
        session: Arc<Session>,
        deadline: Timestamp,
        referenced: bool,
    ) {
        let id = session.id;
        let entry = Entry {
            session,
            deadline,
            referenced: AtomicBool::new(referenced),
        };
        if let Some(slot) = shard.map.find_mut(hash, |e| e.session.id == id) {
            *slot = entry;
            return;
        }
        while shard.map.len() >= self.per_shard {
            if !self.evict_one(shard) {
                break;
            }
        }
        if shard.order.capacity() == 0 {
            // Sized once: the queue never holds more than this (see below).
            shard.order.reserve_exact(self.per_shard + self.slack + 1);
            shard
                .map
                .reserve(self.per_shard, |e| self.hasher.hash_one(e.session.id));
        }
        shard
            .map
            .insert_unique(hash, entry, |e| self.hasher.hash_one(e.session.id));
        if shard.order.len() >= shard.map.len() + self.slack {
            // Drop ids of entries that are gone (invalidated), keeping the order.
            let Shard { map, order, .. } = shard;
            order.retain(|id| {
                let h = self.hasher.hash_one(id);
                map.find(h, |e| e.session.id == *id).is_some()
            });
        }
        shard.order.push_back(id);
    }

    /// CLOCK: evicts one entry from `shard`; false if there was nothing to evict.
    fn evict_one(&self, shard: &mut Shard) -> bool {
        while let Some(id) = shard.order.pop_front() {
            let hash = self.hasher.hash_one(id);
            let Ok(entry) = shard.map.find_entry(hash, |e| e.session.id == id) else {
                continue;
            };
            if entry.get().referenced.swap(false, Ordering::Relaxed) {
                shard.order.push_back(id);
                continue;
            }
            entry.remove();
            return true;
        }
        false
    }

    /// Drops `id` and voids every fill of its bucket that started before now. Returns true
    /// if an entry was dropped that had been read (or written) since it was cached.
    pub(crate) fn invalidate(&self, id: &SessionId) -> bool {
        let (hash, i, b) = self.locate(id);
        let mut shard = self.shards[i].lock.write();
        shard.epochs[b] += 1;
        match shard.map.find_entry(hash, |e| e.session.id == *id) {
            Ok(e) => e.remove().0.referenced.into_inner(),
            Err(_) => false,
        }
    }

    /// Drops everything and voids every fill under way.
    pub(crate) fn flush(&self) {
        self.global.fetch_add(1, Ordering::AcqRel);
        for shard in self.shards.iter() {
            let mut shard = shard.lock.write();
            for e in shard.epochs.iter_mut() {
                *e += 1;
            }
            shard.map.clear();
            shard.order.clear();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock.read().map.len()).sum()
    }

    #[cfg(test)]
    /// Ids held in the CLOCK queues (entries and not-yet-skipped removed ones).
    pub(crate) fn queued(&self) -> usize {
        self.shards.iter().map(|s| s.lock.read().order.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::UserId;
    use std::time::Duration;

    fn s() -> Arc<Session> {
        Arc::new(
            Session::builder(
                UserId::new("u").unwrap(),
                Timestamp::from_millis(1_000),
                Duration::from_secs(60),
            )
            .build(),
        )
    }

    const NOW: Timestamp = Timestamp::from_millis(2_000);
    const LATER: Timestamp = Timestamp::from_millis(50_000);

    #[test]
    fn fill_then_get_until_deadline() {
        let l1 = L1::new(100);
        let a = s();
        l1.fill(l1.ticket(&a.id), a.clone(), LATER);
        assert!(Arc::ptr_eq(&l1.get(&a.id, NOW).unwrap(), &a));
        assert!(l1.get(&a.id, LATER).is_none());
    }

    #[test]
    fn hits_from_many_threads_are_all_counted() {
        use std::sync::atomic::AtomicBool;
        let l1 = Arc::new(L1::new(100));
        let a = s();
        l1.fill(l1.ticket(&a.id), a.clone(), LATER);
        // One thread hits throughout while more threads than there are counters come and go,
        // each hitting as it lives. Ended threads give their counter back, so a newcomer never
        // shares the long-lived thread's counter, and no hit is lost.
        let stop = Arc::new(AtomicBool::new(false));
        let (slot_tx, slot_rx) = std::sync::mpsc::channel();
        let long = {
            let (l1, stop, id) = (Arc::clone(&l1), Arc::clone(&stop), a.id);
            std::thread::spawn(move || {
                slot_tx.send(hit_slot()).unwrap();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    assert!(l1.get(&id, NOW).is_some());
                    n += 1;
                }
                n
            })
        };
        let long_slot = slot_rx.recv().unwrap();
        for _ in 0..2 * HIT_SLOTS {
            let (l1, id) = (Arc::clone(&l1), a.id);
            let slot = std::thread::spawn(move || {
                for _ in 0..2_000 {
                    assert!(l1.get(&id, NOW).is_some());
                }
                hit_slot()
            })
            .join()
            .unwrap();
            assert_ne!(slot, long_slot, "a newcomer shares a live thread's counter");
        }
        stop.store(true, Ordering::Relaxed);
        let long = long.join().unwrap();
        let expected = long + 2 * HIT_SLOTS as u64 * 2_000;
        assert_eq!(l1.hits(), expected);
        assert!(l1.get(&a.id, LATER).is_none());
        assert_eq!(l1.hits(), expected, "a miss is no hit");
    }

    #[test]
    fn a_fill_that_started_before_an_invalidation_is_dropped() {
        let l1 = L1::new(100);
        let a = s();
        let ticket = l1.ticket(&a.id);
        l1.invalidate(&a.id);
        l1.fill(ticket, a.clone(), LATER);
        assert!(l1.get(&a.id, NOW).is_none());
        let ticket = l1.ticket(&a.id);
        l1.flush();
        l1.fill(ticket, a.clone(), LATER);
        assert!(l1.get(&a.id, NOW).is_none());
        l1.fill(l1.ticket(&a.id), a.clone(), LATER);
        assert!(l1.get(&a.id, NOW).is_some());
    }

    #[test]
    fn clock_keeps_referenced_entries_and_bounds_size() {
        let l1 = L1::new(4); // one shard of 4
        let hot = s();
        l1.fill(l1.ticket(&hot.id), hot.clone(), LATER);
        for _ in 0..50 {
            assert!(l1.get(&hot.id, NOW).is_some(), "hot entry evicted");
            let cold = s();
            l1.fill(l1.ticket(&cold.id), cold, LATER);
            assert!(l1.len() <= 4);
        }
    }

    fn next(s: &Arc<Session>) -> Arc<Session> {
        let mut n = Session::clone(s);
        n.version += 1;
        Arc::new(n)
    }

    #[test]
    fn a_write_through_caches_and_voids_older_fills() {
        let l1 = L1::new(100);
        let v1 = s();
        let read_ticket = l1.ticket(&v1.id);
        let write_ticket = l1.ticket(&v1.id);
        let v2 = next(&v1);
        assert_eq!(
            l1.write_through(write_ticket, v2.clone(), LATER),
            WriteThrough::Cached
        );
        // A read that began before the write answers after it: dropped.
        l1.fill(read_ticket, v1.clone(), LATER);
        assert_eq!(l1.get(&v1.id, NOW).unwrap().version, v2.version);
    }

    #[test]
    fn a_void_write_through_still_voids_the_reads_under_way() {
        let l1 = L1::new(100);
        let v1 = s();
        let v2 = next(&v1);
        // The write's ticket, then an invalidation (which voids it) and a refresh's ticket
        // taken after that invalidation, whose read runs before the write: it read v1.
        let write_ticket = l1.ticket(&v1.id);
        l1.invalidate(&v1.id);
        let refresh_ticket = l1.ticket(&v1.id);
        assert_eq!(
            l1.write_through(write_ticket, v2.clone(), LATER),
            WriteThrough::Kept
        );
        // Its answer arrives after the write returned: dropped, not served to a read that
        // begins after the write.
        l1.fill(refresh_ticket, v1.clone(), LATER);
        assert!(l1.get(&v1.id, NOW).is_none());
    }

    #[test]
    fn a_void_write_through_never_caches_over_an_invalidation() {
        let l1 = L1::new(100);
        let v1 = s();
        let v2 = next(&v1);
        let v3 = next(&v2);
        // An invalidation (perhaps of a newer write) came while the write was under way, and
        // nothing is cached: the written version is not cached either.
        let ticket = l1.ticket(&v1.id);
        l1.invalidate(&v1.id);
        assert_eq!(
            l1.write_through(ticket, v2.clone(), LATER),
            WriteThrough::Kept
        );
        assert!(l1.get(&v1.id, NOW).is_none());
        // A newer version cached since is kept.
        l1.fill(l1.ticket(&v1.id), v3.clone(), LATER);
        let ticket = l1.ticket(&v1.id);
        l1.invalidate(&SessionId::new());
        l1.flush();
        l1.fill(l1.ticket(&v1.id), v3.clone(), LATER);
        assert_eq!(
            l1.write_through(ticket, v2.clone(), LATER),
            WriteThrough::Kept
        );
        assert_eq!(l1.get(&v1.id, NOW).unwrap().version, v3.version);
        // An older version of the same session is replaced.
        let ticket = l1.ticket(&v1.id);
        l1.flush();
        l1.fill(l1.ticket(&v1.id), v1.clone(), LATER);
        assert_eq!(
            l1.write_through(ticket, v3.clone(), LATER),
            WriteThrough::Cached
        );
        assert_eq!(l1.get(&v1.id, NOW).unwrap().version, v3.version);
        // Another incarnation (deleted and created again under the same id) is dropped.
        let mut other = Session::clone(&v3);
        other.created_at = Timestamp::from_millis(1_500);
        other.version = v1.version;
        let ticket = l1.ticket(&v1.id);
        l1.flush();
        l1.fill(l1.ticket(&v1.id), v3.clone(), LATER);
        assert_eq!(
            l1.write_through(ticket, Arc::new(other), LATER),
            WriteThrough::Evicted
        );
        assert!(l1.get(&v1.id, NOW).is_none());
    }

    #[test]
    fn bookkeeping_stays_within_a_tenth_over_capacity() {
        for capacity in [1, 16, 1_000, 10_000] {
            let l1 = L1::new(capacity);
            let per_shard = capacity.div_ceil(l1.shards.len());
            let bound = l1.shards.len() * (per_shard + per_shard / 10 + 1);
            let mut live = VecDeque::new();
            for k in 0..capacity * 20 {
                let a = s();
                l1.fill(l1.ticket(&a.id), a.clone(), LATER);
                live.push_back(a.id);
                // Invalidate most of what is cached, leaving dead ids in the queues.
                if k % 3 != 0 {
                    if let Some(id) = live.pop_front() {
                        l1.invalidate(&id);
                    }
                }
                assert!(l1.len() <= l1.shards.len() * per_shard);
                assert!(
                    l1.queued() <= bound,
                    "{} ids queued for {capacity}",
                    l1.queued()
                );
            }
            for shard in l1.shards.iter() {
                let shard = shard.lock.read();
                assert!(shard.order.capacity() <= per_shard + per_shard / 10 + 1 + 8);
            }
        }
    }
}

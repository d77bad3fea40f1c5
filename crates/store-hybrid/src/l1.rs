//! The L1: a bounded, sharded map of `Arc<Session>` with CLOCK eviction.
//!
//! **Eviction: CLOCK (second chance).** Each shard keeps its entries in insertion order; a hit
//! sets the entry's "referenced" bit (an atomic store under the shard's read lock, so hits
//! never take a write lock). When a shard is full, the oldest entry is evicted unless its bit
//! is set, in which case the bit is cleared and the entry goes to the back. That keeps the
//! sessions that are being used (an active user's session is read on every request) and drops
//! the ones that are not, at O(1) per insert, without the global list lock that exact LRU needs.
//!
//! **Fill tickets.** A read that misses takes a ticket (the global and the shard's invalidation
//! epochs) *before* it asks Redis, and its answer is inserted only if no invalidation or flush
//! touched that shard since. So a value read before a concurrent write can never be cached
//! after that write's invalidation has been processed.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hashbrown::{DefaultHashBuilder, HashTable};
use parking_lot::RwLock;
use session_core::{Session, SessionId, Timestamp};

struct Entry {
    session: Arc<Session>,
    /// The entry is not served at or after this instant.
    deadline: Timestamp,
    referenced: AtomicBool,
}

struct Shard {
    map: HashTable<Entry>,
    /// Ids in insertion order, for CLOCK; may hold ids already removed (skipped when met).
    order: VecDeque<SessionId>,
    epoch: u64,
}

/// A ticket for a fill: the epochs at the time the read started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    global: u64,
    shard: u64,
}

pub(crate) struct L1 {
    shards: Box<[RwLock<Shard>]>,
    mask: usize,
    per_shard: usize,
    hasher: DefaultHashBuilder,
    global: AtomicU64,
}

impl L1 {
    pub(crate) fn new(capacity: usize) -> Self {
        let shards = (capacity / 64).clamp(1, 64).next_power_of_two();
        L1 {
            shards: (0..shards)
                .map(|_| {
                    RwLock::new(Shard {
                        map: HashTable::new(),
                        order: VecDeque::new(),
                        epoch: 0,
                    })
                })
                .collect(),
            mask: shards - 1,
            per_shard: capacity.div_ceil(shards).max(1),
            hasher: DefaultHashBuilder::default(),
            global: AtomicU64::new(0),
        }
    }

    fn locate(&self, id: &SessionId) -> (u64, usize) {
        let hash = self.hasher.hash_one(id);
        (hash, (hash >> 48) as usize & self.mask)
    }

    /// The cached session, if present and before its deadline.
    #[inline]
    pub(crate) fn get(&self, id: &SessionId, now: Timestamp) -> Option<Arc<Session>> {
        let (hash, i) = self.locate(id);
        let shard = self.shards[i].read();
        let e = shard.map.find(hash, |e| e.session.id == *id)?;
        if e.deadline <= now {
            return None;
        }
        if !e.referenced.load(Ordering::Relaxed) {
            e.referenced.store(true, Ordering::Relaxed);
        }
        Some(Arc::clone(&e.session))
    }

    /// True if `id` is cached (expired or not): for tests and metrics.
    pub(crate) fn contains(&self, id: &SessionId) -> bool {
        let (hash, i) = self.locate(id);
        self.shards[i]
            .read()
            .map
            .find(hash, |e| e.session.id == *id)
            .is_some()
    }

    pub(crate) fn ticket(&self, id: &SessionId) -> Ticket {
        let (_, i) = self.locate(id);
        // Global first: a flush bumps the global epoch before it clears the shards.
        let global = self.global.load(Ordering::Acquire);
        Ticket {
            global,
            shard: self.shards[i].read().epoch,
        }
    }

    /// Caches `session` until `deadline` unless an invalidation or flush came after `ticket`.
    pub(crate) fn fill(&self, ticket: Ticket, session: Arc<Session>, deadline: Timestamp) {
        let (hash, i) = self.locate(&session.id);
        let mut shard = self.shards[i].write();
        if shard.epoch != ticket.shard || self.global.load(Ordering::Acquire) != ticket.global {
            return;
        }
        let id = session.id;
        let entry = Entry {
            session,
            deadline,
            referenced: AtomicBool::new(false),
        };
        if let Some(slot) = shard.map.find_mut(hash, |e| e.session.id == id) {
            *slot = entry;
            return;
        }
        while shard.map.len() >= self.per_shard {
            if !self.evict_one(&mut shard) {
                break;
            }
        }
        shard
            .map
            .insert_unique(hash, entry, |e| self.hasher.hash_one(e.session.id));
        shard.order.push_back(id);
        if shard.order.len() > 2 * self.per_shard + 16 {
            // Drop ids of entries that are gone (invalidated), keeping the order.
            let Shard { map, order, .. } = &mut *shard;
            order.retain(|id| {
                let h = self.hasher.hash_one(id);
                map.find(h, |e| e.session.id == *id).is_some()
            });
        }
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

    /// Drops `id` and voids every fill of its shard that started before now.
    pub(crate) fn invalidate(&self, id: &SessionId) {
        let (hash, i) = self.locate(id);
        let mut shard = self.shards[i].write();
        shard.epoch += 1;
        if let Ok(e) = shard.map.find_entry(hash, |e| e.session.id == *id) {
            e.remove();
        }
    }

    /// Drops everything and voids every fill under way.
    pub(crate) fn flush(&self) {
        self.global.fetch_add(1, Ordering::AcqRel);
        for shard in self.shards.iter() {
            let mut shard = shard.write();
            shard.epoch += 1;
            shard.map.clear();
            shard.order.clear();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().map.len()).sum()
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
}

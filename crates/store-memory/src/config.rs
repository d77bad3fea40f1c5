//! Configuration for [`MemoryStore`](crate::MemoryStore).

use std::sync::Arc;

use session_core::Clock;

/// How a [`MemoryStore`](crate::MemoryStore) is built. Start from [`MemoryConfig::default`]
/// and change what you need:
///
/// ```
/// use store_memory::{MemoryConfig, MemoryStore};
/// let store = MemoryStore::with_config(MemoryConfig::default().shards(64).capacity(1_000_000));
/// assert_eq!(store.shard_count(), 64);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MemoryConfig {
    /// Shards per table, rounded up to a power of two (default: 16 per available core, at
    /// least 64). More shards mean less contention and smaller sweeps.
    pub shards: usize,
    /// The most sessions held at once, expired ones not yet reclaimed included; a create
    /// beyond it first reclaims expired sessions, then fails with
    /// `Error::CapacityExceeded`. Live sessions are never evicted. Default: unlimited.
    pub capacity: Option<usize>,
    /// Where "now" comes from (default: a [`FastClock`](session_core::FastClock), the wall
    /// clock read through the CPU counter).
    pub clock: Option<Arc<dyn Clock>>,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
        MemoryConfig {
            shards: (cores * 16).max(64),
            capacity: None,
            clock: None,
        }
    }
}

impl MemoryConfig {
    /// Sets the shard count.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// Sets the capacity.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Sets the clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }
}

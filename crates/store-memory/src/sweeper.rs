//! The optional background sweeper.

use std::time::Duration;

use crate::MemoryStore;

/// A running sweeper; dropping it (or calling [`Sweeper::stop`]) stops it.
#[derive(Debug)]
#[cfg_attr(docsrs, doc(cfg(feature = "sweeper")))]
pub struct Sweeper {
    task: tokio::task::JoinHandle<()>,
}

impl Sweeper {
    /// Stops the sweeper.
    pub fn stop(self) {}
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MemoryStore {
    /// Starts a tokio task that reclaims expired sessions, one shard per step, visiting every
    /// shard once per `period`. Each step locks a single session shard, so readers and
    /// writers elsewhere never wait on it. Needs a tokio runtime; feature `sweeper`.
    #[cfg_attr(docsrs, doc(cfg(feature = "sweeper")))]
    pub fn spawn_sweeper(&self, period: Duration) -> Sweeper {
        let store = self.clone();
        let shards = self.shard_count();
        let step = (period / shards as u32).max(Duration::from_micros(100));
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(step);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut next = 0usize;
            loop {
                tick.tick().await;
                store.sweep_shard(next);
                next = (next + 1) % shards;
            }
        });
        Sweeper { task }
    }
}

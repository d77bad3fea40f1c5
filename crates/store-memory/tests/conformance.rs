//! The whole conformance suite on MemoryStore, directly and through `Arc<dyn DynStore>`.

use std::sync::Arc;
use std::time::Duration;

use session_core::conformance::{Fixture, TimeControl};
use session_core::{BoxFuture, Clock, ManualClock, Timestamp};
use store_memory::{MemoryConfig, MemoryStore};

/// The store reads a manual clock, so expiry cases move it instead of sleeping.
#[derive(Debug)]
struct Manual(ManualClock);

impl TimeControl for Manual {
    fn now(&self) -> Timestamp {
        self.0.now()
    }
    fn advance(&self, by: Duration) -> BoxFuture<'_, ()> {
        self.0.advance(by);
        Box::pin(async {})
    }
    fn short_ttl(&self) -> Duration {
        Duration::from_secs(60)
    }
}

async fn fixture() -> Fixture<MemoryStore> {
    let clock = ManualClock::starting_now();
    // Few shards, so the suite's concurrent cases contend on shared locks.
    let store = MemoryStore::with_config(MemoryConfig::default().shards(4).clock(clock.clone()));
    Fixture::new(store, Arc::new(Manual(clock)))
}

session_core::conformance_suite!(fixture);

//! The whole conformance suite on MemoryStore, directly and through `Arc<dyn DynStore>`.

use std::sync::Arc;

use session_core::ManualClock;
use session_core::conformance::Fixture;
use store_memory::{MemoryConfig, MemoryStore};

async fn fixture() -> Fixture<MemoryStore> {
    let clock = ManualClock::starting_now();
    // Few shards, so the suite's concurrent cases contend on shared locks.
    let store = MemoryStore::with_config(MemoryConfig::default().shards(4).clock(clock.clone()));
    Fixture::new(store, Arc::new(clock))
}

session_core::conformance_suite!(fixture);

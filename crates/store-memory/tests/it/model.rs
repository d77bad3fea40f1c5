//! Random operation sequences on MemoryStore agree with the reference model
//! (`session_core::conformance::model`): 256 sequences of up to 60 operations.

use std::sync::Arc;

use session_core::ManualClock;
use session_core::conformance::Fixture;
use session_core::conformance::model::{self, ModelConfig};
use store_memory::{MemoryConfig, MemoryStore};

async fn fixture() -> Fixture<MemoryStore> {
    let clock = ManualClock::starting_now();
    // Two shards: sessions and index entries share locks and tables.
    let store = MemoryStore::with_config(MemoryConfig::default().shards(2).clock(clock.clone()));
    Fixture::new(store, Arc::new(clock))
}

#[test]
fn memory_store_agrees_with_the_model() {
    model::run(
        "memory",
        ModelConfig {
            cases: 256,
            max_ops: 60,
        },
        fixture,
    );
}

//! Random operation sequences on MemoryStore agree with the reference model
//! (`session_core::conformance::model`): 256 sequences of up to 60 operations.

use std::sync::Arc;
use std::time::Duration;

use session_core::conformance::model::{self, ModelConfig};
use session_core::conformance::{Fixture, TimeControl};
use session_core::{BoxFuture, Clock, ManualClock, Timestamp};
use store_memory::{MemoryConfig, MemoryStore};

/// The store reads a clock that never moves here: the model has no expiry in it.
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
    // Two shards: sessions and index entries share locks and tables.
    let store = MemoryStore::with_config(MemoryConfig::default().shards(2).clock(clock.clone()));
    Fixture::new(store, Arc::new(Manual(clock)))
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

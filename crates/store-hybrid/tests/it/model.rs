//! Random operation sequences on HybridStore (L1 over the standalone Redis testkit finds)
//! agree with the reference model (`session_core::conformance::model`): 64 sequences of up to
//! 40 operations, each under a fresh key prefix removed afterwards. Reads repeat within a
//! sequence, so many are served by L1. Fails without a server when
//! SESSION_STORE_REQUIRE_REDIS=1.

use crate::common;

use session_core::conformance::Fixture;
use session_core::conformance::model::{self, ModelConfig};
use store_hybrid::HybridStore;

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

async fn fixture() -> Option<Fixture<HybridStore>> {
    let server = server().await?;
    Some(common::fixture(server.url(), "model").await)
}

#[test]
fn hybrid_store_agrees_with_the_model() {
    model::run(
        "hybrid",
        ModelConfig {
            cases: 64,
            max_ops: 40,
        },
        fixture,
    );
}

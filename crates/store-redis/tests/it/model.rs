//! Random operation sequences on RedisStore (standalone, the server testkit finds) agree with
//! the reference model (`session_core::conformance::model`): 64 sequences of up to 40
//! operations, each under a fresh key prefix removed afterwards. Fails without a server when
//! SESSION_STORE_REQUIRE_REDIS=1.

use crate::common;

use session_core::conformance::Fixture;
use session_core::conformance::model::{self, ModelConfig};
use store_redis::RedisStore;

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

async fn fixture() -> Option<Fixture<RedisStore>> {
    let server = server().await?;
    Some(common::fixture(server.url(), vec![server.url().to_owned()], "model").await)
}

#[test]
fn redis_store_agrees_with_the_model() {
    model::run(
        "redis",
        ModelConfig {
            cases: 64,
            max_ops: 40,
        },
        fixture,
    );
}

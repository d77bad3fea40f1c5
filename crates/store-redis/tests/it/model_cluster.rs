//! Random operation sequences on RedisStore over a local 3-primary Redis Cluster (the ordered
//! single-slot steps and per-session locks, not the standalone scripts) agree with the
//! reference model (`session_core::conformance::model`): 64 sequences of up to 40
//! operations, each under a fresh key prefix removed afterwards.

use crate::common;

use session_core::conformance::Fixture;
use session_core::conformance::model::{self, ModelConfig};
use store_redis::RedisStore;

testkit::shared_server!(testkit::RedisCluster, testkit::cluster(0).await);

async fn fixture() -> Option<Fixture<RedisStore>> {
    Some(common::cluster_fixture(server().await?, "model-cluster").await)
}

#[test]
fn redis_cluster_store_agrees_with_the_model() {
    model::run(
        "redis-cluster",
        ModelConfig {
            cases: 64,
            max_ops: 40,
        },
        fixture,
    );
}

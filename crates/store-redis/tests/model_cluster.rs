//! Random operation sequences on RedisStore over a local 3-primary Redis Cluster (the ordered
//! single-slot steps and per-session locks, not the standalone scripts) agree with the
//! reference model (`session_core::conformance::model`): 64 sequences of up to 40
//! operations, each under a fresh key prefix removed afterwards.

mod common;

use session_core::conformance::Fixture;
use session_core::conformance::model::{self, ModelConfig};
use store_redis::RedisStore;

testkit::shared_server!(testkit::RedisCluster, testkit::cluster(0).await);

async fn fixture() -> Option<Fixture<RedisStore>> {
    let cluster = server().await?;
    let nodes = cluster
        .nodes()
        .iter()
        .map(|n| format!("redis://{n}"))
        .collect();
    let f = common::fixture(&cluster.url(), nodes, "model-cluster").await;
    assert!(f.store.is_clustered());
    Some(f)
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

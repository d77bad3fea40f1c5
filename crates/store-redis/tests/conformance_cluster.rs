//! The conformance suite on a local 3-primary Redis Cluster started by testkit.

mod common;

use session_core::conformance::Fixture;
use store_redis::RedisStore;

testkit::shared_server!(testkit::RedisCluster, testkit::cluster(0).await);

async fn fixture() -> Option<Fixture<RedisStore>> {
    let cluster = server().await?;
    let nodes = cluster
        .nodes()
        .iter()
        .map(|n| format!("redis://{n}"))
        .collect();
    let f = common::fixture(&cluster.url(), nodes, "cluster").await;
    assert!(f.store.is_clustered());
    Some(f)
}

session_core::conformance_suite!(fixture);

//! The conformance suite on HybridStore over a local 3-primary Redis Cluster.

use crate::common;

use session_core::conformance::Fixture;
use store_hybrid::HybridStore;

testkit::shared_server!(testkit::RedisCluster, testkit::cluster(0).await);

async fn fixture() -> Option<Fixture<HybridStore>> {
    let cluster = server().await?;
    let f = common::fixture(&cluster.url(), "hybrid-cluster").await;
    assert!(f.store.redis().is_clustered());
    Some(f)
}

session_core::conformance_suite!(fixture);

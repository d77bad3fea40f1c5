//! The conformance suite on a local 3-primary Redis Cluster started by testkit.

use crate::common;

use session_core::conformance::Fixture;
use store_redis::RedisStore;

testkit::shared_server!(testkit::RedisCluster, testkit::cluster(0).await);

async fn fixture() -> Option<Fixture<RedisStore>> {
    Some(common::cluster_fixture(server().await?, "cluster").await)
}

session_core::conformance_suite!(fixture);

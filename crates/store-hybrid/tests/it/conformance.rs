//! The conformance suite on HybridStore over Debian's Redis 7.0, directly and through
//! `Arc<dyn DynStore>`.

use crate::common;

use session_core::conformance::Fixture;
use store_hybrid::HybridStore;

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

async fn fixture() -> Option<Fixture<HybridStore>> {
    let server = server().await?;
    Some(common::fixture(server.url(), "hybrid").await)
}

session_core::conformance_suite!(fixture);

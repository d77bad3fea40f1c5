//! The conformance suite through Sentinel: a primary, a replica and three sentinels started by
//! testkit; the store finds the primary through the sentinels.

use crate::common;

use session_core::conformance::Fixture;
use store_redis::RedisStore;

testkit::shared_server!(testkit::RedisSentinel, testkit::sentinel().await);

async fn fixture() -> Option<Fixture<RedisStore>> {
    let s = server().await?;
    Some(common::fixture(&s.url(), vec![s.primary_url()], "sentinel").await)
}

session_core::conformance_suite!(fixture);

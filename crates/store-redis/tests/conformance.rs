//! The conformance suite on Debian's Redis 7.0 (`redis-server` on PATH), directly and through
//! `Arc<dyn DynStore>`. Fails without the binary when SESSION_STORE_REQUIRE_REDIS=1.

mod common;

use session_core::conformance::Fixture;
use store_redis::RedisStore;

testkit::shared_server!(
    testkit::RedisServer,
    testkit::server(testkit::Flavor::Redis).await
);

async fn fixture() -> Option<Fixture<RedisStore>> {
    let server = server().await?;
    Some(common::fixture(server.url(), vec![server.url().to_owned()], "redis70").await)
}

session_core::conformance_suite!(fixture);

//! The conformance suite on standalone Redis, directly and through `Arc<dyn DynStore>`: the
//! server testkit finds (REDIS_URL, a local container image named by
//! SESSION_STORE_REDIS_IMAGE, or Debian's Redis 7.0 `redis-server` on PATH; `cargo xtask test`
//! runs it once per image). Fails without a server when SESSION_STORE_REQUIRE_REDIS=1.

use crate::common;

use session_core::conformance::Fixture;
use store_redis::RedisStore;

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

async fn fixture() -> Option<Fixture<RedisStore>> {
    let server = server().await?;
    Some(common::fixture(server.url(), vec![server.url().to_owned()], "redis70").await)
}

session_core::conformance_suite!(fixture);

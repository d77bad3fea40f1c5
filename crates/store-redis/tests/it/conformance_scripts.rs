//! The conformance suite on standalone Redis with the store's Lua code run as scripts
//! (`RedisConfig::functions(false)`, as on a server that refuses FUNCTION LOAD), so that
//! both ways of running it are held to every promise.

use std::sync::Arc;

use session_core::conformance::Fixture;
use store_redis::RedisStore;

use crate::common;

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

async fn fixture() -> Option<Fixture<RedisStore>> {
    let server = server().await?;
    let url = server.url().to_owned();
    let prefix = testkit::unique_prefix("scripts");
    let store = RedisStore::connect(common::config(&url, &prefix).functions(false))
        .await
        .expect("connect to the test server");
    Some(
        Fixture::new(store, Arc::new(testkit::ServerTime)).with_teardown(async move {
            testkit::cleanup_prefix(&url, &prefix)
                .await
                .expect("clean up the test prefix");
        }),
    )
}

session_core::conformance_suite!(fixture);

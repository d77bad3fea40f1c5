//! Shared by the Redis test binaries: fixtures for the conformance suite
//! on a server that one test binary starts once (see `testkit::shared_server!`).
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use session_core::conformance::Fixture;
use store_redis::{RedisConfig, RedisStore};

/// A store on `url` with a fresh prefix; its keys are removed after a passing case.
pub async fn fixture(url: &str, cleanup_urls: Vec<String>, name: &str) -> Fixture<RedisStore> {
    let prefix = testkit::unique_prefix(name);
    let store = RedisStore::connect(RedisConfig::new(url).prefix(prefix.clone()))
        .await
        .expect("connect to the test server");
    Fixture::new(store, Arc::new(testkit::ServerTime)).with_teardown(async move {
        for url in cleanup_urls {
            testkit::cleanup_prefix(&url, &prefix)
                .await
                .expect("clean up the test prefix");
        }
    })
}

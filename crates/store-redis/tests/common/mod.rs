//! Shared by the Redis test binaries: the time model for the conformance suite and fixtures
//! on a server that one test binary starts once.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use session_core::conformance::{Fixture, TimeControl};
use session_core::{BoxFuture, Clock, SystemClock, Timestamp};
use store_redis::{RedisConfig, RedisStore};

/// Redis expires keys by its own clock, so expiry cases sleep.
#[derive(Debug)]
pub struct ServerTime;

impl TimeControl for ServerTime {
    fn now(&self) -> Timestamp {
        SystemClock.now()
    }
    fn advance(&self, by: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(by))
    }
    fn short_ttl(&self) -> Duration {
        Duration::from_millis(400)
    }
}

/// A store on `url` with a fresh prefix; its keys are removed after a passing case.
pub async fn fixture(url: &str, cleanup_urls: Vec<String>, name: &str) -> Fixture<RedisStore> {
    let prefix = testkit::unique_prefix(name);
    let store = RedisStore::connect(RedisConfig::new(url).prefix(prefix.clone()))
        .await
        .expect("connect to the test server");
    Fixture::new(store, Arc::new(ServerTime)).with_teardown(async move {
        for url in cleanup_urls {
            testkit::cleanup_prefix(&url, &prefix)
                .await
                .expect("clean up the test prefix");
        }
    })
}

/// Declares `async fn server_url() -> Option<String>`, starting the server once per test
/// binary with `$start` (an expression giving `Option<impl testkit server>`).
#[macro_export]
macro_rules! shared_server {
    ($ty:ty, $start:expr) => {
        static SERVER: tokio::sync::OnceCell<Option<$ty>> = tokio::sync::OnceCell::const_new();

        async fn server() -> Option<&'static $ty> {
            SERVER.get_or_init(|| async { $start }).await.as_ref()
        }
    };
}

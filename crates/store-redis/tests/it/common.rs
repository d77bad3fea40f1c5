//! Shared by the Redis test binaries: fixtures for the conformance suite
//! on a server that one test binary starts once (see `testkit::shared_server!`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use session_core::conformance::Fixture;
use session_core::{ConnectionId, Session};
use store_redis::{RedisConfig, RedisStore, escape_user};

/// The store's configuration in these tests: a command timeout well above the 1 s default, so
/// that a loaded machine (a Cluster case sends thousands of contended commands) fails a case
/// only on a real fault, not on a slow scheduler.
pub(crate) fn config(url: &str, prefix: &str) -> RedisConfig {
    RedisConfig::new(url)
        .prefix(prefix)
        .command_timeout(Duration::from_secs(10))
}

/// A store on `url` with a fresh prefix; its keys are removed after a passing case.
pub(crate) async fn fixture(
    url: &str,
    cleanup_urls: Vec<String>,
    name: &str,
) -> Fixture<RedisStore> {
    let prefix = testkit::unique_prefix(name);
    let store = RedisStore::connect(config(url, &prefix))
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

/// A store on a local Cluster with a fresh prefix, removed from every node after a passing case.
pub(crate) async fn cluster_fixture(
    cluster: &testkit::RedisCluster,
    name: &str,
) -> Fixture<RedisStore> {
    let nodes = cluster
        .nodes()
        .iter()
        .map(|n| format!("redis://{n}"))
        .collect();
    let f = fixture(&cluster.url(), nodes, name).await;
    assert!(f.store.is_clustered());
    f
}

/// A store under a fresh prefix and an independent client (the `redis` crate) on the same
/// server, to check what the store wrote.
pub(crate) struct Env {
    pub(crate) store: RedisStore,
    pub(crate) raw: redis::aio::MultiplexedConnection,
    pub(crate) prefix: String,
    pub(crate) url: String,
}

impl Env {
    pub(crate) async fn connect(url: &str, name: &str) -> Env {
        let prefix = testkit::unique_prefix(name);
        let store = RedisStore::connect(config(url, &prefix))
            .await
            .expect("connect the store");
        let raw = redis::Client::open(url)
            .expect("independent client")
            .get_multiplexed_async_connection()
            .await
            .expect("connect the independent client");
        Env {
            store,
            raw,
            prefix,
            url: url.to_owned(),
        }
    }

    pub(crate) fn rec(&self, s: &Session) -> String {
        format!("{}:s:{{{}}}", self.prefix, s.id)
    }
    pub(crate) fn user(&self, u: &str) -> String {
        format!("{}:u:{{{}}}", self.prefix, escape_user(u))
    }
    pub(crate) fn conn(&self, c: &ConnectionId) -> String {
        format!("{}:c:{{{}}}", self.prefix, c)
    }
    pub(crate) fn bucket(&self, s: &Session) -> String {
        let last =
            s.id.to_string()
                .chars()
                .last()
                .expect("a uuid has characters");
        format!("{}:a:{{{}}}", self.prefix, last)
    }

    pub(crate) async fn expire_time(&mut self, key: &str) -> i64 {
        redis::cmd("PEXPIRETIME")
            .arg(key)
            .query_async(&mut self.raw)
            .await
            .expect("PEXPIRETIME")
    }

    pub(crate) async fn score(&mut self, key: &str, s: &Session) -> Option<u64> {
        let v: Option<f64> = self
            .raw
            .zscore(key, s.id.to_string())
            .await
            .expect("ZSCORE");
        v.map(|f| f as u64)
    }

    /// Every key under the prefix, sorted.
    pub(crate) async fn keys(&mut self) -> Vec<String> {
        testkit::keys_under(&mut self.raw, &self.prefix)
            .await
            .expect("SCAN")
    }

    /// Every key under the prefix with its type, contents and expiry time, as text.
    pub(crate) async fn dump(&mut self) -> BTreeMap<String, String> {
        testkit::dump_prefix(&mut self.raw, &self.prefix)
            .await
            .expect("dump the prefix")
    }

    pub(crate) async fn cleanup(self) {
        testkit::cleanup_prefix(&self.url, &self.prefix)
            .await
            .expect("clean up the test prefix");
    }
}

//! Shared by the hybrid test binaries.

use std::sync::Arc;
use std::time::Duration;

use session_core::conformance::Fixture;
use session_core::{Clock, Session, SessionState, SystemClock, UserId};
use store_hybrid::{HybridConfig, HybridStore};
use store_redis::RedisConfig;

/// An active session of `user`, expiring in ten minutes.
pub(crate) fn session(user: &str) -> Session {
    Session::builder(
        UserId::new(user).unwrap(),
        SystemClock.now(),
        Duration::from_secs(600),
    )
    .state(SessionState::Active)
    .build()
}

/// A hybrid store on `url` under `prefix`, once its tracking is live: the L1 is used only
/// while it is (it is from connect on, unless the connection flapped meanwhile).
pub(crate) async fn live(url: &str, prefix: &str) -> HybridStore {
    let store = hybrid(url, prefix).await;
    eventually("tracking live", Duration::from_secs(10), || {
        store.is_tracking_live()
    })
    .await;
    store
}

pub(crate) async fn hybrid(url: &str, prefix: &str) -> HybridStore {
    // A command timeout well above the 1 s default: on a loaded machine a case fails only on
    // a real fault, not on a slow scheduler.
    let redis = RedisConfig::new(url)
        .prefix(prefix)
        .command_timeout(Duration::from_secs(10));
    HybridStore::connect(HybridConfig::new(redis))
        .await
        .expect("connect the hybrid store")
}

/// A hybrid store on `url` with a fresh prefix; its keys are removed after a passing case.
pub(crate) async fn fixture(url: &str, name: &str) -> Fixture<HybridStore> {
    let prefix = testkit::unique_prefix(name);
    let store = hybrid(url, &prefix).await;
    let url = url.to_owned();
    Fixture::new(store, Arc::new(testkit::ServerTime)).with_teardown(async move {
        testkit::cleanup_prefix(&url, &prefix)
            .await
            .expect("clean up the test prefix");
    })
}

/// Polls `cond` every 100 us until it holds; panics after `within`.
pub(crate) async fn eventually(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
}

/// Reads `id` through `store` until its L1 holds it. A fill is dropped when an invalidation of
/// that shard arrives while the read is under way (such as the invalidation of the create
/// that made the session), so the first read may not cache.
pub(crate) async fn cache(store: &HybridStore, id: &session_core::SessionId) {
    use session_core::Store;
    let start = std::time::Instant::now();
    loop {
        assert!(store.get(id).await.unwrap().is_some(), "session readable");
        if store.l1_contains(id) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never cached");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

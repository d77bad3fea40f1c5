//! Hits take part in tokio's cooperative budget: 64 tasks looping on L1 hits on a two-worker
//! runtime do not starve a timer.

use std::time::Duration;

use crate::common::{cache, live};
use session_core::{Clock, Session, Store, SystemClock, UserId};

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

/// Hits per task if nothing stops it: without yielding, the tasks would run all of these
/// (tens of seconds) before the timer could fire.
const CAP: usize = 2_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_looping_on_hits_let_a_timer_fire() {
    let Some(server) = server().await else {
        return;
    };
    let prefix = testkit::unique_prefix("coop");
    let store = live(server.url(), &prefix).await;
    let s = Session::builder(
        UserId::new("coop").unwrap(),
        SystemClock.now(),
        Duration::from_secs(600),
    )
    .build();
    let s = store.create(s).await.unwrap();
    cache(&store, &s.id).await;

    let (looping, id) = (store.clone(), s.id);
    let stopped_early = testkit::scenarios::tasks_stopped_by_a_timer(64, CAP, move |_, _| {
        let store = looping.clone();
        async move { assert!(store.get(&id).await.unwrap().is_some()) }
    })
    .await;
    assert_eq!(
        stopped_early, 64,
        "tasks ran out their {CAP} hits before a 1 ms timer fired"
    );
    store.close().await.unwrap();
    testkit::cleanup_prefix(server.url(), &prefix)
        .await
        .unwrap();
}

//! Hits take part in tokio's cooperative budget: 64 tasks looping on L1 hits on a two-worker
//! runtime do not starve a timer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{cache, eventually, hybrid};
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
    let store = hybrid(server.url(), &prefix).await;
    eventually("tracking live", Duration::from_secs(10), || {
        store.is_tracking_live()
    })
    .await;
    let s = Session::builder(
        UserId::new("coop").unwrap(),
        SystemClock.now(),
        Duration::from_secs(600),
    )
    .build();
    let s = store.create(s).await.unwrap();
    cache(&store, &s.id).await;

    let stop = Arc::new(AtomicBool::new(false));
    let stopped_early = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (store, stop, stopped_early, id) =
                (store.clone(), stop.clone(), stopped_early.clone(), s.id);
            tokio::spawn(async move {
                for _ in 0..CAP {
                    if stop.load(Ordering::Relaxed) {
                        stopped_early.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    assert!(store.get(&id).await.unwrap().is_some());
                }
            })
        })
        .collect();
    // The timer: due 1 ms from now, it stops the loops when it fires.
    let timer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    timer.await.unwrap();
    assert_eq!(
        stopped_early.load(Ordering::Relaxed),
        64,
        "tasks ran out their {CAP} hits before a 1 ms timer fired"
    );
    store.close().await.unwrap();
    testkit::cleanup_prefix(server.url(), &prefix)
        .await
        .unwrap();
}

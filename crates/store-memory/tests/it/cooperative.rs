//! Every operation takes part in tokio's cooperative budget: 64 tasks looping on gets (which
//! never wait) on a two-worker runtime do not starve a timer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use session_core::{Clock, Session, Store, SystemClock, UserId};
use store_memory::MemoryStore;

/// Gets per task if nothing stops it: without yielding, the tasks would run all of these
/// before the timer could fire.
const CAP: usize = 5_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_looping_on_gets_let_a_timer_fire() {
    let store = MemoryStore::new();
    let s = Session::builder(
        UserId::new("coop").unwrap(),
        SystemClock.now(),
        Duration::from_secs(600),
    )
    .build();
    let id = store.create(s).await.unwrap().id;
    let stop = Arc::new(AtomicBool::new(false));
    let stopped_early = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..64)
        .map(|k| {
            let (store, stop, stopped_early) = (store.clone(), stop.clone(), stopped_early.clone());
            tokio::spawn(async move {
                for i in 0..CAP {
                    if stop.load(Ordering::Relaxed) {
                        stopped_early.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    // Gets mostly, and a write now and then: every operation is ready at once.
                    if (i + k) % 64 == 0 {
                        store
                            .touch(&id, SystemClock.now() + Duration::from_secs(600))
                            .await
                            .unwrap();
                    } else {
                        assert!(store.get(&id).await.unwrap().is_some());
                    }
                }
            })
        })
        .collect();
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
        "tasks ran out their {CAP} operations before a 1 ms timer fired"
    );
}

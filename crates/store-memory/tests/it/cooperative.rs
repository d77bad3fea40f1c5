//! Every operation takes part in tokio's cooperative budget: 64 tasks looping on gets (which
//! never wait) on a two-worker runtime do not starve a timer.

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
    let stopped_early = testkit::scenarios::tasks_stopped_by_a_timer(64, CAP, move |k, i| {
        let store = store.clone();
        async move {
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
    .await;
    assert_eq!(
        stopped_early, 64,
        "tasks ran out their {CAP} operations before a 1 ms timer fired"
    );
}

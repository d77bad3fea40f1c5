//! Scenarios that more than one store's tests (or a test and a bench) run, written once:
//! tasks looping on a store that never waits must still let a timer fire (tokio's
//! cooperative budget), the time an invalidation takes to reach another instance, and the
//! session the hostile-input tests start from.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use session_core::{
    Clock, ConnectionId, Session, SessionBuilder, SessionId, SessionState, Store, SystemClock,
    UserId,
};

/// Spawns `tasks` tasks, task `k` calling `op(k, i)` for `i` in `0..cap` unless stopped, and a
/// timer due 1 ms from now that stops them; returns how many tasks the timer stopped before
/// they ran out their `cap` calls. On a runtime whose tasks yield to timers (the cooperative
/// budget) that is every task; a store whose futures never yield would starve the timer.
pub async fn tasks_stopped_by_a_timer<F, Fut>(tasks: usize, cap: usize, op: F) -> usize
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let stopped_early = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..tasks)
        .map(|k| {
            let (op, stop, stopped_early) = (op.clone(), stop.clone(), stopped_early.clone());
            tokio::spawn(async move {
                for i in 0..cap {
                    if stop.load(Ordering::Relaxed) {
                        stopped_early.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    op(k, i).await;
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
    for t in handles {
        t.await.unwrap();
    }
    timer.await.unwrap();
    stopped_early.load(Ordering::Relaxed)
}

/// Writes through `a` (one update of `latest`, a packet counted) and waits until the other
/// instance's cache no longer holds an older version: `cached_version` gives the version it
/// holds for an id, if any (a hybrid store's `l1_peek`). Returns what `a` wrote and the time
/// from `a`'s acknowledgement to the eviction; panics ("invalidation lost") after `bound`.
pub async fn invalidation_after_write<S: Store>(
    a: &S,
    latest: &Session,
    cached_version: impl Fn(&SessionId) -> Option<u64>,
    bound: Duration,
) -> (Arc<Session>, Duration) {
    let mut next = latest.clone();
    next.stats.packets_sent += 1;
    let written = a.update(next).await.unwrap();
    let acked = Instant::now();
    while cached_version(&written.id).is_some_and(|v| v < written.version) {
        assert!(acked.elapsed() < bound, "invalidation lost");
        tokio::task::yield_now().await;
    }
    (written, acked.elapsed())
}

/// A session of `user` as the hostile-input tests of every store start from: connected (a
/// fresh connection id), active, expiring in an hour. The builder, for a test to add to.
pub fn connected_session(user: &str) -> SessionBuilder {
    Session::builder(
        UserId::new(user).unwrap(),
        SystemClock.now(),
        Duration::from_secs(3600),
    )
    .connection_id(ConnectionId::new())
    .state(SessionState::Active)
}

//! The background cleanup task.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use session_core::Store;

use crate::manager::{Inner, SessionManager};

/// A running cleanup task (see [`SessionManager::spawn_cleanup`]).
///
/// [`CleanupHandle::stop`] stops it and waits for it to end. Dropping the handle leaves the
/// task running until the last [`SessionManager`] clone is dropped, which stops it at once.
#[derive(Debug)]
pub struct CleanupHandle {
    stop: Arc<Notify>,
    task: JoinHandle<()>,
}

impl CleanupHandle {
    /// Stops the task (after the pass under way, if any) and waits for it to end.
    pub async fn stop(self) {
        self.stop.notify_one();
        // A panic in a pass would surface here; a pass cannot panic (errors are logged).
        let _ = self.task.await;
    }

    /// True once the task has ended (stopped, or its manager dropped).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl<S: Store + 'static> SessionManager<S> {
    /// Starts a tokio task that runs [`SessionManager::cleanup`] every `every` (the first
    /// pass one period from now). A failed pass is logged (`tracing::warn!`) and the next
    /// one runs on schedule.
    ///
    /// The task holds the manager only weakly: when the last `SessionManager` clone is
    /// dropped it ends at once, even mid-wait. Must be called within a tokio runtime.
    pub fn spawn_cleanup(&self, every: Duration) -> CleanupHandle {
        let every = every.max(Duration::from_millis(1));
        let weak: Weak<Inner<S>> = Arc::downgrade(&self.inner);
        let mut alive = self.inner.alive.subscribe();
        let stop = Arc::new(Notify::new());
        let stopped = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let start = tokio::time::Instant::now() + every;
            let mut tick = tokio::time::interval_at(start, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stopped.notified() => return,
                    // Err: the sender (inside the manager) is gone.
                    Err(_) = alive.changed() => return,
                    _ = tick.tick() => {}
                }
                let Some(inner) = weak.upgrade() else { return };
                let manager = SessionManager { inner };
                if let Err(error) = manager.cleanup().await {
                    tracing::warn!(%error, "session cleanup pass failed");
                }
            }
        });
        CleanupHandle { stop, task }
    }
}

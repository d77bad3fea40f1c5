//! What the modules share.

use std::time::{Duration, Instant};

/// Awaits `start` (a testkit call that gives `None` when it skips) and says how long it took.
pub(crate) async fn timed<T>(start: impl Future<Output = Option<T>>) -> Option<(T, Duration)> {
    let began = Instant::now();
    let got = start.await?;
    Some((got, began.elapsed()))
}

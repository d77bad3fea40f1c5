//! The manager's configuration.

use std::sync::Arc;
use std::time::Duration;

use session_core::{Clock, SystemClock};

/// How a [`SessionManager`](crate::SessionManager) expires sessions and throttles heartbeats.
///
/// ```
/// use std::time::Duration;
/// use session_manager::ManagerConfig;
///
/// let config = ManagerConfig::new()
///     .idle_timeout(Duration::from_secs(15 * 60))
///     .max_lifetime(Duration::from_secs(12 * 3600))
///     .heartbeat_writes_per_idle(10)
///     .store_name("redis");
/// assert_eq!(config.heartbeat_interval(), Duration::from_secs(90));
/// ```
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    pub(crate) idle_timeout: Duration,
    pub(crate) max_lifetime: Duration,
    pub(crate) writes_per_idle: u32,
    pub(crate) event_capacity: usize,
    pub(crate) store_name: &'static str,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30 * 60),
            max_lifetime: Duration::from_secs(24 * 3600),
            writes_per_idle: 10,
            event_capacity: 1024,
            store_name: "store",
            clock: Arc::new(SystemClock),
        }
    }
}

impl ManagerConfig {
    /// The defaults: 30 min idle timeout, 24 h lifetime, 10 heartbeat writes per idle window,
    /// 1024 buffered events, the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// A session not heard from (created, or a heartbeat written) for this long expires.
    /// At least one millisecond.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle.max(Duration::from_millis(1));
        self
    }

    /// No session lives longer than this after its creation, however often it beats.
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = lifetime.max(Duration::from_millis(1));
        self
    }

    /// At most this many store writes per idle window for one session's heartbeats (at
    /// least 1): a heartbeat less than `idle_timeout / n` after the last written one reads
    /// but does not write. The sliding expiry is thus at most one `1/n` of the window short.
    pub fn heartbeat_writes_per_idle(mut self, n: u32) -> Self {
        self.writes_per_idle = n.max(1);
        self
    }

    /// How many events a subscriber may fall behind before it gets
    /// [`RecvError::Lagged`](tokio::sync::broadcast::error::RecvError::Lagged) (at least 1).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// The name recorded in spans' `store` field.
    pub fn store_name(mut self, name: &'static str) -> Self {
        self.store_name = name;
        self
    }

    /// Where the manager reads the time (give it the store's clock in tests).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The shortest gap between two written heartbeats of a session:
    /// `idle_timeout / heartbeat_writes_per_idle`.
    pub fn heartbeat_interval(&self) -> Duration {
        self.idle_timeout / self.writes_per_idle
    }
}

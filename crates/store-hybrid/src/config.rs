//! Configuration for [`HybridStore`](crate::HybridStore).

use std::time::Duration;

use store_redis::RedisConfig;

/// How a [`HybridStore`](crate::HybridStore) is built: the Redis store's configuration plus
/// the L1's.
///
/// ```
/// use std::time::Duration;
/// use store_hybrid::HybridConfig;
/// use store_redis::RedisConfig;
///
/// let config = HybridConfig::new(RedisConfig::new("redis://127.0.0.1:6379").prefix("app"))
///     .capacity(50_000)
///     .max_age(Duration::from_secs(30));
/// assert_eq!(config.capacity, 50_000);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HybridConfig {
    /// The Redis store underneath (URL, prefix, timeouts, reconnect policy). The tracking
    /// connection uses the same URL, timeouts and reconnect policy, in RESP3.
    pub redis: RedisConfig,
    /// The most sessions the L1 holds (default 100 000); beyond it CLOCK evicts.
    pub capacity: usize,
    /// The longest an entry is served from the L1 (default 10 s), even while tracking says
    /// nothing changed: the bound on staleness if the server ever drops an invalidation (it
    /// does for `FLUSHALL` / `FLUSHDB`, whose null invalidation fred 10.1 does not deliver).
    /// An entry never outlives its session's `expires_at` either.
    pub max_age: Duration,
    /// How often the tracking connection is checked with a PING (default 250 ms); a failed
    /// PING flushes the L1 and bypasses it until tracking is back.
    pub heartbeat: Duration,
}

impl HybridConfig {
    /// The defaults around `redis`.
    pub fn new(redis: RedisConfig) -> Self {
        HybridConfig {
            redis,
            capacity: 100_000,
            max_age: Duration::from_secs(10),
            heartbeat: Duration::from_millis(250),
        }
    }

    /// Sets the L1 capacity.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Sets the L1 entries' maximum age.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Sets the tracking heartbeat.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }
}

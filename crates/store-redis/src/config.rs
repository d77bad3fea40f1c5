//! Configuration for [`RedisStore`](crate::RedisStore).

use std::time::Duration;

use fred::types::config::ReconnectPolicy;
use session_core::Error;

/// How a [`RedisStore`](crate::RedisStore) connects and names its keys.
///
/// ```
/// use std::time::Duration;
/// use store_redis::RedisConfig;
///
/// let config = RedisConfig::new("redis://127.0.0.1:6379")
///     .prefix("myapp:sessions")
///     .command_timeout(Duration::from_millis(500));
/// assert_eq!(config.prefix, "myapp:sessions");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// Where Redis is: `redis://`, `rediss://` (feature `tls`), `redis-cluster://` or
    /// `redis-sentinel://`, in fred's URL syntax.
    pub url: String,
    /// Every key starts with this (default `"session"`). No braces, spaces or control
    /// characters; at most 64 bytes.
    pub prefix: String,
    /// Connections, used round-robin (default 1: one multiplexed connection pipelines
    /// concurrent commands, which measured faster here than a pool).
    pub pool_size: usize,
    /// How long a command may take, queueing and retries included, before it fails with
    /// `Error::Timeout` (default 1 s; never unbounded).
    pub command_timeout: Duration,
    /// How long connecting may take (default 5 s).
    pub connect_timeout: Duration,
    /// How to reconnect after a connection drops (default: exponential back-off from 50 ms,
    /// doubling, capped at 500 ms, retrying forever; fred adds up to 50 ms of jitter, and the
    /// cap bounds the sum). So once the server is back, the next attempt comes within
    /// 500 ms whatever the length of the outage, and the store recovers well within 2 s.
    /// Always set: fred's own default is not to reconnect.
    pub reconnect: ReconnectPolicy,
    /// Send reads (`get`, `get_many`) to replicas (feature `replicas`; fred 10.1 supports
    /// replica routing for Cluster deployments, elsewhere reads stay on the primary). Off by
    /// default: a replica lags, so a session just deleted on the primary may still be read
    /// there, and a session just created may not be yet.
    pub replica_reads: bool,
    /// Speak RESP3 instead of RESP2 (default RESP2).
    pub resp3: bool,
    /// Merge concurrent reads (`get`, `get_many`, and the record reads of
    /// `get_by_connection_id`) into `MGET` batches (default on). A read is sent at once while
    /// fewer than `pool_size` × `coalesce_in_flight` reads are in flight (so a lone caller
    /// never waits); reads that arrive while all are in flight go out together as one `MGET`
    /// when one returns. Under
    /// concurrent load the server and the client handle one command where they handled one per
    /// read. Standalone and Sentinel; ignored in a Cluster (a batch's keys would span slots)
    /// and with `replica_reads`.
    pub coalesce_reads: bool,
    /// With `coalesce_reads`: how many reads (single or batched) may be in flight on each
    /// connection before further reads queue for the next batch (default 2, at least 1).
    /// More lets a batch be gathered while another is on the wire; fewer makes bigger
    /// batches.
    pub coalesce_in_flight: usize,
    /// Run the store's Lua code as a library of Redis Functions (FCALL, default on), loaded
    /// at connect and again whenever a server answers that it does not have it (a restart
    /// without persistence, a new Cluster node). Off, or on a server that refuses FUNCTION
    /// LOAD (before Redis 7, or an ACL that denies it), the same code runs as scripts
    /// (EVALSHA), which cost more server time per operation: a script defines its helpers
    /// on every call, a library once.
    pub functions: bool,
}

impl RedisConfig {
    /// The defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            prefix: "session".to_owned(),
            pool_size: 1,
            command_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            reconnect: ReconnectPolicy::new_exponential(0, 50, 500, 2),
            replica_reads: false,
            resp3: false,
            coalesce_reads: true,
            coalesce_in_flight: 2,
            functions: true,
        }
    }

    /// Sets the key prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets the pool size.
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// Sets the command timeout.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the reconnect policy.
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = policy;
        self
    }

    /// Turns replica reads on or off.
    pub fn replica_reads(mut self, on: bool) -> Self {
        self.replica_reads = on;
        self
    }

    /// Uses RESP3.
    pub fn resp3(mut self, on: bool) -> Self {
        self.resp3 = on;
        self
    }

    /// Turns read coalescing on or off.
    pub fn coalesce_reads(mut self, on: bool) -> Self {
        self.coalesce_reads = on;
        self
    }

    /// Runs the store's Lua code as Redis Functions (on, the default) or as scripts.
    pub fn functions(mut self, on: bool) -> Self {
        self.functions = on;
        self
    }

    /// Sets how many coalesced reads may be in flight per connection.
    pub fn coalesce_in_flight(mut self, n: usize) -> Self {
        self.coalesce_in_flight = n;
        self
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        let p = &self.prefix;
        if p.is_empty() || p.len() > 64 {
            return Err(Error::invalid("prefix", "must be 1 to 64 bytes"));
        }
        if p.chars()
            .any(|c| c == '{' || c == '}' || c.is_whitespace() || c.is_control())
        {
            return Err(Error::invalid(
                "prefix",
                "no braces, whitespace or control characters",
            ));
        }
        if self.pool_size == 0 || self.pool_size > 64 {
            return Err(Error::invalid("pool_size", "must be 1 to 64"));
        }
        if self.coalesce_in_flight == 0 || self.coalesce_in_flight > 64 {
            return Err(Error::invalid("coalesce_in_flight", "must be 1 to 64"));
        }
        if self.command_timeout.is_zero() {
            return Err(Error::invalid(
                "command_timeout",
                "must be positive: commands never wait forever",
            ));
        }
        if self.replica_reads && !cfg!(feature = "replicas") {
            return Err(Error::invalid(
                "replica_reads",
                "needs the crate feature `replicas`",
            ));
        }
        Ok(())
    }
}

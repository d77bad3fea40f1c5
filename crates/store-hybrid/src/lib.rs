//! An in-process L1 cache in front of [`store_redis::RedisStore`] that never serves a revoked
//! or stale session once Redis has said so.
//!
//! Reads are served from the L1 when the session is there; a miss reads Redis (concurrent
//! misses on one id share one read) and fills the L1. Writes go to Redis and evict the local
//! entry (the next read refills it). Every instance learns of every write to a session record,
//! by anyone (another instance, `redis-cli`, key expiry, eviction), through Redis client-side
//! caching: a separate RESP3 connection runs `CLIENT TRACKING ON BCAST PREFIX <prefix>:s:`
//! and the store's own receive loop evicts each named session.
//!
//! ```no_run
//! use std::time::Duration;
//! use session_core::{Clock, Session, Store, SystemClock, UserId};
//! use store_hybrid::{HybridConfig, HybridStore};
//! use store_redis::RedisConfig;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), session_core::Error> {
//! let store = HybridStore::connect(HybridConfig::new(
//!     RedisConfig::new("redis://127.0.0.1:6379").prefix("myapp"),
//! ))
//! .await?;
//! let user = UserId::new("alice")?;
//! let s = store
//!     .create(Session::builder(user, SystemClock.now(), Duration::from_secs(1800)).build())
//!     .await?;
//! let first = store.get(&s.id).await?; // from Redis, now cached
//! let again = store.get(&s.id).await?; // from the L1
//! assert_eq!(first, again);
//! # Ok(())
//! # }
//! ```
//!
//! # Why BCAST
//!
//! Tracking in default mode only covers keys read *on the tracking connection* (or on
//! connections redirected to it), so every data connection of the pool would have to enable
//! `REDIRECT` after each reconnect. BCAST covers every record key under the prefix, whoever
//! reads or writes it, with one command on one connection; its cost, one small message per
//! write per instance, is what a session store needs anyway to learn of revocations.
//!
//! # When tracking is not live
//!
//! fred 10.1 neither re-enables tracking after a reconnect nor keeps its invalidation listener
//! alive when its channel lags, so this crate owns the receive loop. On a connection error, an
//! unresponsive connection, a failed heartbeat PING, a lagged channel or a reconnection, the L1
//! is flushed and bypassed (reads go to Redis) until `CLIENT TRACKING` succeeds again on the
//! new connection. A fill that started before an invalidation or a flush is dropped, so a
//! value read before a concurrent write is never cached after that write's invalidation.
//!
//! Operations that read indexes (`get_by_user_id`, `list`, `count`, `get_by_connection_id`)
//! always go to Redis; `delete_by_user_id` evicts every session it deleted from the local L1
//! before it returns. Other instances drop theirs when the invalidation arrives, a delay
//! measured in `tests/invalidation_latency.rs`.
//!
//! MSRV: Rust 1.85.
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod config;
mod l1;
mod store;

pub use config::HybridConfig;
pub use store::{HybridStats, HybridStore};

pub use session_core;
pub use store_redis;

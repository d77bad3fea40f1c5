//! An in-process L1 cache in front of [`store_redis::RedisStore`] that never serves a revoked
//! or stale session once Redis has said so.
//!
//! Reads are served from the L1 when the session is there; a miss reads Redis (concurrent
//! misses on one id share one read) and fills the L1. Writes go to Redis, and a create, update
//! or touch leaves the version it stored in the writing instance's L1 (write-through); a
//! delete drops it. Every instance learns of every write to a session record,
//! by anyone (another instance, `redis-cli`, key expiry, eviction), through Redis client-side
//! caching: a separate RESP3 connection runs `CLIENT TRACKING ON BCAST PREFIX <prefix>:s:`
//! and the store's own receive loop evicts each named session. That connection and the loop
//! run on a thread of their own (see [The tracking thread](#the-tracking-thread)).
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
//! # The tracking thread
//!
//! [`HybridStore::connect`] starts a thread named `session-tracking` running a
//! current-thread tokio runtime; the tracking connection's tasks (fred spawns them on the
//! runtime that connects it), the receive loop, the heartbeat and the background refreshes
//! run there. It ends when the last clone of the store is dropped. Reads, writes and misses
//! stay on the caller's runtime and the store's pool.
//!
//! Why: on the application's runtime the receive loop is one task among the application's.
//! With every worker busy (64 tasks looping on L1 hits yield only every 128 hits, by the
//! cooperative budget), an invalidation waited for the tracking connection's reader task and
//! then the loop to get a turn: milliseconds (p99 18.8 ms in the hybrid bench's 64-task
//! mix), a window in which the instance served a version another had already replaced. On
//! its own thread, the delay is how soon the OS runs a thread that was asleep.
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
//! measured in `tests/it/invalidation_latency.rs`.
//!
//! # Coherence: write-through, read-your-writes, invalidations
//!
//! Two promises, one mechanism:
//!
//! - **Read-your-writes.** Once a write through an instance has returned, every read through
//!   that instance returns that version or a newer one; there is no window.
//! - **No overtaken version.** Once the invalidation of a completed write (by anyone) has
//!   arrived, the instance never serves a version older than that write.
//!
//! The mechanism: every insert into the L1 carries a *ticket* taken *before* the Redis
//! command whose answer it inserts (a read's, or a write's own reply), made of the global
//! epoch and the epoch of the id's bucket (64 buckets per L1 shard). An invalidation bumps the bucket's
//! epoch and drops the entry; a flush bumps the global epoch and drops everything; a
//! write-through bumps the bucket's epoch as it inserts. An insert whose ticket is out of date
//! is dropped. And a single-flight read is *detached* (later readers start a new one) by every
//! write through the instance, every invalidation and every flush.
//!
//! Why that is enough, case by case:
//!
//! - **A read under way when this instance writes.** The read's ticket predates the
//!   write-through's epoch bump, so what it read (perhaps the old version) is not cached over
//!   the new one; its flight is detached when the write returns, so a read that begins after
//!   the write does not join it (issue: a read 261 us after a delete returned got the
//!   session by joining such a flight). Readers already waiting on it began before the write
//!   returned: they are concurrent with it and may see either version.
//! - **The write's own invalidation, before or after its reply.** Redis sends the
//!   invalidation (tracking connection) and the reply (data connection) on different sockets,
//!   so either may be processed first. After: the write-through cached the new version and
//!   the invalidation drops it. Before: the invalidation voids the write's ticket. Either way
//!   an invalidation cannot be told apart from one of a newer write by someone else, so it
//!   is obeyed. Counting "my own" messages is unsound: BCAST coalesces the keys modified in
//!   one event-loop turn into one message. `NOLOOP` does not help either: the writes are Lua
//!   scripts, and in BCAST mode Redis 7.0 and Valkey 8.1 count a key a script modified as
//!   modified by the script's own client, not by the connection that sent `EVALSHA`. So a
//!   `NOLOOP` tracking connection that sends the writes itself still gets their
//!   invalidations. (Checked on a raw RESP3 connection: its own `SET` and `MULTI` were
//!   suppressed, its own `EVAL` was not. Default-mode `NOLOOP` does honour scripts, but
//!   default mode only tracks keys read on that connection.) To keep hot sessions hot, an
//!   invalidation that drops an entry in use (read, or written through, since it was cached)
//!   or voids a read of it under way (a miss's, or an earlier refresh's) starts a background
//!   refresh: an ordinary flight whose ticket postdates the
//!   invalidation, which readers that miss meanwhile join. On standalone and Sentinel it is
//!   a GET on the tracking connection, so the tracking thread handles the whole refresh (a
//!   Cluster's goes through the store's routing). The writing instance thus keeps serving the
//!   session from its L1 at the cost of one Redis read per write, off the caller's path; the
//!   reads that miss are those in the window from the invalidation to the refresh's reply.
//! - **Concurrent writers on two instances.** Versions are compare-and-set, so writes to one
//!   session are totally ordered. If instance B's newer write's invalidation reaches A while
//!   A's write is under way, A's ticket is void and A does not cache its (now overtaken)
//!   version over nothing; with a void ticket a write-through only replaces an *older*
//!   version of the same session (which, being cached, no arrived invalidation has condemned,
//!   so nothing newer than it has been announced), keeps a newer one, and drops anything else
//!   (another incarnation of the id). If the invalidation arrives after A's insert, it drops
//!   it. Either way nothing older than an announced write stays cached.
//! - **Reconnects, lag and flushes.** Losing the tracking connection (error, unresponsive,
//!   failed heartbeat, lagged channel, reconnection) flushes the L1, detaches every flight and
//!   bypasses the L1 until tracking is enabled again; fills and write-throughs whose tickets
//!   predate the flush are dropped. A null invalidation (the server's flush) flushes too.
//!   `FLUSHALL`'s null message is not delivered by fred 10.1: [`HybridConfig::max_age`]
//!   bounds that case.
//!
//! The cross-instance bound is the invalidation's delivery time: the server pushes it in the
//! same event-loop turn as the write's reply, and the receiving instance applies it when its
//! tracking thread next runs. About a millisecond at p99 on an idle machine
//! (`tests/it/invalidation_latency.rs`); under CPU load it is bounded by how soon the OS
//! schedules the tracking thread, which no longer waits for the application's workers.
//!
//! # Cooperative hits
//!
//! A read served from the L1 completes without waiting, so `get` and `get_many` consume a
//! unit of tokio's cooperative budget (`tokio::task::coop`) first, as tokio's own resources
//! do: a task looping on hits yields when its budget runs out, so timers and other tasks on
//! that worker still run. The hit path is synchronous (the miss path is boxed, so a hit does
//! not build the Redis read's large future) and counts a hit in a per-thread counter with a
//! plain load and store, no atomic read-modify-write.
//!
//! # Features
//!
//! None of its own. TLS (`rediss://`) and replica reads are store-redis's features (`tls`,
//! `replicas`): enable them on `store-redis` in your manifest and they apply here too.
//!
//! MSRV: Rust 1.85.
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod config;
mod l1;
mod store;

pub use config::HybridConfig;
pub use store::{HybridStats, HybridStore};

pub use session_core;
pub use store_redis;

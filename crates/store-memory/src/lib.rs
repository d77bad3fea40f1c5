//! A sharded in-process session store: the [`session_core::Store`] trait over hash tables
//! under `parking_lot` locks, with user and connection indexes that stay consistent under
//! concurrency. A hit hands out the stored `Arc<Session>`, so `get` copies and allocates
//! nothing; expired sessions are hidden at once and reclaimed by
//! [`Store::delete_expired`](session_core::Store::delete_expired), by creates that need the
//! room, and by an optional background sweeper that works one shard at a time.
//!
//! ```
//! use std::time::Duration;
//! use session_core::{Clock, Session, Store, SystemClock, UserId};
//! use store_memory::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), session_core::Error> {
//! let store = MemoryStore::new();
//! let user = UserId::new("alice")?;
//! let session = Session::builder(user.clone(), SystemClock.now(), Duration::from_secs(1800))
//!     .metadata("device", "phone")
//!     .build();
//! let created = store.create(session).await?;
//! assert_eq!(created.version, 1);
//!
//! // Compare-and-set: edit a copy, write it back with the version you read.
//! let mut next = (*created).clone();
//! next.stats.packets_sent += 1;
//! let updated = store.update(next).await?;
//! assert_eq!(updated.version, 2);
//!
//! assert_eq!(store.get_by_user_id(&user).await?.len(), 1);
//! assert_eq!(store.delete_by_user_id(&user, None).await?.len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Layout and lock order
//!
//! Three families of shards, each a `parking_lot::RwLock` around a hash table:
//!
//! - **S**: session shards, `id -> Arc<Session>`, chosen by the id's hash; each also parks
//!   the version its latest update or touch replaced, whose allocation the next write there
//!   reuses if nobody holds it by then (`Arc::get_mut` proves it unique, so a version anybody
//!   holds is never written: reads stay snapshots);
//! - **U**: user shards, `user -> [Arc<Session>]` sorted by id, chosen by the user's hash;
//! - **C**: connection shards, `connection id -> (session id, expires_at)`, chosen by its hash.
//!
//! The user index holds the same `Arc` as the session shard, so `get_by_user_id` needs no
//! second lookup; the connection index holds only the id and expiry, so an update that keeps
//! the connection and the expiry never touches it. The lock order is **S, then at most one of U
//! or C at a time**: a write takes the session's S shard (write) and holds it to the end, and
//! while holding it takes and releases the U and C shards it needs one after another; no thread
//! ever holds two U or two C shards, or a U and a C shard together, or waits for an S shard
//! while holding an index shard. Readers take a single shard. So there is no cycle and no
//! deadlock.
//!
//! A write fills the indexes before it publishes the session in S and empties them while it
//! still holds S, so anything readable by id is findable by user and by connection (promise 2).
//! Expired sessions are hidden by every read at once (each read compares `expires_at` with the
//! clock) and reclaimed by [`Store::delete_expired`](session_core::Store::delete_expired), by
//! creates that need the room or the id, and by the optional sweeper, one shard at a time.
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `sweeper` | [`MemoryStore::spawn_sweeper`], a tokio task reclaiming expired sessions shard by shard |
//! | `coop` (default) | every operation consumes a unit of tokio's cooperative budget |
//!
//! # Cooperative
//!
//! Every operation completes without waiting, so a task looping on the store would never
//! give its worker back: timers and the other tasks there would starve. With the default
//! feature `coop`, each operation first consumes a unit of tokio's cooperative budget
//! (`tokio::task::coop::consume_budget`), as tokio's own resources do, and yields when the
//! budget is spent (a few ns per call; nothing and never a yield outside a tokio runtime).
//!
//! MSRV: Rust 1.85.
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod config;
mod store;
#[cfg(feature = "sweeper")]
mod sweeper;

pub use config::MemoryConfig;
pub use store::MemoryStore;
#[cfg(feature = "sweeper")]
pub use sweeper::Sweeper;

pub use session_core;

/// The workspace README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

//! A session store on Redis or Valkey through [fred]: standalone, Sentinel or Cluster, one
//! round trip for get, create, update, touch and delete (standalone and Sentinel), self-cleaning
//! user and connection indexes scored by expiry, and compare-and-set updates that move index
//! entries atomically.
//!
//! ```no_run
//! use std::time::Duration;
//! use session_core::{Clock, Session, Store, SystemClock, UserId};
//! use store_redis::{RedisConfig, RedisStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), session_core::Error> {
//! let store = RedisStore::connect(
//!     RedisConfig::new("redis://127.0.0.1:6379")
//!         .prefix("myapp:sessions")
//!         .command_timeout(Duration::from_millis(500)),
//! )
//! .await?;
//! let user = UserId::new("alice")?;
//! let session = Session::builder(user.clone(), SystemClock.now(), Duration::from_secs(1800)).build();
//! let created = store.create(session).await?;
//! assert_eq!(store.get(&created.id).await?.as_deref(), Some(&*created));
//! assert_eq!(store.delete_by_user_id(&user, None).await?, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # What is atomic where
//!
//! | mode | writes |
//! |---|---|
//! | standalone, Sentinel | every write is one Lua script: atomic, one round trip |
//! | Cluster | the record write is atomic (a script on its key: id collision check, version compare-and-set); the index entries around it live in other slots and are written in order: added or raised before the record changes, removed or lowered after. A session readable by id is therefore always findable by user and by connection, even if the client dies between steps; what a death can leave is an index entry pointing at nothing, which reads skip and drop and which expires with its score. |
//!
//! Expiry is Redis's own: records carry `PXAT` of the session's expiry, index entries are
//! scored by it, and index keys live until their longest-lived member. A write whose expiry is
//! already past (by the client's clock, then again by the server's) is refused, never stored
//! with a default TTL. Keys are listed in the docs of the `keys` module (source: `keys.rs`).
//!
//! # Coalesced reads
//!
//! Concurrent `get`s and `get_many`s of one store merge into `MGET` batches
//! ([`RedisConfig::coalesce_reads`], on by default; standalone and Sentinel, not in a Cluster
//! nor with replica reads). It is opportunistic: a read is sent at once while fewer than
//! `pool_size` × [`RedisConfig::coalesce_in_flight`] (2) reads are in flight, so a lone
//! caller never waits; reads that arrive while all of those are in flight leave together, as
//! one `MGET`, when one returns. Each
//! caller decodes and checks its own records, so a corrupt record is only its caller's
//! `Error::Codec`, an expired one only its caller's miss, and a failed batch is each of its
//! callers' error, mapped as any read's. A queued read waits for the batch in flight and then
//! its own, each bounded by the command timeout. One difference from a plain `GET`: `MGET`
//! answers nil for a key of another type, so a record key overwritten with, say, a hash reads
//! as missing rather than as an error (as `get_many` always did).
//!
//! Every command has a timeout ([`RedisConfig::command_timeout`], 1 s by default) and the
//! client always reconnects ([`RedisConfig::reconnect`]): nothing waits forever.
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `replicas` | [`RedisConfig::replica_reads`]: `get`/`get_many` from replicas |
//! | `tls` | `rediss://` URLs (rustls, ring) |
//!
//! MSRV: Rust 1.85.
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod coalesce;
mod config;
mod keys;
mod store;

pub use config::RedisConfig;
pub use keys::escape_user;
pub use store::RedisStore;

pub use fred;
pub use session_core;

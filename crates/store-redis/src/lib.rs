//! A session store on Redis or Valkey through [fred]: standalone, Sentinel or Cluster, one
//! round trip for get, create, update, touch and delete (standalone and Sentinel; a touch of a
//! record with text beyond ASCII takes two), self-cleaning user and connection indexes scored
//! by expiry, and compare-and-set updates that move index entries atomically.
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
//! assert_eq!(store.delete_by_user_id(&user, None).await?.len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! # What is atomic where
//!
//! | mode | writes |
//! |---|---|
//! | standalone, Sentinel | every write is one Lua script: atomic, one round trip. `touch` rewrites a record in place, so it must never rewrite one the client cannot decode: its script checks the record first (every length, the id, state, flags, addresses, metadata limits and key order, text all ASCII) and rewrites only one it is sure decodes, returning the new record; any other it returns unwritten, and the client decodes it (refusing a corrupt one with `Error::Codec`, nothing written) and then runs the script as a compare-and-set on the version: two round trips, for records with text beyond ASCII |
//! | Cluster | the record write is atomic (a script on its key: id collision check, version compare-and-set); the index entries around it live in other slots and are written in order: added or raised before the record changes, removed or lowered after. A session readable by id is therefore always findable by user and by connection, even if the client dies between steps; what a death can leave is an index entry pointing at nothing, which reads skip and drop and which expires with its score. |
//!
//! # Functions or scripts
//!
//! The store's Lua code (`src/lua/`) is loaded at connect as a library of Redis Functions
//! named `session_stores_<hash of the code>` (on every primary of a Cluster), and each write
//! is an `FCALL` of it. A script sent by `EVALSHA` runs from its first line on every call,
//! defining its twenty-odd helpers each time; a library defines them once, when it is loaded.
//! The hash in the name lets stores of different versions share a server (an older library
//! stays until someone runs `FUNCTION DELETE` on it). A server that has lost the library (a
//! restart without persistence, a new Cluster node) answers that the function is not found;
//! the store loads the library again and repeats the call. On a server that refuses FUNCTION
//! LOAD (before Redis 7, or an ACL that denies it), or with [`RedisConfig::functions`] off,
//! the same code runs as scripts (`EVALSHA`, then `EVAL` after a `NOSCRIPT`); the conformance
//! suite runs both ways. Functions that only read or remove (`delete`, revocation, the
//! by-user read, the bucket reads) are registered `allow-oom`; the others are refused whole
//! by a server out of memory, before they write anything.
//!
//! # Key layout
//!
//! Every key lives under the configured prefix ([`RedisConfig::prefix`]); nothing outside it
//! is ever read, written, scanned or flushed. The Lua scripts spell the same keys
//! (`krec`, `kuser`, `kconn`, `kbucket` in `src/lua/prelude.lua`).
//!
//! | key | type | holds | expires (PXAT) |
//! |---|---|---|---|
//! | `{prefix}:s:{<session id>}` | string | the session record (codec format 1) | the session's `expires_at` − 1 ms |
//! | `{prefix}:u:{<escaped user id>}` | sorted set | the user's session ids scored by expiry | its latest member's score (expiry) |
//! | `{prefix}:c:{<connection id>}` | string | the id of the session holding the connection | the holder's `expires_at` − 1 ms |
//! | `{prefix}:l:{<session id>}` | string | Cluster only: a writer's short-lived lock on the session (same slot as the record) | 10 s after it is taken (`PX`), or deleted by its writer |
//! | `{prefix}:a:{<hex digit>}` | sorted set | one of 16 buckets of all session ids scored by expiry (for count and list), bucket = the id's last hex digit | its latest member's score (expiry) |
//!
//! **Every key carries a TTL**, and none outlives what it names: a record and a connection
//! key are gone from the millisecond of the session's `expires_at` on (Redis keeps a key
//! through the millisecond of its PXAT, hence the − 1), an index key (user index or bucket)
//! expires with its latest member, with no slack. Every write that touches an index key
//! removes its members whose expiry has passed and sets its PXAT again to its latest
//! member's score (so a `touch` or `delete` that lowers the latest expiry lowers the key's),
//! and every read through an index drops the members it finds expired: no sweeper is needed,
//! and `delete_expired` only reclaims what no write has touched since. Checked with an
//! independent client by the integration test
//! `every_key_expires_within_the_documented_bound_and_writes_trim_expired_members`.
//!
//! The part in braces is the Redis Cluster hash tag: a record, a user index, a connection key
//! and a bucket each hash on their own, so no one slot becomes hot. User ids are escaped so
//! that no byte of theirs can reach the layout: every byte outside `[A-Za-z0-9._@-]` becomes
//! `%XX` (so `%`, `{`, `}`, `:` and `*` are escaped and two user ids never share a key).
//!
//! # Expiry, and whose clock decides
//!
//! Expiry is Redis's own, judged by **the server's clock**: a session whose stored
//! `expires_at` is at or before the server's now is gone for every operation (get, get_many,
//! update, touch, delete, create's id and connection checks, by user, by connection, list,
//! count), in every script and in the Cluster steps. Records carry `PXAT expires_at − 1` (Redis
//! keeps a key through the millisecond of its PXAT, so the record is gone from the millisecond
//! `expires_at` on), index entries are scored by `expires_at` and read as live only above the
//! server's now, and every script also compares the stored record's own `expires_at` with the
//! server's `TIME` (one call per script) before it treats a record as there. Every key's TTL is
//! listed in [Key layout](#key-layout).
//!
//! A caller's own clock is used twice: a write whose expiry is not after the caller's now is
//! refused at validation (`InvalidInput` on `expires_at`) before it is sent, and reads drop a
//! session that the caller's clock says is over. With a skewed clock a caller therefore sees:
//! - **clock ahead of the server's** by `d`: sessions disappear from its reads `d` early, and
//!   writes with an expiry less than `d` ahead of its own now pass its own check but may still
//!   be refused by the server's; a write the server accepts is never served past `expires_at`
//!   by any reader;
//! - **clock behind** by `d`: it may send a write whose expiry is already past by the server's
//!   clock; the server refuses it (`InvalidInput`, "not in the future by the server's clock")
//!   and writes nothing; its reads never show a session the server has expired, since Redis has
//!   already dropped the key.
//!
//! Numbers that Lua holds as doubles: expiries are refused at validation beyond 9999-12-31
//! (`Timestamp::MAX`, below 2^53 ms), so they are exact in Lua; versions never pass through a
//! Lua number: the scripts compare and write them as their 8 bytes, and the next version is
//! computed on those bytes (touch's script: an increment with carry) or by the client; a
//! record at `u64::MAX` is refused (`InvalidInput` on `version`) before anything is written.
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
//! its own, each bounded by the command timeout. `MGET` answers nil for a key of another type,
//! where `GET` answers WRONGTYPE: a read answered by a batch's `MGET` asks its misses' `TYPE` (one
//! more round trip, only then), so a record key overwritten with, say, a hash is
//! `Error::Codec` on every read, coalesced or not.
//!
//! Every command has a timeout ([`RedisConfig::command_timeout`], 1 s by default) and the
//! client always reconnects ([`RedisConfig::reconnect`]): nothing waits forever.
//!
//! # Building on it
//!
//! [`RedisStore::pool`] gives the fred pool underneath; the [`connection`] module builds other
//! fred clients as the store builds its own (timeouts, reconnect policy) and sorts fred's
//! errors into [`session_core::Error`] as the store does (store-hybrid's tracking connection
//! uses both).
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `replicas` | off | [`RedisConfig::replica_reads`] takes effect: `get`/`get_many` from replicas (fred's `replicas`); without it the setting is accepted and reads stay on the primary |
//! | `tls` | off | `rediss://` URLs (fred's rustls, with the ring provider) |
//!
//! MSRV: Rust 1.85.
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod cluster;
mod coalesce;
mod config;
pub mod connection;
mod error;
mod keys;
mod store;

pub use config::RedisConfig;
pub use keys::escape_user;
pub use store::RedisStore;

pub use fred;
pub use session_core;

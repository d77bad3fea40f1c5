//! A primary, one replica and 3 sentinels monitoring them as "mymaster".

use std::ffi::OsString;
use std::time::{Duration, Instant};

use crate::cluster::wait_until;
use crate::process::{Binary, ServerProcess, connect, info_field, standard_args, start_process};

/// The name the sentinels monitor the primary under.
pub(crate) const MASTER_NAME: &str = "mymaster";
/// How long the replica sync and the sentinels' discovery of each other may take.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The sentinels' default `down-after-milliseconds`: how long the primary must be unreachable
/// before it is considered down (a failover then follows). Tests that want one now can send
/// `SENTINEL FAILOVER mymaster` to any sentinel, or start with
/// [`sentinel_with`](crate::sentinel_with).
pub(crate) const DOWN_AFTER: Duration = Duration::from_secs(5);

/// A primary, one replica and 3 sentinels (quorum 2) monitoring them as `"mymaster"`, all on
/// loopback ports, started by [`sentinel`](crate::sentinel). Dropping it stops everything.
#[derive(Debug)]
pub struct RedisSentinel {
    primary: ServerProcess,
    replica: ServerProcess,
    sentinels: Vec<ServerProcess>,
}

impl RedisSentinel {
    /// The sentinel URL fred understands, listing the 3 sentinels:
    /// `redis-sentinel://127.0.0.1:S1?node=127.0.0.1:S2&node=127.0.0.1:S3&sentinelServiceName=mymaster`.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self.sentinels[1..]
            .iter()
            .map(|s| format!("node={}", s.addr()))
            .collect();
        format!(
            "redis-sentinel://{}?{}&sentinelServiceName={MASTER_NAME}",
            self.sentinels[0].addr(),
            nodes.join("&")
        )
    }

    /// `redis://127.0.0.1:PORT` of the primary the sentinels were started on.
    pub fn primary_url(&self) -> String {
        self.primary.url()
    }

    /// `redis://127.0.0.1:PORT` of the replica.
    pub fn replica_url(&self) -> String {
        self.replica.url()
    }

    /// `127.0.0.1:PORT` of the 3 sentinels.
    pub fn sentinels(&self) -> Vec<String> {
        self.sentinels.iter().map(ServerProcess::addr).collect()
    }

    /// The monitored master name, `"mymaster"`.
    pub fn master_name(&self) -> &'static str {
        MASTER_NAME
    }

    /// Kills the primary the sentinels were started on with SIGKILL, as a crash would; after
    /// `down-after-milliseconds` the sentinels promote the replica. Its port and directory are
    /// kept for [`restart_primary`](Self::restart_primary).
    pub fn kill_primary(&mut self) -> Result<(), String> {
        self.primary.kill()
    }

    /// Starts the killed primary again on its port (the sentinels then turn it into a replica
    /// of the new primary). Returns once it answers PING.
    pub async fn restart_primary(&mut self) -> Result<(), String> {
        self.primary.restart().await
    }

    /// `127.0.0.1:PORT` of the primary as sentinel `i` (0 to 2) reports it now
    /// (`SENTINEL GET-MASTER-ADDR-BY-NAME`).
    pub async fn current_primary(&self, i: usize) -> Result<String, String> {
        let sentinel = self
            .sentinels
            .get(i)
            .ok_or_else(|| format!("no sentinel {i}"))?;
        let mut con = connect(&sentinel.url(), Duration::from_secs(2))
            .await
            .map_err(|e| e.to_string())?;
        let addr: Vec<String> = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(MASTER_NAME)
            .query_async(&mut con)
            .await
            .map_err(|e| e.to_string())?;
        match addr.as_slice() {
            [host, port] => Ok(format!("{host}:{port}")),
            _ => Err(format!("unexpected reply {addr:?}")),
        }
    }
}

pub(crate) async fn start(binary: &Binary, down_after: Duration) -> Result<RedisSentinel, String> {
    let down_after_ms = down_after.as_millis().max(1);
    let primary = start_process(binary, "sentinel-primary", 1, |dir, ports| {
        Ok(standard_args(dir, ports[0]))
    })
    .await?;
    let primary_port = primary.port();
    let replica = start_process(binary, "sentinel-replica", 1, |dir, ports| {
        let mut args = standard_args(dir, ports[0]);
        args.extend(["--replicaof", "127.0.0.1", &primary_port.to_string()].map(OsString::from));
        Ok(args)
    })
    .await?;
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    // The replica is in sync before the sentinels start: a sentinel learns the replicas from
    // the primary's INFO, which it reads on connecting and then only every 10 s.
    let (primary_url, replica_url) = (primary.url(), replica.url());
    wait_until(deadline, "the replica to sync", async || {
        let query = async |url: &str| -> Result<String, String> {
            let mut con = connect(url, Duration::from_secs(2))
                .await
                .map_err(|e| e.to_string())?;
            redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut con)
                .await
                .map_err(|e| e.to_string())
        };
        let replica = query(&replica_url).await?;
        let primary = query(&primary_url).await?;
        let link_up = info_field(&replica, "master_link_status") == Some("up");
        let online = info_field(&primary, "slave0").is_some_and(|s| s.contains("state=online"));
        Ok((!(link_up && online)).then(|| "replica not online yet".to_owned()))
    })
    .await
    .map_err(|e| format!("{e}\n{}\n{}", primary.log_tail(), replica.log_tail()))?;

    let mut sentinels = Vec::with_capacity(3);
    for _ in 0..3 {
        let sentinel = start_process(binary, "sentinel", 1, |dir, ports| {
            let conf = dir.join("sentinel.conf");
            let text = format!(
                "port {port}\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\ndir {dir}\n\
                 sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds {MASTER_NAME} {down_after_ms}\n\
                 sentinel failover-timeout {MASTER_NAME} 30000\n\
                 sentinel parallel-syncs {MASTER_NAME} 1\n",
                port = ports[0],
                dir = dir.display(),
            );
            std::fs::write(&conf, text)
                .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
            Ok(vec![conf.into_os_string(), OsString::from("--sentinel")])
        })
        .await?;
        sentinels.push(sentinel);
    }
    let setup = RedisSentinel {
        primary,
        replica,
        sentinels,
    };

    // Every sentinel sees the primary up, its replica, and the 2 other sentinels (they find
    // each other through hello messages on the primary, every 2 s).
    let urls: Vec<String> = setup.sentinels.iter().map(ServerProcess::url).collect();
    wait_until(deadline, "the sentinels to settle", async || {
        for (i, url) in urls.iter().enumerate() {
            let mut con = connect(url, Duration::from_secs(2))
                .await
                .map_err(|e| e.to_string())?;
            let fields: Vec<String> = redis::cmd("SENTINEL")
                .arg("MASTER")
                .arg(MASTER_NAME)
                .query_async(&mut con)
                .await
                .map_err(|e| e.to_string())?;
            let field = |name: &str| {
                fields
                    .chunks(2)
                    .find(|kv| kv[0] == name)
                    .and_then(|kv| kv.get(1))
                    .map_or("?", String::as_str)
            };
            let (flags, slaves, others) = (
                field("flags"),
                field("num-slaves"),
                field("num-other-sentinels"),
            );
            if flags != "master" || slaves != "1" || others != "2" {
                return Ok(Some(format!(
                    "sentinel {i}: flags={flags} num-slaves={slaves} num-other-sentinels={others}"
                )));
            }
        }
        Ok(None)
    })
    .await
    .map_err(|e| {
        let logs: Vec<String> = setup
            .sentinels
            .iter()
            .map(ServerProcess::log_tail)
            .collect();
        format!("{e}\n{}", logs.join("\n"))
    })?;
    Ok(setup)
}

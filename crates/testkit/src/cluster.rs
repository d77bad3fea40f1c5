//! A local Redis Cluster: 3 primaries (and replicas), slots assigned by hand, formed with
//! CLUSTER MEET, ready when every node says `cluster_state:ok`.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use crate::process::{Binary, ServerProcess, connect, info_field, standard_args, start_process};

/// How long forming the cluster (after the nodes answer) may take.
const FORM_TIMEOUT: Duration = Duration::from_secs(30);
/// The slot ranges of the 3 primaries.
const SLOT_RANGES: [(u16, u16); 3] = [(0, 5460), (5461, 10922), (10923, 16383)];

/// A local Redis Cluster of 3 primaries (and optionally replicas) on loopback ports, started
/// by [`cluster`](crate::cluster). Dropping it stops every node and removes their directories.
#[derive(Debug)]
pub struct RedisCluster {
    /// Primaries first (in slot order), then replicas.
    nodes: Vec<ServerProcess>,
    primaries: usize,
}

impl RedisCluster {
    /// The cluster URL fred understands, listing the 3 primaries as seed nodes:
    /// `redis-cluster://127.0.0.1:P1?node=127.0.0.1:P2&node=127.0.0.1:P3`.
    pub fn url(&self) -> String {
        let primaries = self.primaries();
        let others: Vec<String> = primaries[1..].iter().map(|n| format!("node={n}")).collect();
        format!("redis-cluster://{}?{}", primaries[0], others.join("&"))
    }

    /// `127.0.0.1:PORT` of every node, primaries first (in slot order), then replicas.
    pub fn nodes(&self) -> Vec<String> {
        self.nodes.iter().map(ServerProcess::addr).collect()
    }

    /// `127.0.0.1:PORT` of the 3 nodes that were made primaries (before any failover):
    /// slots 0-5460, 5461-10922 and 10923-16383.
    pub fn primaries(&self) -> Vec<String> {
        self.nodes[..self.primaries]
            .iter()
            .map(ServerProcess::addr)
            .collect()
    }

    /// `127.0.0.1:PORT` of the replicas (empty for `cluster(0)`).
    pub fn replicas(&self) -> Vec<String> {
        self.nodes[self.primaries..]
            .iter()
            .map(ServerProcess::addr)
            .collect()
    }

    /// `redis://127.0.0.1:PORT` of every node, in the order of [`nodes`](Self::nodes).
    pub fn node_urls(&self) -> Vec<String> {
        self.nodes.iter().map(ServerProcess::url).collect()
    }
}

async fn query<T: redis::FromRedisValue>(
    con: &mut MultiplexedConnection,
    cmd: &redis::Cmd,
    what: &str,
) -> Result<T, String> {
    cmd.query_async(con)
        .await
        .map_err(|e| format!("{what}: {e}"))
}

fn cluster_cmd(sub: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg(sub);
    cmd
}

pub(crate) async fn start(
    binary: &Binary,
    replicas_per_primary: usize,
) -> Result<RedisCluster, String> {
    let primaries = SLOT_RANGES.len();
    let total = primaries * (1 + replicas_per_primary);
    let mut nodes = Vec::with_capacity(total);
    for _ in 0..total {
        // Ports: the client port and the cluster bus port (`cluster-port`, Redis 7+).
        let node = start_process(binary, "cluster-node", 2, |dir, ports| {
            let mut args = standard_args(dir, ports[0]);
            let conf = dir.join("nodes.conf");
            args.extend(
                [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                    "5000",
                    "--cluster-announce-ip",
                    "127.0.0.1",
                    // A replica of an idle primary keeps replication offset 0, and CLUSTER SLOTS
                    // hides replicas at offset 0, until the primary's next ping to its replicas
                    // (10 s by default).
                    "--repl-ping-replica-period",
                    "1",
                    "--cluster-port",
                    &ports[1].to_string(),
                    "--cluster-config-file",
                ]
                .iter()
                .map(OsString::from),
            );
            args.push(conf.into_os_string());
            Ok(args)
        })
        .await?;
        nodes.push(node);
    }
    let cluster = RedisCluster { nodes, primaries };
    form(&cluster).await.map_err(|e| {
        let logs: Vec<String> = cluster.nodes.iter().map(ServerProcess::log_tail).collect();
        format!("cannot form the cluster: {e}\n{}", logs.join("\n"))
    })?;
    Ok(cluster)
}

async fn form(cluster: &RedisCluster) -> Result<(), String> {
    let total = cluster.nodes.len();
    let mut cons = Vec::with_capacity(total);
    for node in &cluster.nodes {
        let con = connect(&node.url(), Duration::from_secs(5))
            .await
            .map_err(|e| format!("connecting to {}: {e}", node.addr()))?;
        cons.push(con);
    }
    for (i, con) in cons.iter_mut().enumerate() {
        // Distinct config epochs up front, as `redis-cli --cluster create` does, so the nodes
        // need not resolve epoch collisions first. Best effort.
        let _: Result<(), _> = query(
            con,
            cluster_cmd("SET-CONFIG-EPOCH").arg(i + 1),
            "SET-CONFIG-EPOCH",
        )
        .await;
    }
    for (con, (lo, hi)) in cons.iter_mut().zip(SLOT_RANGES) {
        query::<()>(
            con,
            cluster_cmd("ADDSLOTSRANGE").arg(lo).arg(hi),
            "ADDSLOTSRANGE",
        )
        .await?;
    }
    for node in &cluster.nodes[1..] {
        let meet = cluster_cmd("MEET")
            .arg("127.0.0.1")
            .arg(node.port())
            .arg(node.ports[1])
            .clone();
        query::<()>(&mut cons[0], &meet, "CLUSTER MEET").await?;
    }
    let deadline = Instant::now() + FORM_TIMEOUT;

    // Every node knows every other one.
    wait_until(deadline, "every node to know all nodes", async || {
        for (i, con) in cons.iter_mut().enumerate() {
            let text: String = query(con, &cluster_cmd("NODES"), "CLUSTER NODES").await?;
            let known = text.lines().filter(|l| !l.trim().is_empty()).count();
            if known != total || text.contains("handshake") || text.contains("noaddr") {
                return Ok(Some(format!("node {i} knows {known} of {total}")));
            }
        }
        Ok(None)
    })
    .await?;

    // Replicas follow their primaries: replica j follows primary j / replicas_per_primary.
    let replicas = total - cluster.primaries;
    let per_primary = replicas / cluster.primaries;
    if replicas > 0 {
        let mut ids = Vec::new();
        for con in &mut cons[..cluster.primaries] {
            let id: String = query(con, &cluster_cmd("MYID"), "CLUSTER MYID").await?;
            ids.push(id);
        }
        for (j, con) in cons[cluster.primaries..].iter_mut().enumerate() {
            let id = &ids[j / per_primary];
            query::<()>(con, cluster_cmd("REPLICATE").arg(id), "CLUSTER REPLICATE").await?;
        }
    }

    wait_until(deadline, "cluster_state:ok on every node", async || {
        for (i, con) in cons.iter_mut().enumerate() {
            let info: String = query(con, &cluster_cmd("INFO"), "CLUSTER INFO").await?;
            let state = info_field(&info, "cluster_state").unwrap_or("?");
            let slots = info_field(&info, "cluster_slots_ok").unwrap_or("?");
            let known = info_field(&info, "cluster_known_nodes").unwrap_or("?");
            if state != "ok" || slots != "16384" || known != total.to_string() {
                return Ok(Some(format!(
                    "node {i}: cluster_state:{state} cluster_slots_ok:{slots} cluster_known_nodes:{known}"
                )));
            }
            let nodes: String = query(con, &cluster_cmd("NODES"), "CLUSTER NODES").await?;
            let seen_replicas = nodes.lines().filter(|l| l.contains("slave")).count();
            if seen_replicas != replicas {
                return Ok(Some(format!("node {i} sees {seen_replicas} of {replicas} replicas")));
            }
            // What clients read: every range with its primary and all its replicas.
            let slots: Vec<redis::Value> = query(con, &cluster_cmd("SLOTS"), "CLUSTER SLOTS").await?;
            let listed = slots
                .iter()
                .filter(|range| {
                    matches!(range, redis::Value::Array(parts) if parts.len() == 3 + per_primary)
                })
                .count();
            if slots.len() != cluster.primaries || listed != slots.len() {
                return Ok(Some(format!("node {i}: CLUSTER SLOTS does not list every replica yet")));
            }
        }
        for (i, con) in cons[cluster.primaries..].iter_mut().enumerate() {
            let info: String = query(con, redis::cmd("INFO").arg("replication"), "INFO").await?;
            if info_field(&info, "master_link_status") != Some("up") {
                return Ok(Some(format!("replica {i} not in sync with its primary yet")));
            }
        }
        Ok(None)
    })
    .await
}

/// Polls `check` (which returns `Some(what is still missing)` or `None` when done) until it is
/// done or `deadline` passes.
pub(crate) async fn wait_until(
    deadline: Instant,
    goal: &str,
    mut check: impl AsyncFnMut() -> Result<Option<String>, String>,
) -> Result<(), String> {
    loop {
        let missing = match check().await {
            Ok(None) => return Ok(()),
            Ok(Some(missing)) => missing,
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(format!("timed out waiting for {goal} (last: {missing})"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

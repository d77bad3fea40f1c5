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

    fn node_mut(&mut self, addr: &str) -> Result<&mut ServerProcess, String> {
        self.nodes
            .iter_mut()
            .find(|n| n.addr() == addr)
            .ok_or_else(|| format!("{addr} is not a node of this cluster"))
    }

    /// Kills node `addr` (`127.0.0.1:PORT`) with SIGKILL, as a crash would. The other nodes
    /// notice after `cluster-node-timeout` (see [`cluster_with`](crate::cluster_with)) and, if
    /// it was a primary with a replica, promote the replica.
    pub fn kill_node(&mut self, addr: &str) -> Result<(), String> {
        self.node_mut(addr)?.kill()
    }

    /// Starts a node killed with [`kill_node`](Self::kill_node) again, on its port with its
    /// `nodes.conf` (it rejoins the cluster; a former primary whose replica took over becomes
    /// a replica). Returns once it answers PING.
    pub async fn restart_node(&mut self, addr: &str) -> Result<(), String> {
        self.node_mut(addr)?.restart().await
    }

    /// The current topology as node `via` (`127.0.0.1:PORT`) sees it: one entry per node.
    pub async fn topology(&self, via: &str) -> Result<Vec<ClusterNode>, String> {
        let mut con = connect(&format!("redis://{via}"), Duration::from_secs(2))
            .await
            .map_err(|e| format!("connecting to {via}: {e}"))?;
        let text: String = query(&mut con, &cluster_cmd("NODES"), "CLUSTER NODES").await?;
        Ok(text.lines().filter_map(ClusterNode::parse).collect())
    }

    /// Moves `slot` from the primary serving it to the primary `target` (`127.0.0.1:PORT`) as
    /// `redis-cli --cluster reshard` does: `CLUSTER SETSLOT IMPORTING` on the target,
    /// `MIGRATING` on the source, `MIGRATE` of the slot's keys `batch` at a time with `pause`
    /// between batches (so that traffic meets the slot half-moved, answered with `ASK` and
    /// `TRYAGAIN`), then `SETSLOT NODE` on the target, the source and every other primary.
    /// Returns how many keys were moved.
    pub async fn migrate_slot(
        &self,
        slot: u16,
        target: &str,
        batch: usize,
        pause: Duration,
    ) -> Result<u64, String> {
        let nodes = self.topology(target).await?;
        let source = nodes
            .iter()
            .find(|n| n.primary && n.slots.iter().any(|&(lo, hi)| lo <= slot && slot <= hi))
            .ok_or_else(|| format!("no primary serves slot {slot}"))?
            .clone();
        let dest = nodes
            .iter()
            .find(|n| n.addr == target && n.primary)
            .ok_or_else(|| format!("{target} is not a primary"))?
            .clone();
        if source.addr == dest.addr {
            return Err(format!("{target} already serves slot {slot}"));
        }
        let open = async |addr: &str| {
            connect(&format!("redis://{addr}"), Duration::from_secs(5))
                .await
                .map_err(|e| format!("connecting to {addr}: {e}"))
        };
        let mut src = open(&source.addr).await?;
        let mut dst = open(&dest.addr).await?;
        let setslot = |how: &str, id: &str| {
            let mut cmd = cluster_cmd("SETSLOT");
            cmd.arg(slot).arg(how).arg(id);
            cmd
        };
        query::<()>(
            &mut dst,
            &setslot("IMPORTING", &source.id),
            "SETSLOT IMPORTING",
        )
        .await?;
        query::<()>(
            &mut src,
            &setslot("MIGRATING", &dest.id),
            "SETSLOT MIGRATING",
        )
        .await?;
        let (host, port) = dest
            .addr
            .rsplit_once(':')
            .ok_or_else(|| format!("bad address {}", dest.addr))?;
        let mut moved = 0u64;
        loop {
            let keys: Vec<Vec<u8>> = query(
                &mut src,
                cluster_cmd("GETKEYSINSLOT").arg(slot).arg(batch.max(1)),
                "GETKEYSINSLOT",
            )
            .await?;
            if keys.is_empty() {
                break;
            }
            let mut migrate = redis::cmd("MIGRATE");
            migrate
                .arg(host)
                .arg(port)
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("KEYS");
            for k in &keys {
                migrate.arg(k.as_slice());
            }
            let _: redis::Value = query(&mut src, &migrate, "MIGRATE").await?;
            moved += keys.len() as u64;
            tokio::time::sleep(pause).await;
        }
        query::<()>(
            &mut dst,
            &setslot("NODE", &dest.id),
            "SETSLOT NODE (target)",
        )
        .await?;
        query::<()>(
            &mut src,
            &setslot("NODE", &dest.id),
            "SETSLOT NODE (source)",
        )
        .await?;
        for node in nodes.iter().filter(|n| n.primary && n.connected) {
            if node.addr != source.addr && node.addr != dest.addr {
                let mut con = open(&node.addr).await?;
                query::<()>(&mut con, &setslot("NODE", &dest.id), "SETSLOT NODE").await?;
            }
        }
        Ok(moved)
    }
}

/// One line of `CLUSTER NODES`, as [`RedisCluster::topology`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterNode {
    /// The node id.
    pub id: String,
    /// `127.0.0.1:PORT` (the client port).
    pub addr: String,
    /// True for a primary (`master` flag).
    pub primary: bool,
    /// True unless the node is flagged `fail` or `fail?`, or its link is down.
    pub connected: bool,
    /// The id of its primary, for a replica.
    pub primary_id: Option<String>,
    /// The slot ranges it serves (inclusive), for a primary.
    pub slots: Vec<(u16, u16)>,
}

impl ClusterNode {
    fn parse(line: &str) -> Option<Self> {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() < 8 {
            return None;
        }
        let addr = parts[1].split('@').next()?.to_owned();
        let flags: Vec<&str> = parts[2].split(',').collect();
        let slots = parts[8..]
            .iter()
            .filter(|s| !s.starts_with('['))
            .filter_map(|s| match s.split_once('-') {
                Some((lo, hi)) => Some((lo.parse().ok()?, hi.parse().ok()?)),
                None => s.parse().ok().map(|n| (n, n)),
            })
            .collect();
        Some(ClusterNode {
            id: parts[0].to_owned(),
            addr,
            primary: flags.contains(&"master"),
            connected: !flags.iter().any(|f| f.starts_with("fail")) && parts[7] == "connected",
            primary_id: (parts[3] != "-").then(|| parts[3].to_owned()),
            slots,
        })
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
    node_timeout: Duration,
) -> Result<RedisCluster, String> {
    let node_timeout = node_timeout.as_millis().max(1).to_string();
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
                    &node_timeout,
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

#[cfg(test)]
mod tests {
    use super::ClusterNode;

    #[test]
    fn parses_cluster_nodes_lines() {
        let primary = "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,hostname4 \
                       myself,master - 0 1426238317239 4 connected 0-5460 5462 [5461->-e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca]";
        let n = ClusterNode::parse(primary).unwrap();
        assert_eq!(n.addr, "127.0.0.1:30004");
        assert!(n.primary && n.connected);
        assert_eq!(n.primary_id, None);
        assert_eq!(n.slots, vec![(0, 5460), (5462, 5462)]);
        let replica = "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 slave,fail \
                       07c37dfeb235213a872192d90877d0cd55635b91 0 1426238316232 1 disconnected";
        let n = ClusterNode::parse(replica).unwrap();
        assert!(!n.primary && !n.connected);
        assert_eq!(
            n.primary_id.as_deref(),
            Some("07c37dfeb235213a872192d90877d0cd55635b91")
        );
        assert!(n.slots.is_empty());
        assert!(ClusterNode::parse("").is_none());
    }
}

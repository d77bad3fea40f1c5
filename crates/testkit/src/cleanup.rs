//! Deleting a test's keys by prefix: SCAN MATCH + UNLINK on every primary. Never KEYS, never
//! FLUSH*, so it is safe on a shared server.

use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::process::{connect, info_field};

/// Keys asked for per SCAN call.
const SCAN_COUNT: u32 = 1000;
/// Connect and response timeout of the cleanup connections.
const TIMEOUT: Duration = Duration::from_secs(10);

/// `prefix` with Redis glob characters escaped, so `MATCH {escaped}*` means "starts with".
pub(crate) fn escape_glob(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 4);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The parts of a URL this module needs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SplitUrl {
    /// `redis` or `rediss` (from any of the `-cluster`/`valkey` spellings).
    pub(crate) scheme: &'static str,
    /// `user:password` or `:password`, if any.
    pub(crate) userinfo: Option<String>,
    /// `host:port` of the URL and of every `node=` query parameter.
    pub(crate) hosts: Vec<String>,
    /// The scheme said `-cluster`.
    pub(crate) cluster: bool,
}

pub(crate) fn split_url(url: &str) -> Option<SplitUrl> {
    let (scheme, rest) = url.split_once("://")?;
    let (cluster, base) = match scheme.strip_suffix("-cluster") {
        Some(base) => (true, base),
        None => (false, scheme),
    };
    let scheme = match base {
        "redis" | "valkey" => "redis",
        "rediss" | "valkeys" => "rediss",
        _ => return None,
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user.to_owned()), host),
        None => (None, authority),
    };
    let mut hosts = vec![host.to_owned()];
    if let Some((_, query)) = tail.split_once('?') {
        hosts.extend(
            query
                .split('&')
                .filter_map(|pair| pair.strip_prefix("node="))
                .map(str::to_owned),
        );
    }
    Some(SplitUrl {
        scheme,
        userinfo,
        hosts,
        cluster,
    })
}

fn node_url(scheme: &str, userinfo: Option<&str>, host: &str) -> String {
    match userinfo {
        Some(user) => format!("{scheme}://{user}@{host}"),
        None => format!("{scheme}://{host}"),
    }
}

/// `host:port` of every primary in a `CLUSTER NODES` reply.
pub(crate) fn primaries_of(cluster_nodes: &str) -> Vec<String> {
    cluster_nodes
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (addr, flags) = (fields.get(1)?, fields.get(2)?);
            let flags: Vec<&str> = flags.split(',').collect();
            let usable = flags.contains(&"master")
                && !flags
                    .iter()
                    .any(|f| matches!(*f, "fail" | "noaddr" | "handshake"));
            let host = addr.split(['@', ',']).next()?;
            (usable && !host.starts_with(':')).then(|| host.to_owned())
        })
        .collect()
}

/// The primaries of the cluster `con` belongs to, as URLs, or `None` if it is not a cluster node.
async fn cluster_primaries(
    con: &mut MultiplexedConnection,
    scheme: &str,
    userinfo: Option<&str>,
) -> redis::RedisResult<Option<Vec<String>>> {
    // INFO may be renamed or denied on a managed server: then it is treated as standalone.
    let info: String = match redis::cmd("INFO").arg("cluster").query_async(con).await {
        Ok(info) => info,
        Err(_) => return Ok(None),
    };
    if info_field(&info, "cluster_enabled") != Some("1") {
        return Ok(None);
    }
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query_async(con).await?;
    Ok(Some(
        primaries_of(&nodes)
            .iter()
            .map(|host| node_url(scheme, userinfo, host))
            .collect(),
    ))
}

/// Deletes every key starting with `prefix`; see [`crate::cleanup_prefix`].
pub(crate) async fn cleanup(url: &str, prefix: &str) -> redis::RedisResult<u64> {
    let pattern = format!("{}*", escape_glob(prefix));
    let split = split_url(url);
    let (scheme, userinfo) = split
        .as_ref()
        .map_or(("redis", None), |s| (s.scheme, s.userinfo.as_deref()));
    let seeds: Vec<String> = match &split {
        Some(s) if s.cluster => s
            .hosts
            .iter()
            .map(|h| node_url(s.scheme, userinfo, h))
            .collect(),
        _ => vec![url.to_owned()],
    };
    let mut last_error = None;
    for seed in &seeds {
        let mut con = match connect(seed, TIMEOUT).await {
            Ok(con) => con,
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        return match cluster_primaries(&mut con, scheme, userinfo).await? {
            None => scan_unlink(&mut con, &pattern).await,
            Some(primaries) => {
                let mut removed = 0;
                for primary in primaries {
                    let mut con = connect(&primary, TIMEOUT).await?;
                    removed += scan_unlink(&mut con, &pattern).await?;
                }
                Ok(removed)
            }
        };
    }
    Err(last_error.expect("at least one seed"))
}

/// Deletes every key starting with `prefix` on each of the given nodes that is a primary
/// (replicas are skipped); see [`crate::cleanup_prefix_nodes`].
pub(crate) async fn cleanup_nodes(nodes: &[String], prefix: &str) -> redis::RedisResult<u64> {
    let pattern = format!("{}*", escape_glob(prefix));
    let mut removed = 0;
    for node in nodes {
        let url = if node.contains("://") {
            node.clone()
        } else {
            format!("redis://{node}")
        };
        let mut con = connect(&url, TIMEOUT).await?;
        let replication: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut con)
            .await
            .unwrap_or_default();
        if info_field(&replication, "role") == Some("slave") {
            continue;
        }
        removed += scan_unlink(&mut con, &pattern).await?;
    }
    Ok(removed)
}

/// SCAN MATCH `pattern` over one node, UNLINKing each batch (one UNLINK per key, so keys of
/// different cluster slots never meet in one command).
async fn scan_unlink(con: &mut MultiplexedConnection, pattern: &str) -> redis::RedisResult<u64> {
    let mut cursor: u64 = 0;
    let mut removed = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(con)
            .await?;
        if !keys.is_empty() {
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.cmd("UNLINK").arg(key);
            }
            let counts: Vec<u64> = pipe.query_async(con).await?;
            removed += counts.iter().sum::<u64>();
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_glob_characters() {
        assert_eq!(escape_glob("t-a-1"), "t-a-1");
        assert_eq!(escape_glob(r"a*b?c[d]e\f"), r"a\*b\?c\[d\]e\\f");
    }

    #[test]
    fn splits_cluster_urls() {
        let split =
            split_url("redis-cluster://127.0.0.1:7000?node=127.0.0.1:7001&node=127.0.0.1:7002")
                .unwrap();
        assert_eq!(
            split,
            SplitUrl {
                scheme: "redis",
                userinfo: None,
                hosts: vec![
                    "127.0.0.1:7000".into(),
                    "127.0.0.1:7001".into(),
                    "127.0.0.1:7002".into()
                ],
                cluster: true,
            }
        );
        let split = split_url("rediss://user:pw@host:6380/2").unwrap();
        assert_eq!(split.scheme, "rediss");
        assert_eq!(split.userinfo.as_deref(), Some("user:pw"));
        assert_eq!(split.hosts, vec!["host:6380".to_owned()]);
        assert!(!split.cluster);
        assert!(split_url("http://x").is_none());
    }

    #[test]
    fn finds_primaries_in_cluster_nodes() {
        let text = "\
07c3 127.0.0.1:30004@31004 slave e7d1 0 1 4 connected
e7d1 127.0.0.1:30001@31001,host1 myself,master - 0 0 1 connected 0-5460
67ed 127.0.0.1:30002@31002 master - 0 1 2 connected 5461-10922
2920 :0@0 master,noaddr - 0 1 3 disconnected
8a1b 127.0.0.1:30003@31003 master,fail - 0 1 3 disconnected 10923-16383
";
        assert_eq!(
            primaries_of(text),
            vec!["127.0.0.1:30001", "127.0.0.1:30002"]
        );
    }
}

//! Key prefixes: a fresh one per test, so tests share a server without touching each other's
//! keys, and removing everything under one afterwards (the work is in `cleanup`).

use crate::process;

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
/// [`RedisCluster::url`](crate::RedisCluster::url) gives, or any one node's `redis://` URL. For
/// a cluster every primary is cleaned (found with `CLUSTER NODES`).
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
}

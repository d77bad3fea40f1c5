//! What a test's keys hold, read with the independent client: the keys under a prefix and
//! a text dump of each (type, value or members with scores, expiry time), so a test can
//! compare the server's state before and after a call. SCAN MATCH only, never KEYS.

use std::collections::BTreeMap;

use redis::RedisResult;
use redis::aio::MultiplexedConnection;

use crate::cleanup::escape_glob;

/// Every key that starts with `prefix`, sorted.
pub async fn keys_under(
    conn: &mut MultiplexedConnection,
    prefix: &str,
) -> RedisResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut iter: redis::AsyncIter<'_, String> =
        redis::AsyncCommands::scan_match(conn, format!("{}*", escape_glob(prefix))).await?;
    while let Some(k) = iter.next_item().await {
        out.push(k?);
    }
    out.sort();
    Ok(out)
}

/// Every key under `prefix` with its type, its value (strings) or members and scores (sorted
/// sets), and its `PEXPIRETIME`, as one line of text per key.
pub async fn dump_prefix(
    conn: &mut MultiplexedConnection,
    prefix: &str,
) -> RedisResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for key in keys_under(conn, prefix).await? {
        let ty: String = redis::cmd("TYPE").arg(&key).query_async(conn).await?;
        let value = match ty.as_str() {
            "string" => {
                let v: Vec<u8> = redis::cmd("GET").arg(&key).query_async(conn).await?;
                format!("{v:?}")
            }
            "zset" => {
                let v: Vec<(Vec<u8>, f64)> = redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query_async(conn)
                    .await?;
                format!("{v:?}")
            }
            // Gone between SCAN and TYPE, or a type the stores never write.
            other => format!("type {other}"),
        };
        let at: i64 = redis::cmd("PEXPIRETIME")
            .arg(&key)
            .query_async(conn)
            .await?;
        out.insert(key, format!("{ty} {value} pexpiretime={at}"));
    }
    Ok(out)
}

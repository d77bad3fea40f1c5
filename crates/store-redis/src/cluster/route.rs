//! Cluster routing: fred is told not to follow redirections (`max_redirections` 0, see
//! `RedisStore::connect`); commands sent to a Cluster are retried here after a MOVED (fred has
//! refreshed its slot map), an ASK (sent again to the importing node, after `ASKING`) or a
//! TRYAGAIN (a multi-key command whose keys a slot migration splits).

use fred::bytes::Bytes;
use fred::clients::{Pipeline, WithOptions};
use fred::interfaces::ClusterInterface;
use fred::prelude::{Client, ClientLike, ErrorKind, KeysInterface, Options, Server};
use fred::types::scripts::Script;
use fred::types::{ClusterHash, CustomCommand, Value};
use session_core::{Error, Result};

use crate::error::map_err;
use crate::store::{Inner, eval_once};
impl Inner {
    /// Runs a script in a Cluster (EVALSHA, then EVAL after a NOSCRIPT).
    ///
    /// A script whose keys (a record and its lock) are split by a slot migration
    /// under way is refused with TRYAGAIN, without running; it is retried with a short back-off
    /// for up to the command timeout, then reported as `Error::Unavailable`. Redirections
    /// (MOVED, ASK) are followed by [`Inner::redirected`].
    pub(crate) async fn eval_routed(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> Result<Value> {
        let started = std::time::Instant::now();
        let mut attempt = 0u32;
        let mut asking: Option<Server> = None;
        loop {
            let client = self.pool.next();
            let result = match asking.take() {
                Some(node) => {
                    // The importing node: the script source, as it may not have the script.
                    let lua = script.lua().cloned().unwrap_or_default();
                    match ask_pipeline(client, node, self.retry_for).await {
                        Ok(p) => match p
                            .custom::<(), Value>(eval_command(), eval_args(lua, &keys, &args))
                            .await
                        {
                            Ok(()) => last_of(p.try_all::<Value>().await),
                            Err(e) => Err(e),
                        },
                        Err(e) => Err(e),
                    }
                }
                None => eval_once(client, script, &keys, &args).await,
            };
            match result {
                Err(e) if retryable(&e) => {
                    if started.elapsed() >= self.retry_for {
                        return Err(Error::Unavailable {
                            source: Box::new(e),
                        });
                    }
                    if is_redirection(&e) {
                        if let Some(key) = keys.first() {
                            asking = self.redirected(client, key).await;
                            if asking.is_some() {
                                continue;
                            }
                        }
                    }
                    attempt += 1;
                    let ms = u64::from(attempt.min(5)) * 10;
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                }
                other => return other.map_err(map_err),
            }
        }
    }

    /// After a redirection fred did not follow (`max_redirections` 0): the node importing the
    /// slot of `key` if its owner is migrating it (the owner answered ASK), else `None` (it was
    /// a MOVED, after which fred refreshed its slot map: a plain retry reaches the new owner).
    /// Read from the owner's `CLUSTER NODES` (its own line lists `[slot->-target-id]`).
    pub(crate) async fn redirected(&self, client: &Client, key: &str) -> Option<Server> {
        let slot = fred::util::redis_keyslot(key.as_bytes());
        let owner = client.cached_cluster_state()?.get_server(slot)?.clone();
        let nodes: String = client.with_cluster_node(owner).cluster_nodes().await.ok()?;
        let (host, port) = migrating_to(&nodes, slot)?;
        Some(Server::new(host, port))
    }

    /// GET in a Cluster.
    pub(crate) async fn get_routed(&self, key: String) -> Result<Option<Bytes>> {
        // Redirections (MOVED, ASK) are followed here, not by fred: see `connect`.
        let started = std::time::Instant::now();
        let mut attempt = 0u32;
        let mut asking: Option<Server> = None;
        loop {
            let client = self.pool.next();
            let result = match asking.take() {
                Some(node) => match ask_pipeline(client, node, self.retry_for).await {
                    Ok(p) => match p.get::<(), _>(key.as_str()).await {
                        Ok(()) => last_of(p.try_all::<Option<Bytes>>().await),
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                },
                None => client.get(key.as_str()).await,
            };
            match result {
                Err(e) if retryable(&e) && started.elapsed() < self.retry_for => {
                    if is_redirection(&e) {
                        asking = self.redirected(client, &key).await;
                        if asking.is_some() {
                            continue;
                        }
                    }
                    attempt += 1;
                    let ms = u64::from(attempt.min(5)) * 10;
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                }
                other => return other.map_err(map_err),
            }
        }
    }
}

/// A redirection fred was told not to follow (`max_redirections` 0, see `connect`).
pub(crate) fn is_redirection(e: &fred::error::Error) -> bool {
    *e.kind() == ErrorKind::Routing && e.details().starts_with("Too many redirections")
}

/// A Cluster error worth retrying: a redirection, or TRYAGAIN (a multi-key command whose keys
/// a slot migration splits; refused without running).
pub(crate) fn retryable(e: &fred::error::Error) -> bool {
    is_redirection(e) || e.details().starts_with("TRYAGAIN")
}

/// A pipeline to `node` that starts with `ASKING`: fred writes a pipeline's commands back to
/// back on the node's connection (its router handles one pipeline at a time), so ASKING
/// applies to the command the caller adds next, and its reply is read in its turn.
pub(crate) async fn ask_pipeline(
    client: &Client,
    node: Server,
    timeout: std::time::Duration,
) -> std::result::Result<WithOptions<Pipeline<Client>>, fred::error::Error> {
    let p = client.pipeline().with_options(&Options {
        cluster_node: Some(node),
        timeout: Some(timeout),
        fail_fast: true,
        ..Options::default()
    });
    // Queued, not sent: a pipeline sends its commands on `try_all`.
    p.custom::<(), Value>(
        CustomCommand::new_static("ASKING", ClusterHash::Random, false),
        Vec::new(),
    )
    .await?;
    Ok(p)
}

/// EVAL, as a custom command (fred 10.1 has no Lua interface on a pipeline with options).
pub(crate) fn eval_command() -> CustomCommand {
    CustomCommand::new_static("EVAL", ClusterHash::FirstKey, false)
}

/// EVAL's arguments: the script, the number of keys, the keys, the other arguments.
pub(crate) fn eval_args(lua: impl Into<Value>, keys: &[String], args: &[Value]) -> Vec<Value> {
    let mut out = Vec::with_capacity(2 + keys.len() + args.len());
    out.push(lua.into());
    out.push(Value::from(keys.len() as i64));
    out.extend(keys.iter().map(|k| Value::from(k.as_str())));
    out.extend(args.iter().cloned());
    out
}

/// The reply of a pipeline's last command (the one after ASKING).
pub(crate) fn last_of<T>(
    mut replies: Vec<std::result::Result<T, fred::error::Error>>,
) -> std::result::Result<T, fred::error::Error> {
    replies.pop().unwrap_or_else(|| {
        Err(fred::error::Error::new(
            ErrorKind::Protocol,
            "a pipeline returned no reply",
        ))
    })
}

/// The `host:port` of the node the node answering `CLUSTER NODES` (`nodes`) is migrating
/// `slot` to: its own line (flag `myself`) lists `[slot->-target-id]`.
pub(crate) fn migrating_to(nodes: &str, slot: u16) -> Option<(String, u16)> {
    let myself = nodes.lines().find(|l| {
        l.split(' ')
            .nth(2)
            .is_some_and(|flags| flags.split(',').any(|f| f == "myself"))
    })?;
    let tag = format!("[{slot}->-");
    let target = myself
        .split(' ')
        .skip(8)
        .find_map(|t| t.strip_prefix(tag.as_str()))?
        .strip_suffix(']')?;
    let line = nodes
        .lines()
        .find(|l| l.split(' ').next() == Some(target))?;
    let addr = line.split(' ').nth(1)?.split(['@', ',']).next()?;
    let (host, port) = addr.rsplit_once(':')?;
    Some((host.to_owned(), port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::migrating_to;

    #[test]
    fn the_migration_target_is_read_from_the_owners_own_line() {
        let nodes = "\
aaa 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [5461->-ccc] [7-<-bbb]
bbb 127.0.0.1:7001@17001,host-b master - 0 0 2 connected 5462-10922
ccc 10.0.0.3:7002@17002 master - 0 0 3 connected 10923-16383
";
        assert_eq!(migrating_to(nodes, 5461), Some(("10.0.0.3".into(), 7002)));
        // Importing, not migrating; and a slot not moving.
        assert_eq!(migrating_to(nodes, 7), None);
        assert_eq!(migrating_to(nodes, 100), None);
        assert_eq!(migrating_to("", 100), None);
    }
}

//! Cluster routing: fred is told not to follow redirections (`max_redirections` 0, see
//! `RedisStore::connect`); commands sent to a Cluster are retried here after a MOVED (fred has
//! refreshed its slot map), an ASK (sent again to the importing node, after `ASKING`) or a
//! TRYAGAIN (a multi-key command whose keys a slot migration splits).

use std::time::{Duration, Instant};

use fred::bytes::Bytes;
use fred::clients::{Pipeline, WithOptions};
use fred::interfaces::ClusterInterface;
use fred::prelude::{Client, ClientLike, ErrorKind, KeysInterface, Options, Server};
use fred::types::{ClusterHash, CustomCommand, Value};
use session_core::Result;

use crate::error::{map_err, slot_moving};
use crate::store::{Inner, Routine, eval_once};

/// What the driver does after an attempt failed: the decision, apart from the I/O, so that it
/// can be tested without a server (as redis-rs's `choose_response` is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Not a Cluster condition: reported as any error is (`map_err`).
    Fail,
    /// A redirection: look for the node importing the slot (the owner answered ASK) and send
    /// there after `ASKING`; if there is none (a MOVED: fred has refreshed its slot map), back
    /// off and send again.
    Redirect,
    /// TRYAGAIN: wait this long, then send again.
    Backoff(Duration),
    /// The budget is spent: `Error::Unavailable`, with the last error as its source.
    GiveUp,
}

/// The next step after `e`, `elapsed` into a budget of `budget`, after `backoffs` back-offs.
pub(crate) fn next_step(
    e: &fred::error::Error,
    elapsed: Duration,
    budget: Duration,
    backoffs: u32,
) -> Next {
    let redirection = is_redirection(e);
    if !redirection && !is_tryagain(e) {
        Next::Fail
    } else if elapsed >= budget {
        Next::GiveUp
    } else if redirection {
        Next::Redirect
    } else {
        Next::Backoff(backoff_delay(backoffs))
    }
}

/// 10 ms, growing by 10 ms a back-off up to 50 ms.
fn backoff_delay(backoffs: u32) -> Duration {
    Duration::from_millis(u64::from(backoffs.saturating_add(1).min(5)) * 10)
}

impl Inner {
    /// Sends a command to a Cluster with `send` (given the client and, after an ASK, the node
    /// to send it to after `ASKING`), following redirections and retrying TRYAGAIN, steered by
    /// [`next_step`], for up to the command timeout. `key` is the command's first key.
    async fn routed<'a, T, F>(
        &'a self,
        key: Option<&str>,
        send: impl Fn(&'a Client, Option<Server>) -> F,
    ) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, fred::error::Error>> + 'a,
    {
        let started = Instant::now();
        let mut backoffs = 0u32;
        let mut asking: Option<Server> = None;
        loop {
            let client = self.pool.next();
            let e = match send(client, asking.take()).await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let wait = match next_step(&e, started.elapsed(), self.retry_for, backoffs) {
                Next::Fail => return Err(map_err(e)),
                Next::GiveUp => return Err(slot_moving(self.retry_for, e)),
                Next::Redirect => {
                    if let Some(key) = key {
                        asking = self.redirected(client, key).await;
                    }
                    if asking.is_some() {
                        continue;
                    }
                    backoff_delay(backoffs)
                }
                Next::Backoff(wait) => wait,
            };
            backoffs += 1;
            tokio::time::sleep(wait).await;
        }
    }

    /// Runs a routine in a Cluster (see [`eval_once`]; at an importing node, EVAL, as it may
    /// have neither the library nor the script). A script whose keys (a record and its lock) a slot
    /// migration under way splits is refused with TRYAGAIN, without running, and retried.
    pub(crate) async fn eval_routed(
        &self,
        routine: &Routine,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> Result<Value> {
        let (keys, args) = (&keys, &args);
        self.routed(
            keys.first().map(String::as_str),
            |client, asking| async move {
                let Some(node) = asking else {
                    return eval_once(client, &self.scripts, routine, keys, args).await;
                };
                let lua = routine.script.lua().cloned().unwrap_or_default();
                let p = ask_pipeline(client, node, self.retry_for).await?;
                p.custom::<(), Value>(eval_command(), eval_args(lua, keys, args))
                    .await?;
                last_of(p.try_all::<Value>().await)
            },
        )
        .await
    }

    /// GET in a Cluster.
    pub(crate) async fn get_routed(&self, key: String) -> Result<Option<Bytes>> {
        let key = key.as_str();
        self.routed(Some(key), |client, asking| async move {
            let Some(node) = asking else {
                return client.get(key).await;
            };
            let p = ask_pipeline(client, node, self.retry_for).await?;
            p.get::<(), _>(key).await?;
            last_of(p.try_all::<Option<Bytes>>().await)
        })
        .await
    }

    /// After a redirection fred did not follow (`max_redirections` 0): the node importing the
    /// slot of `key` if its owner is migrating it (the owner answered ASK), else `None` (it was
    /// a MOVED, after which fred refreshed its slot map: a plain retry reaches the new owner).
    /// Read from the owner's `CLUSTER NODES` (its own line lists `[slot->-target-id]`).
    async fn redirected(&self, client: &Client, key: &str) -> Option<Server> {
        let slot = fred::util::redis_keyslot(key.as_bytes());
        let owner = client.cached_cluster_state()?.get_server(slot)?.clone();
        let nodes: String = client.with_cluster_node(owner).cluster_nodes().await.ok()?;
        let (host, port) = migrating_to(&nodes, slot)?;
        Some(Server::new(host, port))
    }
}

/// A redirection fred was told not to follow (`max_redirections` 0, see `connect`).
fn is_redirection(e: &fred::error::Error) -> bool {
    *e.kind() == ErrorKind::Routing && e.details().starts_with("Too many redirections")
}

/// TRYAGAIN: a multi-key command whose keys a slot migration splits; refused without running.
fn is_tryagain(e: &fred::error::Error) -> bool {
    e.details().starts_with("TRYAGAIN")
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
    use std::time::Duration;

    use fred::error::{Error as FredError, ErrorKind};

    use super::{Next, migrating_to, next_step};

    const BUDGET: Duration = Duration::from_secs(1);

    fn redirection() -> FredError {
        // What fred 10.1 reports for a MOVED or ASK with `max_redirections` 0.
        FredError::new(ErrorKind::Routing, "Too many redirections.")
    }

    fn tryagain() -> FredError {
        FredError::new(
            ErrorKind::Unknown,
            "TRYAGAIN Multiple keys request during rehashing of slot",
        )
    }

    #[test]
    fn a_redirection_within_the_budget_is_followed() {
        let at = Duration::from_millis(999);
        assert_eq!(next_step(&redirection(), at, BUDGET, 0), Next::Redirect);
        assert_eq!(next_step(&redirection(), at, BUDGET, 40), Next::Redirect);
    }

    #[test]
    fn tryagain_backs_off_longer_each_time_up_to_50_ms() {
        let waits: Vec<Next> = (0..7)
            .map(|n| next_step(&tryagain(), Duration::ZERO, BUDGET, n))
            .collect();
        let ms = |m| Next::Backoff(Duration::from_millis(m));
        assert_eq!(
            waits,
            [ms(10), ms(20), ms(30), ms(40), ms(50), ms(50), ms(50)]
        );
        assert_eq!(
            next_step(&tryagain(), Duration::ZERO, BUDGET, u32::MAX),
            ms(50)
        );
    }

    #[test]
    fn both_give_up_once_the_budget_is_spent() {
        for e in [redirection(), tryagain()] {
            assert_eq!(next_step(&e, BUDGET, BUDGET, 0), Next::GiveUp);
            assert_eq!(next_step(&e, BUDGET * 2, BUDGET, 3), Next::GiveUp);
        }
    }

    #[test]
    fn any_other_error_fails_at_once() {
        let others = [
            FredError::new(ErrorKind::Timeout, "Request timed out."),
            FredError::new(ErrorKind::IO, "broken pipe"),
            FredError::new(ErrorKind::Routing, "Failed to route command"),
            FredError::new(ErrorKind::Cluster, "CLUSTERDOWN The cluster is down"),
            FredError::new(
                ErrorKind::InvalidArgument,
                "WRONGTYPE Operation against a key",
            ),
        ];
        for e in &others {
            assert_eq!(next_step(e, Duration::ZERO, BUDGET, 0), Next::Fail, "{e:?}");
            assert_eq!(next_step(e, BUDGET, BUDGET, 0), Next::Fail, "{e:?}");
        }
    }

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

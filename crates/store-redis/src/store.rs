//! The Store implementation.
//!
//! Standalone and Sentinel deployments run every write as one Lua script (touch reads first):
//! atomic. In a Cluster the record, the user index, the connection key and the bucket of a
//! session live in different slots, so a write runs as ordered single-slot steps: index
//! entries are added (or raised) before the record is written and removed (or lowered) only
//! after, so a session that can be read by id can always be found by user and by connection,
//! even if the client dies between two steps. What such a death leaves behind is an index
//! entry pointing at no record (or at a record that moved on); every read through an index
//! checks the record, drops such entries, and they expire with their score.

use std::sync::Arc;

use fred::bytes::Bytes;
use fred::clients::{Pipeline, WithOptions};
use fred::interfaces::ClusterInterface;
use fred::prelude::{
    Builder, Client, ClientLike, Config, ErrorKind, KeysInterface, LuaInterface, Options, Pool,
    Server,
};
use fred::types::scripts::Script;
use fred::types::{ClusterHash, CustomCommand};
use fred::types::{RespVersion, Value};
use futures::future::join_all;
use session_core::{
    Clock, CodecError, Collision, ConnectionId, Error, ListFilter, Page, Result, Session,
    SessionId, Store, SystemClock, Timestamp, UserId, codec, validate_expiry,
};

use crate::coalesce::Coalescer;
use crate::config::RedisConfig;
use crate::keys::Keys;

macro_rules! script {
    ($file:literal) => {
        concat!(include_str!("lua/prelude.lua"), include_str!($file))
    };
}

struct Scripts {
    create: Script,
    update: Script,
    touch: Script,
    delete: Script,
    delete_by_user: Script,
    by_user: Script,
    bucket: Script,
    cluster_conn: Script,
    cluster_index: Script,
    cluster_record: Script,
}

impl Scripts {
    fn new() -> Self {
        Scripts {
            create: Script::from_lua(script!("lua/create.lua")),
            update: Script::from_lua(script!("lua/update.lua")),
            touch: Script::from_lua(script!("lua/touch.lua")),
            delete: Script::from_lua(script!("lua/delete.lua")),
            delete_by_user: Script::from_lua(script!("lua/delete_by_user.lua")),
            by_user: Script::from_lua(script!("lua/by_user.lua")),
            bucket: Script::from_lua(script!("lua/bucket.lua")),
            cluster_conn: Script::from_lua(script!("lua/cluster_conn.lua")),
            cluster_index: Script::from_lua(script!("lua/cluster_index.lua")),
            cluster_record: Script::from_lua(script!("lua/cluster_record.lua")),
        }
    }

    fn all(&self) -> [&Script; 10] {
        [
            &self.create,
            &self.update,
            &self.touch,
            &self.delete,
            &self.delete_by_user,
            &self.by_user,
            &self.bucket,
            &self.cluster_conn,
            &self.cluster_index,
            &self.cluster_record,
        ]
    }
}

/// A session [`Store`] on Redis (standalone, Sentinel or Cluster) or Valkey, through fred.
/// Cloning is cheap; clones share the connections.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    keys: Keys,
    clustered: bool,
    #[cfg_attr(not(feature = "replicas"), allow(dead_code))]
    replica_reads: bool,
    scripts: Scripts,
    clock: SystemClock,
    /// How long a script refused with TRYAGAIN is retried (the command timeout).
    retry_for: std::time::Duration,
    /// Merges concurrent reads into MGET batches (`RedisConfig::coalesce_reads`; standalone
    /// and Sentinel, primary reads).
    coalescer: Option<Arc<Coalescer>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.keys.prefix())
            .field("clustered", &self.inner.clustered)
            .finish_non_exhaustive()
    }
}

/// A key under the prefix holding a value of another type than the store writes there (a
/// hash at a record key): foreign data, reported as a corrupt record is.
fn wrong_type() -> Error {
    CodecError::new("a key of the store holds a value of another type", 0).into()
}

/// Maps a fred error to ours, keeping it as the source.
pub(crate) fn map_err(e: fred::error::Error) -> Error {
    if e.details().starts_with("WRONGTYPE") {
        return wrong_type();
    }
    match e.kind() {
        ErrorKind::Timeout => Error::Timeout {
            source: Some(Box::new(e)),
        },
        ErrorKind::IO
        | ErrorKind::Canceled
        | ErrorKind::Routing
        | ErrorKind::Backpressure
        | ErrorKind::Cluster
        | ErrorKind::Sentinel => Error::Unavailable {
            source: Box::new(e),
        },
        // fred 10.1 reports "no connection to send this on" (while it reconnects, or follows
        // a Sentinel failover) as an Unknown error.
        ErrorKind::Unknown if e.details().starts_with("Failed to route command") => {
            Error::Unavailable {
                source: Box::new(e),
            }
        }
        _ => Error::backend(e),
    }
}

fn protocol(what: &'static str) -> Error {
    Error::backend(format!("unexpected reply from Redis: {what}"))
}

/// A script's status reply: the first element of an array of strings.
fn status(v: &Value) -> Result<(String, Option<&Value>)> {
    match v {
        Value::Array(items) if !items.is_empty() => {
            let s = items[0]
                .as_str()
                .ok_or_else(|| protocol("status is not a string"))?
                .into_owned();
            Ok((s, items.get(1)))
        }
        _ => Err(protocol("expected a status array")),
    }
}

fn decode_for(bytes: &[u8], id: &SessionId) -> Result<Session> {
    let session = codec::decode(bytes)?;
    if session.id != *id {
        return Err(CodecError::new("record stored under another session's key", 17).into());
    }
    Ok(session)
}

/// A version as the scripts take it: its 8 bytes, little-endian (never a Lua number, which
/// is a double and cannot hold every u64).
fn version_arg(version: u64) -> Value {
    Value::Bytes(Bytes::copy_from_slice(&version.to_le_bytes()))
}

/// A version as the scripts return it (its 8 bytes, little-endian); 0 if it is not that.
fn version_of(v: Option<&Value>) -> u64 {
    v.and_then(bytes_of)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes)
}

/// The version after `version`, or `InvalidInput` if it is at its maximum.
fn next_version(version: u64) -> Result<u64> {
    version
        .checked_add(1)
        .ok_or_else(|| Error::invalid("version", "at its maximum"))
}

fn conflict(id: SessionId, expected: u64, actual: Option<&Value>) -> Error {
    let actual = version_of(actual);
    Error::Conflict {
        id,
        expected,
        actual,
    }
}

fn past() -> Error {
    Error::invalid("expires_at", "not in the future by the server's clock")
}

fn bytes_of(v: &Value) -> Option<&[u8]> {
    match v {
        Value::Null => None,
        other => other.as_bytes(),
    }
}

impl RedisStore {
    /// Connects with `config`: builds the client, waits for the connection (bounded by
    /// `connect_timeout`) and loads the scripts.
    pub async fn connect(config: RedisConfig) -> Result<Self> {
        config.check()?;
        let mut fred_config =
            Config::from_url(&config.url).map_err(|e| Error::invalid("url", e.to_string()))?;
        fred_config.version = if config.resp3 {
            RespVersion::RESP3
        } else {
            RespVersion::RESP2
        };
        fred_config.fail_fast = true;
        let clustered = fred_config.server.is_clustered();
        let pool = Builder::from_config(fred_config)
            .with_performance_config(|p| {
                p.default_command_timeout = config.command_timeout;
            })
            .with_connection_config(|c| {
                c.connection_timeout = config.connect_timeout;
                c.internal_command_timeout = config.command_timeout.max(config.connect_timeout);
                // Standalone and Sentinel: a command in flight when its connection drops fails
                // (Error::Unavailable) instead of being written again after the reconnect:
                // fred's default replay ran a create or an update twice when the server had
                // applied it before dying, so the caller of a successful write got
                // AlreadyExists or Conflict (and a replayed delete reported `false`). Commands
                // queued while disconnected are still sent once the connection is back.
                // A Cluster keeps fred's default: its MOVED and ASK redirections spend write
                // attempts (with one, fred 10.1 fails every redirected command), and a
                // replayed cluster write step finds its lock token gone and fails with
                // Error::Timeout instead of applying twice.
                if !clustered {
                    c.max_command_attempts = 1;
                }
                // A Cluster: fred never follows a redirection itself. fred 10.1.0 follows
                // ASK wrongly (it sends ASKING to the importing node but the command again to
                // the old owner, and takes the next reply on the importing node's connection
                // as ASKING's, shifting the replies of the commands in flight there), so a
                // redirected command fails with "Too many redirections" before any ASKING is
                // sent, and `Inner::redirected` follows it (after a MOVED fred has already
                // refreshed its slot map, so a plain retry reaches the new owner).
                if clustered {
                    c.max_redirections = 0;
                }
                #[cfg(feature = "replicas")]
                if config.replica_reads {
                    c.replica.lazy_connections = true;
                    c.replica.primary_fallback = true;
                }
            })
            .set_policy(config.reconnect.clone())
            .build_pool(config.pool_size)
            .map_err(map_err)?;
        let init = async {
            pool.init().await?;
            pool.wait_for_connect().await
        };
        match tokio::time::timeout(config.connect_timeout, init).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = pool.quit().await;
                return Err(map_err(e));
            }
            Err(_) => {
                let _ = pool.quit().await;
                return Err(Error::Timeout { source: None });
            }
        }
        let coalescer = (config.coalesce_reads && !clustered && !config.replica_reads)
            .then(|| Coalescer::new(pool.clone(), config.pool_size * config.coalesce_in_flight));
        let store = RedisStore {
            inner: Arc::new(Inner {
                coalescer,
                pool,
                keys: Keys::new(&config.prefix),
                clustered,
                replica_reads: config.replica_reads,
                scripts: Scripts::new(),
                clock: SystemClock,
                retry_for: config.command_timeout,
            }),
        };
        store.load_scripts().await?;
        Ok(store)
    }

    /// The fred pool underneath, for commands of your own.
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        self.inner.keys.prefix()
    }

    /// True if the store talks to a Redis Cluster (writes run as ordered single-slot steps).
    pub fn is_clustered(&self) -> bool {
        self.inner.clustered
    }

    /// [`Store::delete_by_user_id`], returning the ids of the sessions it deleted.
    pub async fn revoke_user(
        &self,
        user_id: &UserId,
        except: Option<&SessionId>,
    ) -> Result<Vec<SessionId>> {
        let inner = &*self.inner;
        let key = inner.keys.user(user_id);
        if !inner.clustered {
            let v = inner
                .eval(
                    &inner.scripts.delete_by_user,
                    vec![key],
                    vec![
                        inner.prefix(),
                        Value::from(user_id.as_str()),
                        Value::from(except.map_or_else(String::new, |e| e.to_string())),
                    ],
                )
                .await?;
            return ids_of(&v);
        }
        let ids: Vec<SessionId> = inner
            .live_ids(key)
            .await?
            .into_iter()
            .filter(|id| Some(id) != except)
            .collect();
        let deleted = join_all(
            ids.iter()
                .map(|id| async move { inner.delete_locked(id, Some(user_id)).await }),
        )
        .await;
        let mut out = Vec::new();
        for (id, r) in ids.into_iter().zip(deleted) {
            if r? {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// The prefix of every record key (`{prefix}:s:`), for client-side caching that tracks
    /// them (`CLIENT TRACKING ... BCAST PREFIX`).
    pub fn record_key_prefix(&self) -> String {
        self.inner.keys.record_prefix()
    }

    /// The session id a record key names, or `None` for any other key.
    pub fn session_id_of_key(&self, key: &[u8]) -> Option<SessionId> {
        self.inner.keys.record_id(key)
    }

    /// Closes the connections.
    pub async fn close(&self) -> Result<()> {
        self.inner.pool.quit().await.map_err(map_err)
    }

    async fn load_scripts(&self) -> Result<()> {
        let client = self.inner.pool.next();
        for script in self.inner.scripts.all() {
            if let Some(lua) = script.lua() {
                client
                    .script_load_cluster::<(), _>(lua.clone())
                    .await
                    .map_err(map_err)?;
            }
        }
        Ok(())
    }
}

impl Inner {
    /// EVALSHA, falling back to EVAL (which also caches the script) after a NOSCRIPT, as
    /// after a server restart or failover.
    ///
    /// In a Cluster, a script whose keys (a record and its lock) are split by a slot migration
    /// under way is refused with TRYAGAIN, without running; it is retried with a short back-off
    /// for up to the command timeout, then reported as `Error::Unavailable`. Redirections
    /// (MOVED, ASK) are followed by [`Inner::redirected`].
    async fn eval(&self, script: &Script, keys: Vec<String>, args: Vec<Value>) -> Result<Value> {
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
                None => match client
                    .evalsha::<Value, _, _, _>(script.sha1().clone(), keys.clone(), args.clone())
                    .await
                {
                    Err(e) if e.details().starts_with("NOSCRIPT") => {
                        let lua = script.lua().cloned().unwrap_or_default();
                        client.eval(lua, keys.clone(), args.clone()).await
                    }
                    other => other,
                },
            };
            match result {
                Err(e) if self.clustered && retryable(&e) => {
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
    async fn redirected(&self, client: &Client, key: &str) -> Option<Server> {
        let slot = fred::util::redis_keyslot(key.as_bytes());
        let owner = client.cached_cluster_state()?.get_server(slot)?.clone();
        let nodes: String = client.with_cluster_node(owner).cluster_nodes().await.ok()?;
        let (host, port) = migrating_to(&nodes, slot)?;
        Some(Server::new(host, port))
    }

    fn prefix(&self) -> Value {
        Value::from(self.keys.prefix())
    }

    async fn get_raw(&self, key: String) -> Result<Option<Bytes>> {
        if let Some(c) = &self.coalescer {
            let keys = vec![key];
            let fetched = c.fetch(keys.clone()).await.map_err(map_err)?;
            // Sent alone it was a GET (WRONGTYPE speaks for itself); in a batch, an MGET, which
            // answers nil for a key of another type: then a miss is asked its TYPE, so that the
            // answer is the one a GET gives (Codec).
            if fetched.by_mget {
                check_misses(self.pool.next(), &keys, &fetched.values).await?;
            }
            return Ok(fetched.values.into_iter().next().flatten());
        }
        let client = self.pool.next();
        #[cfg(feature = "replicas")]
        if self.replica_reads {
            return client.replicas().get(key).await.map_err(map_err);
        }
        if !self.clustered {
            return client.get(key).await.map_err(map_err);
        }
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

    async fn get(&self, id: &SessionId) -> Result<Option<Session>> {
        match self.get_raw(self.keys.record(id)).await? {
            Some(bytes) => decode_for(&bytes, id).map(|s| self.live(s)),
            None => Ok(None),
        }
    }

    /// Redis keeps a key through the millisecond of its PXAT (it expires keys strictly after
    /// it); a session is over at `expires_at`. Reads drop what Redis still holds in that
    /// millisecond.
    fn live(&self, s: Session) -> Option<Session> {
        (!s.is_expired_at(self.clock.now())).then_some(s)
    }

    async fn get_many(&self, ids: &[SessionId]) -> Result<Vec<Option<Session>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let raw: Vec<Option<Bytes>> = if let Some(c) = &self.coalescer {
            let keys: Vec<String> = ids.iter().map(|id| self.keys.record(id)).collect();
            let fetched = c.fetch(keys.clone()).await.map_err(map_err)?;
            if fetched.by_mget {
                check_misses(self.pool.next(), &keys, &fetched.values).await?;
            }
            fetched.values
        } else if self.clustered {
            // Records hash to different slots: one GET each, sent together.
            join_all(ids.iter().map(|id| self.get_raw(self.keys.record(id))))
                .await
                .into_iter()
                .collect::<Result<_>>()?
        } else {
            let keys: Vec<String> = ids.iter().map(|id| self.keys.record(id)).collect();
            let client = self.pool.next();
            #[cfg(feature = "replicas")]
            if self.replica_reads {
                let v: Vec<Option<Bytes>> = client
                    .replicas()
                    .mget(keys.clone())
                    .await
                    .map_err(map_err)?;
                check_misses(client, &keys, &v).await?;
                return ids
                    .iter()
                    .zip(v)
                    .map(|(id, b)| {
                        b.map(|b| decode_for(&b, id))
                            .transpose()
                            .map(|s| s.and_then(|s| self.live(s)))
                    })
                    .collect();
            }
            let v: Value = client.mget(keys.clone()).await.map_err(map_err)?;
            let raw: Vec<Option<Bytes>> = match v {
                Value::Array(items) => items
                    .iter()
                    .map(|v| bytes_of(v).map(Bytes::copy_from_slice))
                    .collect(),
                Value::Null => vec![None; ids.len()],
                other => vec![bytes_of(&other).map(Bytes::copy_from_slice)],
            };
            check_misses(client, &keys, &raw).await?;
            raw
        };
        if raw.len() != ids.len() {
            return Err(protocol("MGET answered a different number of values"));
        }
        ids.iter()
            .zip(raw)
            .map(|(id, b)| {
                b.map(|b| decode_for(&b, id))
                    .transpose()
                    .map(|s| s.and_then(|s| self.live(s)))
            })
            .collect()
    }

    // ---- standalone writes: one script each ------------------------------------------------

    async fn create_standalone(&self, session: &Session, bytes: Bytes) -> Result<()> {
        let (keys, mut args) = self.write_keys(session);
        args[2] = Value::Bytes(bytes);
        let v = self.eval(&self.scripts.create, keys, args).await?;
        match status(&v)?.0.as_str() {
            "OK" => Ok(()),
            "PAST" => Err(past()),
            "EXISTS_ID" => Err(Error::AlreadyExists(Collision::SessionId(session.id))),
            "EXISTS_CONN" => Err(conn_taken(session)),
            _ => Err(protocol("create")),
        }
    }

    async fn update_standalone(
        &self,
        session: &Session,
        bytes: Bytes,
        expected: u64,
    ) -> Result<()> {
        let (keys, mut args) = self.write_keys(session);
        args[2] = Value::Bytes(bytes);
        args.insert(3, version_arg(expected));
        let v = self.eval(&self.scripts.update, keys, args).await?;
        let (s, arg) = status(&v)?;
        match s.as_str() {
            "OK" => Ok(()),
            "PAST" => Err(past()),
            "NOT_FOUND" => Err(Error::NotFound { id: session.id }),
            "CORRUPT" => Err(corrupt()),
            "CONFLICT" => Err(conflict(session.id, expected, arg)),
            "EXISTS_CONN" => Err(conn_taken(session)),
            _ => Err(protocol("update")),
        }
    }

    /// KEYS and ARGV of the create and update scripts: record, user index, bucket and, with
    /// a connection id, its key; prefix, id, (record), expiry and the connection id.
    fn write_keys(&self, s: &Session) -> (Vec<String>, Vec<Value>) {
        let mut keys = vec![
            self.keys.record(&s.id),
            self.keys.user(&s.user_id),
            self.keys.bucket_of(&s.id),
        ];
        let mut args = vec![
            self.prefix(),
            Value::from(s.id.to_string()),
            Value::Null,
            Value::from(s.expires_at.as_millis().to_string()),
        ];
        if let Some(c) = &s.connection_id {
            keys.push(self.keys.conn(c));
            args.push(Value::from(c.to_string()));
        }
        (keys, args)
    }

    /// Touch (standalone): reads and decodes the record, then rewrites its version and
    /// expiry with a compare-and-set on the version (retried if another write came between).
    /// A record that does not decode is refused before anything is written.
    async fn touch_standalone(&self, id: &SessionId, expires_at: Timestamp) -> Result<Session> {
        let key = self.keys.record(id);
        let mut last = 0;
        for attempt in 0..LOCK_ATTEMPTS {
            let Some(bytes) = self.get_raw(key.clone()).await? else {
                return Err(Error::NotFound { id: *id });
            };
            let mut session = decode_for(&bytes, id)?;
            let expected = session.version;
            let next = next_version(expected)?;
            let v = self
                .eval(
                    &self.scripts.touch,
                    vec![key.clone()],
                    vec![
                        self.prefix(),
                        Value::from(id.to_string()),
                        Value::from(expires_at.as_millis().to_string()),
                        version_arg(expected),
                        version_arg(next),
                    ],
                )
                .await?;
            let (s, arg) = status(&v)?;
            match s.as_str() {
                "OK" => {
                    session.version = next;
                    session.expires_at = expires_at;
                    return Ok(session);
                }
                "PAST" => return Err(past()),
                "NOT_FOUND" => return Err(Error::NotFound { id: *id }),
                "CORRUPT" => return Err(corrupt()),
                "CONFLICT" => {
                    last = version_of(arg);
                    backoff(attempt).await;
                }
                _ => return Err(protocol("touch")),
            }
        }
        Err(Error::Conflict {
            id: *id,
            expected: last,
            actual: last,
        })
    }

    // ---- cluster writes: ordered single-slot steps ------------------------------------------

    async fn conn_op(&self, conn: &ConnectionId, args: Vec<Value>) -> Result<Value> {
        self.eval(&self.scripts.cluster_conn, vec![self.keys.conn(conn)], args)
            .await
    }

    async fn index_op(
        &self,
        key: String,
        op: &'static str,
        id: &SessionId,
        exp: Timestamp,
    ) -> Result<bool> {
        let v = self
            .eval(
                &self.scripts.cluster_index,
                vec![key],
                vec![
                    Value::from(op),
                    Value::from(id.to_string()),
                    Value::from(exp.as_millis().to_string()),
                ],
            )
            .await?;
        Ok(matches!(v, Value::Integer(1)))
    }

    async fn record_op(&self, id: &SessionId, args: Vec<Value>) -> Result<Value> {
        self.eval(
            &self.scripts.cluster_record,
            vec![self.keys.record(id), self.keys.lock(id)],
            args,
        )
        .await
    }

    /// Takes the write lock on a session (cluster). `mode` is "create" (the record must not
    /// exist), "cas" (its version must be `expected`) or "any". Returns the lock token and
    /// the current record, or the outcome that stops the write.
    async fn lock(
        &self,
        id: &SessionId,
        mode: &'static str,
        expected: u64,
    ) -> Result<std::result::Result<(String, Option<Bytes>), Locked>> {
        let token = SessionId::new().to_string();
        let v = self
            .record_op(
                id,
                vec![
                    "lock".into(),
                    token.clone().into(),
                    mode.into(),
                    version_arg(expected),
                    (CLAIM_GRACE.as_millis() as u64).to_string().into(),
                ],
            )
            .await?;
        let (s, arg) = status(&v)?;
        let version = || version_of(arg);
        Ok(match s.as_str() {
            "OK" => Ok((token, arg.and_then(bytes_of).map(Bytes::copy_from_slice))),
            "EXISTS_ID" => Err(Locked::Exists),
            "NOT_FOUND" => Err(Locked::NotFound),
            "CORRUPT" => Err(Locked::Corrupt),
            "CONFLICT" => Err(Locked::Conflict(version())),
            "BUSY" => Err(Locked::Busy(version())),
            _ => return Err(protocol("lock")),
        })
    }

    async fn unlock(&self, id: &SessionId, token: &str) {
        let _ = self
            .record_op(id, vec!["unlock".into(), token.to_owned().into()])
            .await;
    }

    /// Claims `conn` for `session` (cluster). Ok(true) if this call took it (so a rollback
    /// must release it), Ok(false) if the session already held it.
    async fn claim_conn(&self, conn: &ConnectionId, session: &Session) -> Result<bool> {
        let id = session.id.to_string();
        let exp = session.expires_at.as_millis().to_string();
        for _ in 0..3 {
            let v = self
                .conn_op(
                    conn,
                    vec!["claim".into(), id.clone().into(), exp.clone().into()],
                )
                .await?;
            let (s, arg) = status(&v)?;
            match s.as_str() {
                "NEW" => return Ok(true),
                "MINE" => return Ok(false),
                "HELD" => {
                    let holder = arg
                        .and_then(|v| v.as_str())
                        .and_then(|s| SessionId::parse(&s).ok())
                        .ok_or(protocol("claim holder"))?;
                    let since = match &v {
                        Value::Array(items) => items.get(2).and_then(|v| v.as_str()),
                        _ => None,
                    }
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0);
                    // The holder may be a leftover: check its record in its own slot. A claim
                    // younger than the grace period may belong to a create still under way.
                    let live = matches!(self.get(&holder).await,
                        Ok(Some(h)) if h.connection_id.as_ref() == Some(conn));
                    let young = self.clock.now().as_millis().saturating_sub(since)
                        < CLAIM_GRACE.as_millis() as u64;
                    if live || young {
                        return Err(conn_taken(session));
                    }
                    let took = self
                        .conn_op(
                            conn,
                            vec![
                                "takeover".into(),
                                id.clone().into(),
                                exp.clone().into(),
                                holder.to_string().into(),
                            ],
                        )
                        .await?;
                    if matches!(took, Value::Integer(1)) {
                        return Ok(true);
                    }
                }
                _ => return Err(protocol("claim")),
            }
        }
        Err(conn_taken(session))
    }

    async fn release_conn(&self, conn: &ConnectionId, id: &SessionId) -> Result<()> {
        self.conn_op(conn, vec!["release".into(), id.to_string().into()])
            .await
            .map(drop)
    }

    /// Raises an index entry (cluster); returns its score before (`None`: it was absent).
    async fn index_raise(
        &self,
        key: String,
        id: &SessionId,
        exp: Timestamp,
    ) -> Result<Option<String>> {
        let v = self
            .eval(
                &self.scripts.cluster_index,
                vec![key],
                vec![
                    "raise".into(),
                    id.to_string().into(),
                    exp.as_millis().to_string().into(),
                ],
            )
            .await?;
        Ok(v.as_str().map(|s| s.into_owned()))
    }

    /// Adds (or raises) the index entries a session needs before its record is written, and
    /// returns what a rollback must undo.
    async fn raise_indexes(&self, s: &Session) -> Result<Raised> {
        let conn = async {
            match &s.connection_id {
                Some(c) => self.claim_conn(c, s).await,
                None => Ok(false),
            }
        };
        let user = self.index_raise(self.keys.user(&s.user_id), &s.id, s.expires_at);
        let bucket = self.index_raise(self.keys.bucket_of(&s.id), &s.id, s.expires_at);
        let (conn, user, bucket) = futures::join!(conn, user, bucket);
        let raised = Raised {
            conn: *conn.as_ref().unwrap_or(&false),
            user: user.as_ref().ok().cloned(),
            bucket: bucket.as_ref().ok().cloned(),
        };
        match (conn, user, bucket) {
            (Ok(_), Ok(_), Ok(_)) => Ok(raised),
            (c, u, b) => {
                // Undo what this call did, then report the first failure.
                self.rollback(s, raised).await;
                Err(c
                    .err()
                    .or(u.err())
                    .or(b.err())
                    .unwrap_or_else(|| protocol("raise")))
            }
        }
    }

    /// Undoes what `raise_indexes` did for a write that then failed: releases a connection
    /// it claimed and puts index entries back as they were (unless someone moved them since).
    async fn rollback(&self, s: &Session, raised: Raised) {
        let c = async {
            if let (true, Some(c)) = (raised.conn, &s.connection_id) {
                let _ = self.release_conn(c, &s.id).await;
            }
        };
        let restore = |key: String, before: Option<Option<String>>| async move {
            if let Some(before) = before {
                let _ = self
                    .eval(
                        &self.scripts.cluster_index,
                        vec![key],
                        vec![
                            "restore".into(),
                            s.id.to_string().into(),
                            s.expires_at.as_millis().to_string().into(),
                            before.unwrap_or_default().into(),
                        ],
                    )
                    .await;
            }
        };
        futures::join!(
            c,
            restore(self.keys.user(&s.user_id), raised.user),
            restore(self.keys.bucket_of(&s.id), raised.bucket)
        );
    }

    /// After a record changed from `old` to `new` (or was deleted, `new` = None): removes or
    /// lowers the index entries that no longer apply.
    async fn settle_indexes(&self, old: Option<&Session>, new: Option<&Session>) -> Result<()> {
        let mut steps = Vec::new();
        if let Some(o) = old {
            let id = o.id;
            if new.is_none_or(|n| n.user_id != o.user_id) {
                steps.push(
                    self.index_op(self.keys.user(&o.user_id), "remove", &o.id, o.expires_at)
                        .boxed_step(),
                );
            }
            if new.is_none() {
                steps.push(
                    self.index_op(self.keys.bucket_of(&o.id), "remove", &o.id, o.expires_at)
                        .boxed_step(),
                );
            }
            if let Some(c) = &o.connection_id {
                if new.is_none_or(|n| n.connection_id.as_ref() != Some(c)) {
                    let c = *c;
                    steps.push(Box::pin(async move { self.release_conn(&c, &id).await }));
                }
            }
        }
        if let Some(n) = new {
            let id = n.id;
            let exp = n.expires_at;
            steps.push(
                self.index_op(self.keys.user(&n.user_id), "set", &n.id, exp)
                    .boxed_step(),
            );
            steps.push(
                self.index_op(self.keys.bucket_of(&n.id), "set", &n.id, exp)
                    .boxed_step(),
            );
            if let Some(c) = n.connection_id {
                steps.push(Box::pin(async move {
                    self.conn_op(
                        &c,
                        vec![
                            "expire".into(),
                            id.to_string().into(),
                            exp.as_millis().to_string().into(),
                        ],
                    )
                    .await
                    .map(drop)
                }));
            }
        }
        for r in join_all(steps).await {
            r?;
        }
        Ok(())
    }

    async fn create_cluster(&self, session: &Session, bytes: Bytes) -> Result<()> {
        let id = session.id;
        let token = match self.lock(&id, "create", 0).await? {
            Ok((token, _)) => token,
            // Taken, or being taken by a concurrent create.
            Err(Locked::Exists | Locked::Busy(_)) => {
                return Err(Error::AlreadyExists(Collision::SessionId(id)));
            }
            Err(_) => return Err(protocol("lock for create")),
        };
        let raised = match self.raise_indexes(session).await {
            Ok(r) => r,
            Err(e) => {
                self.unlock(&id, &token).await;
                return Err(e);
            }
        };
        let v = self
            .record_op(
                &id,
                vec!["create".into(), token.into(), Value::Bytes(bytes)],
            )
            .await;
        let failure = match &v {
            Ok(v) => match status(v)?.0.as_str() {
                "OK" => return Ok(()),
                "PAST" => past(),
                "EXISTS_ID" => Error::AlreadyExists(Collision::SessionId(id)),
                "LOST" => lock_lost(),
                _ => protocol("create"),
            },
            Err(_) => return v.map(drop),
        };
        // Holding the lock made these raises ours alone: undo them.
        self.rollback(session, raised).await;
        Err(failure)
    }

    async fn update_cluster(&self, session: &Session, bytes: Bytes, expected: u64) -> Result<()> {
        let id = session.id;
        let (token, old) = match self.lock(&id, "cas", expected).await? {
            Ok(locked) => locked,
            Err(Locked::NotFound) => return Err(Error::NotFound { id }),
            Err(Locked::Corrupt) => return Err(corrupt()),
            Err(Locked::Conflict(actual) | Locked::Busy(actual)) => {
                return Err(Error::Conflict {
                    id,
                    expected,
                    actual,
                });
            }
            Err(Locked::Exists) => return Err(protocol("lock for update")),
        };
        let raised = match self.raise_indexes(session).await {
            Ok(r) => r,
            Err(e) => {
                self.unlock(&id, &token).await;
                return Err(e);
            }
        };
        let v = self
            .record_op(
                &id,
                vec![
                    "cas".into(),
                    token.into(),
                    Value::Bytes(bytes),
                    version_arg(expected),
                ],
            )
            .await;
        let failure = match &v {
            Ok(v) => {
                let (s, arg) = status(v)?;
                match s.as_str() {
                    "OK" => {
                        let old = arg
                            .and_then(bytes_of)
                            .or(old.as_deref())
                            .and_then(|b| codec::decode(b).ok());
                        return self.settle_indexes(old.as_ref(), Some(session)).await;
                    }
                    "PAST" => past(),
                    "NOT_FOUND" => Error::NotFound { id },
                    "CORRUPT" => corrupt(),
                    "CONFLICT" => conflict(id, expected, arg),
                    "LOST" => lock_lost(),
                    _ => protocol("update"),
                }
            }
            Err(_) => return v.map(drop),
        };
        self.rollback(session, raised).await;
        Err(failure)
    }

    async fn touch_cluster(&self, id: &SessionId, expires_at: Timestamp) -> Result<Session> {
        for attempt in 0..LOCK_ATTEMPTS {
            let (token, current) = match self.lock(id, "any", 0).await? {
                Ok((token, Some(bytes))) => match decode_for(&bytes, id) {
                    Ok(s) => (token, s),
                    Err(e) => {
                        self.unlock(id, &token).await;
                        return Err(e);
                    }
                },
                Ok((token, None)) => {
                    self.unlock(id, &token).await;
                    return Err(Error::NotFound { id: *id });
                }
                Err(Locked::NotFound) => return Err(Error::NotFound { id: *id }),
                Err(Locked::Busy(_)) => {
                    backoff(attempt).await;
                    continue;
                }
                Err(_) => return Err(protocol("lock for touch")),
            };
            let next = match next_version(current.version) {
                Ok(next) => next,
                Err(e) => {
                    self.unlock(id, &token).await;
                    return Err(e);
                }
            };
            let mut raised_session = current.clone();
            raised_session.expires_at = expires_at;
            let raised = match self.raise_indexes(&raised_session).await {
                Ok(r) => r,
                Err(e) => {
                    self.unlock(id, &token).await;
                    return Err(e);
                }
            };
            let v = self
                .record_op(
                    id,
                    vec![
                        "touch".into(),
                        token.into(),
                        expires_at.as_millis().to_string().into(),
                        version_arg(current.version),
                        version_arg(next),
                    ],
                )
                .await?;
            let (s, arg) = status(&v)?;
            if s == "OK" {
                let new = decode_for(arg.and_then(bytes_of).ok_or(protocol("touch"))?, id)?;
                self.settle_indexes(Some(&current), Some(&new)).await?;
                return Ok(new);
            }
            self.rollback(&raised_session, raised).await;
            if s == "CONFLICT" {
                // Written by someone else since it was locked (the lock expired): again.
                backoff(attempt).await;
                continue;
            }
            return Err(match s.as_str() {
                "PAST" => past(),
                "NOT_FOUND" => Error::NotFound { id: *id },
                "CORRUPT" => corrupt(),
                "LOST" => lock_lost(),
                _ => protocol("touch"),
            });
        }
        Err(lock_lost())
    }

    /// Deletes a record (cluster) if it belongs to `user` (when given), under its write lock,
    /// and settles its index entries. Returns whether a record was deleted.
    async fn delete_locked(&self, id: &SessionId, user: Option<&UserId>) -> Result<bool> {
        for attempt in 0..LOCK_ATTEMPTS {
            let token = match self.lock(id, "any", 0).await? {
                Ok((token, _)) => token,
                Err(Locked::NotFound) => return Ok(false),
                Err(Locked::Busy(_)) => {
                    backoff(attempt).await;
                    continue;
                }
                Err(_) => return Err(protocol("lock for delete")),
            };
            let v = self
                .record_op(
                    id,
                    vec![
                        "delete".into(),
                        token.into(),
                        user.map_or_else(String::new, |u| u.as_str().to_owned())
                            .into(),
                    ],
                )
                .await?;
            let Some(bytes) = bytes_of(&v) else {
                return Ok(false);
            };
            match codec::decode(bytes) {
                Ok(old) => self.settle_indexes(Some(&old), None).await?,
                Err(_) => {
                    // An unreadable record: drop the hints we can name.
                    if let Some(u) = user {
                        let _ = self
                            .index_op(self.keys.user(u), "remove", id, Timestamp::EPOCH)
                            .await;
                    }
                    let _ = self
                        .index_op(self.keys.bucket_of(id), "remove", id, Timestamp::EPOCH)
                        .await;
                }
            }
            return Ok(true);
        }
        Err(lock_lost())
    }

    async fn live_ids(&self, key: String) -> Result<Vec<SessionId>> {
        let v = self
            .eval(
                &self.scripts.cluster_index,
                vec![key],
                vec!["live".into(), "".into(), "0".into()],
            )
            .await?;
        ids_of(&v)
    }

    /// Runs a bucket script: over all buckets at once (standalone), or one call per bucket,
    /// sent together (Cluster: the buckets live in different slots). One result per bucket.
    async fn buckets(&self, op: &'static str) -> Result<Vec<Value>> {
        let calls: Vec<Vec<String>> = if self.clustered {
            self.keys.buckets().into_iter().map(|k| vec![k]).collect()
        } else {
            vec![self.keys.buckets()]
        };
        let replies = join_all(
            calls
                .into_iter()
                .map(|keys| self.eval(&self.scripts.bucket, keys, vec![Value::from(op)])),
        )
        .await;
        let mut out = Vec::new();
        for reply in replies {
            match reply? {
                Value::Array(items) => out.extend(items),
                _ => return Err(protocol("bucket")),
            }
        }
        Ok(out)
    }

    async fn by_user(&self, user: &UserId) -> Result<Vec<Session>> {
        let key = self.keys.user(user);
        let mut sessions = if self.clustered {
            let ids = self.live_ids(key).await?;
            let got = self.get_many(&ids).await?;
            got.into_iter().flatten().collect::<Vec<_>>()
        } else {
            let v = self
                .eval(&self.scripts.by_user, vec![key], vec![self.prefix()])
                .await?;
            match v {
                Value::Array(items) => items
                    .iter()
                    .filter_map(bytes_of)
                    .map(|b| codec::decode(b).map_err(Error::from))
                    .collect::<Result<Vec<_>>>()?,
                Value::Null => Vec::new(),
                _ => return Err(protocol("by_user")),
            }
        };
        // An index entry is a hint: keep only sessions that really are this user's.
        let now = self.clock.now();
        sessions.retain(|s| s.user_id == *user && !s.is_expired_at(now));
        sessions.sort_unstable_by_key(|s| s.id);
        sessions.dedup_by_key(|s| s.id);
        Ok(sessions)
    }
}

/// MGET answers nil both for a missing key and for one holding another type, where GET
/// answers WRONGTYPE: so that `get_many` gives the answer `get` gives, the misses (only they,
/// and only when there are any) are asked their TYPE in one round trip. A string appearing
/// meanwhile is a concurrent create, not a fault.
async fn check_misses(client: &Client, keys: &[String], raw: &[Option<Bytes>]) -> Result<()> {
    let misses: Vec<&String> = keys
        .iter()
        .zip(raw)
        .filter(|(_, r)| r.is_none())
        .map(|(k, _)| k)
        .collect();
    if misses.is_empty() {
        return Ok(());
    }
    let pipeline = client.pipeline();
    for key in &misses {
        pipeline
            .r#type::<(), _>(key.as_str())
            .await
            .map_err(map_err)?;
    }
    let types: Vec<String> = pipeline.all().await.map_err(map_err)?;
    if types.iter().any(|t| t != "none" && t != "string") {
        return Err(wrong_type());
    }
    Ok(())
}

/// What `raise_indexes` did: whether it claimed the connection, and each index entry's score
/// before (outer `None`: not raised; inner `None`: the entry was absent).
struct Raised {
    conn: bool,
    user: Option<Option<String>>,
    bucket: Option<Option<String>>,
}

/// How long a connection claim without its record is presumed to belong to a create still
/// under way (Cluster only). After a client dies mid-create its connection id is free again
/// after this long.
const CLAIM_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a cluster write lock was not taken.
enum Locked {
    Exists,
    NotFound,
    Corrupt,
    Conflict(u64),
    Busy(u64),
}

/// How many times a cluster delete or touch waits for another writer's lock.
const LOCK_ATTEMPTS: u32 = 200;

async fn backoff(attempt: u32) {
    let ms = u64::from(attempt.min(10)) + 1;
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

fn lock_lost() -> Error {
    Error::Timeout { source: None }
}

fn corrupt() -> Error {
    CodecError::new("stored record head unreadable", 0).into()
}

fn conn_taken(session: &Session) -> Error {
    match session.connection_id {
        Some(c) => Error::AlreadyExists(Collision::ConnectionId(c)),
        None => protocol("connection collision without a connection id"),
    }
}

fn ids_of(v: &Value) -> Result<Vec<SessionId>> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .and_then(|s| SessionId::parse(&s).ok())
                    .ok_or(protocol("index member is not a session id"))
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err(protocol("expected an array of ids")),
    }
}

type Step<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>>;

trait BoxedStep<'a> {
    fn boxed_step(self) -> Step<'a>;
}

impl<'a, F: std::future::Future<Output = Result<bool>> + Send + 'a> BoxedStep<'a> for F {
    fn boxed_step(self) -> Step<'a> {
        Box::pin(async move { self.await.map(drop) })
    }
}

impl Store for RedisStore {
    async fn create(&self, mut session: Session) -> Result<Arc<Session>> {
        let inner = &*self.inner;
        session.validate(inner.clock.now())?;
        session.version = 1;
        let bytes = Bytes::from(codec::encode(&session));
        if inner.clustered {
            inner.create_cluster(&session, bytes).await?;
        } else {
            inner.create_standalone(&session, bytes).await?;
        }
        Ok(Arc::new(session))
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Arc<Session>>> {
        Ok(self.inner.get(id).await?.map(Arc::new))
    }

    async fn get_many(&self, ids: &[SessionId]) -> Result<Vec<Option<Arc<Session>>>> {
        Ok(self
            .inner
            .get_many(ids)
            .await?
            .into_iter()
            .map(|s| s.map(Arc::new))
            .collect())
    }

    async fn update(&self, mut session: Session) -> Result<Arc<Session>> {
        let inner = &*self.inner;
        session.validate(inner.clock.now())?;
        let expected = session.version;
        session.version = next_version(expected)?;
        let bytes = Bytes::from(codec::encode(&session));
        if inner.clustered {
            inner.update_cluster(&session, bytes, expected).await?;
        } else {
            inner.update_standalone(&session, bytes, expected).await?;
        }
        Ok(Arc::new(session))
    }

    async fn touch(&self, id: &SessionId, expires_at: Timestamp) -> Result<Arc<Session>> {
        let inner = &*self.inner;
        validate_expiry(expires_at, inner.clock.now())?;
        let s = if inner.clustered {
            inner.touch_cluster(id, expires_at).await?
        } else {
            inner.touch_standalone(id, expires_at).await?
        };
        Ok(Arc::new(s))
    }

    async fn delete(&self, id: &SessionId) -> Result<bool> {
        let inner = &*self.inner;
        if inner.clustered {
            inner.delete_locked(id, None).await
        } else {
            let v = inner
                .eval(
                    &inner.scripts.delete,
                    vec![inner.keys.record(id)],
                    vec![inner.prefix(), Value::from(id.to_string())],
                )
                .await?;
            Ok(matches!(v, Value::Integer(1)))
        }
    }

    async fn list(&self, filter: &ListFilter) -> Result<Page> {
        let inner = &*self.inner;
        let matching: Vec<Session> = match &filter.user_id {
            Some(user) => inner
                .by_user(user)
                .await?
                .into_iter()
                .filter(|s| filter.matches(s))
                .collect(),
            None => {
                let mut ids = Vec::new();
                for v in inner.buckets("ids").await? {
                    ids.extend(ids_of(&v)?);
                }
                ids.sort_unstable();
                ids.dedup();
                if filter.state.is_none() {
                    // The total is the number of live ids; read only the page's records.
                    let total = ids.len() as u64;
                    let start = filter.offset.min(ids.len());
                    let end = start.saturating_add(filter.limit).min(ids.len());
                    let page = inner.get_many(&ids[start..end]).await?;
                    return Ok(Page {
                        sessions: page.into_iter().flatten().map(Arc::new).collect(),
                        total,
                    });
                }
                let mut all = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(512) {
                    all.extend(inner.get_many(chunk).await?.into_iter().flatten());
                }
                all.into_iter().filter(|s| filter.matches(s)).collect()
            }
        };
        let total = matching.len() as u64;
        let sessions = matching
            .into_iter()
            .skip(filter.offset)
            .take(filter.limit)
            .map(Arc::new)
            .collect();
        Ok(Page { sessions, total })
    }

    async fn get_by_connection_id(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<Option<Arc<Session>>> {
        let inner = &*self.inner;
        let holder = inner.get_raw(inner.keys.conn(connection_id)).await?;
        let Some(holder) = holder else {
            return Ok(None);
        };
        // Standalone writes the id; a Cluster writes '<id>@<claim time>'.
        let Some(id) = std::str::from_utf8(&holder)
            .ok()
            .and_then(|s| SessionId::parse(s.split('@').next().unwrap_or(s)).ok())
        else {
            return Err(CodecError::new("connection key does not hold a session id", 0).into());
        };
        // The key is a hint: the record decides.
        Ok(inner
            .get(&id)
            .await?
            .filter(|s| s.connection_id.as_ref() == Some(connection_id))
            .map(Arc::new))
    }

    async fn get_by_user_id(&self, user_id: &UserId) -> Result<Vec<Arc<Session>>> {
        Ok(self
            .inner
            .by_user(user_id)
            .await?
            .into_iter()
            .map(Arc::new)
            .collect())
    }

    async fn delete_by_user_id(&self, user_id: &UserId, except: Option<&SessionId>) -> Result<u64> {
        Ok(self.revoke_user(user_id, except).await?.len() as u64)
    }

    async fn delete_expired(&self) -> Result<u64> {
        let mut n = 0;
        for v in self.inner.buckets("reclaim").await? {
            match v {
                Value::Integer(k) => n += u64::try_from(k).unwrap_or(0),
                _ => return Err(protocol("reclaim")),
            }
        }
        Ok(n)
    }

    async fn count(&self) -> Result<u64> {
        let mut n = 0;
        for v in self.inner.buckets("count").await? {
            match v {
                Value::Integer(k) => n += u64::try_from(k).unwrap_or(0),
                _ => return Err(protocol("count")),
            }
        }
        Ok(n)
    }
}

/// A redirection fred was told not to follow (`max_redirections` 0, see `connect`).
fn is_redirection(e: &fred::error::Error) -> bool {
    *e.kind() == ErrorKind::Routing && e.details().starts_with("Too many redirections")
}

/// A Cluster error worth retrying: a redirection, or TRYAGAIN (a multi-key command whose keys
/// a slot migration splits; refused without running).
fn retryable(e: &fred::error::Error) -> bool {
    is_redirection(e) || e.details().starts_with("TRYAGAIN")
}

/// A pipeline to `node` that starts with `ASKING`: fred writes a pipeline's commands back to
/// back on the node's connection (its router handles one pipeline at a time), so ASKING
/// applies to the command the caller adds next, and its reply is read in its turn.
async fn ask_pipeline(
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
fn eval_command() -> CustomCommand {
    CustomCommand::new_static("EVAL", ClusterHash::FirstKey, false)
}

/// EVAL's arguments: the script, the number of keys, the keys, the other arguments.
fn eval_args(lua: impl Into<Value>, keys: &[String], args: &[Value]) -> Vec<Value> {
    let mut out = Vec::with_capacity(2 + keys.len() + args.len());
    out.push(lua.into());
    out.push(Value::from(keys.len() as i64));
    out.extend(keys.iter().map(|k| Value::from(k.as_str())));
    out.extend(args.iter().cloned());
    out
}

/// The reply of a pipeline's last command (the one after ASKING).
fn last_of<T>(
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
fn migrating_to(nodes: &str, slot: u16) -> Option<(String, u16)> {
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

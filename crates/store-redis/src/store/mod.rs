//! The [`RedisStore`]: its state, `connect`, and the `Store` impl, each method of which
//! chooses once between the two topologies.
//!
//! - [`Topology::Standalone`] (a standalone server or a Sentinel deployment): every write is
//!   one Lua script, atomic ([`standalone`]); reads may be coalesced into `MGET` batches.
//! - [`Topology::Cluster`]: the record, the user index, the connection key and the bucket of
//!   a session live in different slots, so a write runs as ordered single-slot steps
//!   (`crate::cluster`), with redirections followed by `crate::cluster::route`.
//!
//! Reply parsing is in [`reply`], the scripts and how they are called in [`scripts`].

mod reply;
mod scripts;
mod standalone;

use std::sync::Arc;

use fred::bytes::Bytes;
#[cfg(feature = "replicas")]
use fred::prelude::KeysInterface;
use fred::prelude::{ClientLike, Pool};
use fred::types::{RespVersion, Value};
use futures::future::join_all;
use session_core::{
    Clock, CodecError, ConnectionId, Error, ListFilter, Page, Result, Session, SessionId, Store,
    SystemClock, Timestamp, UserId, codec, validate_expiry,
};

pub(crate) use reply::{Status, bytes_of, flag, ids_of};
pub(crate) use scripts::{Routine, Scripts, eval_once, version_arg};

use crate::coalesce::Coalescer;
use crate::config::RedisConfig;
use crate::connection;
use crate::error::{map_err, protocol};
use crate::keys::Keys;

/// A session [`Store`] on Redis (standalone, Sentinel or Cluster) or Valkey, through fred.
/// Cloning is cheap; clones share the connections.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pool: Pool,
    pub(crate) keys: Keys,
    pub(crate) topology: Topology,
    #[cfg_attr(not(feature = "replicas"), allow(dead_code))]
    pub(crate) replica_reads: bool,
    pub(crate) scripts: Scripts,
    pub(crate) clock: SystemClock,
    /// How long a script refused with TRYAGAIN is retried (the command timeout).
    pub(crate) retry_for: std::time::Duration,
}

/// How the store talks to its deployment, chosen once by `connect`.
pub(crate) enum Topology {
    /// A standalone server, or a Sentinel deployment's primary: one script per write.
    Standalone {
        /// Merges concurrent reads into MGET batches (`RedisConfig::coalesce_reads`; primary
        /// reads only).
        coalescer: Option<Arc<Coalescer>>,
    },
    /// A Redis Cluster: ordered single-slot steps, redirections followed by us.
    Cluster,
}

impl Topology {
    fn is_cluster(&self) -> bool {
        matches!(self, Topology::Cluster)
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.keys.prefix())
            .field("clustered", &self.inner.topology.is_cluster())
            .finish_non_exhaustive()
    }
}

pub(crate) fn decode_for(bytes: &[u8], id: &SessionId) -> Result<Session> {
    let session = codec::decode(bytes)?;
    if session.id != *id {
        return Err(CodecError::new("record stored under another session's key", 17).into());
    }
    Ok(session)
}

/// The version after `version`, or `InvalidInput` if it is at its maximum.
pub(crate) fn next_version(version: u64) -> Result<u64> {
    version
        .checked_add(1)
        .ok_or_else(|| Error::invalid("version", "at its maximum"))
}

impl RedisStore {
    /// Connects with `config`: builds the client, waits for the connection (bounded by
    /// `connect_timeout`) and loads the scripts.
    pub async fn connect(config: RedisConfig) -> Result<Self> {
        config.check()?;
        let resp = if config.resp3 {
            RespVersion::RESP3
        } else {
            RespVersion::RESP2
        };
        let mut fred_config = connection::fred_config(&config, resp)?;
        fred_config.fail_fast = true;
        let clustered = fred_config.server.is_clustered();
        let pool = connection::builder(&config, fred_config)
            .with_connection_config(|c| {
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
                // sent, and `crate::cluster::route` follows it (after a MOVED fred has already
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
            .build_pool(config.pool_size)
            .map_err(map_err)?;
        let init = async {
            pool.init().await?;
            pool.wait_for_connect().await
        };
        if let Err(e) = connection::wait_connected(&config, init).await {
            let _ = pool.quit().await;
            return Err(e);
        }
        let topology = if clustered {
            Topology::Cluster
        } else {
            Topology::Standalone {
                coalescer: (config.coalesce_reads && !config.replica_reads).then(|| {
                    Coalescer::new(pool.clone(), config.pool_size * config.coalesce_in_flight)
                }),
            }
        };
        let store = RedisStore {
            inner: Arc::new(Inner {
                pool,
                keys: Keys::new(&config.prefix),
                topology,
                replica_reads: config.replica_reads,
                scripts: Scripts::new(),
                clock: SystemClock,
                retry_for: config.command_timeout,
            }),
        };
        store.load_scripts(config.functions).await?;
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
        self.inner.topology.is_cluster()
    }

    /// [`Store::delete_by_user_id`] under its old name (it returns the same ids).
    pub async fn revoke_user(
        &self,
        user_id: &UserId,
        except: Option<&SessionId>,
    ) -> Result<Vec<SessionId>> {
        match self.inner.topology {
            Topology::Standalone { .. } => self.inner.revoke_standalone(user_id, except).await,
            Topology::Cluster => self.inner.revoke_cluster(user_id, except).await,
        }
    }

    /// Reads session `id` with one GET on `client` rather than on this store's pool: for a
    /// companion connection to the same deployment (store-hybrid refreshes invalidated
    /// entries on its tracking connection, whose replies its own thread reads). No read
    /// coalescing and no replicas; otherwise answered as [`Store::get`] is (the record is
    /// checked against its key, an expired one is `None`, a key of another type is `Codec`).
    ///
    /// [`Store::get`]: session_core::Store::get
    pub async fn get_on(
        &self,
        client: &fred::prelude::Client,
        id: &SessionId,
    ) -> Result<Option<Arc<Session>>> {
        let key = self.inner.keys.record(id);
        let bytes: Option<Bytes> = fred::prelude::KeysInterface::get(client, key)
            .await
            .map_err(map_err)?;
        match bytes {
            Some(bytes) => Ok(self.inner.live(decode_for(&bytes, id)?).map(Arc::new)),
            None => Ok(None),
        }
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

    pub(crate) async fn load_scripts(&self, functions: bool) -> Result<()> {
        self.inner
            .scripts
            .load(self.inner.pool.next(), functions)
            .await
    }
}

impl Inner {
    pub(crate) fn prefix(&self) -> Value {
        Value::from(self.keys.prefix())
    }

    pub(crate) async fn get_raw(&self, key: String) -> Result<Option<Bytes>> {
        #[cfg(feature = "replicas")]
        if self.replica_reads {
            return self.pool.next().replicas().get(key).await.map_err(map_err);
        }
        match &self.topology {
            Topology::Standalone { coalescer } => {
                self.get_standalone(coalescer.as_ref(), key).await
            }
            Topology::Cluster => self.get_routed(key).await,
        }
    }

    pub(crate) async fn get(&self, id: &SessionId) -> Result<Option<Session>> {
        match self.get_raw(self.keys.record(id)).await? {
            Some(bytes) => decode_for(&bytes, id).map(|s| self.live(s)),
            None => Ok(None),
        }
    }

    /// Redis keeps a key through the millisecond of its PXAT (it expires keys strictly after
    /// it); a session is over at `expires_at`. Reads drop what Redis still holds in that
    /// millisecond.
    pub(crate) fn live(&self, s: Session) -> Option<Session> {
        (!s.is_expired_at(self.clock.now())).then_some(s)
    }

    pub(crate) async fn get_many(&self, ids: &[SessionId]) -> Result<Vec<Option<Session>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let raw: Vec<Option<Bytes>> = match &self.topology {
            Topology::Standalone { coalescer } => {
                let keys = ids.iter().map(|id| self.keys.record(id)).collect();
                self.mget_standalone(coalescer.as_ref(), keys).await?
            }
            // Records hash to different slots: one GET each, sent together.
            Topology::Cluster => join_all(ids.iter().map(|id| self.get_raw(self.keys.record(id))))
                .await
                .into_iter()
                .collect::<Result<_>>()?,
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

    /// Runs a bucket script: over all buckets at once (standalone), or one call per bucket,
    /// sent together (Cluster: the buckets live in different slots). One result per bucket.
    pub(crate) async fn buckets(&self, op: &'static str) -> Result<Vec<Value>> {
        let calls: Vec<Vec<String>> = match self.topology {
            Topology::Standalone { .. } => vec![self.keys.buckets()],
            Topology::Cluster => self.keys.buckets().into_iter().map(|k| vec![k]).collect(),
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

    pub(crate) async fn by_user(&self, user: &UserId) -> Result<Vec<Session>> {
        let key = self.keys.user(user);
        let mut sessions = match self.topology {
            Topology::Standalone { .. } => self.by_user_standalone(key).await?,
            Topology::Cluster => self.by_user_cluster(key).await?,
        };
        // An index entry is a hint: keep only sessions that really are this user's.
        let now = self.clock.now();
        sessions.retain(|s| s.user_id == *user && !s.is_expired_at(now));
        sessions.sort_unstable_by_key(|s| s.id);
        sessions.dedup_by_key(|s| s.id);
        Ok(sessions)
    }
}

impl Store for RedisStore {
    async fn create(&self, mut session: Session) -> Result<Arc<Session>> {
        let inner = &*self.inner;
        session.validate(inner.clock.now())?;
        session.version = 1;
        let bytes = Bytes::from(codec::encode(&session));
        match inner.topology {
            Topology::Standalone { .. } => inner.create_standalone(&session, bytes).await?,
            Topology::Cluster => inner.create_cluster(&session, bytes).await?,
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
        match inner.topology {
            Topology::Standalone { .. } => {
                inner.update_standalone(&session, bytes, expected).await?
            }
            Topology::Cluster => inner.update_cluster(&session, bytes, expected).await?,
        }
        Ok(Arc::new(session))
    }

    async fn touch(&self, id: &SessionId, expires_at: Timestamp) -> Result<Arc<Session>> {
        let inner = &*self.inner;
        validate_expiry(expires_at, inner.clock.now())?;
        let s = match inner.topology {
            Topology::Standalone { .. } => inner.touch_standalone(id, expires_at).await?,
            Topology::Cluster => inner.touch_cluster(id, expires_at).await?,
        };
        Ok(Arc::new(s))
    }

    async fn delete(&self, id: &SessionId) -> Result<bool> {
        let inner = &*self.inner;
        match inner.topology {
            Topology::Standalone { .. } => inner.delete_standalone(id).await,
            Topology::Cluster => inner.delete_locked(id, None).await,
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

    async fn delete_by_user_id(
        &self,
        user_id: &UserId,
        except: Option<&SessionId>,
    ) -> Result<Vec<SessionId>> {
        self.revoke_user(user_id, except).await
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

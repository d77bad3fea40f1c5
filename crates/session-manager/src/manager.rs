//! [`SessionManager`]: the layer a service talks to, above any [`Store`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{broadcast, watch};
use tracing::field::Empty;

use session_core::{
    Computed, ConnectionId, Error, ListFilter, Op, Page, Result, Session, SessionBuilder,
    SessionId, SessionState, Store, Timestamp, Traced, UserId, in_span,
};

use crate::{DeleteReason, ManagerConfig, SessionEvent, SessionToken, TOKEN_HASH_KEY};

/// A session just created, and the token to give its client (shown once: the store keeps
/// only its hash).
#[derive(Debug, Clone)]
pub struct CreatedSession {
    /// The stored session (version 1).
    pub session: Arc<Session>,
    /// The client's credential.
    pub token: SessionToken,
}

/// What a [`SessionManager::heartbeat`] did.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    /// The session after the heartbeat.
    pub session: Arc<Session>,
    /// True if the heartbeat wrote (slid the expiry); false if it was within
    /// [`ManagerConfig::heartbeat_interval`] of the last written one.
    pub written: bool,
}

/// What [`SessionManager::revoke_user`] deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revocation {
    /// The sessions deleted, by id, in id order.
    pub ids: Vec<SessionId>,
}

impl Revocation {
    /// How many sessions were deleted in all.
    pub fn total(&self) -> u64 {
        self.ids.len() as u64
    }
}

/// Counters of one manager instance since it was built, and the store's live count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManagerStats {
    /// Live sessions in the store ([`Store::count`]; all instances sharing it).
    pub live_sessions: u64,
    /// Sessions created here.
    pub created: u64,
    /// Successful `update_session` calls here.
    pub updated: u64,
    /// Sessions deleted here by `delete_session` (and heartbeats past the lifetime).
    pub deleted: u64,
    /// Sessions deleted here by `revoke_user`.
    pub revoked: u64,
    /// Expired sessions reclaimed by cleanup passes here.
    pub expired_reclaimed: u64,
    /// Heartbeats received.
    pub heartbeats: u64,
    /// Heartbeats that wrote to the store.
    pub heartbeat_writes: u64,
    /// Tokens refused (malformed, unknown session, or wrong secret).
    pub tokens_refused: u64,
}

#[derive(Debug, Default)]
struct Counters {
    created: AtomicU64,
    updated: AtomicU64,
    deleted: AtomicU64,
    revoked: AtomicU64,
    expired_reclaimed: AtomicU64,
    heartbeats: AtomicU64,
    heartbeat_writes: AtomicU64,
    tokens_refused: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

pub(crate) struct Inner<S> {
    store: Traced<S>,
    pub(crate) config: ManagerConfig,
    events: broadcast::Sender<SessionEvent>,
    counters: Counters,
    /// Dropped with the last manager handle; cleanup tasks watch it to stop at once.
    pub(crate) alive: watch::Sender<()>,
}

/// Sessions for a service: creation with a client token, lookup by id, connection or token,
/// compare-and-set updates, heartbeats with a sliding expiry under an absolute lifetime,
/// revocation, events and a cleanup task, over any [`Store`].
///
/// Cloning is cheap and clones share everything. Every operation runs in a `DEBUG` span
/// `session_manager` (fields `op`, `store`, `outcome`, `duration_us`), and the store is
/// wrapped in [`Traced`] so each store call inside gets its own `session_store` span.
///
/// Expiry: a session is created to expire `idle_timeout` from now (or at the end of its
/// `max_lifetime`, if sooner); each written heartbeat moves the expiry to `idle_timeout`
/// from then, never past `created_at + max_lifetime`.
///
/// Needs a tokio runtime only for [`SessionManager::spawn_cleanup`]. The
/// [crate docs](crate) have an example.
pub struct SessionManager<S> {
    pub(crate) inner: Arc<Inner<S>>,
}

impl<S> std::fmt::Debug for SessionManager<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionManager")
            .field("store", &self.inner.config.store_name)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl<S> Clone for SessionManager<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

macro_rules! manager_span {
    ($self:ident, $op:literal, $fut:expr) => {
        in_span(
            || {
                tracing::debug_span!(
                    "session_manager",
                    op = $op,
                    store = $self.inner.config.store_name,
                    outcome = Empty,
                    duration_us = Empty
                )
            },
            $fut,
        )
    };
}

impl<S: Store> SessionManager<S> {
    /// A manager over `store`.
    pub fn new(store: S, config: ManagerConfig) -> Self {
        let (events, _) = broadcast::channel(config.event_capacity);
        let (alive, _) = watch::channel(());
        Self {
            inner: Arc::new(Inner {
                store: Traced::new(store, config.store_name),
                config,
                events,
                counters: Counters::default(),
                alive,
            }),
        }
    }

    /// The store, traced.
    pub fn store(&self) -> &Traced<S> {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &ManagerConfig {
        &self.inner.config
    }

    /// A receiver of every event sent from now on. A subscriber that falls more than
    /// [`ManagerConfig::event_capacity`] events behind gets `RecvError::Lagged` and skips
    /// ahead; the manager never waits for subscribers.
    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.inner.events.subscribe()
    }

    fn emit(&self, event: SessionEvent) {
        // An error only means nobody is subscribed.
        let _ = self.inner.events.send(event);
    }

    fn now(&self) -> Timestamp {
        self.inner.config.clock.now()
    }

    fn lifetime_end(&self, session: &Session) -> Timestamp {
        session.created_at + self.inner.config.max_lifetime
    }

    /// A builder for a session of `user_id`, to give to
    /// [`create_session`](Self::create_session): state [`SessionState::Active`], expiring
    /// `idle_timeout` from now (or at the end of `max_lifetime`, if sooner). Set its
    /// connection id, addresses, state, metadata and counters as needed.
    ///
    /// ```
    /// use session_core::{SessionState, UserId};
    /// use session_manager::{ManagerConfig, SessionManager};
    /// use store_memory::MemoryStore;
    ///
    /// let manager = SessionManager::new(MemoryStore::new(), ManagerConfig::new());
    /// let new = manager
    ///     .new_session(UserId::new("alice")?)
    ///     .client_addr("203.0.113.7:51000".parse().unwrap())
    ///     .state(SessionState::Idle)
    ///     .metadata("device", "laptop");
    /// # let _ = new;
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn new_session(&self, user_id: UserId) -> SessionBuilder {
        Session::builder(user_id, self.now(), self.ttl()).state(SessionState::Active)
    }

    fn ttl(&self) -> std::time::Duration {
        let config = &self.inner.config;
        config.idle_timeout.min(config.max_lifetime)
    }

    /// Creates the session `new` builds (from [`new_session`](Self::new_session), or any
    /// [`Session::builder`]) and its client token.
    ///
    /// The manager sets the times: the session is created now and expires `idle_timeout`
    /// from now (or at the end of `max_lifetime`, if sooner), whatever the builder said.
    /// Fails with [`Error::InvalidInput`] if `new` carries [`TOKEN_HASH_KEY`] in its metadata
    /// or the metadata is over its limits (the hash takes one entry), and with the store's
    /// errors ([`Error::AlreadyExists`] for an id or a connection id in use).
    pub async fn create_session(&self, new: SessionBuilder) -> Result<CreatedSession> {
        manager_span!(self, "create_session", self.create_inner(new)).await
    }

    async fn create_inner(&self, new: SessionBuilder) -> Result<CreatedSession> {
        let mut session = new.build();
        if session.metadata.contains_key(TOKEN_HASH_KEY) {
            return Err(reserved_key());
        }
        let now = self.now();
        session.created_at = now;
        session.last_active_at = now;
        session.expires_at = now + self.ttl();
        let (token, hash) = SessionToken::generate(session.id)?;
        session.metadata.insert(TOKEN_HASH_KEY.to_owned(), hash);
        let session = self.inner.store.create(session).await?;
        bump(&self.inner.counters.created, 1);
        self.emit(SessionEvent::Created(Arc::clone(&session)));
        Ok(CreatedSession { session, token })
    }

    /// The live session with this id.
    pub async fn get_session(&self, id: &SessionId) -> Result<Option<Arc<Session>>> {
        manager_span!(self, "get_session", self.inner.store.get(id)).await
    }

    /// The live session holding this connection id.
    pub async fn get_session_by_connection(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<Option<Arc<Session>>> {
        manager_span!(
            self,
            "get_session_by_connection",
            self.inner.store.get_by_connection_id(connection_id)
        )
        .await
    }

    /// The live session a client token belongs to: `None` if the session is gone or the
    /// secret does not match (the two are not told apart), [`Error::InvalidInput`] (field
    /// `"token"`) if the text is not a token at all. One store read; no panic on any input.
    pub async fn get_session_by_token(&self, token: &str) -> Result<Option<Arc<Session>>> {
        manager_span!(self, "get_session_by_token", self.by_token(token)).await
    }

    async fn by_token(&self, token: &str) -> Result<Option<Arc<Session>>> {
        let token = match SessionToken::parse(token) {
            Ok(t) => t,
            Err(e) => {
                bump(&self.inner.counters.tokens_refused, 1);
                return Err(e);
            }
        };
        let session = self.inner.store.get(&token.session_id()).await?;
        let session = session.filter(|s| {
            s.metadata
                .get(TOKEN_HASH_KEY)
                .is_some_and(|hash| token.matches(hash))
        });
        if session.is_none() {
            bump(&self.inner.counters.tokens_refused, 1);
        }
        Ok(session)
    }

    /// Changes a session with compare-and-set ([`Store::update_with`]: `change` is applied to
    /// a fresh copy and retried on a conflict) and returns the stored result.
    ///
    /// `change` may set the state, connection id, addresses, metadata, stats,
    /// `last_active_at`, and the expiry within the session's lifetime. It may not change the
    /// id, user id, creation time or version, nor set, change or remove [`TOKEN_HASH_KEY`]:
    /// any of those gives [`Error::InvalidInput`] and nothing is written, as does an error
    /// returned by `change` itself.
    pub async fn update_session<F>(&self, id: &SessionId, change: F) -> Result<Arc<Session>>
    where
        F: FnMut(&mut Session) -> Result<()> + Send,
    {
        manager_span!(self, "update_session", self.update_inner(id, change)).await
    }

    async fn update_inner<F>(&self, id: &SessionId, mut change: F) -> Result<Arc<Session>>
    where
        F: FnMut(&mut Session) -> Result<()> + Send,
    {
        let max_lifetime = self.inner.config.max_lifetime;
        let session = self
            .inner
            .store
            .update_with(id, |s| {
                let id = s.id;
                let user = s.user_id.clone();
                let created_at = s.created_at;
                let version = s.version;
                let hash = s.metadata.get(TOKEN_HASH_KEY).map(str::to_owned);
                change(s)?;
                if s.id != id {
                    return Err(Error::invalid("id", "a session's id cannot change"));
                }
                if s.user_id != user {
                    return Err(Error::invalid("user_id", "a session's user cannot change"));
                }
                if s.created_at != created_at {
                    return Err(Error::invalid("created_at", "cannot change"));
                }
                if s.version != version {
                    return Err(Error::invalid("version", "is assigned by the store"));
                }
                if s.metadata.get(TOKEN_HASH_KEY) != hash.as_deref() {
                    return Err(reserved_key());
                }
                if s.expires_at > created_at + max_lifetime {
                    return Err(Error::invalid(
                        "expires_at",
                        "after the end of the session's lifetime",
                    ));
                }
                Ok(())
            })
            .await?;
        bump(&self.inner.counters.updated, 1);
        self.emit(SessionEvent::Updated(Arc::clone(&session)));
        Ok(session)
    }

    /// Deletes a session; true if a live one was there (then a
    /// [`SessionEvent::Deleted`] with `reason` is sent).
    pub async fn delete_session(&self, id: &SessionId, reason: DeleteReason) -> Result<bool> {
        manager_span!(self, "delete_session", self.delete_inner(id, reason)).await
    }

    async fn delete_inner(&self, id: &SessionId, reason: DeleteReason) -> Result<bool> {
        let deleted = self.inner.store.delete(id).await?;
        if deleted {
            self.deleted(id, reason);
        }
        Ok(deleted)
    }

    /// Counts and announces a deletion made here.
    fn deleted(&self, id: &SessionId, reason: DeleteReason) {
        bump(&self.inner.counters.deleted, 1);
        self.emit(SessionEvent::Deleted { id: *id, reason });
    }

    /// A page of live sessions matching `filter`, with the exact total.
    pub async fn list_sessions(&self, filter: &ListFilter) -> Result<Page> {
        manager_span!(self, "list_sessions", self.inner.store.list(filter)).await
    }

    /// Every live session of `user_id`, oldest first.
    pub async fn user_sessions(&self, user_id: &UserId) -> Result<Vec<Arc<Session>>> {
        manager_span!(
            self,
            "user_sessions",
            self.inner.store.get_by_user_id(user_id)
        )
        .await
    }

    /// Marks a session alive: moves its expiry to `idle_timeout` from now, never past
    /// `created_at + max_lifetime`, sets `last_active_at`, and, as the Go original's
    /// heartbeat did, moves an [`Idle`](SessionState::Idle) or
    /// [`Connecting`](SessionState::Connecting) session to [`Active`](SessionState::Active)
    /// (other states are left as they are).
    ///
    /// Throttled: a heartbeat within [`ManagerConfig::heartbeat_interval`] of the last
    /// written one reads the session but writes nothing (unless it must move the state), so a burst of heartbeats (from any
    /// number of tasks or instances) costs at most one store write per interval; concurrent
    /// heartbeats that lose the compare-and-set re-read and see the winner's write.
    ///
    /// [`Error::NotFound`] if the session is gone. A session found at or past the end of its
    /// lifetime is deleted ([`DeleteReason::LifetimeEnded`]) and reported as not found.
    pub async fn heartbeat(&self, id: &SessionId) -> Result<Heartbeat> {
        manager_span!(self, "heartbeat", self.heartbeat_inner(id)).await
    }

    async fn heartbeat_inner(&self, id: &SessionId) -> Result<Heartbeat> {
        let counters = &self.inner.counters;
        bump(&counters.heartbeats, 1);
        let config = &self.inner.config;
        let interval = config.heartbeat_interval();
        let computed = self
            .inner
            .store
            .compute(id, |current| {
                let now = self.now();
                let end = self.lifetime_end(current);
                if end <= now {
                    return Ok(Op::Delete);
                }
                let activate =
                    matches!(current.state, SessionState::Idle | SessionState::Connecting);
                if !activate && now.duration_since(current.last_active_at) < interval {
                    return Ok(Op::Keep);
                }
                let mut next = Session::clone(current);
                next.last_active_at = now;
                next.expires_at = (now + config.idle_timeout).min(end);
                if activate {
                    next.state = SessionState::Active;
                }
                Ok(Op::Write(next))
            })
            .await?;
        match computed {
            Computed::Kept(session) => Ok(Heartbeat {
                session,
                written: false,
            }),
            Computed::Written(session) => {
                bump(&counters.heartbeat_writes, 1);
                Ok(Heartbeat {
                    session,
                    written: true,
                })
            }
            Computed::Deleted { existed } => {
                if existed {
                    self.deleted(id, DeleteReason::LifetimeEnded);
                }
                Err(Error::NotFound { id: *id })
            }
        }
    }

    /// Deletes every live session of `user_id` except `except` ("log out my other devices")
    /// with one [`Store::delete_by_user_id`], and returns what it deleted; sends one
    /// [`SessionEvent::Revoked`].
    pub async fn revoke_user(
        &self,
        user_id: &UserId,
        except: Option<&SessionId>,
    ) -> Result<Revocation> {
        manager_span!(self, "revoke_user", self.revoke_inner(user_id, except)).await
    }

    async fn revoke_inner(
        &self,
        user_id: &UserId,
        except: Option<&SessionId>,
    ) -> Result<Revocation> {
        let mut ids = self.inner.store.delete_by_user_id(user_id, except).await?;
        ids.sort();
        let revocation = Revocation { ids };
        bump(&self.inner.counters.revoked, revocation.total());
        self.emit(SessionEvent::Revoked {
            user_id: user_id.clone(),
            ids: revocation.ids.clone(),
            except: except.copied(),
        });
        Ok(revocation)
    }

    /// One cleanup pass: [`Store::delete_expired`], and a [`SessionEvent::Expired`] if it
    /// removed any. Returns how many it removed.
    pub async fn cleanup(&self) -> Result<u64> {
        manager_span!(self, "cleanup", self.cleanup_inner()).await
    }

    async fn cleanup_inner(&self) -> Result<u64> {
        let count = self.inner.store.delete_expired().await?;
        if count > 0 {
            bump(&self.inner.counters.expired_reclaimed, count);
            self.emit(SessionEvent::Expired { count });
        }
        Ok(count)
    }

    /// This instance's counters and the store's live count.
    pub async fn stats(&self) -> Result<ManagerStats> {
        manager_span!(self, "stats", self.stats_inner()).await
    }

    async fn stats_inner(&self) -> Result<ManagerStats> {
        let live_sessions = self.inner.store.count().await?;
        let c = &self.inner.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Ok(ManagerStats {
            live_sessions,
            created: load(&c.created),
            updated: load(&c.updated),
            deleted: load(&c.deleted),
            revoked: load(&c.revoked),
            expired_reclaimed: load(&c.expired_reclaimed),
            heartbeats: load(&c.heartbeats),
            heartbeat_writes: load(&c.heartbeat_writes),
            tokens_refused: load(&c.tokens_refused),
        })
    }
}

fn reserved_key() -> Error {
    Error::invalid(
        "metadata",
        "session_manager.token_sha256 is reserved for the manager",
    )
}

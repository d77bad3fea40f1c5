//! The `Store` trait every backend implements, and its object-safe twin `DynStore`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::{Error, Result};
use crate::id::{ConnectionId, SessionId, UserId};
use crate::model::{Session, SessionState};
use crate::time::Timestamp;

/// Which sessions [`Store::list`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListFilter {
    /// Only this user's sessions.
    pub user_id: Option<UserId>,
    /// Only sessions in this state.
    pub state: Option<SessionState>,
    /// At most this many sessions in the page.
    pub limit: usize,
    /// Skip this many matching sessions first.
    pub offset: usize,
}

impl ListFilter {
    /// The default page size.
    pub const DEFAULT_LIMIT: usize = 100;

    /// Every session, first page of [`Self::DEFAULT_LIMIT`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Only `user`'s sessions.
    pub fn user(mut self, user: UserId) -> Self {
        self.user_id = Some(user);
        self
    }

    /// Only sessions in `state`.
    pub fn state(mut self, state: SessionState) -> Self {
        self.state = Some(state);
        self
    }

    /// Page size.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Matching sessions to skip.
    pub fn offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }

    /// True if `session` passes the user and state conditions.
    pub fn matches(&self, session: &Session) -> bool {
        self.user_id.as_ref().is_none_or(|u| *u == session.user_id)
            && self.state.is_none_or(|s| s == session.state)
    }
}

impl Default for ListFilter {
    fn default() -> Self {
        Self {
            user_id: None,
            state: None,
            limit: Self::DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

/// One page of [`Store::list`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    /// The sessions of this page, ordered by id (that is, by creation time).
    pub sessions: Vec<Arc<Session>>,
    /// How many live sessions match the filter in all pages.
    pub total: u64,
}

/// How many times [`Store::update_with`] re-reads and retries after a [`Error::Conflict`].
pub const UPDATE_WITH_MAX_ATTEMPTS: usize = 1024;

/// A session store.
///
/// Every implementation keeps the promises in the crate docs, and the conformance suite
/// (feature `conformance`) checks them. Methods return `Send` futures; implementors write
/// `async fn`. For a trait object use [`DynStore`], which every `Store` implements.
///
/// Reads return `Arc<Session>`: an in-process store hands out the record it holds without
/// copying it, and a caller that wants to change a session clones it
/// (`Session::clone(&arc)`, or `Arc::unwrap_or_clone`), edits the copy and sends it to
/// [`Store::update`]. The clone is cheap: the user id and the metadata are shared buffers
/// (a [`Metadata`](crate::Metadata) is copied only when the copy's metadata is changed).
pub trait Store: Send + Sync {
    /// Stores a new session with version 1 and returns it.
    ///
    /// Fails with [`Error::AlreadyExists`] if a live session has the same id or connection
    /// id, and with [`Error::InvalidInput`] if the expiry is not in the future or the
    /// metadata is beyond its limits. A failed create changes nothing.
    fn create(&self, session: Session) -> impl Future<Output = Result<Arc<Session>>> + Send;

    /// The live session with this id.
    fn get(&self, id: &SessionId) -> impl Future<Output = Result<Option<Arc<Session>>>> + Send;

    /// The live sessions with these ids, in the order asked, `None` for each miss.
    fn get_many(
        &self,
        ids: &[SessionId],
    ) -> impl Future<Output = Result<Vec<Option<Arc<Session>>>>> + Send;

    /// Compare-and-set: replaces the stored session if its version equals
    /// `session.version`, and returns the stored result (version + 1).
    ///
    /// A stale version gives [`Error::Conflict`]; a missing or expired session
    /// [`Error::NotFound`]. The user and connection indexes follow a changed user or
    /// connection id; a connection id held by another live session gives
    /// [`Error::AlreadyExists`].
    fn update(&self, session: Session) -> impl Future<Output = Result<Arc<Session>>> + Send;

    /// Sets a live session's expiry without the caller sending the record, bumping its
    /// version. The new expiry may be earlier or later but must be in the future.
    fn touch(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
    ) -> impl Future<Output = Result<Arc<Session>>> + Send;

    /// Deletes a session; true if a live one was there.
    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<bool>> + Send;

    /// A page of live sessions matching `filter`, ordered by id, with the exact total.
    fn list(&self, filter: &ListFilter) -> impl Future<Output = Result<Page>> + Send;

    /// The live session holding this connection id.
    fn get_by_connection_id(
        &self,
        connection_id: &ConnectionId,
    ) -> impl Future<Output = Result<Option<Arc<Session>>>> + Send;

    /// Every live session of `user_id`, ordered by id.
    fn get_by_user_id(
        &self,
        user_id: &UserId,
    ) -> impl Future<Output = Result<Vec<Arc<Session>>>> + Send;

    /// Deletes every live session of `user_id` except `except` ("log out my other
    /// devices"), and returns the ids of the sessions it deleted (in no particular order), so
    /// that a caller (a cache to evict, events to send) need not work them out again.
    fn delete_by_user_id(
        &self,
        user_id: &UserId,
        except: Option<&SessionId>,
    ) -> impl Future<Output = Result<Vec<SessionId>>> + Send;

    /// Reclaims the space of expired sessions (which are already invisible) and returns how
    /// many were removed. A store that drops expired sessions by itself (the Redis store: its
    /// keys expire, and every index key with its latest member) may have none left to remove.
    fn delete_expired(&self) -> impl Future<Output = Result<u64>> + Send;

    /// The number of live sessions.
    fn count(&self) -> impl Future<Output = Result<u64>> + Send;

    /// Reads the session and lets `decide` say what to do with it: [`Op::Write`] a new
    /// version (with [`Store::update`], so compare-and-set), [`Op::Keep`] it as it is, or
    /// [`Op::Delete`] it. A write that meets [`Error::Conflict`] is retried from a fresh read,
    /// `decide` being asked again (up to [`UPDATE_WITH_MAX_ATTEMPTS`] times). An error from
    /// `decide` stops it and is returned, with nothing written. [`Error::NotFound`] if there is
    /// no live session `id`. (moka's `and_compute_with` is the model.)
    ///
    /// ```
    /// use session_core::{Computed, Op, Result, SessionId, SessionState, Store};
    ///
    /// /// Closes a session unless it is already closed (then nothing is written).
    /// async fn close<S: Store>(store: &S, id: &SessionId) -> Result<bool> {
    ///     let done = store
    ///         .compute(id, |s| {
    ///             if s.state == SessionState::Closed {
    ///                 return Ok(Op::Keep);
    ///             }
    ///             let mut next = (**s).clone();
    ///             next.state = SessionState::Closed;
    ///             Ok(Op::Write(next))
    ///         })
    ///         .await?;
    ///     Ok(matches!(done, Computed::Written(_)))
    /// }
    /// # let _ = close::<std::sync::Arc<dyn session_core::DynStore>>;
    /// ```
    fn compute<F>(
        &self,
        id: &SessionId,
        mut decide: F,
    ) -> impl Future<Output = Result<Computed>> + Send
    where
        F: FnMut(&Arc<Session>) -> Result<Op> + Send,
        Self: Sized,
    {
        async move {
            let mut last = None;
            for attempt in 0..UPDATE_WITH_MAX_ATTEMPTS {
                if attempt > 0 {
                    YieldNow(false).await;
                }
                let current = self.get(id).await?.ok_or(Error::NotFound { id: *id })?;
                match decide(&current)? {
                    Op::Keep => return Ok(Computed::Kept(current)),
                    Op::Delete => {
                        let existed = self.delete(id).await?;
                        return Ok(Computed::Deleted { existed });
                    }
                    Op::Write(next) => match self.update(next).await {
                        Err(e) if e.is_conflict() => last = Some(e),
                        other => return other.map(Computed::Written),
                    },
                }
            }
            Err(last.unwrap_or(Error::NotFound { id: *id }))
        }
    }

    /// Reads the session, applies `change` to a copy and writes it back with
    /// [`Store::update`], retrying from a fresh read on [`Error::Conflict`] (up to
    /// [`UPDATE_WITH_MAX_ATTEMPTS`] times). An error from `change` stops it and is returned.
    /// [`Store::compute`] whose closure always writes.
    fn update_with<F>(
        &self,
        id: &SessionId,
        mut change: F,
    ) -> impl Future<Output = Result<Arc<Session>>> + Send
    where
        F: FnMut(&mut Session) -> Result<()> + Send,
        Self: Sized,
    {
        let computed = self.compute(id, move |current| {
            let mut next = Session::clone(current);
            change(&mut next)?;
            Ok(Op::Write(next))
        });
        async move {
            match computed.await? {
                Computed::Written(session) | Computed::Kept(session) => Ok(session),
                Computed::Deleted { .. } => Err(Error::NotFound { id: *id }),
            }
        }
    }
}

/// What the closure of [`Store::compute`] decides for the session it was shown.
// A `Write` is built once per attempt and moved straight into `update`: boxing it would
// only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Op {
    /// Write this as the next version (compare-and-set on the version it carries).
    Write(Session),
    /// Leave the session as it is; nothing is written.
    Keep,
    /// Delete the session.
    Delete,
}

/// What [`Store::compute`] did.
#[derive(Debug, Clone)]
pub enum Computed {
    /// The session was written; this is the stored result.
    Written(Arc<Session>),
    /// Nothing was written; this is the session as read.
    Kept(Arc<Session>),
    /// The session was deleted; `existed` is false if it was already gone (deleted or
    /// expired) by the time the delete ran.
    Deleted {
        /// What [`Store::delete`] answered.
        existed: bool,
    },
}

/// Yields once to the executor, so that a retry lets the winner of a race finish.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A boxed `Send` future, as [`DynStore`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe twin of [`Store`]: every `Store` is a `DynStore`, and
/// `Arc<dyn DynStore>` (or `Box<dyn DynStore>`) is a `Store` again.
///
/// ```
/// use std::sync::Arc;
/// use session_core::{DynStore, Store};
///
/// /// A service that picks its store at run time holds it as one type.
/// pub struct App {
///     pub sessions: Arc<dyn DynStore>,
/// }
///
/// impl App {
///     pub fn new(store: impl Store + 'static) -> Self {
///         App { sessions: Arc::new(store) }
///     }
///
///     /// `Arc<dyn DynStore>` is a `Store` again, with the same methods.
///     pub async fn live_sessions(&self) -> session_core::Result<u64> {
///         self.sessions.count().await
///     }
/// }
/// # fn main() {}
/// ```
#[allow(missing_docs)]
pub trait DynStore: Send + Sync {
    fn create_dyn(&self, session: Session) -> BoxFuture<'_, Result<Arc<Session>>>;
    fn get_dyn<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Option<Arc<Session>>>>;
    fn get_many_dyn<'a>(
        &'a self,
        ids: &'a [SessionId],
    ) -> BoxFuture<'a, Result<Vec<Option<Arc<Session>>>>>;
    fn update_dyn(&self, session: Session) -> BoxFuture<'_, Result<Arc<Session>>>;
    fn touch_dyn<'a>(
        &'a self,
        id: &'a SessionId,
        expires_at: Timestamp,
    ) -> BoxFuture<'a, Result<Arc<Session>>>;
    fn delete_dyn<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<bool>>;
    fn list_dyn<'a>(&'a self, filter: &'a ListFilter) -> BoxFuture<'a, Result<Page>>;
    fn get_by_connection_id_dyn<'a>(
        &'a self,
        connection_id: &'a ConnectionId,
    ) -> BoxFuture<'a, Result<Option<Arc<Session>>>>;
    fn get_by_user_id_dyn<'a>(
        &'a self,
        user_id: &'a UserId,
    ) -> BoxFuture<'a, Result<Vec<Arc<Session>>>>;
    fn delete_by_user_id_dyn<'a>(
        &'a self,
        user_id: &'a UserId,
        except: Option<&'a SessionId>,
    ) -> BoxFuture<'a, Result<Vec<SessionId>>>;
    fn delete_expired_dyn(&self) -> BoxFuture<'_, Result<u64>>;
    fn count_dyn(&self) -> BoxFuture<'_, Result<u64>>;
}

impl<S: Store> DynStore for S {
    fn create_dyn(&self, session: Session) -> BoxFuture<'_, Result<Arc<Session>>> {
        Box::pin(self.create(session))
    }
    fn get_dyn<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Option<Arc<Session>>>> {
        Box::pin(self.get(id))
    }
    fn get_many_dyn<'a>(
        &'a self,
        ids: &'a [SessionId],
    ) -> BoxFuture<'a, Result<Vec<Option<Arc<Session>>>>> {
        Box::pin(self.get_many(ids))
    }
    fn update_dyn(&self, session: Session) -> BoxFuture<'_, Result<Arc<Session>>> {
        Box::pin(self.update(session))
    }
    fn touch_dyn<'a>(
        &'a self,
        id: &'a SessionId,
        expires_at: Timestamp,
    ) -> BoxFuture<'a, Result<Arc<Session>>> {
        Box::pin(self.touch(id, expires_at))
    }
    fn delete_dyn<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.delete(id))
    }
    fn list_dyn<'a>(&'a self, filter: &'a ListFilter) -> BoxFuture<'a, Result<Page>> {
        Box::pin(self.list(filter))
    }
    fn get_by_connection_id_dyn<'a>(
        &'a self,
        connection_id: &'a ConnectionId,
    ) -> BoxFuture<'a, Result<Option<Arc<Session>>>> {
        Box::pin(self.get_by_connection_id(connection_id))
    }
    fn get_by_user_id_dyn<'a>(
        &'a self,
        user_id: &'a UserId,
    ) -> BoxFuture<'a, Result<Vec<Arc<Session>>>> {
        Box::pin(self.get_by_user_id(user_id))
    }
    fn delete_by_user_id_dyn<'a>(
        &'a self,
        user_id: &'a UserId,
        except: Option<&'a SessionId>,
    ) -> BoxFuture<'a, Result<Vec<SessionId>>> {
        Box::pin(self.delete_by_user_id(user_id, except))
    }
    fn delete_expired_dyn(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(self.delete_expired())
    }
    fn count_dyn(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(self.count())
    }
}

// The async blocks let each returned future capture both of its borrows (`self` and the
// argument) rather than one lifetime that outlives neither.
macro_rules! forward_to_dyn {
    ($ty:ty) => {
        impl Store for $ty {
            fn create(
                &self,
                session: Session,
            ) -> impl Future<Output = Result<Arc<Session>>> + Send {
                async move { (**self).create_dyn(session).await }
            }
            fn get(
                &self,
                id: &SessionId,
            ) -> impl Future<Output = Result<Option<Arc<Session>>>> + Send {
                async move { (**self).get_dyn(id).await }
            }
            fn get_many(
                &self,
                ids: &[SessionId],
            ) -> impl Future<Output = Result<Vec<Option<Arc<Session>>>>> + Send {
                async move { (**self).get_many_dyn(ids).await }
            }
            fn update(
                &self,
                session: Session,
            ) -> impl Future<Output = Result<Arc<Session>>> + Send {
                async move { (**self).update_dyn(session).await }
            }
            fn touch(
                &self,
                id: &SessionId,
                expires_at: Timestamp,
            ) -> impl Future<Output = Result<Arc<Session>>> + Send {
                async move { (**self).touch_dyn(id, expires_at).await }
            }
            fn delete(&self, id: &SessionId) -> impl Future<Output = Result<bool>> + Send {
                async move { (**self).delete_dyn(id).await }
            }
            fn list(&self, filter: &ListFilter) -> impl Future<Output = Result<Page>> + Send {
                async move { (**self).list_dyn(filter).await }
            }
            fn get_by_connection_id(
                &self,
                connection_id: &ConnectionId,
            ) -> impl Future<Output = Result<Option<Arc<Session>>>> + Send {
                async move { (**self).get_by_connection_id_dyn(connection_id).await }
            }
            fn get_by_user_id(
                &self,
                user_id: &UserId,
            ) -> impl Future<Output = Result<Vec<Arc<Session>>>> + Send {
                async move { (**self).get_by_user_id_dyn(user_id).await }
            }
            fn delete_by_user_id(
                &self,
                user_id: &UserId,
                except: Option<&SessionId>,
            ) -> impl Future<Output = Result<Vec<SessionId>>> + Send {
                async move { (**self).delete_by_user_id_dyn(user_id, except).await }
            }
            fn delete_expired(&self) -> impl Future<Output = Result<u64>> + Send {
                async move { (**self).delete_expired_dyn().await }
            }
            fn count(&self) -> impl Future<Output = Result<u64>> + Send {
                async move { (**self).count_dyn().await }
            }
        }
    };
}

forward_to_dyn!(Arc<dyn DynStore>);
forward_to_dyn!(Box<dyn DynStore>);

/// A shared store is a store.
impl<S: Store> Store for Arc<S> {
    fn create(&self, session: Session) -> impl Future<Output = Result<Arc<Session>>> + Send {
        (**self).create(session)
    }
    fn get(&self, id: &SessionId) -> impl Future<Output = Result<Option<Arc<Session>>>> + Send {
        (**self).get(id)
    }
    fn get_many(
        &self,
        ids: &[SessionId],
    ) -> impl Future<Output = Result<Vec<Option<Arc<Session>>>>> + Send {
        (**self).get_many(ids)
    }
    fn update(&self, session: Session) -> impl Future<Output = Result<Arc<Session>>> + Send {
        (**self).update(session)
    }
    fn touch(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
    ) -> impl Future<Output = Result<Arc<Session>>> + Send {
        (**self).touch(id, expires_at)
    }
    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<bool>> + Send {
        (**self).delete(id)
    }
    fn list(&self, filter: &ListFilter) -> impl Future<Output = Result<Page>> + Send {
        (**self).list(filter)
    }
    fn get_by_connection_id(
        &self,
        connection_id: &ConnectionId,
    ) -> impl Future<Output = Result<Option<Arc<Session>>>> + Send {
        (**self).get_by_connection_id(connection_id)
    }
    fn get_by_user_id(
        &self,
        user_id: &UserId,
    ) -> impl Future<Output = Result<Vec<Arc<Session>>>> + Send {
        (**self).get_by_user_id(user_id)
    }
    fn delete_by_user_id(
        &self,
        user_id: &UserId,
        except: Option<&SessionId>,
    ) -> impl Future<Output = Result<Vec<SessionId>>> + Send {
        (**self).delete_by_user_id(user_id, except)
    }
    fn delete_expired(&self) -> impl Future<Output = Result<u64>> + Send {
        (**self).delete_expired()
    }
    fn count(&self) -> impl Future<Output = Result<u64>> + Send {
        (**self).count()
    }
}

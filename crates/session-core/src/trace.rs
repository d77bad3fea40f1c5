//! [`Traced`]: a [`Store`] wrapper that puts a `tracing` span on every store operation.
//!
//! Each operation runs inside a `DEBUG` span named `session_store` with the fields `op` (the
//! method, e.g. `"get"`), `store` (the name given to [`Traced::new`]), `outcome` (see
//! [`Outcome`]) and `duration_us`. With no subscriber, or one that does not want the span,
//! the cost is one check of the callsite's cached interest: the clock is not read and nothing
//! is recorded (measured in `benches/benches/tracing.rs`).

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;
use tracing::field::Empty;

use crate::error::{Error, Result};
use crate::id::{ConnectionId, SessionId, UserId};
use crate::model::Session;
use crate::store::{ListFilter, Page, Store};
use crate::time::Timestamp;

/// How an operation ended, as recorded in a span's `outcome` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It succeeded.
    Ok,
    /// [`Error::NotFound`].
    NotFound,
    /// [`Error::Conflict`].
    Conflict,
    /// [`Error::AlreadyExists`].
    AlreadyExists,
    /// [`Error::InvalidInput`].
    InvalidInput,
    /// Any other error (backend, timeout, codec, capacity).
    Error,
}

impl Outcome {
    /// The outcome of `result`.
    pub fn of<T>(result: &Result<T>) -> Self {
        match result {
            Ok(_) => Outcome::Ok,
            Err(Error::NotFound { .. }) => Outcome::NotFound,
            Err(Error::Conflict { .. }) => Outcome::Conflict,
            Err(Error::AlreadyExists(_)) => Outcome::AlreadyExists,
            Err(Error::InvalidInput { .. }) => Outcome::InvalidInput,
            Err(_) => Outcome::Error,
        }
    }

    /// The text recorded in spans: `ok`, `not_found`, `conflict`, `already_exists`,
    /// `invalid_input` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::NotFound => "not_found",
            Outcome::Conflict => "conflict",
            Outcome::AlreadyExists => "already_exists",
            Outcome::InvalidInput => "invalid_input",
            Outcome::Error => "error",
        }
    }
}

/// Runs `fut` inside a span `span` that has the fields `outcome` and `duration_us` empty,
/// recording both at the end. A disabled span costs nothing more than the check.
pub(crate) async fn in_span<T>(
    span: tracing::Span,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    if span.is_disabled() {
        return fut.await;
    }
    let start = Instant::now();
    let result = fut.instrument(span.clone()).await;
    span.record("outcome", Outcome::of(&result).as_str());
    span.record(
        "duration_us",
        u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
    );
    result
}

macro_rules! store_span {
    ($self:ident, $op:literal, $fut:expr) => {
        in_span(
            tracing::debug_span!(
                "session_store",
                op = $op,
                store = $self.name,
                outcome = Empty,
                duration_us = Empty
            ),
            $fut,
        )
    };
}

/// A [`Store`] that traces every operation of the store inside it; see the module docs.
///
/// ```
/// use session_core::{Store, Traced};
///
/// fn traced<S: Store>(store: S) -> Traced<S> {
///     Traced::new(store, "memory")
/// }
/// # let _ = traced::<std::sync::Arc<dyn session_core::DynStore>>;
/// ```
///
/// [`Store::update_with`] is not forwarded as one operation: its reads and writes are traced
/// one by one (a `get` and an `update` span per attempt), so a conflict storm is visible.
#[derive(Debug, Clone)]
pub struct Traced<S> {
    inner: S,
    name: &'static str,
}

impl<S: Store> Traced<S> {
    /// Wraps `inner`; `name` is recorded as the spans' `store` field (e.g. `"redis"`).
    pub fn new(inner: S, name: &'static str) -> Self {
        Self { inner, name }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The name recorded in spans.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The wrapped store, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Store> Store for Traced<S> {
    fn create(&self, session: Session) -> impl Future<Output = Result<Arc<Session>>> + Send {
        store_span!(self, "create", self.inner.create(session))
    }

    fn get(&self, id: &SessionId) -> impl Future<Output = Result<Option<Arc<Session>>>> + Send {
        store_span!(self, "get", self.inner.get(id))
    }

    fn get_many(
        &self,
        ids: &[SessionId],
    ) -> impl Future<Output = Result<Vec<Option<Arc<Session>>>>> + Send {
        store_span!(self, "get_many", self.inner.get_many(ids))
    }

    fn update(&self, session: Session) -> impl Future<Output = Result<Arc<Session>>> + Send {
        store_span!(self, "update", self.inner.update(session))
    }

    fn touch(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
    ) -> impl Future<Output = Result<Arc<Session>>> + Send {
        store_span!(self, "touch", self.inner.touch(id, expires_at))
    }

    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<bool>> + Send {
        store_span!(self, "delete", self.inner.delete(id))
    }

    fn list(&self, filter: &ListFilter) -> impl Future<Output = Result<Page>> + Send {
        store_span!(self, "list", self.inner.list(filter))
    }

    fn get_by_connection_id(
        &self,
        connection_id: &ConnectionId,
    ) -> impl Future<Output = Result<Option<Arc<Session>>>> + Send {
        store_span!(
            self,
            "get_by_connection_id",
            self.inner.get_by_connection_id(connection_id)
        )
    }

    fn get_by_user_id(
        &self,
        user_id: &UserId,
    ) -> impl Future<Output = Result<Vec<Arc<Session>>>> + Send {
        store_span!(self, "get_by_user_id", self.inner.get_by_user_id(user_id))
    }

    fn delete_by_user_id(
        &self,
        user_id: &UserId,
        except: Option<&SessionId>,
    ) -> impl Future<Output = Result<u64>> + Send {
        store_span!(
            self,
            "delete_by_user_id",
            self.inner.delete_by_user_id(user_id, except)
        )
    }

    fn delete_expired(&self) -> impl Future<Output = Result<u64>> + Send {
        store_span!(self, "delete_expired", self.inner.delete_expired())
    }

    fn count(&self) -> impl Future<Output = Result<u64>> + Send {
        store_span!(self, "count", self.inner.count())
    }
}

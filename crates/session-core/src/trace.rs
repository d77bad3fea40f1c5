//! [`Traced`]: a [`Store`] wrapper that puts a `tracing` span on every store operation.
//!
//! Each operation runs inside a `DEBUG` span named `session_store` with the fields `op` (the
//! method, e.g. `"get"`), `store` (the name given to [`Traced::new`]), `outcome` (see
//! [`Outcome`]) and `duration_us`. With no subscriber, or one that does not want the span,
//! the cost is a flag check (no subscriber ever set) or a check of the callsite's cached
//! interest: no span is built, the clock is not read, the store's future is returned as it is
//! (measured in `benches/benches/tracing.rs`). An enabled span costs two allocations more.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tracing::Instrument;
use tracing::field::Empty;
use tracing::instrument::Instrumented;

use crate::error::{Error, ErrorKind, Result};
use crate::id::{ConnectionId, SessionId, UserId};
use crate::model::Session;
use crate::store::{ListFilter, Page, Store};
use crate::time::Timestamp;

/// How an operation ended, as recorded in a span's `outcome` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
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
        match result.as_ref().map_err(Error::kind) {
            Ok(_) => Outcome::Ok,
            Err(kind) => Outcome::from(kind),
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

impl From<ErrorKind> for Outcome {
    /// The kinds a caller acts on keep their name; the backend's failures, codec and capacity
    /// errors are all [`Outcome::Error`].
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::NotFound => Outcome::NotFound,
            ErrorKind::Conflict => Outcome::Conflict,
            ErrorKind::AlreadyExists => Outcome::AlreadyExists,
            ErrorKind::InvalidInput => Outcome::InvalidInput,
            _ => Outcome::Error,
        }
    }
}

/// Runs `fut` inside the span `make_span` builds (with the fields `outcome` and
/// `duration_us` empty), recording both at the end: how [`Traced`] traces each store call,
/// for layers above a store (such as the session manager) to trace their own operations the
/// same way.
///
/// The fast path is what keeps tracing free when nobody listens: until a subscriber has
/// ever been set, or while the one set does not want the span, `fut` is polled as it is: no
/// span is built, no clock read, and the future stays its own size. Only an enabled span
/// pays for a boxed, instrumented future.
///
/// ```
/// use session_core::{Result, in_span};
///
/// async fn lookup() -> Result<u32> {
///     Ok(7)
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<()> {
/// let span = || {
///     tracing::debug_span!(
///         "my_layer",
///         op = "lookup",
///         outcome = tracing::field::Empty,
///         duration_us = tracing::field::Empty
///     )
/// };
/// assert_eq!(in_span(span, lookup()).await?, 7);
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub fn in_span<F, T>(make_span: impl FnOnce() -> tracing::Span, fut: F) -> InSpan<F>
where
    F: Future<Output = Result<T>>,
{
    let inner = if !tracing::dispatcher::has_been_set() {
        MaybeTraced::Plain { fut }
    } else {
        let span = make_span();
        if span.is_disabled() {
            MaybeTraced::Plain { fut }
        } else {
            MaybeTraced::Traced {
                recorded: Box::new(Recorded {
                    fut: Box::pin(fut.instrument(span.clone())),
                    span,
                    start: Instant::now(),
                }),
            }
        }
    };
    InSpan { inner }
}

pin_project_lite::pin_project! {
    /// The future [`in_span`] returns: the operation's own future when no span is enabled,
    /// a recording one otherwise.
    #[must_use = "futures do nothing unless polled"]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub struct InSpan<F> {
        #[pin]
        inner: MaybeTraced<F>,
    }
}

impl<F, T> Future for InSpan<F>
where
    F: Future<Output = Result<T>>,
{
    type Output = Result<T>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        match self.project().inner.project() {
            MaybeTracedProj::Plain { fut } => fut.poll(cx),
            MaybeTracedProj::Traced { recorded } => Pin::new(&mut **recorded).poll(cx),
        }
    }
}

impl<F> std::fmt::Debug for InSpan<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let traced = matches!(self.inner, MaybeTraced::Traced { .. });
        f.debug_struct("InSpan").field("traced", &traced).finish()
    }
}

pin_project_lite::pin_project! {
    /// The two shapes of an [`InSpan`] (polled by its `#[inline]` `poll`, so that the plain
    /// case compiles to the operation's future alone).
    #[project = MaybeTracedProj]
    enum MaybeTraced<F> {
        Plain { #[pin] fut: F },
        Traced { recorded: Box<Recorded<F>> },
    }
}

/// An operation under an enabled span: polls it inside the span, then records `outcome` and
/// `duration_us`. (Boxed, so that [`MaybeTraced`] is no bigger than the store's own future
/// plus a pointer.)
struct Recorded<F> {
    fut: Pin<Box<Instrumented<F>>>,
    span: tracing::Span,
    start: Instant,
}

impl<F, T> Future for Recorded<F>
where
    F: Future<Output = Result<T>>,
{
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = &mut *self;
        let Poll::Ready(result) = this.fut.as_mut().poll(cx) else {
            return Poll::Pending;
        };
        this.span.record("outcome", Outcome::of(&result).as_str());
        this.span.record(
            "duration_us",
            u64::try_from(this.start.elapsed().as_micros()).unwrap_or(u64::MAX),
        );
        Poll::Ready(result)
    }
}

macro_rules! store_span {
    ($self:ident, $op:literal, $fut:expr) => {
        in_span(
            || {
                tracing::debug_span!(
                    "session_store",
                    op = $op,
                    store = $self.name,
                    outcome = Empty,
                    duration_us = Empty
                )
            },
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
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
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
    ) -> impl Future<Output = Result<Vec<SessionId>>> + Send {
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

//! The one error type every store returns.

use std::borrow::Cow;
use std::fmt;

use crate::id::{ConnectionId, SessionId};

/// A boxed error from a backend (a Redis client, an I/O layer), kept whole as a `source`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Shorthand for `Result<T, session_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a store operation can fail with.
///
/// Variants are typed for what a caller acts on: [`Error::NotFound`] and [`Error::Conflict`]
/// are ordinary outcomes, [`Error::InvalidInput`] names the offending field, and backend
/// failures keep their original error as [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No live session has this id (it never existed, was deleted, or has expired).
    #[error("session {id} not found")]
    NotFound {
        /// The id that was looked up.
        id: SessionId,
    },

    /// A create collided with a live session.
    #[error("already exists: {0}")]
    AlreadyExists(Collision),

    /// A compare-and-set write carried a version that is no longer current.
    #[error(
        "version conflict on session {id}: written with version {expected}, store has {actual}"
    )]
    Conflict {
        /// The session written.
        id: SessionId,
        /// The version the writer read (and sent).
        expected: u64,
        /// The version the store holds now.
        actual: u64,
    },

    /// The input was refused before anything was written.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field at fault, e.g. `"user_id"` or `"metadata"`.
        field: &'static str,
        /// Why it was refused.
        reason: Cow<'static, str>,
    },

    /// The store is full; nothing was evicted to make room.
    #[error("store is at its capacity of {capacity} sessions")]
    CapacityExceeded {
        /// The configured limit.
        capacity: usize,
    },

    /// Stored bytes could not be decoded into a session.
    #[error(transparent)]
    Codec(#[from] CodecError),

    /// The backend did not answer within the configured time.
    #[error("timed out")]
    Timeout {
        /// The backend's own error, when it has one.
        #[source]
        source: Option<BoxError>,
    },

    /// The backend cannot be reached (connection refused, reconnecting, failover under way).
    #[error("backend unavailable")]
    Unavailable {
        /// The backend's own error.
        #[source]
        source: BoxError,
    },

    /// Any other backend failure, kept whole.
    #[error("backend error")]
    Backend {
        /// The backend's own error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// What kind of error this is: the one place errors are sorted (spans' outcomes and
    /// reliability tallies are built from it), as [`std::io::Error::kind`] does.
    ///
    /// ```
    /// use session_core::{Error, ErrorKind, SessionId};
    ///
    /// let e = Error::NotFound { id: SessionId::new() };
    /// assert_eq!(e.kind(), ErrorKind::NotFound);
    /// assert!(!e.kind().is_backend());
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyExists(_) => ErrorKind::AlreadyExists,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::CapacityExceeded { .. } => ErrorKind::CapacityExceeded,
            Error::Codec(_) => ErrorKind::Codec,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Unavailable { .. } => ErrorKind::Unavailable,
            Error::Backend { .. } => ErrorKind::Backend,
        }
    }

    /// An [`Error::InvalidInput`] for `field`.
    pub fn invalid(field: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        Error::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    /// An [`Error::Backend`] wrapping `source`.
    pub fn backend(source: impl Into<BoxError>) -> Self {
        Error::Backend {
            source: source.into(),
        }
    }

    /// True for [`Error::Conflict`]: the write may succeed if retried on fresh data.
    pub fn is_conflict(&self) -> bool {
        self.kind() == ErrorKind::Conflict
    }

    /// True for [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// True for failures of the backend itself ([`Error::Timeout`], [`Error::Unavailable`],
    /// [`Error::Backend`]) as opposed to answers about the data.
    pub fn is_backend(&self) -> bool {
        self.kind().is_backend()
    }
}

/// The kind of an [`Error`], one per variant, without its data: [`Error::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::NotFound`].
    NotFound,
    /// [`Error::AlreadyExists`].
    AlreadyExists,
    /// [`Error::Conflict`].
    Conflict,
    /// [`Error::InvalidInput`].
    InvalidInput,
    /// [`Error::CapacityExceeded`].
    CapacityExceeded,
    /// [`Error::Codec`].
    Codec,
    /// [`Error::Timeout`].
    Timeout,
    /// [`Error::Unavailable`].
    Unavailable,
    /// [`Error::Backend`].
    Backend,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::Conflict,
        ErrorKind::InvalidInput,
        ErrorKind::CapacityExceeded,
        ErrorKind::Codec,
        ErrorKind::Timeout,
        ErrorKind::Unavailable,
        ErrorKind::Backend,
    ];

    /// The variant's name, e.g. `"Timeout"` (what reliability's tallies are keyed by).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "NotFound",
            ErrorKind::AlreadyExists => "AlreadyExists",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::InvalidInput => "InvalidInput",
            ErrorKind::CapacityExceeded => "CapacityExceeded",
            ErrorKind::Codec => "Codec",
            ErrorKind::Timeout => "Timeout",
            ErrorKind::Unavailable => "Unavailable",
            ErrorKind::Backend => "Backend",
        }
    }

    /// True for failures of the backend itself ([`Timeout`](ErrorKind::Timeout),
    /// [`Unavailable`](ErrorKind::Unavailable), [`Backend`](ErrorKind::Backend)) as opposed to
    /// answers about the data.
    pub fn is_backend(self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout | ErrorKind::Unavailable | ErrorKind::Backend
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a create collided with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Collision {
    /// A live session already has this id.
    SessionId(SessionId),
    /// A live session already holds this connection id.
    ConnectionId(ConnectionId),
}

impl fmt::Display for Collision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Collision::SessionId(id) => write!(f, "session id {id}"),
            Collision::ConnectionId(id) => write!(f, "connection id {id}"),
        }
    }
}

/// Bytes that are not a session record this version can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode session record at byte {offset}: {reason}")]
pub struct CodecError {
    reason: &'static str,
    offset: usize,
}

impl CodecError {
    /// A codec error: `reason` at byte `offset` (for stores that find bytes they cannot use,
    /// such as a record stored under another session's key).
    pub fn new(reason: &'static str, offset: usize) -> Self {
        Self { reason, offset }
    }

    /// What was wrong.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// Where in the record decoding stopped.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_name() {
        let names: std::collections::BTreeSet<_> =
            ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        for kind in ErrorKind::ALL {
            assert_eq!(kind.as_str(), format!("{kind:?}"));
            assert_eq!(kind.to_string(), kind.as_str());
        }
    }

    #[test]
    fn kind_sorts_each_variant() {
        let id = SessionId::new();
        let io = || BoxError::from(std::io::Error::other("x"));
        let cases = [
            (Error::NotFound { id }, ErrorKind::NotFound),
            (
                Error::AlreadyExists(Collision::SessionId(id)),
                ErrorKind::AlreadyExists,
            ),
            (
                Error::Conflict {
                    id,
                    expected: 1,
                    actual: 2,
                },
                ErrorKind::Conflict,
            ),
            (Error::invalid("user_id", "empty"), ErrorKind::InvalidInput),
            (
                Error::CapacityExceeded { capacity: 1 },
                ErrorKind::CapacityExceeded,
            ),
            (CodecError::new("short", 0).into(), ErrorKind::Codec),
            (Error::Timeout { source: None }, ErrorKind::Timeout),
            (Error::Unavailable { source: io() }, ErrorKind::Unavailable),
            (Error::backend(io()), ErrorKind::Backend),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error:?}");
            assert_eq!(error.is_backend(), kind.is_backend());
        }
    }
}

//! Errors: fred's mapped to ours ([`map_err`], also used by store-hybrid through
//! [`crate::connection::map_error`]), and the store's own failure causes ([`Internal`]),
//! kept private and boxed as the source of the public error, as object_store's stores do.

use std::time::Duration;

use fred::prelude::ErrorKind;
use session_core::{CodecError, Collision, Error, Session, SessionId};

/// Why an operation failed inside the store, when neither Redis nor the data is at fault in a
/// way the public [`Error`] names. The source of an `Error::Backend`, `Timeout` or
/// `Unavailable`; callers see it through `std::error::Error::source`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Internal {
    /// A script or command answered something the store never sends back.
    #[error("unexpected reply from Redis: {0}")]
    UnexpectedReply(&'static str),
    /// A Cluster write step found its lock expired or taken over (the write did not apply).
    #[error("the session's Cluster write lock was lost before the write")]
    LockLost,
    /// Another writer held the session's Cluster write lock for the whole wait.
    #[error("the session's Cluster write lock stayed taken by another writer")]
    LockContended,
    /// A Cluster kept redirecting a command (a slot moving, or TRYAGAIN while it moves) for
    /// the whole retry budget.
    #[error("a Cluster slot kept moving for {budget:?}")]
    SlotMoving {
        /// The retry budget (the command timeout).
        budget: Duration,
        /// The last redirection or TRYAGAIN.
        #[source]
        source: fred::error::Error,
    },
}

/// A key under the prefix holding a value of another type than the store writes there (a
/// hash at a record key): foreign data, reported as a corrupt record is.
pub(crate) fn wrong_type() -> Error {
    CodecError::new("a key of the store holds a value of another type", 0).into()
}

/// Maps a fred error to ours, keeping it as the source: timeouts are `Timeout`; no connection
/// (I/O, cancelled, routing, back-pressure, Cluster and Sentinel errors, and fred's "Failed
/// to route command" while it reconnects) is `Unavailable`; WRONGTYPE is `Codec`; anything
/// else is `Backend`.
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

/// An unexpected reply (`what`: which one): `Error::Backend`.
pub(crate) fn protocol(what: &'static str) -> Error {
    Error::backend(Internal::UnexpectedReply(what))
}

/// A Cluster command still redirected when its retry budget ran out: `Error::Unavailable`.
pub(crate) fn slot_moving(budget: Duration, source: fred::error::Error) -> Error {
    Error::Unavailable {
        source: Box::new(Internal::SlotMoving { budget, source }),
    }
}

pub(crate) fn conflict(id: SessionId, expected: u64, actual: u64) -> Error {
    Error::Conflict {
        id,
        expected,
        actual,
    }
}

pub(crate) fn past() -> Error {
    Error::invalid("expires_at", "not in the future by the server's clock")
}

/// The Cluster write lock was lost: `Error::Timeout` (nothing was written).
pub(crate) fn lock_lost() -> Error {
    Error::Timeout {
        source: Some(Box::new(Internal::LockLost)),
    }
}

/// The Cluster write lock stayed taken: `Error::Timeout` (nothing was written).
pub(crate) fn lock_contended() -> Error {
    Error::Timeout {
        source: Some(Box::new(Internal::LockContended)),
    }
}

pub(crate) fn corrupt() -> Error {
    CodecError::new("stored record head unreadable", 0).into()
}

pub(crate) fn conn_taken(session: &Session) -> Error {
    match session.connection_id {
        Some(c) => Error::AlreadyExists(Collision::ConnectionId(c)),
        None => protocol("connection collision without a connection id"),
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::time::Duration;

    use fred::error::{Error as FredError, ErrorKind};
    use session_core::Error;

    use super::{lock_contended, lock_lost, map_err, protocol, slot_moving};

    #[test]
    fn fred_errors_are_sorted_into_kinds_and_kept_as_the_source() {
        let cases = [
            (ErrorKind::Timeout, "Request timed out.", "Timeout"),
            (ErrorKind::IO, "broken pipe", "Unavailable"),
            (ErrorKind::Canceled, "Canceled.", "Unavailable"),
            (ErrorKind::Routing, "Too many redirections.", "Unavailable"),
            (ErrorKind::Backpressure, "full", "Unavailable"),
            (
                ErrorKind::Cluster,
                "CLUSTERDOWN The cluster is down",
                "Unavailable",
            ),
            (ErrorKind::Sentinel, "no primary", "Unavailable"),
            (
                ErrorKind::Unknown,
                "Failed to route command.",
                "Unavailable",
            ),
            (ErrorKind::Unknown, "ERR something", "Backend"),
            (ErrorKind::InvalidArgument, "WRONGTYPE Operation", "Codec"),
        ];
        for (kind, details, want) in cases {
            let e = map_err(FredError::new(kind.clone(), details));
            let got = match &e {
                Error::Timeout { .. } => "Timeout",
                Error::Unavailable { .. } => "Unavailable",
                Error::Backend { .. } => "Backend",
                Error::Codec(_) => "Codec",
                _ => "other",
            };
            assert_eq!(got, want, "{kind:?} {details}");
            if want != "Codec" {
                let source = e.source().expect("the fred error is kept");
                assert!(source.to_string().contains(details), "{source}");
            }
        }
    }

    #[test]
    fn internal_causes_are_typed_sources() {
        let e = protocol("create");
        assert!(matches!(e, Error::Backend { .. }));
        assert_eq!(
            e.source().unwrap().to_string(),
            "unexpected reply from Redis: create"
        );
        for e in [lock_lost(), lock_contended()] {
            assert!(matches!(e, Error::Timeout { source: Some(_) }));
            assert!(e.source().unwrap().to_string().contains("write lock"));
        }
        let e = slot_moving(
            Duration::from_secs(1),
            FredError::new(ErrorKind::Unknown, "TRYAGAIN Multiple keys"),
        );
        assert!(matches!(e, Error::Unavailable { .. }));
        let moving = e.source().unwrap();
        assert!(moving.to_string().contains("slot kept moving"));
        assert!(moving.source().unwrap().to_string().contains("TRYAGAIN"));
    }
}

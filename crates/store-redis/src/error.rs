//! How errors are mapped: fred's to ours, and the store's own failures.

use fred::prelude::ErrorKind;
use session_core::{CodecError, Collision, Error, Session, SessionId};

/// A key under the prefix holding a value of another type than the store writes there (a
/// hash at a record key): foreign data, reported as a corrupt record is.
pub(crate) fn wrong_type() -> Error {
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

pub(crate) fn protocol(what: &'static str) -> Error {
    Error::backend(format!("unexpected reply from Redis: {what}"))
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

pub(crate) fn lock_lost() -> Error {
    Error::Timeout { source: None }
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

//! The session record.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::error::Error;
use crate::id::{ConnectionId, SessionId, UserId};
use crate::limits;
pub use crate::metadata::Metadata;
use crate::time::Timestamp;

/// Where a session is in its life, as the Go original's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[repr(u8)]
pub enum SessionState {
    /// Handshake under way.
    #[default]
    Connecting = 0,
    /// In use.
    Active = 1,
    /// Open but quiet.
    Idle = 2,
    /// Closing.
    Disconnecting = 3,
    /// Closed; kept until it expires or is deleted.
    Closed = 4,
}

impl SessionState {
    /// Every state, in order.
    pub const ALL: [SessionState; 5] = [
        SessionState::Connecting,
        SessionState::Active,
        SessionState::Idle,
        SessionState::Disconnecting,
        SessionState::Closed,
    ];

    /// The state's one-byte code (stable across versions).
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The state for a code from [`Self::code`].
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(SessionState::Connecting),
            1 => Some(SessionState::Active),
            2 => Some(SessionState::Idle),
            3 => Some(SessionState::Disconnecting),
            4 => Some(SessionState::Closed),
            _ => None,
        }
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionState::Connecting => "connecting",
            SessionState::Active => "active",
            SessionState::Idle => "idle",
            SessionState::Disconnecting => "disconnecting",
            SessionState::Closed => "closed",
        })
    }
}

/// Transport counters, as the Go original's `Stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Stats {
    /// Packets sent to the client.
    pub packets_sent: u64,
    /// Packets received from the client.
    pub packets_received: u64,
    /// Bytes sent to the client.
    pub bytes_sent: u64,
    /// Bytes received from the client.
    pub bytes_received: u64,
    /// Packets sent again.
    pub retransmissions: u64,
    /// The latest round-trip time measured, in milliseconds.
    pub current_rtt_ms: u32,
}

/// A live session: who, from where, in what state, until when, with counters.
///
/// Build one with [`Session::builder`]. Stores assign [`Session::version`]: `1` on create,
/// bumped by every successful write.
///
/// Cloning is cheap: the user id and the [`Metadata`] are shared buffers, the rest is a copy
/// of a couple of hundred bytes, so the copy a caller makes of a read before
/// [`Store::update`](crate::Store::update) costs no allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Session {
    /// The session's id.
    pub id: SessionId,
    /// Whose session it is.
    pub user_id: UserId,
    /// The connection it rides on, if any; unique among live sessions.
    pub connection_id: Option<ConnectionId>,
    /// The client's address.
    pub client_addr: SocketAddr,
    /// The server (gateway instance) address that holds the connection.
    pub server_addr: SocketAddr,
    /// Where the session is in its life.
    pub state: SessionState,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last active.
    pub last_active_at: Timestamp,
    /// When it stops existing. Stores never return a session at or past this instant.
    pub expires_at: Timestamp,
    /// Free-form metadata, within [`limits`](crate::limits).
    pub metadata: Metadata,
    /// Transport counters.
    pub stats: Stats,
    /// The write version, for compare-and-set updates. Assigned by the store.
    pub version: u64,
}

impl Session {
    /// A builder for a session of `user_id` that lives `ttl` from `now`.
    pub fn builder(user_id: UserId, now: Timestamp, ttl: Duration) -> SessionBuilder {
        SessionBuilder {
            session: Session {
                id: SessionId::new(),
                user_id,
                connection_id: None,
                client_addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                server_addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                state: SessionState::Connecting,
                created_at: now,
                last_active_at: now,
                expires_at: now + ttl,
                metadata: Metadata::new(),
                stats: Stats::default(),
                version: 0,
            },
        }
    }

    /// True if the session has expired at `now`.
    #[inline]
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        self.expires_at <= now
    }

    /// Checks everything a store checks before a write, at time `now`: the expiry is in the
    /// future and no later than [`Timestamp::MAX`], and the metadata is within its limits.
    /// (The user id was validated when it was built.)
    pub fn validate(&self, now: Timestamp) -> Result<(), Error> {
        validate_expiry(self.expires_at, now)?;
        validate_metadata(&self.metadata)
    }
}

/// Checks an expiry for a write at time `now`.
pub fn validate_expiry(expires_at: Timestamp, now: Timestamp) -> Result<(), Error> {
    if expires_at <= now {
        return Err(Error::invalid("expires_at", "not in the future"));
    }
    if expires_at > Timestamp::MAX {
        return Err(Error::invalid("expires_at", "after 9999-12-31"));
    }
    Ok(())
}

/// Checks metadata against the limits documented on [`Metadata`].
pub fn validate_metadata(metadata: &Metadata) -> Result<(), Error> {
    if metadata.len() > limits::METADATA_MAX_ENTRIES {
        return Err(Error::invalid("metadata", "more than 64 entries"));
    }
    let mut total = 0usize;
    for (key, value) in metadata {
        if key.is_empty() {
            return Err(Error::invalid("metadata", "empty key"));
        }
        if key.len() > limits::METADATA_MAX_KEY_BYTES {
            return Err(Error::invalid("metadata", "key longer than 128 bytes"));
        }
        if has_control(key) {
            return Err(Error::invalid(
                "metadata",
                "key contains a control character",
            ));
        }
        if value.len() > limits::METADATA_MAX_VALUE_BYTES {
            return Err(Error::invalid("metadata", "value longer than 1024 bytes"));
        }
        total += key.len() + value.len();
    }
    if total > limits::METADATA_MAX_TOTAL_BYTES {
        return Err(Error::invalid("metadata", "more than 16 KiB in all"));
    }
    Ok(())
}

/// True if `key` holds a control character (`char::is_control`), with a fast path for
/// printable ASCII.
#[inline]
pub(crate) fn has_control(key: &str) -> bool {
    // Printable ASCII throughout (the usual case) has none; anything else is checked by
    // character (ASCII and C1 control characters alike).
    !key.bytes().all(|b| (0x20..0x7f).contains(&b)) && key.chars().any(char::is_control)
}

/// Builds a [`Session`]; see [`Session::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SessionBuilder {
    session: Session,
}

impl SessionBuilder {
    /// Uses this id instead of a fresh one.
    pub fn id(mut self, id: SessionId) -> Self {
        self.session.id = id;
        self
    }

    /// Sets the connection id.
    pub fn connection_id(mut self, id: ConnectionId) -> Self {
        self.session.connection_id = Some(id);
        self
    }

    /// Sets the client address.
    pub fn client_addr(mut self, addr: SocketAddr) -> Self {
        self.session.client_addr = addr;
        self
    }

    /// Sets the server address.
    pub fn server_addr(mut self, addr: SocketAddr) -> Self {
        self.session.server_addr = addr;
        self
    }

    /// Sets the state.
    pub fn state(mut self, state: SessionState) -> Self {
        self.session.state = state;
        self
    }

    /// Adds a metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.session.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the counters.
    pub fn stats(mut self, stats: Stats) -> Self {
        self.session.stats = stats;
        self
    }

    /// Sets the expiry directly.
    pub fn expires_at(mut self, at: Timestamp) -> Self {
        self.session.expires_at = at;
        self
    }

    /// The session.
    pub fn build(self) -> Session {
        self.session
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_limits() {
        let mut m = Metadata::new();
        assert!(validate_metadata(&m).is_ok());
        m.insert("k".into(), "v".repeat(1024));
        assert!(validate_metadata(&m).is_ok());
        m.insert("k".into(), "v".repeat(1025));
        assert!(validate_metadata(&m).is_err());
        let many: Metadata = (0..65).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(validate_metadata(&many).is_err());
        let total: Metadata = (0..20)
            .map(|i| (format!("k{i}"), "v".repeat(1000)))
            .collect();
        assert!(validate_metadata(&total).is_err());
        let empty_key: Metadata = [(String::new(), String::new())].into();
        assert!(validate_metadata(&empty_key).is_err());
    }

    #[test]
    fn expiry_bounds() {
        let now = Timestamp::from_millis(1_000);
        assert!(validate_expiry(now, now).is_err());
        assert!(validate_expiry(Timestamp::from_millis(1_001), now).is_ok());
        assert!(validate_expiry(Timestamp::MAX, now).is_ok());
        assert!(validate_expiry(Timestamp::from_millis(u64::MAX), now).is_err());
    }

    #[test]
    fn state_codes_round_trip() {
        for s in SessionState::ALL {
            assert_eq!(SessionState::from_code(s.code()), Some(s));
        }
        assert_eq!(SessionState::from_code(5), None);
    }
}

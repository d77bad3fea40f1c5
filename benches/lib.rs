//! Shared fixtures for the criterion benchmarks in `benches/`.
//!
//! Run them with `cargo bench -p benches` (all) or `cargo bench -p benches --bench stores`.

use std::net::SocketAddr;
use std::time::Duration;

use session_core::{ConnectionId, Session, SessionState, Timestamp, UserId};

/// How long bench sessions live: long enough never to expire during a run.
pub const TTL: Duration = Duration::from_secs(3600);

/// A session shaped like the Go original's benchmark session: a formatted user id, a
/// connection id, IPv4 client and server addresses, state Active, empty metadata.
pub fn seed_session(i: usize, now: Timestamp) -> Session {
    Session::builder(seed_user(i), now, TTL)
        .connection_id(ConnectionId::new())
        .client_addr(SocketAddr::from(([192, 168, 1, 100], 54321)))
        .server_addr(SocketAddr::from(([10, 0, 0, 1], 8443)))
        .state(SessionState::Active)
        .build()
}

/// The same session with two metadata entries, as a gateway typically adds.
pub fn seed_session_with_metadata(i: usize, now: Timestamp) -> Session {
    let mut s = seed_session(i, now);
    s.metadata.insert("client_version".into(), "1.2.3".into());
    s.metadata.insert("region".into(), "eu-west-1".into());
    s
}

/// `user-{i}`.
pub fn seed_user(i: usize) -> UserId {
    UserId::new(format!("user-{i}")).unwrap_or_else(|e| unreachable!("{e}"))
}

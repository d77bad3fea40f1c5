//! Time in the conformance suite for a store whose clock is a server's.

/// The conformance suite's time model for a store on a Redis server: Redis expires keys by its
/// own clock, so expiry cases sleep (the server runs on this machine, so the system clock is
/// its clock).
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerTime;

impl session_core::conformance::TimeControl for ServerTime {
    fn now(&self) -> session_core::Timestamp {
        session_core::Clock::now(&session_core::SystemClock)
    }
    fn advance(&self, by: std::time::Duration) -> session_core::BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(by))
    }
    fn short_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_millis(400)
    }
}

//! [`SessionManager`]: the layer a service talks to, over any session-core
//! [`Store`](session_core::Store). It creates a session with an opaque client token
//! (`<session id>.<secret>`; the store keeps only a hash of the secret), finds sessions by
//! id, connection or token, updates them by compare-and-set, slides their expiry on throttled
//! heartbeats under an absolute lifetime, revokes a user's other sessions, sends
//! [`SessionEvent`]s to subscribers, and runs a cleanup task that stops with it. Every manager
//! and store operation gets a `tracing` span (store calls through session-core's `Traced`).
//! `examples/gateway` is an HTTP service built on it.
//!
//! A crate of its own (as tower-sessions keeps its manager layer apart from its core), so
//! that a store author never compiles it, nor tokio, sha2, subtle and getrandom.
//!
//! ```
//! use std::time::Duration;
//! use session_core::UserId;
//! use session_manager::{DeleteReason, ManagerConfig, SessionManager};
//! use store_memory::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), session_core::Error> {
//! let manager = SessionManager::new(
//!     MemoryStore::new(),
//!     ManagerConfig::new()
//!         .idle_timeout(Duration::from_secs(30 * 60))
//!         .max_lifetime(Duration::from_secs(24 * 3600)),
//! );
//! let cleanup = manager.spawn_cleanup(Duration::from_secs(60));
//! let mut events = manager.subscribe();
//!
//! let login = manager.create_session(manager.new_session(UserId::new("alice")?)).await?;
//! let token: &str = login.token.as_str(); // give this to the client
//!
//! // On each request: the token names the session and proves the secret.
//! let session = manager.get_session_by_token(token).await?.expect("valid token");
//! manager.heartbeat(&session.id).await?;
//! manager.delete_session(&session.id, DeleteReason::Logout).await?;
//! assert!(manager.get_session_by_token(token).await?.is_none());
//! # let _ = events.recv().await;
//! cleanup.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! None: the manager needs tokio (events, the cleanup task) and `tracing` (its spans), and
//! turns on session-core's `tracing` feature.
//!
//! MSRV: Rust 1.85.
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod cleanup;
mod config;
mod event;
mod manager;
mod token;

pub use cleanup::CleanupHandle;
pub use config::ManagerConfig;
pub use event::{DeleteReason, SessionEvent};
pub use manager::{CreatedSession, Heartbeat, ManagerStats, Revocation, SessionManager};
pub use token::{SessionToken, TOKEN_HASH_KEY};

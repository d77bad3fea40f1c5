//! The shared core of the session stores: the [`Session`] model and its ids, the async
//! [`Store`] trait (and its object-safe twin [`DynStore`]), the one [`Error`] type, the binary
//! [`codec`] every serialising store uses, the injectable [`Clock`], and the conformance suite
//! that every store passes.
//!
//! ```
//! use std::time::Duration;
//! use session_core::{Session, SessionState, SystemClock, Clock, UserId};
//!
//! let now = SystemClock.now();
//! let session = Session::builder(UserId::new("alice")?, now, Duration::from_secs(1800))
//!     .client_addr("203.0.113.7:51000".parse().unwrap())
//!     .state(SessionState::Active)
//!     .metadata("device", "laptop")
//!     .build();
//! session.validate(now)?;
//!
//! let bytes = session_core::codec::encode(&session);
//! assert_eq!(session_core::codec::decode(&bytes)?, session);
//! # Ok::<(), session_core::Error>(())
//! ```
//!
//! # The promises every store keeps
//!
//! 1. An expired session is never returned, counted, listed or brought back to life by a
//!    later write.
//! 2. A session that can be read by id can also be found by its user and by its connection
//!    id, so revoking a user's sessions cannot miss one; indexes never keep an expired or
//!    deleted session visible and never grow without bound.
//! 3. No lost updates: of two writers holding the same version, exactly one succeeds; the
//!    other gets [`Error::Conflict`].
//! 4. Ids are unique: create on a live id, or on a connection id a live session holds, fails
//!    with [`Error::AlreadyExists`] and changes nothing.
//! 5. Bad input gets a typed error and changes nothing; no panic on any input, including
//!    corrupt stored bytes ([`Error::Codec`]).
//! 6. Keys stay inside the configured prefix (for stores that have keys).
//!
//! # The manager
//!
//! `SessionManager` (tokens, heartbeats, revocation, events, a cleanup task) is what a
//! service talks to, over any store. It lives in its own crate, `session-manager`, so that a
//! store author never compiles it (nor tokio, sha2, subtle and getrandom).
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `conformance` | [`conformance`]: the suite and the [`conformance_suite!`] macro that expands it into one `#[tokio::test]` per case for a store |
//! | `serde` | `Serialize`/`Deserialize` for the model types |
//! | `tracing` | `Traced`, a store wrapper with a `tracing` span per operation, and `in_span` for layers above a store |
//!
//! MSRV: Rust 1.85.
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod codec;
mod error;
mod id;
mod metadata;
mod model;
mod store;
mod time;

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
#[cfg(feature = "tracing")]
mod trace;

pub use error::{BoxError, CodecError, Collision, Error, ErrorKind, Result};
pub use id::{ConnectionId, SessionId, UserId};
pub use metadata::Iter as MetadataIter;
pub use model::{
    Metadata, Session, SessionBuilder, SessionState, Stats, validate_expiry, validate_metadata,
};
pub use store::{
    BoxFuture, Computed, DynStore, ListFilter, Op, Page, Store, UPDATE_WITH_MAX_ATTEMPTS,
};
pub use time::{Clock, FastClock, ManualClock, SystemClock, Timestamp};

#[cfg(feature = "tracing")]
pub use trace::{InSpan, Outcome, Traced, in_span};

/// Limits on what a session may hold; writes beyond them get [`Error::InvalidInput`].
pub mod limits {
    /// The longest user id, in bytes ([`UserId::MAX_BYTES`](crate::UserId::MAX_BYTES)).
    pub const USER_ID_MAX_BYTES: usize = crate::UserId::MAX_BYTES;
    /// Most entries in one session's metadata.
    pub const METADATA_MAX_ENTRIES: usize = 64;
    /// Longest metadata key, in bytes (keys are non-empty, without control characters).
    pub const METADATA_MAX_KEY_BYTES: usize = 128;
    /// Longest metadata value, in bytes.
    pub const METADATA_MAX_VALUE_BYTES: usize = 1024;
    /// Most bytes of metadata keys and values together.
    pub const METADATA_MAX_TOTAL_BYTES: usize = 16 * 1024;
}

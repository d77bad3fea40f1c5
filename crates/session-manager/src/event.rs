//! What the manager tells its subscribers.

use std::sync::Arc;

use session_core::{Session, SessionId, UserId};

/// Why a session was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeleteReason {
    /// The user logged out.
    Logout,
    /// The user (or an operator) revoked it.
    Revoked,
    /// Its absolute lifetime ended (found by a heartbeat).
    LifetimeEnded,
    /// An operator removed it.
    Admin,
    /// Anything else, in the caller's words.
    Other(Arc<str>),
}

/// Something that happened to sessions through a manager, as sent to the receivers of
/// [`SessionManager::subscribe`](crate::SessionManager::subscribe).
///
/// Events describe writes made through this manager instance (and expiry reclaimed by its
/// cleanup task); other instances sharing the store do not see them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// A session was created.
    Created(Arc<Session>),
    /// A session was changed by
    /// [`update_session`](crate::SessionManager::update_session). Heartbeats send no event.
    Updated(Arc<Session>),
    /// A session was deleted by
    /// [`delete_session`](crate::SessionManager::delete_session) (or a heartbeat found its
    /// lifetime over).
    Deleted {
        /// The session.
        id: SessionId,
        /// Why.
        reason: DeleteReason,
    },
    /// A cleanup pass reclaimed this many expired sessions.
    ///
    /// Expiry is counted, not itemised: stores hide an expired session from every read the
    /// moment it expires (and Redis deletes it by itself), and
    /// [`Store::delete_expired`](session_core::Store::delete_expired) returns only a count. So this
    /// event says how many a pass of [`SessionManager::cleanup`](crate::SessionManager::cleanup)
    /// removed, which for a Redis store is usually 0 (Redis got there first).
    Expired {
        /// How many the pass removed.
        count: u64,
    },
    /// Sessions of a user were revoked by
    /// [`revoke_user`](crate::SessionManager::revoke_user).
    Revoked {
        /// Whose.
        user_id: UserId,
        /// The ids deleted.
        ids: Vec<SessionId>,
        /// The session kept, if any.
        except: Option<SessionId>,
    },
}

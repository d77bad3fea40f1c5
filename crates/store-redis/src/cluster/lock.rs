//! The Cluster write lock: a short-lived key in the record's slot (`{prefix}:l:{<id>}`) that a
//! record write step must hold.

use fred::bytes::Bytes;
use session_core::{Result, SessionId};

use super::index::CLAIM_GRACE;
use crate::error::{lock_contended, protocol};
use crate::store::{Inner, Status, version_arg};

/// What a write lock asks of the record it locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockMode {
    /// For a create: the record must not exist.
    Create,
    /// For an update: the record's version must be this one.
    Cas(u64),
    /// For a touch or a delete: whatever record is there (or none).
    Any,
}

impl LockMode {
    /// The mode and the expected version, as the script takes them.
    fn args(self) -> (&'static str, u64) {
        match self {
            LockMode::Create => ("create", 0),
            LockMode::Cas(expected) => ("cas", expected),
            LockMode::Any => ("any", 0),
        }
    }
}

impl Inner {
    /// Takes the write lock on a session (cluster), asking `mode` of its record. Returns the
    /// lock token and the current record, or the outcome that stops the write.
    pub(crate) async fn lock(
        &self,
        id: &SessionId,
        mode: LockMode,
    ) -> Result<std::result::Result<(String, Option<Bytes>), Locked>> {
        let (mode, expected) = mode.args();
        let token = SessionId::new().to_string();
        let v = self
            .record_op(
                id,
                vec![
                    "lock".into(),
                    token.clone().into(),
                    mode.into(),
                    version_arg(expected),
                    (CLAIM_GRACE.as_millis() as u64).to_string().into(),
                ],
            )
            .await?;
        Ok(match Status::parse(&v)? {
            Status::Ok(record) => Ok((token, record)),
            Status::ExistsId => Err(Locked::Exists),
            Status::NotFound => Err(Locked::NotFound),
            Status::Corrupt => Err(Locked::Corrupt),
            Status::Conflict(version) => Err(Locked::Conflict(version)),
            Status::Busy(version) => Err(Locked::Busy(version)),
            _ => return Err(protocol("lock")),
        })
    }

    /// [`Inner::lock`], waiting (with a short back-off, up to [`LOCK_ATTEMPTS`] times) while
    /// another writer holds the lock; then `Error::Timeout` (the lock stayed contended). Never returns `Locked::Busy`.
    pub(crate) async fn lock_waiting(
        &self,
        id: &SessionId,
        mode: LockMode,
    ) -> Result<std::result::Result<(String, Option<Bytes>), Locked>> {
        for attempt in 0..LOCK_ATTEMPTS {
            match self.lock(id, mode).await? {
                Err(Locked::Busy(_)) => backoff(attempt).await,
                other => return Ok(other),
            }
        }
        Err(lock_contended())
    }

    pub(crate) async fn unlock(&self, id: &SessionId, token: &str) {
        let _ = self
            .record_op(id, vec!["unlock".into(), token.to_owned().into()])
            .await;
    }
}

/// Why a cluster write lock was not taken.
pub(crate) enum Locked {
    Exists,
    NotFound,
    Corrupt,
    Conflict(u64),
    Busy(u64),
}

/// How many times a cluster delete or touch waits for another writer's lock (and a touch
/// retries after a conflict).
pub(crate) const LOCK_ATTEMPTS: u32 = 200;

pub(crate) async fn backoff(attempt: u32) {
    let ms = u64::from(attempt.min(10)) + 1;
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

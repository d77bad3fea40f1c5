//! The Cluster write lock: a short-lived key in the record's slot (`{prefix}:l:{<id>}`) that a
//! record write step must hold.

use fred::bytes::Bytes;
use session_core::{Result, SessionId};

use super::index::CLAIM_GRACE;
use crate::error::protocol;
use crate::store::{Inner, bytes_of, status, version_arg, version_of};

impl Inner {
    /// Takes the write lock on a session (cluster). `mode` is "create" (the record must not
    /// exist), "cas" (its version must be `expected`) or "any". Returns the lock token and
    /// the current record, or the outcome that stops the write.
    pub(crate) async fn lock(
        &self,
        id: &SessionId,
        mode: &'static str,
        expected: u64,
    ) -> Result<std::result::Result<(String, Option<Bytes>), Locked>> {
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
        let (s, arg) = status(&v)?;
        let version = || version_of(arg);
        Ok(match s.as_str() {
            "OK" => Ok((token, arg.and_then(bytes_of).map(Bytes::copy_from_slice))),
            "EXISTS_ID" => Err(Locked::Exists),
            "NOT_FOUND" => Err(Locked::NotFound),
            "CORRUPT" => Err(Locked::Corrupt),
            "CONFLICT" => Err(Locked::Conflict(version())),
            "BUSY" => Err(Locked::Busy(version())),
            _ => return Err(protocol("lock")),
        })
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

/// How many times a cluster delete or touch waits for another writer's lock.
pub(crate) const LOCK_ATTEMPTS: u32 = 200;

pub(crate) async fn backoff(attempt: u32) {
    let ms = u64::from(attempt.min(10)) + 1;
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

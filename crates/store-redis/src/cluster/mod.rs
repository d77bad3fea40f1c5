//! Redis Cluster: the record, the user index, the connection key and the bucket of a session
//! live in different slots, so a write runs as ordered single-slot steps: index entries are
//! added (or raised) before the record is written ([`index`]) and removed (or lowered) only
//! after, so a session that can be read by id can always be found by user and by connection,
//! even if the client dies between two steps. What such a death leaves behind is an index
//! entry pointing at no record (or at a record that moved on); every read through an index
//! checks the record, drops such entries, and they expire with their score. The record itself
//! is written under a short-lived lock in its own slot ([`lock`]); every command goes through
//! [`route`], which follows redirections.

mod index;
mod lock;
mod route;

use fred::bytes::Bytes;
use fred::types::Value;
use futures::future::join_all;
use session_core::{Collision, Error, Result, Session, SessionId, Timestamp, UserId, codec};

pub(crate) use lock::{LOCK_ATTEMPTS, backoff};

use crate::error::{conflict, corrupt, lock_lost, past, protocol};
use crate::store::{Inner, Status, bytes_of, decode_for, ids_of, next_version, version_arg};
use lock::{LockMode, Locked};

impl Inner {
    pub(crate) async fn by_user_cluster(&self, key: String) -> Result<Vec<Session>> {
        let ids = self.live_ids(key).await?;
        let got = self.get_many(&ids).await?;
        Ok(got.into_iter().flatten().collect())
    }

    pub(crate) async fn revoke_cluster(
        &self,
        user_id: &UserId,
        except: Option<&SessionId>,
    ) -> Result<Vec<SessionId>> {
        let ids: Vec<SessionId> = self
            .live_ids(self.keys.user(user_id))
            .await?
            .into_iter()
            .filter(|id| Some(id) != except)
            .collect();
        let deleted = join_all(
            ids.iter()
                .map(|id| async move { self.delete_locked(id, Some(user_id)).await }),
        )
        .await;
        let mut out = Vec::new();
        for (id, r) in ids.into_iter().zip(deleted) {
            if r? {
                out.push(id);
            }
        }
        Ok(out)
    }

    pub(crate) async fn record_op(&self, id: &SessionId, args: Vec<Value>) -> Result<Value> {
        self.eval(
            &self.scripts.cluster_record,
            vec![self.keys.record(id), self.keys.lock(id)],
            args,
        )
        .await
    }

    pub(crate) async fn create_cluster(&self, session: &Session, bytes: Bytes) -> Result<()> {
        let id = session.id;
        let token = match self.lock(&id, LockMode::Create).await? {
            Ok((token, _)) => token,
            // Taken, or being taken by a concurrent create.
            Err(Locked::Exists | Locked::Busy(_)) => {
                return Err(Error::AlreadyExists(Collision::SessionId(id)));
            }
            Err(_) => return Err(protocol("lock for create")),
        };
        let raised = match self.raise_indexes(session).await {
            Ok(r) => r,
            Err(e) => {
                self.unlock(&id, &token).await;
                return Err(e);
            }
        };
        let v = self
            .record_op(
                &id,
                vec!["create".into(), token.into(), Value::Bytes(bytes)],
            )
            .await;
        let failure = match &v {
            Ok(v) => match Status::parse(v)? {
                Status::Ok(_) => return Ok(()),
                Status::Past => past(),
                Status::ExistsId => Error::AlreadyExists(Collision::SessionId(id)),
                Status::Lost => lock_lost(),
                _ => protocol("create"),
            },
            Err(_) => return v.map(drop),
        };
        // Holding the lock made these raises ours alone: undo them.
        self.rollback(session, raised).await;
        Err(failure)
    }

    pub(crate) async fn update_cluster(
        &self,
        session: &Session,
        bytes: Bytes,
        expected: u64,
    ) -> Result<()> {
        let id = session.id;
        let (token, old) = match self.lock(&id, LockMode::Cas(expected)).await? {
            Ok(locked) => locked,
            Err(Locked::NotFound) => return Err(Error::NotFound { id }),
            Err(Locked::Corrupt) => return Err(corrupt()),
            Err(Locked::Conflict(actual) | Locked::Busy(actual)) => {
                return Err(Error::Conflict {
                    id,
                    expected,
                    actual,
                });
            }
            Err(Locked::Exists) => return Err(protocol("lock for update")),
        };
        let raised = match self.raise_indexes(session).await {
            Ok(r) => r,
            Err(e) => {
                self.unlock(&id, &token).await;
                return Err(e);
            }
        };
        let v = self
            .record_op(
                &id,
                vec![
                    "cas".into(),
                    token.into(),
                    Value::Bytes(bytes),
                    version_arg(expected),
                ],
            )
            .await;
        let failure = match &v {
            Ok(v) => match Status::parse(v)? {
                Status::Ok(before) => {
                    let old = before.or(old).and_then(|b| codec::decode(&b).ok());
                    return self.settle_indexes(old.as_ref(), Some(session)).await;
                }
                Status::Past => past(),
                Status::NotFound => Error::NotFound { id },
                Status::Corrupt => corrupt(),
                Status::Conflict(actual) => conflict(id, expected, actual),
                Status::Lost => lock_lost(),
                _ => protocol("update"),
            },
            Err(_) => return v.map(drop),
        };
        self.rollback(session, raised).await;
        Err(failure)
    }

    pub(crate) async fn touch_cluster(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
    ) -> Result<Session> {
        for attempt in 0..LOCK_ATTEMPTS {
            let (token, current) = match self.lock_waiting(id, LockMode::Any).await? {
                Ok((token, Some(bytes))) => match decode_for(&bytes, id) {
                    Ok(s) => (token, s),
                    Err(e) => {
                        self.unlock(id, &token).await;
                        return Err(e);
                    }
                },
                Ok((token, None)) => {
                    self.unlock(id, &token).await;
                    return Err(Error::NotFound { id: *id });
                }
                Err(Locked::NotFound) => return Err(Error::NotFound { id: *id }),
                Err(_) => return Err(protocol("lock for touch")),
            };
            let next = match next_version(current.version) {
                Ok(next) => next,
                Err(e) => {
                    self.unlock(id, &token).await;
                    return Err(e);
                }
            };
            let mut raised_session = current.clone();
            raised_session.expires_at = expires_at;
            let raised = match self.raise_indexes(&raised_session).await {
                Ok(r) => r,
                Err(e) => {
                    self.unlock(id, &token).await;
                    return Err(e);
                }
            };
            let v = self
                .record_op(
                    id,
                    vec![
                        "touch".into(),
                        token.into(),
                        expires_at.as_millis().to_string().into(),
                        version_arg(current.version),
                        version_arg(next),
                    ],
                )
                .await?;
            let status = Status::parse(&v)?;
            if let Status::Ok(after) = status {
                let new = decode_for(&after.ok_or_else(|| protocol("touch"))?, id)?;
                self.settle_indexes(Some(&current), Some(&new)).await?;
                return Ok(new);
            }
            self.rollback(&raised_session, raised).await;
            return Err(match status {
                Status::Conflict(_) => {
                    // Written by someone else since it was locked (the lock expired): again.
                    backoff(attempt).await;
                    continue;
                }
                Status::Past => past(),
                Status::NotFound => Error::NotFound { id: *id },
                Status::Corrupt => corrupt(),
                Status::Lost => lock_lost(),
                _ => protocol("touch"),
            });
        }
        Err(lock_lost())
    }

    /// Deletes a record (cluster) if it belongs to `user` (when given), under its write lock,
    /// and settles its index entries. Returns whether a record was deleted.
    pub(crate) async fn delete_locked(
        &self,
        id: &SessionId,
        user: Option<&UserId>,
    ) -> Result<bool> {
        let token = match self.lock_waiting(id, LockMode::Any).await? {
            Ok((token, _)) => token,
            Err(Locked::NotFound) => return Ok(false),
            Err(_) => return Err(protocol("lock for delete")),
        };
        let v = self
            .record_op(
                id,
                vec![
                    "delete".into(),
                    token.into(),
                    user.map_or_else(String::new, |u| u.as_str().to_owned())
                        .into(),
                ],
            )
            .await?;
        let Some(bytes) = bytes_of(&v) else {
            return Ok(false);
        };
        match codec::decode(bytes) {
            Ok(old) => self.settle_indexes(Some(&old), None).await?,
            Err(_) => {
                // An unreadable record: drop the hints we can name.
                if let Some(u) = user {
                    let _ = self
                        .index_op(self.keys.user(u), "remove", id, Timestamp::EPOCH)
                        .await;
                }
                let _ = self
                    .index_op(self.keys.bucket_of(id), "remove", id, Timestamp::EPOCH)
                    .await;
            }
        }
        Ok(true)
    }

    pub(crate) async fn live_ids(&self, key: String) -> Result<Vec<SessionId>> {
        let v = self
            .eval(
                &self.scripts.cluster_index,
                vec![key],
                vec!["live".into(), "".into(), "0".into()],
            )
            .await?;
        ids_of(&v)
    }
}

//! Standalone and Sentinel: every write is one Lua script, atomic, one round trip (a touch of
//! a record the script cannot vouch for takes a second: the client decodes the record the
//! script returned, then runs the script as a compare-and-set on the version); reads are
//! single commands, optionally coalesced into `MGET` batches or sent to replicas.

use std::sync::Arc;

use fred::bytes::Bytes;
use fred::prelude::{Client, KeysInterface};
use fred::types::Value;
use session_core::{Collision, Error, Result, Session, SessionId, Timestamp, UserId};

use super::{Inner, Status, bytes_of, decode_for, flag, ids_of, next_version, version_arg};
use crate::cluster::{LOCK_ATTEMPTS, backoff};
use crate::coalesce::Coalescer;
use crate::error::{conflict, conn_taken, corrupt, map_err, past, protocol, wrong_type};

impl Inner {
    /// GET, or a read of one coalesced into a batch.
    pub(super) async fn get_standalone(
        &self,
        coalescer: Option<&Arc<Coalescer>>,
        key: String,
    ) -> Result<Option<Bytes>> {
        if let Some(c) = coalescer {
            let keys = vec![key];
            let fetched = c.fetch(keys.clone()).await.map_err(map_err)?;
            // Sent alone it was a GET (WRONGTYPE speaks for itself); in a batch, an MGET, which
            // answers nil for a key of another type: then a miss is asked its TYPE, so that the
            // answer is the one a GET gives (Codec).
            if fetched.by_mget {
                check_misses(self.pool.next(), &keys, &fetched.values).await?;
            }
            return Ok(fetched.values.into_iter().next().flatten());
        }
        self.pool.next().get(key).await.map_err(map_err)
    }

    /// MGET (from replicas with `replica_reads`), or reads coalesced into batches; the misses
    /// are asked their TYPE (see [`check_misses`]).
    pub(super) async fn mget_standalone(
        &self,
        coalescer: Option<&Arc<Coalescer>>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<Bytes>>> {
        if let Some(c) = coalescer {
            let fetched = c.fetch(keys.clone()).await.map_err(map_err)?;
            if fetched.by_mget {
                check_misses(self.pool.next(), &keys, &fetched.values).await?;
            }
            return Ok(fetched.values);
        }
        let client = self.pool.next();
        #[cfg(feature = "replicas")]
        if self.replica_reads {
            let v: Vec<Option<Bytes>> = client
                .replicas()
                .mget(keys.clone())
                .await
                .map_err(map_err)?;
            check_misses(client, &keys, &v).await?;
            return Ok(v);
        }
        let n = keys.len();
        let v: Value = client.mget(keys.clone()).await.map_err(map_err)?;
        let raw: Vec<Option<Bytes>> = match v {
            Value::Array(items) => items
                .iter()
                .map(|v| bytes_of(v).map(Bytes::copy_from_slice))
                .collect(),
            Value::Null => vec![None; n],
            other => vec![bytes_of(&other).map(Bytes::copy_from_slice)],
        };
        check_misses(client, &keys, &raw).await?;
        Ok(raw)
    }

    pub(super) async fn by_user_standalone(&self, key: String) -> Result<Vec<Session>> {
        let v = self
            .eval(&self.scripts.by_user, vec![key], vec![self.prefix()])
            .await?;
        // Pairs of an index entry's id and its record: a record that is not that id's (or an
        // entry that is not an id) is corrupt. The check is here: formatting ids in Lua cost
        // more than the rest of the script.
        match v {
            Value::Array(items) if items.len() % 2 == 0 => items
                .chunks_exact(2)
                .map(|pair| {
                    let id = bytes_of(&pair[0])
                        .and_then(|b| std::str::from_utf8(b).ok())
                        .and_then(|t| SessionId::parse(t).ok())
                        .ok_or_else(corrupt)?;
                    decode_for(bytes_of(&pair[1]).ok_or_else(|| protocol("by_user"))?, &id)
                })
                .collect::<Result<Vec<_>>>(),
            Value::Null => Ok(Vec::new()),
            _ => Err(protocol("by_user")),
        }
    }

    pub(super) async fn revoke_standalone(
        &self,
        user_id: &UserId,
        except: Option<&SessionId>,
    ) -> Result<Vec<SessionId>> {
        let v = self
            .eval(
                &self.scripts.delete_by_user,
                vec![self.keys.user(user_id)],
                vec![
                    self.prefix(),
                    Value::from(user_id.as_str()),
                    Value::from(except.map_or_else(String::new, |e| e.to_string())),
                ],
            )
            .await?;
        ids_of(&v)
    }

    pub(super) async fn delete_standalone(&self, id: &SessionId) -> Result<bool> {
        let v = self
            .eval(
                &self.scripts.delete,
                vec![self.keys.record(id)],
                vec![self.prefix(), Value::from(id.to_string())],
            )
            .await?;
        Ok(flag(&v))
    }

    pub(super) async fn create_standalone(&self, session: &Session, bytes: Bytes) -> Result<()> {
        let (keys, mut args) = self.write_keys(session);
        args[2] = Value::Bytes(bytes);
        let v = self.eval(&self.scripts.create, keys, args).await?;
        match Status::parse(&v)? {
            Status::Ok(_) => Ok(()),
            Status::Past => Err(past()),
            Status::ExistsId => Err(Error::AlreadyExists(Collision::SessionId(session.id))),
            Status::ExistsConn => Err(conn_taken(session)),
            _ => Err(protocol("create")),
        }
    }

    pub(super) async fn update_standalone(
        &self,
        session: &Session,
        bytes: Bytes,
        expected: u64,
    ) -> Result<()> {
        let (keys, mut args) = self.write_keys(session);
        args[2] = Value::Bytes(bytes);
        args.insert(3, version_arg(expected));
        let v = self.eval(&self.scripts.update, keys, args).await?;
        match Status::parse(&v)? {
            Status::Ok(_) => Ok(()),
            Status::Past => Err(past()),
            Status::NotFound => Err(Error::NotFound { id: session.id }),
            Status::Corrupt => Err(corrupt()),
            Status::Conflict(actual) => Err(conflict(session.id, expected, actual)),
            Status::ExistsConn => Err(conn_taken(session)),
            _ => Err(protocol("update")),
        }
    }

    /// KEYS and ARGV of the create and update scripts: record, user index, bucket and, with
    /// a connection id, its key; prefix, id, (record), expiry and the connection id.
    pub(crate) fn write_keys(&self, s: &Session) -> (Vec<String>, Vec<Value>) {
        let mut keys = vec![
            self.keys.record(&s.id),
            self.keys.user(&s.user_id),
            self.keys.bucket_of(&s.id),
        ];
        let mut args = vec![
            self.prefix(),
            Value::from(s.id.to_string()),
            Value::Null,
            Value::from(s.expires_at.as_millis().to_string()),
        ];
        if let Some(c) = &s.connection_id {
            keys.push(self.keys.conn(c));
            args.push(Value::from(c.to_string()));
        }
        (keys, args)
    }

    /// Touch (standalone), in one round trip: the script rewrites the version and expiry only
    /// of a record it is sure the client's decode accepts (see `decodable` in
    /// `lua/prelude.lua`), bumps the version on its bytes, and returns the new record, which is
    /// decoded here. Otherwise it writes nothing and returns the record ('CHECK'), which is
    /// decoded here (a record that does not decode is refused, nothing written) and then
    /// rewritten by the same script as a compare-and-set on its version (retried if another
    /// write came between): two round trips, as every touch took before.
    pub(super) async fn touch_standalone(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
    ) -> Result<Session> {
        let key = self.keys.record(id);
        let args = |versions: Option<(u64, u64)>| {
            let mut args = vec![
                self.prefix(),
                Value::from(id.to_string()),
                Value::from(expires_at.as_millis().to_string()),
            ];
            match versions {
                Some((expected, next)) => {
                    args.extend([version_arg(expected), version_arg(next)]);
                }
                None => args.push(Value::Bytes(Bytes::copy_from_slice(id.as_bytes()))),
            }
            args
        };
        let mut last = 0;
        for attempt in 0..LOCK_ATTEMPTS {
            let v = self
                .eval(&self.scripts.touch, vec![key.clone()], args(None))
                .await?;
            let bytes = match Status::parse(&v)? {
                Status::Ok(Some(new)) => return decode_for(&new, id),
                Status::Check(bytes) => bytes,
                Status::Past => return Err(past()),
                Status::NotFound => return Err(Error::NotFound { id: *id }),
                _ => return Err(protocol("touch")),
            };
            let mut session = decode_for(&bytes, id)?;
            let expected = session.version;
            let next = next_version(expected)?;
            let v = self
                .eval(
                    &self.scripts.touch,
                    vec![key.clone()],
                    args(Some((expected, next))),
                )
                .await?;
            match Status::parse(&v)? {
                Status::Ok(_) => {
                    session.version = next;
                    session.expires_at = expires_at;
                    return Ok(session);
                }
                Status::Past => return Err(past()),
                Status::NotFound => return Err(Error::NotFound { id: *id }),
                Status::Corrupt => return Err(corrupt()),
                Status::Conflict(actual) => {
                    last = actual;
                    backoff(attempt).await;
                }
                _ => return Err(protocol("touch")),
            }
        }
        Err(Error::Conflict {
            id: *id,
            expected: last,
            actual: last,
        })
    }
}

/// MGET answers nil both for a missing key and for one holding another type, where GET
/// answers WRONGTYPE: so that `get_many` gives the answer `get` gives, the misses (only they,
/// and only when there are any) are asked their TYPE in one round trip. A string appearing
/// meanwhile is a concurrent create, not a fault.
pub(crate) async fn check_misses(
    client: &Client,
    keys: &[String],
    raw: &[Option<Bytes>],
) -> Result<()> {
    let misses: Vec<&String> = keys
        .iter()
        .zip(raw)
        .filter(|(_, r)| r.is_none())
        .map(|(k, _)| k)
        .collect();
    if misses.is_empty() {
        return Ok(());
    }
    let pipeline = client.pipeline();
    for key in &misses {
        pipeline
            .r#type::<(), _>(key.as_str())
            .await
            .map_err(map_err)?;
    }
    let types: Vec<String> = pipeline.all().await.map_err(map_err)?;
    if types.iter().any(|t| t != "none" && t != "string") {
        return Err(wrong_type());
    }
    Ok(())
}

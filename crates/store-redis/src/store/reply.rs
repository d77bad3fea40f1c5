//! What the scripts reply, read.

use fred::bytes::Bytes;
use fred::types::Value;
use session_core::{Result, SessionId};

use crate::error::protocol;

/// A write script's reply, read once: `{STATUS, arg...}`, or `STATUS` alone (the scripts' formats are unchanged;
/// each caller matches the statuses its script can send and calls any other unexpected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    /// Done. With the record's bytes where the script returns them (a cluster lock: the
    /// current record; a cluster compare-and-set: the record before; a cluster touch: the
    /// record after).
    Ok(Option<Bytes>),
    /// The expiry is not in the future by the server's clock.
    Past,
    /// A live record already has this id.
    ExistsId,
    /// Another live session holds the connection id.
    ExistsConn,
    /// No live record.
    NotFound,
    /// The stored record's head is unreadable.
    Corrupt,
    /// The record's version is not the expected one; it is this one (0 if unreadable).
    Conflict(u64),
    /// The one-round-trip touch was not sure the record decodes (or it is at the last
    /// version) and wrote nothing: the record, for the client to decode.
    Check(Bytes),
    /// Another writer holds the record's lock (cluster); the record's version.
    Busy(u64),
    /// The write lock expired or was taken over before this step (cluster).
    Lost,
    /// A connection claim (cluster): this call took the connection id.
    New,
    /// A connection claim (cluster): the session already held it.
    Mine,
    /// A connection claim (cluster): another session holds it, claimed at `since` (ms).
    Held {
        /// The session holding the connection id.
        holder: SessionId,
        /// When it claimed it (server ms; 0 if unreadable).
        since: u64,
    },
}

impl Status {
    /// Reads a status reply; anything that is not one is `unexpected`.
    pub(crate) fn parse(v: &Value) -> Result<Status> {
        // A status without an argument may come alone, as a string: a Lua table reply costs
        // the server more to convert than the rest of an empty function call.
        let items = match v {
            Value::Array(items) => items.as_slice(),
            Value::String(_) | Value::Bytes(_) => std::slice::from_ref(v),
            _ => return Err(protocol("expected a status array")),
        };
        let status = items
            .first()
            .and_then(Value::as_str)
            .ok_or_else(|| protocol("status is not a string"))?;
        let arg = items.get(1);
        Ok(match &*status {
            "OK" => Status::Ok(arg.and_then(bytes_of).map(Bytes::copy_from_slice)),
            "PAST" => Status::Past,
            "EXISTS_ID" => Status::ExistsId,
            "EXISTS_CONN" => Status::ExistsConn,
            "NOT_FOUND" => Status::NotFound,
            "CORRUPT" => Status::Corrupt,
            "CONFLICT" => Status::Conflict(version_of(arg)),
            "CHECK" => Status::Check(
                arg.and_then(bytes_of)
                    .map(Bytes::copy_from_slice)
                    .ok_or_else(|| protocol("touch check without a record"))?,
            ),
            "BUSY" => Status::Busy(version_of(arg)),
            "LOST" => Status::Lost,
            "NEW" => Status::New,
            "MINE" => Status::Mine,
            "HELD" => Status::Held {
                holder: arg
                    .and_then(Value::as_str)
                    .and_then(|s| SessionId::parse(&s).ok())
                    .ok_or_else(|| protocol("claim holder"))?,
                since: items
                    .get(2)
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0),
            },
            _ => return Err(protocol("unknown status")),
        })
    }
}

/// A script's 1-or-0 reply (delete, index and connection steps): `true` for 1.
pub(crate) fn flag(v: &Value) -> bool {
    matches!(v, Value::Integer(1))
}

/// A version as the scripts return it (its 8 bytes, little-endian); 0 if it is not that.
fn version_of(v: Option<&Value>) -> u64 {
    v.and_then(bytes_of)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes)
}

/// A bulk string's bytes; `None` for nil.
pub(crate) fn bytes_of(v: &Value) -> Option<&[u8]> {
    match v {
        Value::Null => None,
        other => other.as_bytes(),
    }
}

/// An array of session ids (nil: none).
pub(crate) fn ids_of(v: &Value) -> Result<Vec<SessionId>> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .and_then(|s| SessionId::parse(&s).ok())
                    .ok_or(protocol("index member is not a session id"))
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err(protocol("expected an array of ids")),
    }
}

#[cfg(test)]
mod tests {
    use fred::bytes::Bytes;
    use fred::types::Value;
    use session_core::SessionId;

    use super::Status;

    fn reply(items: &[&[u8]]) -> Value {
        Value::Array(
            items
                .iter()
                .map(|i| Value::Bytes(Bytes::copy_from_slice(i)))
                .collect(),
        )
    }

    #[test]
    fn statuses_are_read_with_their_arguments() {
        assert_eq!(Status::parse(&reply(&[b"OK"])).unwrap(), Status::Ok(None));
        // Alone, as a string (bulk or simple).
        assert_eq!(
            Status::parse(&Value::Bytes(Bytes::from_static(b"OK"))).unwrap(),
            Status::Ok(None)
        );
        assert_eq!(
            Status::parse(&Value::String("PAST".into())).unwrap(),
            Status::Past
        );
        assert_eq!(
            Status::parse(&reply(&[b"OK", b"rec"])).unwrap(),
            Status::Ok(Some(Bytes::from_static(b"rec")))
        );
        let v7 = 7u64.to_le_bytes();
        assert_eq!(
            Status::parse(&reply(&[b"CONFLICT", &v7])).unwrap(),
            Status::Conflict(7)
        );
        assert_eq!(
            Status::parse(&reply(&[b"BUSY", &v7])).unwrap(),
            Status::Busy(7)
        );
        assert_eq!(
            Status::parse(&reply(&[b"CHECK", b"rec"])).unwrap(),
            Status::Check(Bytes::from_static(b"rec"))
        );
        // A version that is not 8 bytes reads as 0, as before.
        assert_eq!(
            Status::parse(&reply(&[b"CONFLICT", b"x"])).unwrap(),
            Status::Conflict(0)
        );
        let id = SessionId::new();
        let held = reply(&[b"HELD", id.to_string().as_bytes(), b"1234"]);
        assert_eq!(
            Status::parse(&held).unwrap(),
            Status::Held {
                holder: id,
                since: 1234
            }
        );
        for (s, want) in [
            (&b"PAST"[..], Status::Past),
            (b"EXISTS_ID", Status::ExistsId),
            (b"EXISTS_CONN", Status::ExistsConn),
            (b"NOT_FOUND", Status::NotFound),
            (b"CORRUPT", Status::Corrupt),
            (b"LOST", Status::Lost),
            (b"NEW", Status::New),
            (b"MINE", Status::Mine),
        ] {
            assert_eq!(Status::parse(&reply(&[s])).unwrap(), want);
        }
    }

    #[test]
    fn anything_else_is_an_error_not_a_panic() {
        for v in [
            Value::Null,
            Value::Integer(1),
            Value::Array(Vec::new()),
            Value::Array(vec![Value::Integer(3)]),
            reply(&[b"WHAT"]),
            Value::String("WHAT".into()),
            Value::Bytes(Bytes::from_static(b"CHECK")),
            reply(&[b"HELD", b"not-an-id", b"1"]),
            reply(&[b"HELD"]),
            reply(&[b"CHECK"]),
        ] {
            assert!(Status::parse(&v).is_err(), "{v:?}");
        }
    }
}

//! What the scripts reply, read.

use fred::types::Value;
use session_core::{Result, SessionId};

use crate::error::protocol;

/// A script's status reply: the first element of an array of strings.
pub(crate) fn status(v: &Value) -> Result<(String, Option<&Value>)> {
    match v {
        Value::Array(items) if !items.is_empty() => {
            let s = items[0]
                .as_str()
                .ok_or_else(|| protocol("status is not a string"))?
                .into_owned();
            Ok((s, items.get(1)))
        }
        _ => Err(protocol("expected a status array")),
    }
}

/// A version as the scripts return it (its 8 bytes, little-endian); 0 if it is not that.
pub(crate) fn version_of(v: Option<&Value>) -> u64 {
    v.and_then(bytes_of)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes)
}

pub(crate) fn bytes_of(v: &Value) -> Option<&[u8]> {
    match v {
        Value::Null => None,
        other => other.as_bytes(),
    }
}

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

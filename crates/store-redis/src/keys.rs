//! The only place key names are spelled (the Lua scripts' `krec`, `kuser`, `kconn`, `kbucket`
//! in `lua/prelude.lua` mirror these exactly).
//!
//! | key | type | holds | expires (PXAT) |
//! |---|---|---|---|
//! | `{prefix}:s:{<session id>}` | string | the session record (codec format 1) | the session's `expires_at` − 1 ms |
//! | `{prefix}:u:{<escaped user id>}` | sorted set | the user's session ids scored by expiry | its latest member's score (expiry) |
//! | `{prefix}:c:{<connection id>}` | string | the id of the session holding the connection | the holder's `expires_at` − 1 ms |
//! | `{prefix}:l:{<session id>}` | string | Cluster only: a writer's short-lived lock on the session (same slot as the record) | 10 s after it is taken (`PX`), or deleted by its writer |
//! | `{prefix}:a:{<hex digit>}` | sorted set | one of 16 buckets of all session ids scored by expiry (for count and list), bucket = the id's last hex digit | its latest member's score (expiry) |
//!
//! **Every key carries a TTL**, and none outlives what it names: a record and a connection
//! key are gone from the millisecond of the session's `expires_at` on (Redis keeps a key
//! through the millisecond of its PXAT, hence the − 1), an index key (user index or bucket)
//! expires with its latest member, with no slack. Every write that touches an index key
//! removes its members whose expiry has passed and sets its PXAT again to its latest
//! member's score (so a `touch` or `delete` that lowers the latest expiry lowers the key's),
//! and every read through an index drops the members it finds expired: no sweeper is needed,
//! and `delete_expired` only reclaims what no write has touched since. Checked with an
//! independent client by `tests/redis_keys.rs`
//! (`every_key_expires_within_the_documented_bound_and_writes_trim_expired_members`).
//!
//! The part in braces is the Redis Cluster hash tag: a record, a user index, a connection key
//! and a bucket each hash on their own, so no one slot becomes hot. User ids are escaped so
//! that no byte of theirs can reach the layout: every byte outside `[A-Za-z0-9._@-]` becomes
//! `%XX` (so `%`, `{`, `}`, `:` and `*` are escaped and two user ids never share a key).

use std::fmt::Write;

use session_core::{ConnectionId, SessionId, UserId};

/// How many buckets the all-sessions index has.
pub(crate) const BUCKETS: usize = 16;

#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}:{kind}:{<uuid>}`, built without the formatting machinery (this is on every
    /// request's path).
    fn uuid_key(&self, kind: &str, uuid: &uuid::Uuid) -> String {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = uuid.hyphenated().encode_lower(&mut buf);
        let mut key = String::with_capacity(self.prefix.len() + kind.len() + text.len() + 4);
        key.push_str(&self.prefix);
        key.push(':');
        key.push_str(kind);
        key.push_str(":{");
        key.push_str(text);
        key.push('}');
        key
    }

    pub(crate) fn record(&self, id: &SessionId) -> String {
        self.uuid_key("s", id.as_uuid())
    }

    pub(crate) fn lock(&self, id: &SessionId) -> String {
        self.uuid_key("l", id.as_uuid())
    }

    /// The part every record key starts with: `{prefix}:s:`.
    pub(crate) fn record_prefix(&self) -> String {
        format!("{}:s:", self.prefix)
    }

    /// The session id of a record key, or `None` if `key` is not one of this prefix.
    pub(crate) fn record_id(&self, key: &[u8]) -> Option<SessionId> {
        let rest = key
            .strip_prefix(self.prefix.as_bytes())?
            .strip_prefix(b":s:{")?;
        let uuid = rest.strip_suffix(b"}")?;
        SessionId::parse(std::str::from_utf8(uuid).ok()?).ok()
    }

    pub(crate) fn user(&self, user: &UserId) -> String {
        format!("{}:u:{{{}}}", self.prefix, escape_user(user.as_str()))
    }

    pub(crate) fn conn(&self, conn: &ConnectionId) -> String {
        self.uuid_key("c", conn.as_uuid())
    }

    pub(crate) fn bucket_of(&self, id: &SessionId) -> String {
        let last = id.as_bytes()[15] & 0x0f;
        format!("{}:a:{{{:x}}}", self.prefix, last)
    }

    pub(crate) fn buckets(&self) -> Vec<String> {
        (0..BUCKETS)
            .map(|b| format!("{}:a:{{{:x}}}", self.prefix, b))
            .collect()
    }
}

/// Escapes a user id for use inside a key: bytes outside `[A-Za-z0-9._@-]` become `%XX`.
pub fn escape_user(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for b in user.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'@') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_is_injective_on_layout_characters() {
        assert_eq!(escape_user("alice@example.com"), "alice@example.com");
        assert_eq!(escape_user("a:b"), "a%3Ab");
        assert_eq!(escape_user("{x}*"), "%7Bx%7D%2A");
        assert_eq!(escape_user("100%"), "100%25");
        assert_eq!(escape_user("ü"), "%C3%BC");
        assert_ne!(escape_user("a%3Ab"), escape_user("a:b"));
    }

    #[test]
    fn key_shapes() {
        let k = Keys::new("app");
        let id = SessionId::parse("0190b0a0-0000-7000-8000-00000000000b").unwrap();
        assert_eq!(
            k.record(&id),
            "app:s:{0190b0a0-0000-7000-8000-00000000000b}"
        );
        assert_eq!(k.bucket_of(&id), "app:a:{b}");
        assert_eq!(k.user(&UserId::new("a b").unwrap()), "app:u:{a%20b}");
        assert_eq!(k.buckets().len(), BUCKETS);
        assert_eq!(k.record_id(k.record(&id).as_bytes()), Some(id));
        assert_eq!(k.record_id(b"app:s:{nope}"), None);
        assert_eq!(
            k.record_id(b"other:s:{0190b0a0-0000-7000-8000-00000000000b}"),
            None
        );
        assert_eq!(k.record_prefix(), "app:s:");
    }
}

//! The only place key names are spelled (the Lua scripts' `krec`, `kuser`, `kconn`, `kbucket`
//! in `lua/prelude.lua` mirror these exactly).
//!
//! The layout (keys, types, TTLs, hash tags, user-id escaping) is documented on the crate's
//! front page, section "Key layout" (`lib.rs`); change both together.

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

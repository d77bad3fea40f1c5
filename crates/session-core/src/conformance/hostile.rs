//! The hostile-input table (docs/RELIABILITY.md section 5), shared by the conformance cases
//! (every store, checked through the store's own views) and by store tests that also check
//! the backend directly (Redis: every key under the prefix, read with an independent client,
//! is unchanged by a refused write).
//!
//! Two kinds of rows: [`refused_writes`] must each fail with `InvalidInput` naming the field
//! and write nothing; [`accepted_sessions`] are odd but valid and must round-trip through
//! every view (by id, by user, by connection, in `list`) without touching another session.

use std::time::Duration;

use super::user_id;
use crate::{
    ConnectionId, Error, Metadata, Session, SessionId, SessionState, Store, Timestamp, UserId,
    limits,
};

/// The write a refused row attempts.
#[derive(Debug, Clone)]
pub enum Write {
    /// `create(session)`.
    Create(Session),
    /// `update(session)` (of the victim, or of a missing id).
    Update(Session),
    /// `touch(id, expires_at)`.
    Touch(SessionId, Timestamp),
}

impl Write {
    /// Runs the write on `store`.
    pub async fn apply<S: Store>(self, store: &S) -> Result<(), Error> {
        match self {
            Write::Create(s) => store.create(s).await.map(drop),
            Write::Update(s) => store.update(s).await.map(drop),
            Write::Touch(id, at) => store.touch(&id, at).await.map(drop),
        }
    }
}

/// One refused row: what it is, the field `InvalidInput` must name, and the write.
#[derive(Debug, Clone)]
pub struct Refused {
    /// The row's name in the table.
    pub what: &'static str,
    /// The field the error names.
    pub field: &'static str,
    /// The write that must be refused.
    pub write: Write,
}

fn with_metadata(s: &Session, entries: impl IntoIterator<Item = (String, String)>) -> Session {
    let mut s = s.clone();
    s.metadata = entries.into_iter().collect();
    s
}

/// The refused rows, around `victim` (a live session at version `victim.version`) at `now`.
///
/// `fresh` is a valid session for a new id. Every row is also checked on a path where the
/// write would otherwise collide or miss: validation comes first and nothing is written.
pub fn refused_writes(victim: &Session, fresh: &Session, now: Timestamp) -> Vec<Refused> {
    let past_max = Timestamp::from_millis(Timestamp::MAX.as_millis() + 1);
    let mut rows = Vec::new();
    let mut push = |what, field, write| rows.push(Refused { what, field, write });

    // Expiry beyond the far-future edge, on every write path.
    let mut s = fresh.clone();
    s.expires_at = past_max;
    push(
        "create, expiry Timestamp::MAX + 1 ms",
        "expires_at",
        Write::Create(s),
    );
    let mut s = victim.clone();
    s.expires_at = past_max;
    push(
        "update, expiry Timestamp::MAX + 1 ms",
        "expires_at",
        Write::Update(s),
    );
    let mut s = victim.clone();
    s.expires_at = Timestamp::from_millis(u64::MAX);
    push("update, expiry u64::MAX ms", "expires_at", Write::Update(s));
    push(
        "touch, expiry Timestamp::MAX + 1 ms",
        "expires_at",
        Write::Touch(victim.id, past_max),
    );
    push(
        "touch, expiry u64::MAX ms",
        "expires_at",
        Write::Touch(victim.id, Timestamp::from_millis(u64::MAX)),
    );
    push(
        "touch, expiry at the epoch",
        "expires_at",
        Write::Touch(victim.id, Timestamp::EPOCH),
    );
    push(
        "touch, expiry now",
        "expires_at",
        Write::Touch(victim.id, now),
    );
    push(
        "touch of a missing id, expiry Timestamp::MAX + 1 ms",
        "expires_at",
        Write::Touch(fresh.id, past_max),
    );
    let mut s = victim.clone();
    s.expires_at = now - Duration::from_secs(1);
    s.version += 7;
    push(
        "update, wrong version and past expiry",
        "expires_at",
        Write::Update(s),
    );

    // Metadata at every boundary: keys, values, counts, sizes.
    let big_key = "k".repeat(10 << 20);
    let rows_meta: Vec<(&'static str, Vec<(String, String)>)> = vec![
        ("metadata key of 10 MB", vec![(big_key, String::new())]),
        (
            "metadata key of 129 `{` bytes",
            vec![(
                "{".repeat(limits::METADATA_MAX_KEY_BYTES + 1),
                String::new(),
            )],
        ),
        ("metadata key with NUL", vec![("a\0b".into(), "v".into())]),
        (
            "metadata key with DEL (0x7f)",
            vec![("a\u{7f}".into(), "v".into())],
        ),
        (
            "metadata key with NEL (U+0085)",
            vec![("a\u{85}".into(), "v".into())],
        ),
        (
            "metadata key with ESC",
            vec![("\u{1b}[31m".into(), "v".into())],
        ),
        ("empty metadata key", vec![(String::new(), "{}".into())]),
        (
            "10 000 metadata entries of layout characters",
            (0..10_000)
                .map(|i| (format!("{{{i}}}:*"), "*".into()))
                .collect(),
        ),
        (
            "metadata value of 1025 `}` bytes",
            vec![("k".into(), "}".repeat(limits::METADATA_MAX_VALUE_BYTES + 1))],
        ),
    ];
    for (what, entries) in rows_meta {
        push(
            what,
            "metadata",
            Write::Create(with_metadata(fresh, entries.clone())),
        );
        push(
            what,
            "metadata",
            Write::Update(with_metadata(victim, entries.clone())),
        );
        // On a missing id: still InvalidInput, not NotFound.
        let mut missing = with_metadata(fresh, entries);
        missing.version = 1;
        push(what, "metadata", Write::Update(missing));
    }
    // On the victim's own id: still InvalidInput, not AlreadyExists.
    let mut s = with_metadata(victim, [("\n".to_owned(), String::new())]);
    s.version = 0;
    push(
        "metadata key with LF, on a taken id",
        "metadata",
        Write::Create(s),
    );
    rows
}

/// User id and id text that must be refused by the parsers, with the field named.
pub fn refused_text() -> Vec<(&'static str, &'static str, Result<(), Error>)> {
    let ten_mb = "{".repeat(10 << 20);
    let user = |s: &str| UserId::new(s).map(drop);
    let sid = |s: &str| SessionId::parse(s).map(drop);
    let cid = |s: &str| ConnectionId::parse(s).map(drop);
    vec![
        ("user id: empty", "user_id", user("")),
        ("user id: 10 MB of `{`", "user_id", user(&ten_mb)),
        ("user id: 257 bytes", "user_id", user(&"}".repeat(257))),
        (
            "user id: 128 `ü` then `a` (257 bytes)",
            "user_id",
            user(&format!("{}a", "ü".repeat(128))),
        ),
        ("user id: NUL", "user_id", user("a\0")),
        ("user id: CR LF", "user_id", user("a\r\n")),
        ("user id: DEL", "user_id", user("\u{7f}")),
        ("user id: NEL (U+0085)", "user_id", user("a\u{85}b")),
        ("user id: ESC", "user_id", user("\u{1b}[0m")),
        ("session id: empty", "session_id", sid("")),
        ("session id: `{`", "session_id", sid("{")),
        ("session id: `}`", "session_id", sid("}")),
        ("session id: `*`", "session_id", sid("*")),
        ("session id: `:`", "session_id", sid(":")),
        ("session id: 10 MB of `{`", "session_id", sid(&ten_mb)),
        (
            "session id: a glob",
            "session_id",
            sid("0190b0a0-0000-7000-8000-*"),
        ),
        (
            "session id: key syntax around a UUID",
            "session_id",
            sid("s:{0190b0a0-0000-7000-8000-00000000000b}"),
        ),
        (
            "session id: control character inside",
            "session_id",
            sid("0190b0a0-0000-7000-8000-00000000000\n"),
        ),
        (
            "session id: non-hex digit",
            "session_id",
            sid("0190b0a0-0000-7000-8000-00000000000g"),
        ),
        (
            "session id: 37 characters",
            "session_id",
            sid("0190b0a0-0000-7000-8000-00000000000bb"),
        ),
        (
            "session id: U+FFFD (what invalid UTF-8 becomes)",
            "session_id",
            sid("0190b0a0-0000-7000-8000-00000000000\u{fffd}"),
        ),
        ("connection id: empty", "connection_id", cid("")),
        ("connection id: `{}`", "connection_id", cid("{}")),
        ("connection id: `*`", "connection_id", cid("*")),
        ("connection id: `:`", "connection_id", cid(":")),
    ]
}

/// Odd but valid sessions: each must be stored and read back unchanged everywhere.
pub fn accepted_sessions(base: &Session) -> Vec<(&'static str, Session)> {
    let mut rows = Vec::new();
    let user_rows: [(&'static str, &str); 16] = [
        ("user id `{`", "{"),
        ("user id `}`", "}"),
        ("user id `{}`", "{}"),
        ("user id `}{`", "}{"),
        ("user id `:`", ":"),
        ("user id `*`", "*"),
        ("user id `*:*`", "*:*"),
        ("user id `%7B` (what `{` escapes to)", "%7B"),
        ("user id `%`", "%"),
        ("user id `{a}:u:{b}` (key syntax)", "{a}:u:{b}"),
        (
            "user id with U+2028 (a separator, not a control)",
            "a\u{2028}b",
        ),
        ("user id with a BOM", "\u{feff}x"),
        (
            "user id: 128 `ü` (256 bytes)",
            "üüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüü",
        ),
        ("user id: emoji", "🙂"),
        ("user id: spaces", "  "),
        ("user id: backslashes and quotes", "\\\"'`"),
    ];
    for (what, u) in user_rows {
        let mut s = base.clone();
        s.id = SessionId::new();
        s.connection_id = Some(ConnectionId::new());
        s.user_id = user_id(u);
        rows.push((what, s));
    }
    let mut s = base.clone();
    s.id = SessionId::from_bytes([0; 16]);
    s.connection_id = Some(ConnectionId::from_bytes([0; 16]));
    rows.push(("nil session and connection ids", s));
    let mut s = base.clone();
    s.id = SessionId::from_bytes([0xff; 16]);
    s.connection_id = Some(ConnectionId::from_bytes([0xff; 16]));
    rows.push(("all-ones session and connection ids", s));
    let mut s = base.clone();
    s.id = SessionId::new();
    s.connection_id = None;
    s.expires_at = Timestamp::MAX;
    rows.push((
        "expiry exactly Timestamp::MAX (9999-12-31T23:59:59.999Z)",
        s,
    ));
    let mut s = base.clone();
    s.id = SessionId::new();
    s.connection_id = Some(ConnectionId::new());
    s.state = SessionState::Closed;
    s.client_addr = "[::ffff:1.2.3.4]:0".parse().expect("addr");
    s.server_addr = "[fe80::1]:65535".parse().expect("addr");
    let meta: Metadata = [
        ("{", "}"),
        ("*", ":"),
        ("}{", "{}"),
        ("ctl", "\0\r\n\u{1b}\u{7f}\u{85}"),
        ("empty", ""),
        ("🙂", "\u{fffd}"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([
        (
            "k".repeat(limits::METADATA_MAX_KEY_BYTES),
            "{".repeat(limits::METADATA_MAX_VALUE_BYTES),
        ),
        (":".repeat(limits::METADATA_MAX_KEY_BYTES), String::new()),
    ])
    .collect();
    s.metadata = meta;
    rows.push((
        "metadata keys and values of layout and control characters",
        s,
    ));
    let mut s = base.clone();
    s.id = SessionId::new();
    s.connection_id = Some(ConnectionId::new());
    s.metadata = (0..limits::METADATA_MAX_ENTRIES)
        .map(|i| (format!("{{{i}}}"), "*".repeat(200)))
        .collect();
    rows.push((
        "64 metadata entries (the entry limit) of layout characters",
        s,
    ));
    rows
}

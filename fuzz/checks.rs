// The fuzz targets' checks, shared by the targets in fuzz_targets/ and by
// crates/session-core/tests/fuzz_corpus.rs (which runs every committed seed on stable) through
// `include!`, so the two cannot drift apart. Uses `session_core` from the including crate.

/// `codec::decode` on arbitrary bytes returns `Ok` or `Err` and never panics; a record it
/// accepts re-encodes to exactly the same bytes, decodes again to the same session, and agrees
/// with `decode_header`. Returns whether the bytes were accepted.
pub fn check_codec(data: &[u8]) -> bool {
    use session_core::codec;
    let header = codec::decode_header(data);
    let Ok(session) = codec::decode(data) else {
        return false;
    };
    let header = header.expect("decode accepted a record whose header does not decode");
    assert_eq!(header.version, session.version);
    assert_eq!(header.expires_at, session.expires_at);
    assert_eq!(header.id, session.id);
    let bytes = codec::encode(&session);
    assert_eq!(bytes.len(), codec::encoded_len(&session));
    assert_eq!(
        bytes, data,
        "decode accepted bytes that do not re-encode to themselves"
    );
    assert_eq!(codec::decode(&bytes).as_ref(), Ok(&session));
    true
}

fn check_field<T: std::fmt::Debug>(result: &Result<T, session_core::Error>, field: &str) {
    if let Err(e) = result {
        assert!(
            matches!(e, session_core::Error::InvalidInput { field: f, .. } if *f == field),
            "{field}: unexpected error {e:?}"
        );
    }
}

/// The id parsers on arbitrary input: `SessionId::parse`, `ConnectionId::parse` and
/// `UserId::new` return `Ok` or a typed `InvalidInput` and never panic; every accepted id
/// prints to text that parses back to the same id.
pub fn check_ids(data: &[u8]) {
    use session_core::{ConnectionId, SessionId, UserId};
    // Raw bytes: the 16-byte form round-trips through text.
    if let Ok(bytes) = <[u8; 16]>::try_from(data.get(..16).unwrap_or_default()) {
        let id = SessionId::from_bytes(bytes);
        assert_eq!(SessionId::parse(&id.to_string()).ok(), Some(id));
        let conn = ConnectionId::from_bytes(bytes);
        assert_eq!(ConnectionId::parse(&conn.to_string()).ok(), Some(conn));
    }
    // Text: invalid UTF-8 never reaches the parsers as `&str`; the lossy form does.
    let text = String::from_utf8_lossy(data);
    let session = SessionId::parse(&text);
    check_field(&session, "session_id");
    if let Ok(id) = session {
        assert_eq!(SessionId::parse(&id.to_string()).ok(), Some(id));
        assert_eq!(text.parse::<SessionId>().ok(), Some(id));
    }
    let conn = ConnectionId::parse(&text);
    check_field(&conn, "connection_id");
    if let Ok(id) = conn {
        assert_eq!(ConnectionId::parse(&id.to_string()).ok(), Some(id));
    }
    let user = UserId::new(&*text);
    check_field(&user, "user_id");
    let valid =
        !text.is_empty() && text.len() <= UserId::MAX_BYTES && !text.chars().any(char::is_control);
    assert_eq!(user.is_ok(), valid, "{text:?}");
    if let Ok(user) = user {
        assert_eq!(user.as_str(), &*text);
        assert_eq!(user.to_string().parse::<UserId>().ok(), Some(user));
    }
}

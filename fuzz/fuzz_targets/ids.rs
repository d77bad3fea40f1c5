//! The id parsers on arbitrary input: `SessionId::parse`, `ConnectionId::parse` and
//! `UserId::new` return `Ok` or a typed `InvalidInput` and never panic; every accepted id
//! prints to text that parses back to the same id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::{ConnectionId, Error, SessionId, UserId};

fn check_field<T: std::fmt::Debug>(result: &Result<T, Error>, field: &str) {
    if let Err(e) = result {
        assert!(
            matches!(e, Error::InvalidInput { field: f, .. } if *f == field),
            "{field}: unexpected error {e:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
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
    match user {
        Ok(user) => {
            assert_eq!(user.as_str(), &*text);
            assert_eq!(user.to_string().parse::<UserId>().ok(), Some(user.clone()));
            assert!(!text.is_empty() && text.len() <= UserId::MAX_BYTES);
            assert!(!text.chars().any(char::is_control));
        }
        Err(_) => assert!(
            text.is_empty() || text.len() > UserId::MAX_BYTES || text.chars().any(char::is_control)
        ),
    }
});

//! `codec::decode` on arbitrary bytes: it returns `Ok` or `Err` and never panics; a record it
//! accepts re-encodes to exactly the same bytes, decodes again to the same session, and agrees
//! with `decode_header`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::codec;

fuzz_target!(|data: &[u8]| {
    let header = codec::decode_header(data);
    let Ok(session) = codec::decode(data) else {
        return;
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
});

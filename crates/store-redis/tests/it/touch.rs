//! `touch` in one round trip (standalone): the script rewrites a record only when its Lua
//! check is sure the client's decode accepts it, and otherwise hands the record to the client,
//! which decodes it (refusing a corrupt one) before its compare-and-set. Checked here against
//! `codec::decode` itself: every single-byte corruption and every truncation of realistic
//! records, and records at and just beyond each limit decode checks, each stored raw under the
//! session's key and touched, must give exactly what decoding and then the compare-and-set
//! gives, and a refused touch must change no key; run directly, the script must rewrite only
//! records that decode (and every live one whose text is ASCII: the one-round-trip path).
//! Runs on the standalone server testkit finds; fails without one when
//! SESSION_STORE_REQUIRE_REDIS=1.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use redis::AsyncCommands;
use session_core::{
    Clock, Error, Session, SessionState, Stats, Store, SystemClock, Timestamp, codec,
};

use crate::common::Env;

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

async fn env(name: &str) -> Option<Env> {
    Some(Env::connect(server().await?.url(), name).await)
}

/// A session as a real one looks, with every part of the format in use: a connection id, IPv6
/// addresses with a scope id (client: flowinfo 0, scope id 1) and a flowinfo (server: 1, 0),
/// where flipping the low bit leaves both zero, which decode refuses; counters, and
/// metadata whose keys share prefixes (so that a flipped byte can put them out of order), an
/// empty value, a control character in a value (valid there) and a value of 200 bytes (its
/// length's low byte is beyond ASCII).
fn realistic(user: &str) -> Session {
    let client = SocketAddrV6::new(
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0x1c, 0x2b, 0x3a, 0x49),
        51000,
        0,
        1,
    );
    let server = SocketAddrV6::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 443, 1, 0);
    testkit::scenarios::connected_session(user)
        .client_addr(SocketAddr::V6(client))
        .server_addr(SocketAddr::V6(server))
        .stats(Stats {
            packets_sent: 1200,
            packets_received: 1100,
            bytes_sent: 3_400_000,
            bytes_received: 120_000,
            retransmissions: 3,
            current_rtt_ms: 27,
        })
        .metadata("a", "1")
        .metadata("app", "x")
        .metadata("app.build", "20240101")
        .metadata("app.ver", "v".repeat(200))
        .metadata("b", "")
        .metadata("zz", "tab\there")
        .build()
}

/// The same with text beyond ASCII in the user id, a key and a value (valid UTF-8: the script
/// leaves all of it to the client), where a flipped byte can make invalid UTF-8, a C1 control
/// character in a key (`ß` is C3 9F: C2 9F is U+009F) or other valid text.
fn non_ascii(user: &str) -> Session {
    testkit::scenarios::connected_session(user)
        .metadata("city", "Zürich")
        .metadata("straße", "1")
        .metadata("z", "ok")
        .build()
}

/// What touching `bytes`, stored under the session's key, must give: what the client's decode
/// and then the compare-and-set give. Every error must write nothing.
#[derive(Debug)]
enum Want {
    Codec,
    AtLastVersion,
    /// The record is over by its own expiry (the server's clock).
    NotFound,
    /// Over or not, depending on the millisecond the script runs in.
    NotFoundOr(Box<Session>),
    Touched(Box<Session>),
}

fn want(bytes: &[u8], s: &Session, later: Timestamp, server_now: (u64, u64)) -> Want {
    let Ok(d) = codec::decode(bytes) else {
        return Want::Codec;
    };
    if d.id != s.id {
        return Want::Codec;
    }
    let Some(version) = d.version.checked_add(1) else {
        return Want::AtLastVersion;
    };
    let exp = d.expires_at.as_millis();
    let touched = Box::new(Session {
        version,
        expires_at: later,
        ..d
    });
    if exp <= server_now.0 {
        Want::NotFound
    } else if exp <= server_now.1 {
        Want::NotFoundOr(touched)
    } else {
        Want::Touched(touched)
    }
}

async fn server_ms(env: &mut Env) -> u64 {
    let (s, us): (u64, u64) = redis::cmd("TIME").query_async(&mut env.raw).await.unwrap();
    s * 1000 + us / 1000
}

/// Every single-byte change (xor 0x01, 0x20, 0x80 and 0xff at every position) and every
/// truncation of `good` (the record of `s`, stored under its key), plus trailing bytes and
/// versions whose successor carries across bytes, up to the last version (which has none).
fn variants(good: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for at in 0..good.len() {
        for x in [0x01u8, 0x20, 0x80, 0xff] {
            let mut b = good.to_vec();
            b[at] ^= x;
            out.push((format!("byte {at} ^ {x:#04x}"), b));
        }
    }
    for len in 0..good.len() {
        out.push((format!("truncated to {len}"), good[..len].to_vec()));
    }
    for extra in [0u8, b'a', 0xff] {
        let mut b = good.to_vec();
        b.push(extra);
        out.push((format!("trailing {extra:#04x}"), b));
    }
    for version in [
        0xff,
        0xffff,
        (1 << 53) - 1,
        (1 << 56) - 1,
        (1 << 63) - 1,
        u64::MAX - 1,
        u64::MAX,
    ] {
        let mut b = good.to_vec();
        b[codec::VERSION_OFFSET..codec::VERSION_OFFSET + 8].copy_from_slice(&version.to_le_bytes());
        out.push((format!("version {version:#x}"), b));
    }
    out
}

/// `s`'s record (encoded without its metadata) with user id `user` and the metadata section
/// `count`, `entries` written as they are: records at and beyond each limit decode checks,
/// which no single byte flip of a small record reaches.
fn raw_record(s: &Session, user: &[u8], count: usize, entries: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut bare = s.clone();
    bare.metadata.clear();
    let good = codec::encode(&bare);
    let user_at = codec::FIXED_LEN + if s.connection_id.is_some() { 16 } else { 0 };
    let old_len = usize::from(u16::from_le_bytes([good[user_at], good[user_at + 1]]));
    let mut out = good[..user_at].to_vec();
    out.extend_from_slice(&(user.len() as u16).to_le_bytes());
    out.extend_from_slice(user);
    // The addresses and stats, without the empty metadata's count.
    out.extend_from_slice(&good[user_at + 2 + old_len..good.len() - 2]);
    out.extend_from_slice(&(count as u16).to_le_bytes());
    for (k, v) in entries {
        for text in [k, v] {
            out.extend_from_slice(&(text.len() as u16).to_le_bytes());
            out.extend_from_slice(text);
        }
    }
    out
}

/// Records at each limit decode checks (valid) and just beyond it (refused), and text that
/// the script leaves to the client: valid UTF-8, and what Rust's UTF-8 check refuses
/// (overlong, surrogate) or a key's control check refuses (C1 control, DEL).
fn limit_variants(s: &Session) -> Vec<(String, Vec<u8>)> {
    let user = s.user_id.as_str().as_bytes();
    let keys: Vec<Vec<u8>> = (0..65).map(|i| format!("k{i:03}").into_bytes()).collect();
    let long_keys: Vec<Vec<u8>> = (0..16).map(|i| format!("{i:0100}").into_bytes()).collect();
    let v924 = vec![b'v'; 924];
    let v925 = vec![b'v'; 925];
    let k128 = vec![b'k'; 128];
    let k129 = vec![b'k'; 129];
    let v1024 = vec![b'v'; 1024];
    let v1025 = vec![b'v'; 1025];
    let entries = |n: usize| -> Vec<(&[u8], &[u8])> {
        keys[..n]
            .iter()
            .map(|k| (k.as_slice(), &b"v"[..]))
            .collect()
    };
    let total = |last: &'static str| -> Vec<(&[u8], &[u8])> {
        long_keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let v = if i == 15 && last == "over" {
                    &v925
                } else {
                    &v924
                };
                (k.as_slice(), v.as_slice())
            })
            .collect()
    };
    let one = |k: &'static [u8], v: &'static [u8]| vec![(k, v)];
    let mut out: Vec<(String, Vec<u8>)> = vec![
        ("64 entries".into(), raw_record(s, user, 64, &entries(64))),
        ("65 entries".into(), raw_record(s, user, 65, &entries(65))),
        (
            "key of 128 bytes".into(),
            raw_record(s, user, 1, &[(&k128, b"v")]),
        ),
        (
            "key of 129 bytes".into(),
            raw_record(s, user, 1, &[(&k129, b"v")]),
        ),
        (
            "value of 1024 bytes".into(),
            raw_record(s, user, 1, &[(b"k", &v1024)]),
        ),
        (
            "value of 1025 bytes".into(),
            raw_record(s, user, 1, &[(b"k", &v1025)]),
        ),
        (
            "16 KiB of text".into(),
            raw_record(s, user, 16, &total("at")),
        ),
        (
            "16 KiB and a byte of text".into(),
            raw_record(s, user, 16, &total("over")),
        ),
        (
            "user id of 256 bytes".into(),
            raw_record(s, &[b'u'; 256], 0, &[]),
        ),
        (
            "user id of 257 bytes".into(),
            raw_record(s, &[b'u'; 257], 0, &[]),
        ),
        ("empty user id".into(), raw_record(s, b"", 0, &[])),
        ("empty key".into(), raw_record(s, user, 1, &one(b"", b"v"))),
        (
            "empty value".into(),
            raw_record(s, user, 1, &one(b"k", b"")),
        ),
        (
            "a key and then its prefix".into(),
            raw_record(s, user, 2, &[(b"ab", b"1"), (b"a", b"2")]),
        ),
        (
            "a key and then a longer one it prefixes".into(),
            raw_record(s, user, 2, &[(b"a", b"1"), (b"ab", b"2")]),
        ),
        (
            "the same key twice".into(),
            raw_record(s, user, 2, &[(b"a", b"1"), (b"a", b"2")]),
        ),
        (
            "keys that differ after 8 bytes".into(),
            raw_record(s, user, 2, &[(b"abcdefgh2", b"1"), (b"abcdefgh1", b"2")]),
        ),
        (
            "DEL in a key".into(),
            raw_record(s, user, 1, &one(b"k\x7f", b"v")),
        ),
        (
            "DEL and a tab in a value".into(),
            raw_record(s, user, 1, &one(b"k", b"\x7f\t")),
        ),
        ("NUL in the user id".into(), raw_record(s, b"u\0", 0, &[])),
        (
            "a space as a key".into(),
            raw_record(s, user, 1, &one(b" ", b"v")),
        ),
        (
            "e-acute in a value".into(),
            raw_record(s, user, 1, &one(b"k", "é".as_bytes())),
        ),
        (
            "e-acute in a key".into(),
            raw_record(s, user, 1, &one("é".as_bytes(), b"v")),
        ),
        (
            "e-acute in the user id".into(),
            raw_record(s, "é".as_bytes(), 0, &[]),
        ),
        (
            "overlong '/' in a value".into(),
            raw_record(s, user, 1, &one(b"k", b"\xc0\xaf")),
        ),
        (
            "surrogate in a value".into(),
            raw_record(s, user, 1, &one(b"k", b"\xed\xa0\x80")),
        ),
        (
            "C1 control in a key".into(),
            raw_record(s, user, 1, &one(b"k\xc2\x85", b"v")),
        ),
        (
            "C1 control in the user id".into(),
            raw_record(s, b"u\xc2\x85", 0, &[]),
        ),
        (
            "C1 control in a value".into(),
            raw_record(s, user, 1, &one(b"k", b"\xc2\x85")),
        ),
    ];
    // The scope id flag on an IPv4 address, with 8 bytes of flowinfo and scope id after it
    // (so that every length still adds up).
    let mut v4 = s.clone();
    v4.client_addr = SocketAddr::from(([192, 0, 2, 7], 51000));
    v4.server_addr = SocketAddr::from(([192, 0, 2, 1], 443));
    let v4 = codec::encode(&v4);
    let client_at = codec::FIXED_LEN + 16 + 2 + user.len();
    for (flag, at, what) in [(8, client_at + 6, "client"), (16, client_at + 12, "server")] {
        let mut b = v4.clone();
        b[codec::FIXED_LEN - 1] |= flag;
        b.splice(at..at, [1, 0, 0, 0, 1, 0, 0, 0]);
        out.push((format!("scope id flag on an IPv4 {what} address"), b));
    }
    // Every bit of the state and flags bytes.
    let good = codec::encode(s);
    for at in [codec::FIXED_LEN - 2, codec::FIXED_LEN - 1] {
        for bit in 0..8 {
            let mut b = good.clone();
            b[at] ^= 1 << bit;
            out.push((format!("byte {at} bit {bit}"), b));
        }
    }
    // No entries, then bytes after the count.
    let mut trailing = raw_record(s, user, 0, &[]);
    trailing.extend_from_slice(b"\x01\x00k\x01\x00v");
    out.push(("entries beyond the count".into(), trailing));
    out
}

/// Stores `bytes` under `key` (keeping its TTL); the expiry to touch to, two hours on, and
/// the server's clock (ms) just after.
async fn store_variant(env: &mut Env, key: &str, bytes: &[u8]) -> (Timestamp, u64) {
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(bytes)
        .arg("KEEPTTL")
        .query_async(&mut env.raw)
        .await
        .unwrap();
    let later = SystemClock.now() + Duration::from_secs(7200);
    (later, server_ms(env).await)
}

/// Touches every variant of `s`'s record (each stored raw under its key, keeping its TTL). Returns
/// every way an outcome differs from [`want`]'s, and how many variants were touched, refused
/// (`Codec`, `InvalidInput`) and found over (`NotFound`).
async fn check_variants(
    env: &mut Env,
    s: &Session,
    variants: Vec<(String, Vec<u8>)>,
) -> (Vec<String>, [usize; 3]) {
    let key = env.rec(s);
    let mut failures = Vec::new();
    let mut counts = [0; 3];
    for (what, bytes) in variants {
        let (later, before_ms) = store_variant(env, &key, &bytes).await;
        // Every key under the prefix, before any touch that may be refused (one that decode
        // says must succeed is checked key by key below).
        let before = match want(&bytes, s, later, (before_ms, before_ms + 60_000)) {
            Want::Touched(_) => None,
            _ => Some(env.dump().await),
        };
        let r = env.store.touch(&s.id, later).await;
        let after_ms = server_ms(env).await;
        let want = want(&bytes, s, later, (before_ms, after_ms));
        let refused = match (&want, &r) {
            (Want::Codec, Err(Error::Codec(_)))
            | (
                Want::AtLastVersion,
                Err(Error::InvalidInput {
                    field: "version", ..
                }),
            )
            | (Want::NotFound | Want::NotFoundOr(_), Err(Error::NotFound { .. })) => true,
            (Want::Touched(w) | Want::NotFoundOr(w), Ok(got)) if **w == **got => false,
            _ => {
                failures.push(format!("{what}: wanted {want:?}, got {r:?}"));
                continue;
            }
        };
        if refused {
            counts[if matches!(r, Err(Error::NotFound { .. })) {
                2
            } else {
                1
            }] += 1;
            if Some(env.dump().await) != before {
                failures.push(format!("{what}: refused ({r:?}) but keys changed"));
            }
            continue;
        }
        counts[0] += 1;
        // Touched: the record is the touched session's encoding, and it, its index entries
        // and its connection key (if the record still names the session's) moved to `later`.
        let t = r.unwrap();
        let stored: Vec<u8> = env.raw.get(&key).await.unwrap();
        if stored != codec::encode(&t) {
            failures.push(format!(
                "{what}: stored record is not the touched session's"
            ));
        }
        let at = later.as_millis() as i64 - 1;
        if env.expire_time(&key).await != at {
            failures.push(format!("{what}: record PXAT not moved"));
        }
        let user_key = env.user(t.user_id.as_str());
        let bucket_key = env.bucket(&t);
        for k in [&user_key, &bucket_key] {
            if env.score(k, &t).await != Some(later.as_millis()) {
                failures.push(format!("{what}: {k} entry not moved"));
            }
        }
        if t.connection_id == s.connection_id {
            let conn_key = env.conn(&t.connection_id.unwrap());
            if env.expire_time(&conn_key).await != at {
                failures.push(format!("{what}: connection key PXAT not moved"));
            }
        }
        // A user id the corruption made: its index key goes, so every dump stays small.
        if t.user_id != s.user_id {
            let _: () = env.raw.del(&user_key).await.unwrap();
        }
    }
    (failures, counts)
}

/// The property, on one record: for every variant, touch answers as decode-then-compare-and-
/// set does, and writes nothing when it refuses.
async fn property(name: &str, proto: Session) {
    let Some(mut env) = env(name).await else {
        return;
    };
    let s = env.store.create(proto).await.unwrap();
    let mut all = variants(&codec::encode(&s));
    all.extend(limit_variants(&s));
    let (failures, [touched, refused, over]) = check_variants(&mut env, &s, all).await;
    eprintln!(
        "{name} ({} bytes): {touched} touched, {refused} refused, {over} over",
        codec::encode(&s).len()
    );
    assert!(
        failures.is_empty(),
        "{} failures: {failures:#?}",
        failures.len()
    );
    assert!(
        touched > 100 && refused > 100 && over > 0,
        "too few of each"
    );
    env.cleanup().await;
}

/// On a record the script checks itself (ASCII text).
#[tokio::test]
async fn every_corruption_of_an_ascii_record_is_touched_as_decoding_first_would() {
    property("touch-property-ascii", realistic("victim")).await;
}

/// On a record the script leaves to the client (text beyond ASCII).
#[tokio::test]
async fn every_corruption_of_a_non_ascii_record_is_touched_as_decoding_first_would() {
    property("touch-property-non-ascii", non_ascii("jürgen")).await;
}

/// A valid record with text beyond ASCII (which the script does not check, so the client
/// decodes it first) is touched exactly: version + 1, the new expiry on the record, its index
/// entries and its connection key, everything else as it was; and again.
#[tokio::test]
async fn a_valid_record_with_non_ascii_text_is_touched_through_the_fallback() {
    let Some(mut env) = env("touch-fallback").await else {
        return;
    };
    let s = env.store.create(non_ascii("jürgen")).await.unwrap();
    let mut expected = (*s).clone();
    for round in 1..=2u64 {
        let later = SystemClock.now() + Duration::from_secs(3600 + 60 * round);
        let t = env.store.touch(&s.id, later).await.unwrap();
        expected.version = s.version + round;
        expected.expires_at = later;
        assert_eq!(*t, expected);
        assert_eq!(
            env.store.get(&s.id).await.unwrap().as_deref(),
            Some(&expected)
        );
        let key = env.rec(&s);
        let at = later.as_millis() as i64 - 1;
        assert_eq!(env.expire_time(&key).await, at);
        let conn = env.conn(&s.connection_id.unwrap());
        assert_eq!(env.expire_time(&conn).await, at);
        let user = env.user("jürgen");
        assert_eq!(env.score(&user, &s).await, Some(later.as_millis()));
        let bucket = env.bucket(&s);
        assert_eq!(env.score(&bucket, &s).await, Some(later.as_millis()));
    }
    // State and metadata untouched by either touch.
    let got = env.store.get(&s.id).await.unwrap().unwrap();
    assert_eq!(got.state, SessionState::Active);
    assert_eq!(got.metadata.get("city"), Some("Zürich"));
    env.cleanup().await;
}

/// The touch script as the store runs it (the prelude, then its body).
const TOUCH_LUA: &str = concat!(
    include_str!("../../src/lua/prelude.lua"),
    include_str!("../../src/lua/touch.lua")
);

/// Runs the touch script directly (its one-round-trip form) on every variant of `s`'s record
/// and returns every answer that is not the one `decode` calls for, and how many variants it
/// vouched for (rewrote).
async fn script_check(
    env: &mut Env,
    s: &Session,
    variants: Vec<(String, Vec<u8>)>,
) -> (Vec<String>, usize) {
    let key = env.rec(s);
    let mut failures = Vec::new();
    let mut vouched = 0;
    for (what, bytes) in variants {
        let (later, before_ms) = store_variant(env, &key, &bytes).await;
        let reply: Vec<Vec<u8>> = redis::cmd("EVAL")
            .arg(TOUCH_LUA)
            .arg(1)
            .arg(&key)
            .arg(&env.prefix)
            .arg(s.id.to_string())
            .arg(later.as_millis().to_string())
            .arg(s.id.as_bytes().as_slice())
            .query_async(&mut env.raw)
            .await
            .unwrap();
        let after_ms = server_ms(env).await;
        let status = String::from_utf8_lossy(&reply[0]).into_owned();
        let ascii = codec::decode(&bytes).is_ok_and(|d| {
            d.user_id.as_str().is_ascii()
                && d.metadata.iter().all(|(k, v)| k.is_ascii() && v.is_ascii())
        });
        let w = want(&bytes, s, later, (before_ms, after_ms));
        match (status.as_str(), &w) {
            ("OK", Want::Touched(t) | Want::NotFoundOr(t)) if ascii => {
                vouched += 1;
                if reply.get(1) != Some(&codec::encode(t)) {
                    failures.push(format!("{what}: OK with another record than {t:?}"));
                }
            }
            ("NOT_FOUND", Want::NotFound | Want::NotFoundOr(_)) if ascii => {}
            ("CHECK", Want::Codec | Want::AtLastVersion) => {}
            ("CHECK", Want::Touched(_) | Want::NotFoundOr(_) | Want::NotFound) if !ascii => {}
            _ => failures.push(format!(
                "{what}: {status} where decode says {w:?} (text ASCII: {ascii})"
            )),
        }
        if status == "CHECK" && reply.get(1) != Some(&bytes) {
            failures.push(format!("{what}: CHECK with another record"));
        }
    }
    (failures, vouched)
}

/// The script's own check, run directly on every variant of both records and the limit
/// cases: it rewrites only records that decode (the soundness the store's promise rests on:
/// a record rewritten by mistake would be refused by the client only after the write), and
/// it vouches for every live one whose text is ASCII, so that the one-round-trip path is the
/// one such records take (the store's answers alone do not show which path ran). What it does
/// not vouch for, it returns unchanged.
#[tokio::test]
async fn the_script_rewrites_only_records_that_decode_and_every_ascii_one() {
    let Some(mut env) = env("touch-script").await else {
        return;
    };
    let mut failures = Vec::new();
    for proto in [realistic("victim"), non_ascii("jürgen")] {
        let s = env.store.create(proto).await.unwrap();
        let mut all = variants(&codec::encode(&s));
        all.extend(limit_variants(&s));
        let (f, vouched) = script_check(&mut env, &s, all).await;
        eprintln!("{}: vouched for {vouched}", s.user_id);
        failures.extend(f.into_iter().map(|f| format!("{}: {f}", s.user_id)));
        if s.user_id.as_str().is_ascii() {
            assert!(vouched > 1000, "{}: vouched for only {vouched}", s.user_id);
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures: {failures:#?}",
        failures.len()
    );
    env.cleanup().await;
}

/// The limit cases are what their names say: those at a limit decode, those beyond it do not
/// (so the property above checks both sides of each limit).
#[test]
fn limit_variants_sit_on_both_sides_of_each_limit() {
    let s = realistic("victim");
    let valid = [
        "64 entries",
        "key of 128 bytes",
        "value of 1024 bytes",
        "16 KiB of text",
        "user id of 256 bytes",
        "empty value",
        "a key and then a longer one it prefixes",
        "DEL and a tab in a value",
        "a space as a key",
        "e-acute in a value",
        "e-acute in a key",
        "e-acute in the user id",
        "C1 control in a value",
    ];
    for (what, bytes) in limit_variants(&s) {
        if what.starts_with("byte ") {
            continue;
        }
        let decoded = codec::decode(&bytes);
        if what.starts_with("scope id flag") {
            let e = decoded.as_ref().unwrap_err();
            assert!(e.to_string().contains("scope id flag"), "{what}: {e}");
        }
        assert_eq!(
            decoded.is_ok(),
            valid.contains(&what.as_str()),
            "{what}: {decoded:?}"
        );
    }
}

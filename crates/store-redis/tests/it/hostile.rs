//! The hostile-input table (docs/RELIABILITY.md section 5) checked on the keys themselves,
//! with an independent client (the `redis` crate): every refused write leaves every key under
//! the test's prefix exactly as it was (value, members, scores, expiry); user ids made of key
//! syntax land in one well-formed key each; corrupt and truncated records give `Error::Codec`
//! on every path and are not rewritten. Runs on the standalone server testkit finds; fails
//! without one when SESSION_STORE_REQUIRE_REDIS=1.

use std::time::Duration;

use session_core::conformance::hostile;
use session_core::{
    Clock, Error, ListFilter, Session, SessionState, Store, SystemClock, UserId, codec,
};
use store_redis::escape_user;

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

use crate::common::Env;

/// A store and an independent client on this binary's server, under a fresh prefix.
async fn env(name: &str) -> Option<Env> {
    Some(Env::connect(server().await?.url(), name).await)
}

fn session(user: &str) -> Session {
    testkit::scenarios::connected_session(user)
        .metadata("device", "laptop")
        .build()
}

#[tokio::test]
async fn refused_writes_leave_every_key_unchanged() {
    let Some(mut env) = env("hostile-refused").await else {
        return;
    };
    let victim = env.store.create(session("victim")).await.unwrap();
    let other = env.store.create(session("{victim}")).await.unwrap();
    let before = env.dump().await;
    // Two records, two user indexes, two connection keys, and one all-sessions bucket each
    // (one in all when both ids end in the same hex digit).
    let buckets = if env.bucket(&victim) == env.bucket(&other) {
        1
    } else {
        2
    };
    assert_eq!(before.len(), 2 + 2 + 2 + buckets, "{before:#?}");
    let rows = hostile::refused_writes(&victim, &session("hostile"), SystemClock.now());
    for row in rows {
        let what = row.what;
        match row.write.apply(&env.store).await {
            Err(Error::InvalidInput { field, .. }) if field == row.field => {}
            other => panic!(
                "{what}: expected InvalidInput on {}, got {other:?}",
                row.field
            ),
        }
        assert_eq!(env.dump().await, before, "{what}: keys changed");
    }
    env.cleanup().await;
}

/// The one hash tag of a key: between its first `{` and the first `}` after it.
fn hash_tag(key: &str) -> &str {
    let open = key.find('{').expect("a hash tag");
    let close = key[open..].find('}').expect("a closed hash tag") + open;
    &key[open + 1..close]
}

#[tokio::test]
async fn key_syntax_in_user_ids_and_metadata_stays_inside_one_key() {
    let Some(mut env) = env("hostile-keys").await else {
        return;
    };
    let rows = hostile::accepted_sessions(&session("hostile"));
    for (what, s) in &rows {
        env.store
            .create(s.clone())
            .await
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
    }
    let dump = env.dump().await;
    let prefix = format!("{}:", env.prefix);
    for key in dump.keys() {
        let rest = key.strip_prefix(&prefix).expect("inside the prefix");
        let (kind, tagged) = rest.split_at(2);
        assert!(
            matches!(kind, "s:" | "u:" | "c:" | "a:"),
            "{key}: unknown kind"
        );
        // Exactly one `{...}` and it ends the key: nothing a user id holds can open another
        // hash tag or move the slot.
        assert!(
            tagged.starts_with('{') && tagged.ends_with('}'),
            "{key}: not one hash tag"
        );
        let tag = hash_tag(key);
        assert_eq!(format!("{{{tag}}}"), tagged, "{key}: braces inside the tag");
        assert!(
            !tag.contains(['*', ':', '{', '}']),
            "{key}: layout characters"
        );
    }
    // Each user id has its own index key, named by its escape.
    let mut users: Vec<&UserId> = rows.iter().map(|(_, s)| &s.user_id).collect();
    users.sort();
    users.dedup();
    for u in &users {
        let key = format!("{}:u:{{{}}}", env.prefix, escape_user(u.as_str()));
        assert!(dump.contains_key(&key), "{u:?}: no index key {key}");
        assert_eq!(hash_tag(&key), escape_user(u.as_str()));
    }
    let user_keys = dump
        .keys()
        .filter(|k| k.starts_with(&format!("{prefix}u:")));
    assert_eq!(user_keys.count(), users.len());
    env.cleanup().await;
}

/// Bytes that are not a record of this session, each stored raw under its key, and whether
/// the scripts can read the record's head (version, expiry, connection, user) from them.
fn corrupt_variants(s: &Session, other: &Session) -> Vec<(&'static str, bool, Vec<u8>)> {
    let good = codec::encode(s);
    let with = |at: usize, byte: u8| {
        let mut b = good.clone();
        b[at] = byte;
        b
    };
    let conn_len = if s.connection_id.is_some() { 16 } else { 0 };
    let user_at = codec::FIXED_LEN + conn_len + 2;
    let mut trailing = good.clone();
    trailing.push(0);
    vec![
        ("empty", false, Vec::new()),
        ("three 0xff bytes", false, vec![0xff; 3]),
        ("text", false, b"\x01not a record at all".to_vec()),
        ("truncated inside the header", false, good[..30].to_vec()),
        ("unknown format byte", false, with(0, 9)),
        (
            "truncated after the user id",
            true,
            good[..user_at + 8].to_vec(),
        ),
        (
            "truncated by one byte",
            true,
            good[..good.len() - 1].to_vec(),
        ),
        ("one trailing byte", true, trailing),
        ("unknown state code", true, with(codec::FIXED_LEN - 2, 200)),
        ("unknown flag bits", true, with(codec::FIXED_LEN - 1, 0xf1)),
        ("invalid UTF-8 in the user id", true, with(user_at, 0xff)),
        (
            "control character in the user id",
            true,
            with(user_at, b'\n'),
        ),
        ("another session's record", true, codec::encode(other)),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Get,
    GetMany,
    ByUser,
    ByConn,
    ListUser,
    List,
    Update,
    Touch,
}

const READS: [Op; 6] = [
    Op::Get,
    Op::GetMany,
    Op::ByUser,
    Op::ByConn,
    Op::ListUser,
    Op::List,
];

/// Runs `ops` on `s`'s key holding `bytes` (set afresh before each), and returns every op
/// that did not give `Error::Codec` or that changed a key.
async fn corrupt_failures(
    env: &mut Env,
    s: &Session,
    what: &str,
    bytes: &[u8],
    ops: &[Op],
) -> Vec<String> {
    let key = env.rec(s);
    let user = s.user_id.clone();
    let conn = s.connection_id.unwrap();
    let later = SystemClock.now() + Duration::from_secs(7200);
    let mut failures = Vec::new();
    for &op in ops {
        // Keep the key's expiry: only the value is corrupt.
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(bytes)
            .arg("KEEPTTL")
            .query_async(&mut env.raw)
            .await
            .unwrap();
        let before = env.dump().await;
        let store = &env.store;
        let r = match op {
            Op::Get => store.get(&s.id).await.map(drop),
            Op::GetMany => store.get_many(&[s.id]).await.map(drop),
            Op::ByUser => store.get_by_user_id(&user).await.map(drop),
            Op::ByConn => store.get_by_connection_id(&conn).await.map(drop),
            Op::ListUser => store
                .list(&ListFilter::new().user(user.clone()))
                .await
                .map(drop),
            Op::List => store.list(&ListFilter::new()).await.map(drop),
            Op::Update => {
                let mut next = s.clone();
                next.state = SessionState::Idle;
                store.update(next).await.map(drop)
            }
            Op::Touch => store.touch(&s.id, later).await.map(drop),
        };
        if !matches!(r, Err(Error::Codec(_))) {
            failures.push(format!("{what}: {op:?} gave {r:?}, not Error::Codec"));
        }
        if env.dump().await != before {
            failures.push(format!("{what}: {op:?} changed keys"));
        }
    }
    failures
}

#[tokio::test]
async fn corrupt_records_give_codec_errors_and_are_not_rewritten() {
    let Some(mut env) = env("hostile-corrupt").await else {
        return;
    };
    let s = env.store.create(session("victim")).await.unwrap();
    let other = session("victim");
    let mut failures = Vec::new();
    for (what, head_readable, bytes) in corrupt_variants(&s, &other) {
        let foreign = what == "another session's record";
        // Reads on every variant (but the phantom below); writes where no script can read
        // the record's head.
        let mut ops: Vec<Op> = READS
            .into_iter()
            .filter(|op| !(foreign && matches!(op, Op::ByUser | Op::ListUser)))
            .collect();
        if !head_readable {
            ops.extend([Op::Update, Op::Touch]);
        }
        failures.extend(corrupt_failures(&mut env, &s, what, &bytes, &ops).await);
        // count reads only the index, which still names the session.
        assert_eq!(env.store.count().await.unwrap(), 1, "{what}");
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // Deleting an unreadable record removes it and its index entries.
    assert!(env.store.delete(&s.id).await.unwrap());
    assert!(env.dump().await.keys().all(|k| !k.contains(":s:")));
    env.cleanup().await;
}

/// Writes on a record whose head is readable but whose body is corrupt are refused with
/// `Error::Codec` and write nothing (the scripts check the whole record, not just its head),
/// and a record of another session under this key is reported as corrupt by user reads and
/// update instead of appearing as a phantom or answering `Conflict` from the foreign header.
#[tokio::test]
async fn writes_on_corrupt_records_with_a_readable_head_are_refused() {
    let Some(mut env) = env("hostile-corrupt-head").await else {
        return;
    };
    let s = env.store.create(session("victim")).await.unwrap();
    let other = session("victim");
    let mut failures = Vec::new();
    for (what, head_readable, bytes) in corrupt_variants(&s, &other) {
        if !head_readable {
            continue;
        }
        let mut ops = vec![Op::Update, Op::Touch];
        if what == "another session's record" {
            ops.extend([Op::ByUser, Op::ListUser]);
        }
        failures.extend(corrupt_failures(&mut env, &s, what, &bytes, &ops).await);
    }
    assert!(failures.is_empty(), "{failures:#?}");
    env.cleanup().await;
}

/// A record whose head (and everything the scripts check) is fine but whose metadata is
/// corrupt: `touch` refuses it with `Error::Codec` and writes nothing (it used to return
/// `Codec` after rewriting the version and expiry).
#[tokio::test]
async fn touch_on_a_record_with_corrupt_metadata_writes_nothing() {
    let Some(mut env) = env("hostile-corrupt-metadata").await else {
        return;
    };
    let mut proto = session("victim");
    proto.metadata.clear();
    proto.metadata.insert("a".into(), "1".into());
    proto.metadata.insert("b".into(), "2".into());
    let s = env.store.create(proto).await.unwrap();
    let good = codec::encode(&s);
    let n = good.len();
    // ... 01 00 'a' 01 00 '1' 01 00 'b' 01 00 '2'
    assert_eq!(&good[n - 12..], b"\x01\x00a\x01\x001\x01\x00b\x01\x002");
    let mut bad_utf8 = good.clone();
    bad_utf8[n - 1] = 0xff;
    let mut unordered = good.clone();
    unordered[n - 10] = b'b';
    unordered[n - 4] = b'a';
    let variants = [
        ("invalid UTF-8 in a metadata value", bad_utf8),
        ("metadata keys out of order", unordered),
    ];
    let mut failures = Vec::new();
    for (what, bytes) in &variants {
        failures.extend(corrupt_failures(&mut env, &s, what, bytes, &[Op::Touch, Op::Get]).await);
    }
    assert!(failures.is_empty(), "{failures:#?}");
    env.cleanup().await;
}

/// Versions beyond 2^53 (where a Lua number, a double, loses integers) are carried exactly:
/// `touch` and `update` on version 2^53 + 1 give 2^53 + 2, and a record at `u64::MAX` is
/// refused with `InvalidInput` on `version` (it has no next version) without a write. Before,
/// `touch` wrapped `u64::MAX` to 0 and took 2^53 + 1 down to 2^53.
#[tokio::test]
async fn versions_beyond_two_to_the_53_are_exact_and_the_maximum_is_refused() {
    let Some(mut env) = env("hostile-versions").await else {
        return;
    };
    let s = env.store.create(session("victim")).await.unwrap();
    let key = env.rec(&s);
    let plant = |version: u64| {
        let mut r = (*s).clone();
        r.version = version;
        codec::encode(&r)
    };
    let big = (1u64 << 53) + 1;
    let later = SystemClock.now() + Duration::from_secs(7200);
    let mut failures = Vec::new();
    for op in ["touch", "update"] {
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(plant(big))
            .arg("KEEPTTL")
            .query_async(&mut env.raw)
            .await
            .unwrap();
        let r = if op == "touch" {
            env.store.touch(&s.id, later).await
        } else {
            let mut next = (*s).clone();
            next.version = big;
            next.state = SessionState::Idle;
            env.store.update(next).await
        };
        match r {
            Ok(n) if n.version == big + 1 => {}
            other => failures.push(format!("{op} on 2^53 + 1: {other:?}")),
        }
        let stored = env.store.get(&s.id).await.unwrap().map(|n| n.version);
        if stored != Some(big + 1) {
            failures.push(format!("{op} on 2^53 + 1 stored version {stored:?}"));
        }
    }
    for op in ["touch", "update"] {
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(plant(u64::MAX))
            .arg("KEEPTTL")
            .query_async(&mut env.raw)
            .await
            .unwrap();
        let before = env.dump().await;
        let r = if op == "touch" {
            env.store.touch(&s.id, later).await
        } else {
            let mut next = (*s).clone();
            next.version = u64::MAX;
            env.store.update(next).await
        };
        match r {
            Err(Error::InvalidInput {
                field: "version", ..
            }) => {}
            other => failures.push(format!("{op} on u64::MAX: {other:?}")),
        }
        if env.dump().await != before {
            failures.push(format!("{op} on u64::MAX changed keys"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    env.cleanup().await;
}

/// A hash (or any value that is not a string) stored at a record key is foreign data under
/// the prefix, like a corrupt record: every read that meets it answers `Error::Codec` (`get`
/// gave `Backend(WRONGTYPE)` and `get_many` gave `Ok([None])`: two answers for one state),
/// and a write refuses it without writing. `count` reads only the index, as for a corrupt
/// record.
#[tokio::test]
async fn a_hash_at_a_record_key_gives_one_answer_on_every_read() {
    let Some(mut env) = env("hostile-wrongtype").await else {
        return;
    };
    let s = env.store.create(session("victim")).await.unwrap();
    // A live neighbour: a get_many of both goes out as one MGET, which answers nil for a key
    // of another type.
    let bystander = env.store.create(session("bystander")).await.unwrap();
    let key = env.rec(&s);
    let _: () = redis::pipe()
        .cmd("DEL")
        .arg(&key)
        .ignore()
        .cmd("HSET")
        .arg(&key)
        .arg("f")
        .arg("v")
        .ignore()
        .query_async(&mut env.raw)
        .await
        .unwrap();
    let mut failures = Vec::new();
    let before = env.dump().await;
    let later = SystemClock.now() + Duration::from_secs(7200);
    let store = &env.store;
    let results: Vec<(&str, Result<(), Error>)> = vec![
        ("get", store.get(&s.id).await.map(drop)),
        ("get_many", store.get_many(&[s.id]).await.map(drop)),
        (
            "get_many with a neighbour (MGET)",
            store.get_many(&[bystander.id, s.id]).await.map(drop),
        ),
        ("by user", store.get_by_user_id(&s.user_id).await.map(drop)),
        (
            "by connection",
            store
                .get_by_connection_id(&s.connection_id.unwrap())
                .await
                .map(drop),
        ),
        ("list", store.list(&ListFilter::new()).await.map(drop)),
        (
            "list by user",
            store
                .list(&ListFilter::new().user(s.user_id.clone()))
                .await
                .map(drop),
        ),
        ("touch", store.touch(&s.id, later).await.map(drop)),
        ("update", store.update((*s).clone()).await.map(drop)),
    ];
    for (what, r) in results {
        if !matches!(r, Err(Error::Codec(_))) {
            failures.push(format!("{what}: {r:?}, not Error::Codec"));
        }
    }
    if env.dump().await != before {
        failures.push("keys changed".into());
    }
    // The bystander and the corrupt entry: count reads the index.
    assert_eq!(env.store.count().await.unwrap(), 2, "count reads the index");
    assert!(failures.is_empty(), "{failures:#?}");
    env.cleanup().await;
}

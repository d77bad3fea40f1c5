//! What RedisStore writes, checked with an independent client (the `redis` crate): keys,
//! expiry times and index contents after every kind of write; corrupt records; the key
//! prefix. Runs on Debian's Redis 7.0.

use std::time::Duration;

use redis::AsyncCommands;
use session_core::{
    Clock, ConnectionId, Error, ListFilter, Session, SessionState, Store, SystemClock, UserId,
};
use store_redis::{RedisConfig, RedisStore};

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

use crate::common::Env;

/// A store and an independent client on this binary's server, under a fresh prefix.
async fn env(name: &str) -> Option<Env> {
    Some(Env::connect(server().await?.url(), name).await)
}

fn session(user: &str, ttl: Duration) -> Session {
    Session::builder(UserId::new(user).unwrap(), SystemClock.now(), ttl)
        .connection_id(ConnectionId::new())
        .state(SessionState::Active)
        .build()
}

#[tokio::test]
async fn every_write_leaves_exactly_the_documented_keys() {
    let Some(mut env) = env("keys").await else {
        return;
    };
    let s = env
        .store
        .create(session("a:{b}*", Duration::from_secs(600)))
        .await
        .unwrap();
    let conn = s.connection_id.unwrap();
    let exp = s.expires_at.as_millis() as i64;

    // create: record, user index, connection key, bucket; all expiring with the session: the
    // record and connection key at PXAT expires_at - 1 (Redis keeps a key through the
    // millisecond of its PXAT), the index keys at their latest member's expiry.
    let mut expected = vec![
        env.rec(&s),
        env.user("a:{b}*"),
        env.conn(&conn),
        env.bucket(&s),
    ];
    expected.sort();
    assert_eq!(env.keys().await, expected);
    let (rec, user, ck, bucket) = (
        env.rec(&s),
        env.user("a:{b}*"),
        env.conn(&conn),
        env.bucket(&s),
    );
    assert_eq!(env.expire_time(&rec).await, exp - 1);
    assert_eq!(env.expire_time(&ck).await, exp - 1);
    assert_eq!(env.expire_time(&user).await, exp);
    assert_eq!(env.expire_time(&bucket).await, exp);
    assert_eq!(env.score(&user, &s).await, Some(exp as u64));
    assert_eq!(env.score(&bucket, &s).await, Some(exp as u64));
    let holder: String = env.raw.get(&ck).await.unwrap();
    assert_eq!(holder, s.id.to_string());
    let bytes: Vec<u8> = env.raw.get(&rec).await.unwrap();
    assert_eq!(session_core::codec::decode(&bytes).unwrap(), *s);

    // update: user and connection change; the old entries go, the new ones come.
    let mut next = (*s).clone();
    next.user_id = UserId::new("other").unwrap();
    let new_conn = ConnectionId::new();
    next.connection_id = Some(new_conn);
    next.expires_at = s.expires_at + Duration::from_secs(60);
    let next = env.store.update(next).await.unwrap();
    let exp2 = next.expires_at.as_millis() as i64;
    assert_eq!(env.score(&user, &s).await, None, "old user entry removed");
    let old_conn: Option<String> = env.raw.get(&ck).await.unwrap();
    assert_eq!(old_conn, None, "old connection key removed");
    let user2 = env.user("other");
    assert_eq!(env.score(&user2, &next).await, Some(exp2 as u64));
    assert_eq!(env.expire_time(&env.conn(&new_conn)).await, exp2 - 1);
    assert_eq!(env.expire_time(&rec).await, exp2 - 1);
    assert_eq!(env.expire_time(&user2).await, exp2);
    assert_eq!(env.expire_time(&bucket).await, exp2);
    assert_eq!(env.score(&bucket, &s).await, Some(exp2 as u64));

    // touch: the expiry moves everywhere, earlier this time.
    let soon = SystemClock.now() + Duration::from_secs(100);
    let touched = env.store.touch(&s.id, soon).await.unwrap();
    assert_eq!(touched.version, 3);
    let t = soon.as_millis() as i64;
    assert_eq!(env.expire_time(&rec).await, t - 1);
    assert_eq!(env.expire_time(&env.conn(&new_conn)).await, t - 1);
    assert_eq!(
        env.expire_time(&user2).await,
        t,
        "lowered with its latest member"
    );
    assert_eq!(
        env.expire_time(&bucket).await,
        t,
        "lowered with its latest member"
    );
    assert_eq!(env.score(&user2, &s).await, Some(t as u64));
    assert_eq!(env.score(&bucket, &s).await, Some(t as u64));
    let bytes: Vec<u8> = env.raw.get(&rec).await.unwrap();
    assert_eq!(session_core::codec::decode(&bytes).unwrap(), *touched);

    // delete: nothing is left under the prefix but emptied index keys, which Redis drops.
    assert!(env.store.delete(&s.id).await.unwrap());
    assert_eq!(env.keys().await, Vec::<String>::new());
    env.cleanup().await;
}

#[tokio::test]
async fn index_key_lives_as_long_as_its_longest_member() {
    let Some(mut env) = env("ttl").await else {
        return;
    };
    let long = env
        .store
        .create(session("u", Duration::from_secs(900)))
        .await
        .unwrap();
    let short = env
        .store
        .create(session("u", Duration::from_secs(60)))
        .await
        .unwrap();
    let key = env.user("u");
    assert_eq!(
        env.expire_time(&key).await,
        long.expires_at.as_millis() as i64
    );
    // Lowering the long one below the short one: the key now lives exactly as long as the
    // short one, its latest member (not the highest expiry it ever had).
    env.store
        .touch(&long.id, SystemClock.now() + Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        env.expire_time(&key).await,
        short.expires_at.as_millis() as i64
    );
    // Deleting the latest member lowers it again.
    assert!(env.store.delete(&short.id).await.unwrap());
    let long = env.store.get(&long.id).await.unwrap().unwrap();
    assert_eq!(
        env.expire_time(&key).await,
        long.expires_at.as_millis() as i64
    );
    env.cleanup().await;
}

/// A session id whose all-sessions bucket is `bucket` (its last hex digit).
fn id_in_bucket(bucket: u8) -> session_core::SessionId {
    let mut bytes = *session_core::SessionId::new().as_bytes();
    bytes[15] = (bytes[15] & 0xf0) | (bucket & 0x0f);
    session_core::SessionId::from_bytes(bytes)
}

/// The bound stated in the key-layout docs (`keys.rs`), checked on every key under the
/// prefix after churn: sessions of several users in every bucket, some touched lower, some
/// deleted, a batch left to expire, then one write into every bucket and every user index.
/// Every key carries a TTL; a record or connection key expires at its session's
/// `expires_at - 1`; an index key (user index, bucket) at exactly its latest member's expiry;
/// and an index key that a write touched after members expired holds none of them.
#[tokio::test]
async fn every_key_expires_within_the_documented_bound_and_writes_trim_expired_members() {
    let Some(mut env) = env("bound").await else {
        return;
    };
    let users = ["u0", "u1", "u2"];
    let short = Duration::from_millis(300);
    let mut n = 0u8;
    for round in 0..2u8 {
        for b in 0..16u8 {
            n = n.wrapping_add(1);
            let user = users[usize::from(n) % users.len()];
            let ttl = if round == 0 {
                short
            } else {
                Duration::from_secs(600)
            };
            let mut s = session(user, ttl);
            s.id = id_in_bucket(b);
            let s = match env.store.create(s).await {
                Ok(s) => s,
                // A machine too loaded to create a short-lived one within its TTL.
                Err(Error::InvalidInput { .. }) if round == 0 => continue,
                Err(e) => panic!("create: {e:?}"),
            };
            // The short-lived batch is left alone (it may expire at any moment on a loaded
            // machine); the long-lived one is deleted and touched lower here and there.
            match n % 4 {
                _ if round == 0 => {}
                0 => {
                    assert!(env.store.delete(&s.id).await.unwrap());
                }
                1 => {
                    env.store
                        .touch(&s.id, SystemClock.now() + Duration::from_secs(120))
                        .await
                        .unwrap();
                }
                _ => {}
            }
        }
    }
    // The short-lived batch expires; then one write into every bucket and user index.
    tokio::time::sleep(short + Duration::from_millis(50)).await;
    let expired_by = SystemClock.now();
    for b in 0..16u8 {
        let mut s = session(
            users[usize::from(b) % users.len()],
            Duration::from_secs(300),
        );
        s.id = id_in_bucket(b);
        env.store.create(s).await.unwrap();
    }
    let keys = env.keys().await;
    assert!(!keys.is_empty());
    let mut problems = Vec::new();
    for key in &keys {
        let at = env.expire_time(key).await;
        if at < 0 {
            problems.push(format!("{key}: no TTL ({at})"));
        }
        let kind = &key[env.prefix.len() + 1..env.prefix.len() + 3];
        match kind {
            "s:" => {
                let bytes: Vec<u8> = env.raw.get(key).await.unwrap();
                let exp = session_core::codec::decode_header(&bytes)
                    .unwrap()
                    .expires_at
                    .as_millis() as i64;
                if at != exp - 1 {
                    problems.push(format!("{key}: PXAT {at}, expires_at {exp}"));
                }
            }
            "c:" => {
                let holder: String = env.raw.get(key).await.unwrap();
                let id = session_core::SessionId::parse(&holder).unwrap();
                let s = env.store.get(&id).await.unwrap().expect("the holder lives");
                if at != s.expires_at.as_millis() as i64 - 1 {
                    problems.push(format!("{key}: PXAT {at}, holder expires {}", s.expires_at));
                }
            }
            "u:" | "a:" => {
                let members: Vec<(String, f64)> =
                    env.raw.zrange_withscores(key, 0, -1).await.unwrap();
                let top = members.iter().map(|m| m.1 as i64).max().unwrap_or(0);
                if at != top {
                    problems.push(format!("{key}: PXAT {at}, latest member {top}"));
                }
                let stale = members
                    .iter()
                    .filter(|m| m.1 as u64 <= expired_by.as_millis())
                    .count();
                if stale > 0 {
                    problems.push(format!("{key}: {stale} expired members kept"));
                }
            }
            _ => problems.push(format!("{key}: unknown kind")),
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    env.cleanup().await;
}

#[tokio::test]
async fn past_expiry_is_refused_not_stored_with_a_default_ttl() {
    let Some(mut env) = env("past").await else {
        return;
    };
    let mut s = session("u", Duration::from_secs(60));
    s.expires_at = SystemClock.now() - Duration::from_secs(1);
    assert!(matches!(
        env.store.create(s).await,
        Err(Error::InvalidInput {
            field: "expires_at",
            ..
        })
    ));
    assert!(env.keys().await.is_empty());
    env.cleanup().await;
}

#[tokio::test]
async fn corrupt_record_gives_codec_errors_and_never_hides_from_revocation() {
    let Some(mut env) = env("corrupt").await else {
        return;
    };
    let good = env
        .store
        .create(session("victim", Duration::from_secs(600)))
        .await
        .unwrap();
    let bad = env
        .store
        .create(session("victim", Duration::from_secs(600)))
        .await
        .unwrap();
    let key = env.rec(&bad);
    for garbage in [
        vec![],
        vec![0xff; 3],
        b"\x01not a record at all".to_vec(),
        {
            let mut b = session_core::codec::encode(&bad);
            b.truncate(b.len() - 3);
            b
        },
    ] {
        let _: () = env.raw.set_ex(&key, garbage, 600).await.unwrap();
        assert!(matches!(env.store.get(&bad.id).await, Err(Error::Codec(_))));
        assert!(matches!(
            env.store.get_many(&[good.id, bad.id]).await,
            Err(Error::Codec(_))
        ));
        let user = UserId::new("victim").unwrap();
        assert!(matches!(
            env.store.get_by_user_id(&user).await,
            Err(Error::Codec(_))
        ));
        assert!(matches!(
            env.store.list(&ListFilter::new().user(user.clone())).await,
            Err(Error::Codec(_))
        ));
        assert!(matches!(
            env.store.list(&ListFilter::new()).await,
            Err(Error::Codec(_))
        ));
        // The user's other session is still served.
        assert_eq!(
            env.store.get(&good.id).await.unwrap().as_deref(),
            Some(&*good)
        );
    }
    let mut b = session_core::codec::encode(&bad);
    b[0] = 9;
    let _: () = env.raw.set_ex(&key, b, 600).await.unwrap();
    let mut change = (*bad).clone();
    change.state = SessionState::Idle;
    assert!(matches!(
        env.store.update(change).await,
        Err(Error::Codec(_))
    ));
    assert!(matches!(
        env.store
            .touch(&bad.id, SystemClock.now() + Duration::from_secs(5))
            .await,
        Err(Error::Codec(_))
    ));
    // Revoking the user removes both, the unreadable one included.
    let user = UserId::new("victim").unwrap();
    assert_eq!(env.store.delete_by_user_id(&user, None).await.unwrap(), 2);
    assert!(env.store.get(&good.id).await.unwrap().is_none());
    let left: Option<Vec<u8>> = env.raw.get(&key).await.unwrap();
    assert_eq!(left, None);
    env.cleanup().await;
}

#[tokio::test]
async fn bad_config_is_refused_before_connecting() {
    for (config, field) in [
        (RedisConfig::new("redis://127.0.0.1:1").prefix(""), "prefix"),
        (
            RedisConfig::new("redis://127.0.0.1:1").prefix("a{b}"),
            "prefix",
        ),
        (
            RedisConfig::new("redis://127.0.0.1:1").prefix("a b"),
            "prefix",
        ),
        (
            RedisConfig::new("redis://127.0.0.1:1").pool_size(0),
            "pool_size",
        ),
        (
            RedisConfig::new("redis://127.0.0.1:1").command_timeout(Duration::ZERO),
            "command_timeout",
        ),
        (RedisConfig::new("not a url"), "url"),
    ] {
        match RedisStore::connect(config).await {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected InvalidInput on {field}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn unreachable_server_fails_fast_with_a_typed_error() {
    // Port 1 on loopback: connection refused. Bounded by the connect timeout, never a hang.
    let started = std::time::Instant::now();
    let result = RedisStore::connect(
        RedisConfig::new("redis://127.0.0.1:1").connect_timeout(Duration::from_millis(500)),
    )
    .await;
    assert!(
        matches!(
            result,
            Err(Error::Unavailable { .. } | Error::Timeout { .. } | Error::Backend { .. })
        ),
        "got {result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

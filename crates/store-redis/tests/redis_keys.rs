//! What RedisStore writes, checked with an independent client (the `redis` crate): keys,
//! expiry times and index contents after every kind of write; corrupt records; the key
//! prefix. Runs on Debian's Redis 7.0.

mod common;

use std::time::Duration;

use redis::AsyncCommands;
use session_core::{
    Clock, ConnectionId, Error, ListFilter, Session, SessionState, Store, SystemClock, UserId,
};
use store_redis::{RedisConfig, RedisStore};

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

use common::Env;

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

    // create: record, user index, connection key, bucket; all expiring with the session.
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
    assert_eq!(env.expire_time(&rec).await, exp);
    assert_eq!(env.expire_time(&ck).await, exp);
    assert_eq!(env.expire_time(&user).await, exp);
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
    assert_eq!(env.expire_time(&env.conn(&new_conn)).await, exp2);
    assert_eq!(env.expire_time(&rec).await, exp2);
    assert_eq!(env.score(&bucket, &s).await, Some(exp2 as u64));

    // touch: the expiry moves everywhere, earlier this time.
    let soon = SystemClock.now() + Duration::from_secs(100);
    let touched = env.store.touch(&s.id, soon).await.unwrap();
    assert_eq!(touched.version, 3);
    let t = soon.as_millis() as i64;
    assert_eq!(env.expire_time(&rec).await, t);
    assert_eq!(env.expire_time(&env.conn(&new_conn)).await, t);
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
    // Lowering the long one does not cut the short one out.
    env.store
        .touch(&long.id, SystemClock.now() + Duration::from_secs(30))
        .await
        .unwrap();
    assert!(env.expire_time(&key).await >= short.expires_at.as_millis() as i64);
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

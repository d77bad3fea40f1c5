//! Hostile input on HybridStore, checked on the keys with an independent client (the `redis`
//! crate): refused writes change no key (and cache nothing), and a record corrupted behind
//! the store's back gives `Error::Codec` once the invalidation arrives, is never served from
//! L1 and is not rewritten by a read. Runs on the standalone server testkit finds; fails
//! without one when SESSION_STORE_REQUIRE_REDIS=1.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use session_core::conformance::hostile;
use session_core::{Clock, Error, Session, Store, SystemClock, codec};

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

/// Every key under `prefix`, as the independent client sees it.
async fn dump(
    raw: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
) -> BTreeMap<String, String> {
    testkit::dump_prefix(raw, prefix).await.unwrap()
}

fn session(user: &str) -> Session {
    testkit::scenarios::connected_session(user).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_refuses_hostile_writes_and_serves_no_corrupt_record() {
    let Some(server) = server().await else {
        return;
    };
    let prefix = testkit::unique_prefix("hybrid-hostile");
    let store = common::hybrid(server.url(), &prefix).await;
    let mut raw = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();

    let victim = store.create(session("victim")).await.unwrap();
    common::cache(&store, &victim.id).await;
    let before = dump(&mut raw, &prefix).await;
    for row in hostile::refused_writes(&victim, &session("hostile"), SystemClock.now()) {
        match row.write.apply(&store).await {
            Err(Error::InvalidInput { field, .. }) if field == row.field => {}
            other => panic!(
                "{}: expected InvalidInput on {}, got {other:?}",
                row.what, row.field
            ),
        }
        assert_eq!(
            dump(&mut raw, &prefix).await,
            before,
            "{}: keys changed",
            row.what
        );
    }
    // Unchanged (a refused update or touch evicts the L1 copy, as every write attempt does;
    // cache it again).
    assert_eq!(
        store.get(&victim.id).await.unwrap().as_deref(),
        Some(&*victim)
    );
    common::cache(&store, &victim.id).await;

    // Corrupt the cached record behind the store's back (keeping its expiry).
    let key = format!("{prefix}:s:{{{}}}", victim.id);
    let mut bytes = codec::encode(&victim);
    bytes.truncate(bytes.len() - 1);
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(&bytes)
        .arg("KEEPTTL")
        .query_async(&mut raw)
        .await
        .unwrap();
    let corrupt = dump(&mut raw, &prefix).await;
    // The invalidation drops the L1 copy; from then on every read is a Codec error.
    common::eventually(
        "invalidation of the corrupted record",
        Duration::from_secs(10),
        || !store.l1_contains(&victim.id),
    )
    .await;
    for _ in 0..3 {
        assert!(matches!(store.get(&victim.id).await, Err(Error::Codec(_))));
        assert!(matches!(
            store.get_many(&[victim.id]).await,
            Err(Error::Codec(_))
        ));
        assert!(
            !store.l1_contains(&victim.id),
            "a corrupt record was cached"
        );
    }
    assert_eq!(
        dump(&mut raw, &prefix).await,
        corrupt,
        "a read changed keys"
    );
    // Revocation still removes it.
    assert_eq!(
        store
            .delete_by_user_id(&victim.user_id, None)
            .await
            .unwrap(),
        1
    );
    assert!(store.get(&victim.id).await.unwrap().is_none());
    testkit::cleanup_prefix(server.url(), &prefix)
        .await
        .unwrap();
}

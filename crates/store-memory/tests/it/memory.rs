//! Behaviour particular to MemoryStore: capacity, sweeping, sharing, the Arc hand-out.

use std::sync::Arc;
use std::time::Duration;

use session_core::{Clock, Error, ManualClock, Session, Store, UserId};
use store_memory::{MemoryConfig, MemoryStore};

fn session(clock: &ManualClock, user: &str, ttl: u64) -> Session {
    Session::builder(
        UserId::new(user).unwrap(),
        clock.now(),
        Duration::from_secs(ttl),
    )
    .build()
}

#[tokio::test]
async fn capacity_refuses_without_evicting_and_reclaims_expired_first() {
    let clock = ManualClock::starting_now();
    let store = MemoryStore::with_config(MemoryConfig::default().capacity(3).clock(clock.clone()));
    let keep = store.create(session(&clock, "a", 3600)).await.unwrap();
    store.create(session(&clock, "b", 10)).await.unwrap();
    store.create(session(&clock, "c", 10)).await.unwrap();
    match store.create(session(&clock, "d", 3600)).await {
        Err(Error::CapacityExceeded { capacity: 3 }) => {}
        other => panic!("expected CapacityExceeded, got {other:?}"),
    }
    assert_eq!(store.count().await.unwrap(), 3, "nothing evicted");
    assert!(store.get(&keep.id).await.unwrap().is_some());
    // Once two sessions expire, a create reclaims them and fits.
    clock.advance(Duration::from_secs(11));
    store.create(session(&clock, "d", 3600)).await.unwrap();
    store.create(session(&clock, "e", 3600)).await.unwrap();
    assert_eq!(store.stored(), 3);
    assert!(matches!(
        store.create(session(&clock, "f", 3600)).await,
        Err(Error::CapacityExceeded { .. })
    ));
    // A refused create on a full store leaves no trace.
    assert_eq!(store.count().await.unwrap(), 3);
    assert!(
        store
            .get_by_user_id(&UserId::new("f").unwrap())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn failed_creates_release_their_reservation() {
    let clock = ManualClock::starting_now();
    let store = MemoryStore::with_config(MemoryConfig::default().capacity(2).clock(clock.clone()));
    let a = store.create(session(&clock, "a", 3600)).await.unwrap();
    for _ in 0..10 {
        let mut dup = session(&clock, "x", 3600);
        dup.id = a.id;
        assert!(store.create(dup).await.is_err());
    }
    assert_eq!(store.stored(), 1);
    store.create(session(&clock, "b", 3600)).await.unwrap();
}

#[tokio::test]
async fn sweep_shard_reclaims_one_shard_at_a_time() {
    let clock = ManualClock::starting_now();
    let store = MemoryStore::with_config(MemoryConfig::default().shards(8).clock(clock.clone()));
    for i in 0..200 {
        store
            .create(session(&clock, &format!("u{}", i % 7), 5))
            .await
            .unwrap();
    }
    let live = store.create(session(&clock, "live", 3600)).await.unwrap();
    clock.advance(Duration::from_secs(6));
    assert_eq!(store.stored(), 201);
    let mut reclaimed = 0;
    for shard in 0..store.shard_count() {
        let n = store.sweep_shard(shard);
        assert!(n < 200, "one shard never holds everything");
        reclaimed += n;
    }
    assert_eq!(reclaimed, 200);
    assert_eq!(store.stored(), 1);
    assert!(store.get(&live.id).await.unwrap().is_some());
    for i in 0..7 {
        let user = UserId::new(format!("u{i}")).unwrap();
        assert!(store.get_by_user_id(&user).await.unwrap().is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn background_sweeper_reclaims_and_stops() {
    let clock = ManualClock::starting_now();
    let store = MemoryStore::with_config(MemoryConfig::default().shards(4).clock(clock.clone()));
    for i in 0..50 {
        store
            .create(session(&clock, &format!("u{i}"), 1))
            .await
            .unwrap();
    }
    clock.advance(Duration::from_secs(2));
    let sweeper = store.spawn_sweeper(Duration::from_millis(400));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(store.stored(), 0);
    sweeper.stop();
    store.create(session(&clock, "late", 1)).await.unwrap();
    clock.advance(Duration::from_secs(2));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(store.stored(), 1, "a stopped sweeper sweeps nothing");
    assert_eq!(
        store.count().await.unwrap(),
        0,
        "but expired is still invisible"
    );
}

#[tokio::test]
async fn reads_share_the_stored_record() {
    let store = MemoryStore::new();
    let clock = ManualClock::starting_now();
    let s = session(&clock, "a", 3600);
    let created = store.create(s).await.unwrap();
    let a = store.get(&created.id).await.unwrap().unwrap();
    let b = store.get_by_user_id(&created.user_id).await.unwrap();
    assert!(Arc::ptr_eq(&a, &created) && Arc::ptr_eq(&b[0], &created));
    // Clones share the store.
    let other = store.clone();
    assert!(other.delete(&created.id).await.unwrap());
    assert!(store.get(&created.id).await.unwrap().is_none());
    // The caller's Arc is unaffected: a snapshot, never mutated by the store.
    assert_eq!(a.version, 1);
}

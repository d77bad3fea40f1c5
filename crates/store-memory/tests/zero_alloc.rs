//! `get` of a present session on the concrete MemoryStore allocates nothing: it hands out the
//! stored `Arc`; nor does a warm same-session update whose caller drops the version it edited. This file holds one test so no other test thread allocates meanwhile.

use std::alloc::System;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use session_core::{Clock, Session, Store, SystemClock, UserId};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use store_memory::MemoryStore;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Polls a future that must be ready at once (the memory store never waits).
fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("memory store future was pending"),
    }
}

#[test]
fn get_of_a_present_session_allocates_nothing() {
    let store = MemoryStore::new();
    let now = SystemClock.now();
    let mut ids = Vec::new();
    for i in 0..1000 {
        let s = Session::builder(
            UserId::new(format!("user-{i}")).unwrap(),
            now,
            Duration::from_secs(3600),
        )
        .metadata("device", "phone")
        .build();
        ids.push(ready(store.create(s)).unwrap().id);
    }

    let region = Region::new(GLOBAL);
    let mut found = 0usize;
    for id in &ids {
        let hit = store.get_now(id).expect("present");
        found += usize::from(hit.id == *id);
        let hit = ready(store.get(id)).unwrap().expect("present");
        found += usize::from(hit.id == *id);
    }
    let stats = region.change();
    assert_eq!(found, 2 * ids.len());
    assert_eq!(
        (
            stats.allocations,
            stats.reallocations,
            stats.bytes_allocated
        ),
        (0, 0, 0),
        "get allocated: {stats:?}"
    );

    // The counter does count: a create allocates.
    let region = Region::new(GLOBAL);
    let s = Session::builder(UserId::new("x").unwrap(), now, Duration::from_secs(60)).build();
    let mut latest = ready(store.create(s)).unwrap();
    assert!(region.change().allocations > 0);

    // An update whose caller drops the version it edited reuses the allocation of the version
    // the shard's previous write replaced: once warm, a same-session update allocates nothing.
    for _ in 0..2 {
        let mut next = Session::clone(&latest);
        next.stats.packets_sent += 1;
        drop(latest);
        latest = ready(store.update(next)).unwrap();
    }
    let region = Region::new(GLOBAL);
    for _ in 0..100 {
        let mut next = Session::clone(&latest);
        next.stats.packets_sent += 1;
        drop(latest);
        latest = ready(store.update(next)).unwrap();
    }
    let stats = region.change();
    assert_eq!(latest.stats.packets_sent, 102);
    assert_eq!(
        (stats.allocations, stats.bytes_allocated),
        (0, 0),
        "a warm same-session update allocated: {stats:?}"
    );

    // A version somebody still holds is never reused: it stays as it was returned.
    let held = Arc::clone(&latest);
    for _ in 0..3 {
        let mut next = Session::clone(&latest);
        next.stats.packets_sent += 1;
        latest = ready(store.update(next)).unwrap();
    }
    assert_eq!((held.stats.packets_sent, held.version), (102, 103));
    assert_eq!(latest.version, 106);
}

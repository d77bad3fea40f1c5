//! Write-through and coherence under concurrent writers: a write through an instance leaves
//! the version it stored in that instance's L1 (so the next read hits), and with two instances
//! writing and reading one session at once, no read returns a version older than the newest
//! one whose write returned before the read began: on the writing instance at once, on the
//! other once the invalidation has had time to arrive.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{eventually, hybrid, live, session};
use parking_lot::Mutex;
use session_core::{Error, Store};

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

/// How long an invalidation may take to reach the other instance before a stale read there
/// counts as a failure. A liveness bound for a loaded two-core CI machine, not the latency
/// (measured in invalidation_latency.rs; about a millisecond when idle).
const INVALIDATION_BOUND: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_leaves_its_version_in_the_writers_l1() {
    let Some(server) = server().await else {
        return;
    };
    let prefix = testkit::unique_prefix("wt");
    let store = live(server.url(), &prefix).await;
    let mut s = store.create(session("wt")).await.unwrap();
    const WRITES: u64 = 50;
    let before = store.stats();
    for _ in 0..WRITES {
        let mut next = (*s).clone();
        next.stats.packets_sent += 1;
        s = store.update(next).await.unwrap();
        // Read-your-writes, always; from the L1 unless this write's own invalidation
        // arrived first and its refresh is still under way.
        let got = store.get(&s.id).await.unwrap().unwrap();
        assert_eq!(got.version, s.version, "read after write");
    }
    let after = store.stats();
    let misses = after.misses - before.misses;
    // Before write-through every one of these reads missed (the write evicted the entry).
    assert!(
        misses < WRITES,
        "all {WRITES} reads that followed a write went to Redis"
    );
    store.close().await.unwrap();
    testkit::cleanup_prefix(server.url(), &prefix)
        .await
        .unwrap();
}

#[derive(Debug, Clone, Copy)]
struct Done {
    instance: usize,
    at: Instant,
    version: u64,
}

#[derive(Debug, Clone, Copy)]
struct Read {
    instance: usize,
    began: Instant,
    version: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_writing_one_session_never_read_an_overtaken_version() {
    let Some(server) = server().await else {
        return;
    };
    let prefix = testkit::unique_prefix("wt2");
    let stores = [
        hybrid(server.url(), &prefix).await,
        hybrid(server.url(), &prefix).await,
    ];
    for s in &stores {
        eventually("tracking live", Duration::from_secs(10), || {
            s.is_tracking_live()
        })
        .await;
    }
    let id = stores[0].create(session("wt2")).await.unwrap().id;
    let dones = Arc::new(Mutex::new(Vec::<Done>::new()));
    let reads = Arc::new(Mutex::new(Vec::<Read>::new()));
    // Long enough that most reads come more than INVALIDATION_BOUND after many writes.
    let run = INVALIDATION_BOUND * 3;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (instance, store) in stores.iter().enumerate() {
        for t in 0..4usize {
            let (store, dones, reads) = (store.clone(), dones.clone(), reads.clone());
            tasks.push(tokio::spawn(async move {
                let mut k = t;
                while start.elapsed() < run {
                    k += 1;
                    if k % 4 == 0 {
                        let r = store
                            .update_with(&id, |s| {
                                s.stats.packets_sent += 1;
                                Ok(())
                            })
                            .await;
                        match r {
                            Ok(s) => dones.lock().push(Done {
                                instance,
                                at: Instant::now(),
                                version: s.version,
                            }),
                            Err(e @ Error::Conflict { .. }) => drop(e),
                            Err(e) => panic!("update: {e}"),
                        }
                    } else {
                        let began = Instant::now();
                        let s = store.get(&id).await.unwrap().expect("session readable");
                        reads.lock().push(Read {
                            instance,
                            began,
                            version: s.version,
                        });
                    }
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut dones = dones.lock().clone();
    dones.sort_by_key(|d| d.at);
    let reads = reads.lock().clone();
    assert!(dones.len() > 10, "only {} writes succeeded", dones.len());
    // The newest version whose write returned before `before` (on `instance`, or anywhere).
    let newest = |before: Instant, instance: Option<usize>| {
        dones
            .iter()
            .take_while(|d| d.at < before)
            .filter(|d| instance.is_none_or(|i| d.instance == i))
            .map(|d| d.version)
            .max()
            .unwrap_or(0)
    };
    let mut checked_cross = 0;
    for r in &reads {
        let own = newest(r.began, Some(r.instance));
        assert!(
            r.version >= own,
            "instance {} read version {} after its own write of version {} returned",
            r.instance,
            r.version,
            own
        );
        if let Some(settled) = r.began.checked_sub(INVALIDATION_BOUND) {
            let any = newest(settled, None);
            checked_cross += usize::from(any > 0);
            assert!(
                r.version >= any,
                "instance {} read version {} {:?} after a write of version {} returned",
                r.instance,
                r.version,
                INVALIDATION_BOUND,
                any
            );
        }
    }
    assert!(checked_cross > 0, "no read came late enough to check");
    let stats = [stores[0].stats(), stores[1].stats()];
    eprintln!(
        "{} writes, {} reads; stats A {:?}, B {:?}",
        dones.len(),
        reads.len(),
        stats[0],
        stats[1]
    );
    for s in &stores {
        s.close().await.unwrap();
    }
    testkit::cleanup_prefix(server.url(), &prefix)
        .await
        .unwrap();
}

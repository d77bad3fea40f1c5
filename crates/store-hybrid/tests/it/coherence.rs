//! Two HybridStore instances on their own connections sharing one real Redis: what one writes
//! (or revokes, or Redis expires, or a raw client deletes) the other stops serving once the
//! invalidation arrives; and a cut tracking connection never leads to a stale read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{cache, eventually, live, session};
use redis::AsyncCommands;
use session_core::{Clock, Session, SessionState, Store, SystemClock, UserId};
use store_hybrid::HybridStore;

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

/// A liveness bound, not a speed goal (the latency is measured in invalidation_latency.rs):
/// generous, because CI runs many server-backed test binaries on two cores.
const PROPAGATION: Duration = Duration::from_secs(10);

struct Pair {
    a: HybridStore,
    b: HybridStore,
    raw: redis::aio::MultiplexedConnection,
    prefix: String,
    url: String,
}

impl Pair {
    async fn new(name: &str) -> Option<Pair> {
        let server = server().await?;
        let prefix = testkit::unique_prefix(name);
        let a = live(server.url(), &prefix).await;
        let b = live(server.url(), &prefix).await;
        let raw = redis::Client::open(server.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        Some(Pair {
            a,
            b,
            raw,
            prefix,
            url: server.url().to_owned(),
        })
    }

    fn key(&self, s: &Session) -> String {
        format!("{}:s:{{{}}}", self.prefix, s.id)
    }

    async fn done(self) {
        testkit::cleanup_prefix(&self.url, &self.prefix)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_on_a_reaches_b() {
    let Some(p) = Pair::new("upd").await else {
        return;
    };
    let s = p.a.create(session("alice")).await.unwrap();
    cache(&p.b, &s.id).await;
    let hits = p.b.stats().hits;
    assert_eq!(p.b.get(&s.id).await.unwrap().unwrap().version, 1);
    assert_eq!(p.b.stats().hits, hits + 1, "served from B's L1");

    let mut next = (*s).clone();
    next.state = SessionState::Idle;
    p.a.update(next).await.unwrap();
    // B drops version 1 (and may have read version 2 back already: it was in use).
    eventually("B's version 1 dropped", PROPAGATION, || {
        p.b.l1_peek(&s.id).is_none_or(|c| c.version > 1)
    })
    .await;
    let seen = p.b.get(&s.id).await.unwrap().unwrap();
    assert_eq!((seen.version, seen.state), (2, SessionState::Idle));
    p.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_a_is_never_served_by_b() {
    let Some(p) = Pair::new("revoke").await else {
        return;
    };
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(p.a.create(session("mallory")).await.unwrap());
    }
    let other = p.a.create(session("bob")).await.unwrap();
    for s in mine.iter().chain([&other]) {
        cache(&p.b, &s.id).await;
    }
    let user = UserId::new("mallory").unwrap();
    assert_eq!(p.a.delete_by_user_id(&user, None).await.unwrap().len(), 3);
    // A evicted its own entries before returning.
    for s in &mine {
        assert!(!p.a.l1_contains(&s.id));
    }
    eventually("B evicts all three", PROPAGATION, || {
        mine.iter().all(|s| !p.b.l1_contains(&s.id))
    })
    .await;
    for _ in 0..100 {
        for s in &mine {
            assert!(
                p.b.get(&s.id).await.unwrap().is_none(),
                "B served a revoked session"
            );
        }
    }
    assert!(p.b.get_by_user_id(&user).await.unwrap().is_empty());
    assert!(
        p.b.l1_contains(&other.id),
        "the other user's session stays cached"
    );
    p.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_delete_evicts() {
    let Some(mut p) = Pair::new("rawdel").await else {
        return;
    };
    let s = p.a.create(session("carol")).await.unwrap();
    cache(&p.b, &s.id).await;
    let key = p.key(&s);
    let n: i64 = p.raw.del(&key).await.unwrap();
    assert_eq!(n, 1);
    eventually("B evicts after a raw DEL", PROPAGATION, || {
        !p.b.l1_contains(&s.id)
    })
    .await;
    assert!(p.b.get(&s.id).await.unwrap().is_none());
    p.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_expiring_in_redis_leaves_the_l1() {
    let Some(mut p) = Pair::new("expire").await else {
        return;
    };
    let s = p.a.create(session("dave")).await.unwrap();
    cache(&p.b, &s.id).await;
    // Shorten the record's life behind the store's back: B's L1 deadline is still ten
    // minutes away, so only Redis's own expiry can tell B.
    let key = p.key(&s);
    let _: bool = p.raw.pexpire(&key, 50).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Touching the key makes Redis expire it now (otherwise its expiry cycle does, later).
    let _: bool = p.raw.exists(&key).await.unwrap();
    eventually("B evicts after expiry", PROPAGATION, || {
        !p.b.l1_contains(&s.id)
    })
    .await;
    assert!(p.b.get(&s.id).await.unwrap().is_none());
    p.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_tracking_connection_never_serves_stale() {
    let Some(mut p) = Pair::new("kill").await else {
        return;
    };
    let s = p.a.create(session("erin")).await.unwrap();
    let id = s.id;
    cache(&p.b, &id).await;
    let before = p.b.stats();

    // A writes continuously and records when each version was acknowledged.
    let start = Instant::now();
    let acks = Arc::new(parking_lot::Mutex::new(vec![(1u64, start)]));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (a, acks, stop) = (p.a.clone(), acks.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let s = a
                    .update_with(&id, |s| {
                        s.stats.packets_sent += 1;
                        Ok(())
                    })
                    .await
                    .unwrap();
                acks.lock().push((s.version, Instant::now()));
                tokio::time::sleep(Duration::from_micros(300)).await;
            }
        })
    };
    // B reads all along, recording when each read began and what it saw.
    let reader = {
        let (b, stop) = (p.b.clone(), stop.clone());
        tokio::spawn(async move {
            let mut reads = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let began = Instant::now();
                let got = b.get(&id).await.unwrap().unwrap().version;
                reads.push((began, got));
                tokio::task::yield_now().await;
            }
            reads
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let tracking_id = p.b.tracking_client_id().await.unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(tracking_id)
        .query_async(&mut p.raw)
        .await
        .unwrap();
    assert_eq!(killed, 1);
    // Through the reconnection and after it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let reads = reader.await.unwrap();
    let acks = acks.lock().clone();
    assert!(reads.len() > 100, "the reader ran ({} reads)", reads.len());
    assert!(acks.len() > 100, "the writer ran ({} writes)", acks.len());
    // A read is stale if a newer version had been acknowledged well before the read began:
    // longer ago than an invalidation takes to arrive (microseconds here; 50 ms is lenient).
    // Without the flush on disconnect, B would keep serving the version it cached before the
    // kill for as long as the entry lives (10 s), and every read after the kill would count.
    let superseded_at = |v: u64| acks.iter().find(|(w, _)| *w > v).map(|(_, t)| *t);
    let stale: Vec<_> = reads
        .iter()
        .filter(|(began, got)| {
            superseded_at(*got).is_some_and(|t| t + Duration::from_millis(50) < *began)
        })
        .collect();
    assert!(
        stale.is_empty(),
        "{} stale reads of {}: {:?}",
        stale.len(),
        reads.len(),
        &stale[..stale.len().min(5)]
    );

    eventually("tracking is live again", PROPAGATION, || {
        p.b.is_tracking_live()
    })
    .await;
    let after = p.b.stats();
    assert!(after.flushes > before.flushes, "the L1 was flushed");
    assert!(
        after.tracking_starts > before.tracking_starts,
        "tracking re-enabled"
    );
    // And the L1 serves again once tracking is back.
    assert!(p.b.get(&id).await.unwrap().is_some());
    let hits = p.b.stats().hits;
    assert!(p.b.get(&id).await.unwrap().is_some());
    assert_eq!(p.b.stats().hits, hits + 1);
    p.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_share_one_redis_read() {
    let Some(p) = Pair::new("flight").await else {
        return;
    };
    let s = p.a.create(session("frank")).await.unwrap();
    let id = s.id;
    let before = p.b.stats();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let b = p.b.clone();
            tokio::spawn(async move { b.get(&id).await.unwrap().unwrap().version })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 1);
    }
    let after = p.b.stats();
    let misses = after.misses - before.misses;
    let flights = after.flights - before.flights;
    assert_eq!(misses + after.hits - before.hits, 32);
    // The misses that found a flight under way waited for it instead of reading Redis again.
    assert!(
        flights * 4 <= misses.max(4),
        "{misses} misses made {flights} Redis reads"
    );
    p.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l1_entries_never_outlive_the_session() {
    let Some(p) = Pair::new("deadline").await else {
        return;
    };
    let mut s = session("gina");
    s.expires_at = SystemClock.now() + Duration::from_millis(300);
    let s = p.a.create(s).await.unwrap();
    cache(&p.b, &s.id).await;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(600) {
        // The clock is read before the get: a get that starts at or after the expiry must
        // find nothing, however long it takes.
        let began = SystemClock.now();
        let got = p.b.get(&s.id).await.unwrap();
        if began >= s.expires_at {
            assert!(got.is_none(), "served after expires_at");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    p.done().await;
}

/// The receive loop runs on the tracking thread, not on the application's workers: with every
/// worker busy (two tasks spinning without yielding), a raw rewrite of a session A holds
/// still reaches A's L1 (the entry is dropped, or already replaced by its refresh).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidations_and_refreshes_do_not_wait_for_busy_workers() {
    let Some(p) = Pair::new("busy-workers").await else {
        return;
    };
    let s = p.a.create(session("busy")).await.unwrap();
    cache(&p.a, &s.id).await;
    // Read since it was cached: in use, so its invalidation starts a refresh.
    assert!(p.a.get(&s.id).await.unwrap().is_some());
    let cached = p.a.l1_peek(&s.id).unwrap();
    let key = p.key(&s);
    // A synchronous raw client: this thread has no worker to run an async one on.
    let mut raw = redis::Client::open(p.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            let (a, started, cached, id) = (p.a.clone(), started.clone(), cached.clone(), s.id);
            tokio::spawn(async move {
                started.fetch_add(1, Ordering::SeqCst);
                let start = Instant::now();
                // No await: this worker runs nothing else until the refresh has landed.
                while start.elapsed() < PROPAGATION {
                    // The invalidation has reached A's L1: the entry is gone or refreshed.
                    if a.l1_peek(&id).is_none_or(|now| !Arc::ptr_eq(&now, &cached)) {
                        return true;
                    }
                    std::hint::spin_loop();
                }
                false
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) < 2 {
        std::thread::yield_now();
    }
    // Both workers are taken. Rewrite the record as it is: a write, so an invalidation.
    let bytes: Vec<u8> = redis::cmd("GET").arg(&key).query(&mut raw).unwrap();
    let () = redis::cmd("SET")
        .arg(&key)
        .arg(bytes)
        .arg("KEEPTTL")
        .query(&mut raw)
        .unwrap();
    for spinner in spinners {
        assert!(
            spinner.await.unwrap(),
            "the invalidation did not reach A's L1 while the workers were busy"
        );
    }
    assert_eq!(p.a.get(&s.id).await.unwrap().unwrap().version, s.version);
    p.done().await;
}

//! RedisStore in the same groups as the memory store (Create, Get, Update, GetByUserID(10),
//! GetMany(10), Delete),
//! with the floor beside it: a raw fred GET of a value the size of an encoded session, on the
//! same kind of client. Plus concurrency: gets, and a 95:5 get/update mix, at 1, 16 and 64
//! tasks sharing one store, against raw GETs at the same concurrency.
//!
//! The hybrid store (an L1 in front of the same Redis store) joins the Get, Create and Update
//! groups: `hybrid hit` reads sessions held in its L1, `hybrid miss` reads through an L1 too
//! small to hold them (every get goes to Redis and fills the L1).
//!
//! The server comes from testkit: REDIS_URL, else a local container image, else a
//! redis-server binary on PATH. Without one the bench prints why and does nothing (or fails
//! with SESSION_STORE_REQUIRE_REDIS=1).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use benches::{seed_session, seed_user};
use criterion::{BenchmarkId, Criterion, Throughput};
use fred::bytes::Bytes;
use fred::prelude::{Builder, ClientLike, Config, KeysInterface};
use session_core::{Clock, Session, SessionId, Store, SystemClock, codec};
use store_hybrid::{HybridConfig, HybridStore};
use store_redis::{RedisConfig, RedisStore};
use tokio::runtime::Runtime;

const PREFILL: usize = 1_000;
/// Concurrency levels of the Concurrent groups.
const TASKS: [usize; 3] = [1, 16, 64];

struct Env {
    rt: Runtime,
    store: RedisStore,
    raw: fred::prelude::Client,
    raw_key: String,
    sessions: Vec<Arc<Session>>,
    /// L1 big enough for every session, entries kept for the whole run.
    hybrid_hit: HybridStore,
    /// L1 of 16 entries cycled over `PREFILL` sessions: every get misses.
    hybrid_miss: HybridStore,
    hybrid_sessions: Vec<Arc<Session>>,
    url: String,
    prefix: String,
    _server: testkit::RedisServer,
}

fn env() -> Option<Env> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(testkit::redis_or_skip())?;
    eprintln!("Redis for this run: {}", server.description());
    let url = server.url().to_owned();
    let prefix = testkit::unique_prefix("bench");
    let hybrid_prefix = format!("{prefix}-h");
    let hybrid_config = || {
        HybridConfig::new(RedisConfig::new(&url).prefix(hybrid_prefix.clone()))
            .max_age(Duration::from_secs(3600))
    };
    let (hybrid_hit, hybrid_miss, hybrid_sessions) = rt.block_on(async {
        let hit = HybridStore::connect(hybrid_config()).await.unwrap();
        let miss = HybridStore::connect(hybrid_config().capacity(16))
            .await
            .unwrap();
        let now = SystemClock.now();
        let mut sessions = Vec::new();
        for i in 0..PREFILL {
            sessions.push(hit.create(seed_session(i, now)).await.unwrap());
        }
        (hit, miss, sessions)
    });
    let (store, raw, raw_key, sessions) = rt.block_on(async {
        let store = RedisStore::connect(RedisConfig::new(&url).prefix(prefix.clone()))
            .await
            .unwrap();
        let raw = Builder::from_config(Config::from_url(&url).unwrap())
            .with_performance_config(|p| p.default_command_timeout = Duration::from_secs(1))
            .build()
            .unwrap();
        raw.init().await.unwrap();
        let now = SystemClock.now();
        let mut sessions = Vec::new();
        for i in 0..PREFILL {
            sessions.push(store.create(seed_session(i, now)).await.unwrap());
        }
        // The floor: the same bytes under a plain key.
        let raw_key = format!("{prefix}:raw");
        let payload = Bytes::from(codec::encode(&sessions[0]));
        let _: () = raw
            .set(
                &raw_key,
                payload,
                Some(fred::types::Expiration::EX(3600)),
                None,
                false,
            )
            .await
            .unwrap();
        (store, raw, raw_key, sessions)
    });
    Some(Env {
        rt,
        store,
        raw,
        raw_key,
        sessions,
        hybrid_hit,
        hybrid_miss,
        hybrid_sessions,
        url,
        prefix,
        _server: server,
    })
}

fn floor<'a>(c: &mut criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>, e: &Env) {
    c.bench_function(
        BenchmarkId::new("raw fred GET (floor)", "same payload"),
        |b| {
            b.to_async(&e.rt).iter(|| async {
                let v: Option<Bytes> = e.raw.get(&e.raw_key).await.unwrap();
                black_box(v)
            })
        },
    );
}

fn bench(c: &mut Criterion, e: &Env) {
    let counter = AtomicUsize::new(1_000_000);
    let mut g = c.benchmark_group("Create");
    g.bench_function(BenchmarkId::new("redis", "seed"), |b| {
        b.to_async(&e.rt).iter(|| async {
            let i = counter.fetch_add(1, Ordering::Relaxed);
            let s = seed_session(i, SystemClock.now());
            black_box(e.store.create(s).await.unwrap())
        })
    });
    g.bench_function(BenchmarkId::new("hybrid", "seed"), |b| {
        b.to_async(&e.rt).iter(|| async {
            let i = counter.fetch_add(1, Ordering::Relaxed);
            let s = seed_session(i, SystemClock.now());
            black_box(e.hybrid_hit.create(s).await.unwrap())
        })
    });
    floor(&mut g, e);
    g.finish();

    let ids: Vec<SessionId> = e.sessions.iter().map(|s| s.id).collect();
    let mut g = c.benchmark_group("Get");
    let next = AtomicUsize::new(0);
    g.bench_function(BenchmarkId::new("redis", "hit"), |b| {
        b.to_async(&e.rt).iter(|| async {
            let i = next.fetch_add(1, Ordering::Relaxed) % ids.len();
            black_box(e.store.get(&ids[i]).await.unwrap())
        })
    });
    let hybrid_ids: Vec<SessionId> = e.hybrid_sessions.iter().map(|s| s.id).collect();
    e.rt.block_on(async {
        // Fill the L1.
        for id in &hybrid_ids {
            e.hybrid_hit.get(id).await.unwrap();
        }
    });
    g.bench_function(BenchmarkId::new("hybrid hit", "L1"), |b| {
        b.to_async(&e.rt).iter(|| async {
            let i = next.fetch_add(1, Ordering::Relaxed) % hybrid_ids.len();
            black_box(e.hybrid_hit.get(&hybrid_ids[i]).await.unwrap())
        })
    });
    g.bench_function(BenchmarkId::new("hybrid miss", "Redis + fill"), |b| {
        b.to_async(&e.rt).iter(|| async {
            let i = next.fetch_add(1, Ordering::Relaxed) % hybrid_ids.len();
            black_box(e.hybrid_miss.get(&hybrid_ids[i]).await.unwrap())
        })
    });
    floor(&mut g, e);
    g.finish();

    let latest = std::sync::Mutex::new(e.sessions.clone());
    let mut g = c.benchmark_group("Update");
    g.bench_function(BenchmarkId::new("redis", "cas"), |b| {
        b.to_async(&e.rt).iter_custom(|iters| {
            let latest = &latest;
            async move {
                let mut mine = std::mem::take(&mut *latest.lock().unwrap());
                let start = Instant::now();
                for k in 0..iters as usize {
                    let i = k % mine.len();
                    let mut s = Session::clone(&mine[i]);
                    s.stats.packets_sent += 1;
                    mine[i] = e.store.update(s).await.unwrap();
                }
                let elapsed = start.elapsed();
                *latest.lock().unwrap() = mine;
                elapsed
            }
        })
    });
    let hybrid_latest = std::sync::Mutex::new(e.hybrid_sessions.clone());
    g.bench_function(BenchmarkId::new("hybrid", "cas"), |b| {
        b.to_async(&e.rt).iter_custom(|iters| {
            let latest = &hybrid_latest;
            async move {
                let mut mine = std::mem::take(&mut *latest.lock().unwrap());
                let start = Instant::now();
                for k in 0..iters as usize {
                    let i = k % mine.len();
                    let mut s = Session::clone(&mine[i]);
                    s.stats.packets_sent += 1;
                    mine[i] = e.hybrid_hit.update(s).await.unwrap();
                }
                let elapsed = start.elapsed();
                *latest.lock().unwrap() = mine;
                elapsed
            }
        })
    });
    floor(&mut g, e);
    g.finish();

    let user = seed_user(usize::MAX);
    e.rt.block_on(async {
        let now = SystemClock.now();
        for i in 0..10 {
            let mut s = seed_session(i, now);
            s.user_id = user.clone();
            e.store.create(s).await.unwrap();
        }
    });
    let mut g = c.benchmark_group("GetByUserID(10)");
    g.bench_function(BenchmarkId::new("redis", 10), |b| {
        b.to_async(&e.rt).iter(|| async {
            let v = e.store.get_by_user_id(&user).await.unwrap();
            assert_eq!(v.len(), 10);
            black_box(v)
        })
    });
    floor(&mut g, e);
    g.finish();

    let mut g = c.benchmark_group("GetMany(10)");
    let next = AtomicUsize::new(0);
    g.bench_function(BenchmarkId::new("redis", 10), |b| {
        b.to_async(&e.rt).iter(|| async {
            let i = (next.fetch_add(10, Ordering::Relaxed)) % (ids.len() - 10);
            black_box(e.store.get_many(&ids[i..i + 10]).await.unwrap())
        })
    });
    floor(&mut g, e);
    g.finish();

    // Each sample deletes sessions created (untimed) just before it.
    let mut g = c.benchmark_group("Delete");
    delete_bench(&mut g, &e.rt, "redis", &e.store, &counter);
    delete_bench(&mut g, &e.rt, "hybrid", &e.hybrid_hit, &counter);
    floor(&mut g, e);
    g.finish();

    // Concurrency: 1, 16 and 64 tasks share one store (one multiplexed connection) and each
    // does the same number of operations; throughput counts them all.
    let ids = Arc::new(ids);
    let hybrid_ids: Arc<Vec<SessionId>> =
        Arc::new(e.hybrid_sessions.iter().map(|s| s.id).collect());
    for (group, mix) in [
        ("Concurrent get", false),
        ("Concurrent get+update (95:5)", true),
    ] {
        let mut g = c.benchmark_group(group);
        if !benches::quick() {
            g.measurement_time(Duration::from_secs(5));
        }
        for tasks in TASKS {
            g.throughput(Throughput::Elements(tasks as u64));
            concurrent(&mut g, &e.rt, "redis", &e.store, &ids, tasks, mix);
            concurrent(
                &mut g,
                &e.rt,
                "hybrid",
                &e.hybrid_hit,
                &hybrid_ids,
                tasks,
                mix,
            );
            if !mix {
                concurrent_floor(&mut g, e, tasks);
            }
        }
        g.finish();
    }
}

/// `tasks` tasks on `store`, each doing `iters` operations: gets, or with `mix` one
/// `update_with` (read, then compare-and-set) in twenty.
fn concurrent<S: Store + Clone + 'static>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    name: &str,
    store: &S,
    ids: &Arc<Vec<SessionId>>,
    tasks: usize,
    mix: bool,
) {
    g.bench_function(BenchmarkId::new(name, tasks), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let (store, ids) = (store.clone(), ids.clone());
            async move {
                let start = Instant::now();
                let handles: Vec<_> = (0..tasks)
                    .map(|t| {
                        let (store, ids) = (store.clone(), ids.clone());
                        tokio::spawn(async move {
                            for k in 0..iters as usize {
                                let id = &ids[(t * 31 + k) % ids.len()];
                                if mix && k % 20 == 19 {
                                    let s = store
                                        .update_with(id, |s| {
                                            s.stats.packets_sent += 1;
                                            Ok(())
                                        })
                                        .await
                                        .unwrap();
                                    black_box(s);
                                } else {
                                    black_box(store.get(id).await.unwrap());
                                }
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.await.unwrap();
                }
                start.elapsed()
            }
        })
    });
}

/// The floor at the same concurrency: raw GETs of the same payload.
fn concurrent_floor(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    e: &Env,
    tasks: usize,
) {
    let raw = Arc::new(e.raw.clone());
    let key = Arc::new(e.raw_key.clone());
    g.bench_function(BenchmarkId::new("raw fred GET (floor)", tasks), |b| {
        b.to_async(&e.rt).iter_custom(|iters| {
            let (raw, key) = (raw.clone(), key.clone());
            async move {
                let start = Instant::now();
                let handles: Vec<_> = (0..tasks)
                    .map(|_| {
                        let (raw, key) = (raw.clone(), key.clone());
                        tokio::spawn(async move {
                            for _ in 0..iters {
                                let v: Option<Bytes> = raw.get(key.as_str()).await.unwrap();
                                black_box(v);
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.await.unwrap();
                }
                start.elapsed()
            }
        })
    });
}

/// Deletes of sessions created (untimed) just before each sample.
fn delete_bench<S: Store>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    name: &str,
    store: &S,
    counter: &AtomicUsize,
) {
    g.bench_function(BenchmarkId::new(name, "seed"), |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let now = SystemClock.now();
            let mut ids = Vec::with_capacity(iters as usize);
            for _ in 0..iters {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                ids.push(store.create(seed_session(i, now)).await.unwrap().id);
            }
            let start = Instant::now();
            for id in &ids {
                black_box(store.delete(id).await.unwrap());
            }
            start.elapsed()
        })
    });
}

/// Paired measurement: each round runs the operation and then the floor, back to back, so
/// both see the same machine state; the ratio of medians is what the targets are about
/// (absolute times on a shared 2-core box swing with how idle the cores are).
fn paired(e: &Env) {
    let rounds: usize = if benches::quick() { 300 } else { 3_000 };
    let median = |mut v: Vec<u128>| {
        v.sort_unstable();
        v[v.len() / 2] as f64
    };
    let user = seed_user(usize::MAX);
    let ids: Vec<SessionId> = e.sessions.iter().map(|s| s.id).collect();
    let rows = e.rt.block_on(async {
        let floor = || async {
            let t = Instant::now();
            let v: Option<Bytes> = e.raw.get(&e.raw_key).await.unwrap();
            black_box(v);
            t.elapsed().as_nanos()
        };
        // The criterion groups above updated these sessions: start from their current versions.
        let mut latest: Vec<Arc<Session>> = Vec::with_capacity(ids.len());
        for id in &ids {
            latest.push(e.store.get(id).await.unwrap().unwrap());
        }
        let mut rows = Vec::new();
        for op in ["get", "create", "update", "get_by_user_id(10)"] {
            let (mut a, mut b) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
            for k in 0..rounds {
                let t = Instant::now();
                match op {
                    "get" => {
                        black_box(e.store.get(&ids[k % ids.len()]).await.unwrap());
                    }
                    "create" => {
                        let s = seed_session(2_000_000 + k, SystemClock.now());
                        black_box(e.store.create(s).await.unwrap());
                    }
                    "update" => {
                        let i = k % latest.len();
                        let mut s = Session::clone(&latest[i]);
                        s.stats.packets_sent += 1;
                        latest[i] = e.store.update(s).await.unwrap();
                    }
                    _ => {
                        black_box(e.store.get_by_user_id(&user).await.unwrap());
                    }
                }
                a.push(t.elapsed().as_nanos());
                b.push(floor().await);
            }
            let (ma, mb) = (median(a), median(b));
            rows.push((op, ma / 1e3, mb / 1e3, ma / mb));
        }
        rows
    });
    println!(
        "\npaired medians over {rounds} rounds (operation, then a raw fred GET of the same payload):"
    );
    println!("| operation | redis store (us) | raw fred GET (us) | ratio |");
    println!("|---|---:|---:|---:|");
    for (op, a, b, r) in rows {
        println!("| {op} | {a:.1} | {b:.1} | {r:.2} |");
    }
}

fn main() {
    let Some(e) = env() else { return };
    let mut c = benches::criterion();
    bench(&mut c, &e);
    c.final_summary();
    if std::env::args().all(|a| a != "--list" && a != "--profile-time") {
        paired(&e);
    }
    e.rt.block_on(testkit::cleanup_prefix(&e.url, &e.prefix))
        .unwrap();
}

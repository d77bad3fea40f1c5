//! RedisStore in the same groups as the memory store (Create, Get, Update, GetByUserID(10)),
//! with the floor beside it: a raw fred GET of a value the size of an encoded session, on the
//! same kind of client. Plus get throughput at 64 concurrent tasks against the raw floor.
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
use store_redis::{RedisConfig, RedisStore};
use tokio::runtime::Runtime;

const PREFILL: usize = 1_000;
const TASKS: usize = 64;

struct Env {
    rt: Runtime,
    store: RedisStore,
    raw: fred::prelude::Client,
    raw_key: String,
    sessions: Vec<Arc<Session>>,
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

    // Throughput: TASKS tasks share the store (one multiplexed connection) and split the work.
    let mut g = c.benchmark_group(format!("GetThroughput{TASKS}"));
    g.throughput(Throughput::Elements(TASKS as u64));
    g.measurement_time(Duration::from_secs(5));
    let store = Arc::new(e.store.clone());
    let ids = Arc::new(ids);
    g.bench_function(BenchmarkId::new("redis", TASKS), |b| {
        b.to_async(&e.rt).iter_custom(|iters| {
            let (store, ids) = (store.clone(), ids.clone());
            async move {
                let start = Instant::now();
                let tasks: Vec<_> = (0..TASKS)
                    .map(|t| {
                        let (store, ids) = (store.clone(), ids.clone());
                        tokio::spawn(async move {
                            for k in 0..iters as usize {
                                let id = &ids[(t * 31 + k) % ids.len()];
                                black_box(store.get(id).await.unwrap());
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                start.elapsed()
            }
        })
    });
    let raw = Arc::new(e.raw.clone());
    let key = Arc::new(e.raw_key.clone());
    g.bench_function(BenchmarkId::new("raw fred GET (floor)", TASKS), |b| {
        b.to_async(&e.rt).iter_custom(|iters| {
            let (raw, key) = (raw.clone(), key.clone());
            async move {
                let start = Instant::now();
                let tasks: Vec<_> = (0..TASKS)
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
                for t in tasks {
                    t.await.unwrap();
                }
                start.elapsed()
            }
        })
    });
    g.finish();
}

/// Paired measurement: each round runs the operation and then the floor, back to back, so
/// both see the same machine state; the ratio of medians is what the targets are about
/// (absolute times on a shared 2-core box swing with how idle the cores are).
fn paired(e: &Env) {
    const ROUNDS: usize = 3_000;
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
        let mut latest: Vec<Arc<Session>> = e.sessions.clone();
        let mut rows = Vec::new();
        for op in ["get", "create", "update", "get_by_user_id(10)"] {
            let (mut a, mut b) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
            for k in 0..ROUNDS {
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
        "\npaired medians over {ROUNDS} rounds (operation, then a raw fred GET of the same payload):"
    );
    println!("| operation | redis store (us) | raw fred GET (us) | ratio |");
    println!("|---|---:|---:|---:|");
    for (op, a, b, r) in rows {
        println!("| {op} | {a:.1} | {b:.1} | {r:.2} |");
    }
}

fn main() {
    let Some(e) = env() else { return };
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &e);
    c.final_summary();
    if std::env::args().all(|a| a != "--list") {
        paired(&e);
    }
    e.rt.block_on(testkit::cleanup_prefix(&e.url, &e.prefix))
        .unwrap();
}

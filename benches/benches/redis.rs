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
//! Create, Get and Update also measure the realistic session (`shared/BENCH-PAYLOAD.md`: the
//! peers' nine fields as nine metadata entries, parameter `realistic`) beside a floor of its
//! size. After the criterion groups, a paired table: each operation (get, create, update,
//! touch, get_by_user_id(10), delete), per payload, run back to back with the raw GET, and its
//! server time from INFO commandstats (on a server the bench started).
//!
//! The server comes from testkit: REDIS_URL, else a local container image, else a
//! redis-server binary on PATH. Without one the bench prints why and does nothing (or fails
//! with SESSION_STORE_REQUIRE_REDIS=1).

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use benches::{CommandStats, Group, Payload, seed_session, seed_user};
use criterion::{BenchmarkId, Criterion, Throughput};
use fred::bytes::Bytes;
use fred::prelude::KeysInterface;
use session_core::{Clock, Session, SessionId, Store, SystemClock, UserId, codec};
use store_hybrid::{HybridConfig, HybridStore};
use store_redis::{RedisConfig, RedisStore};
use tokio::runtime::Runtime;

const PREFILL: usize = 1_000;
/// Concurrency levels of the Concurrent groups.
const TASKS: [usize; 3] = [1, 16, 64];

/// One payload's sessions in the Redis store, its user of 10 sessions and its floor's key.
struct Sessions {
    payload: Payload,
    sessions: Vec<Arc<Session>>,
    user: UserId,
    raw_key: String,
    /// Encoded size, bytes.
    size: usize,
}

impl Sessions {
    fn ids(&self) -> Vec<SessionId> {
        self.sessions.iter().map(|s| s.id).collect()
    }
}

struct Env {
    rt: Runtime,
    store: RedisStore,
    raw: fred::prelude::Client,
    /// The seed-shaped sessions, then the realistic ones.
    payloads: [Sessions; 2],
    /// L1 big enough for every session, entries kept for the whole run.
    hybrid_hit: HybridStore,
    /// L1 of 16 entries cycled over `PREFILL` sessions: every get misses.
    hybrid_miss: HybridStore,
    hybrid_sessions: Vec<Arc<Session>>,
    url: String,
    prefix: String,
    /// Whether the bench started the server (server time is then measured).
    owned: bool,
    _server: testkit::RedisServer,
}

impl Env {
    fn seed(&self) -> &Sessions {
        &self.payloads[0]
    }
}

fn env() -> Option<Env> {
    let rt = benches::runtime(2);
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
    let (store, raw, payloads) = rt.block_on(async {
        let store = RedisStore::connect(RedisConfig::new(&url).prefix(prefix.clone()))
            .await
            .unwrap();
        let raw = benches::raw_client(&url).await;
        let mut payloads = Vec::new();
        for (payload, user) in Payload::ALL.into_iter().zip([usize::MAX, usize::MAX - 1]) {
            let now = SystemClock.now();
            let mut sessions = Vec::new();
            for i in 0..PREFILL {
                sessions.push(store.create(payload.session(i, now)).await.unwrap());
            }
            // A user of 10 sessions, for GetByUserID(10).
            let user = seed_user(user);
            for i in 0..10 {
                let mut s = payload.session(i, now);
                s.user_id = user.clone();
                store.create(s).await.unwrap();
            }
            // The floor: the same bytes under a plain key.
            let raw_key = match payload {
                Payload::Seed => format!("{prefix}:raw"),
                Payload::Realistic => format!("{prefix}:raw-realistic"),
            };
            let bytes = codec::encode(&sessions[0]);
            let size = bytes.len();
            benches::set_floor(&raw, &raw_key, Bytes::from(bytes)).await;
            payloads.push(Sessions {
                payload,
                sessions,
                user,
                raw_key,
                size,
            });
        }
        let payloads: [Sessions; 2] = payloads.try_into().unwrap_or_else(|_| unreachable!());
        (store, raw, payloads)
    });
    Some(Env {
        rt,
        store,
        raw,
        payloads,
        hybrid_hit,
        hybrid_miss,
        hybrid_sessions,
        url,
        prefix,
        owned: server.owned(),
        _server: server,
    })
}

/// The floor in a group: a raw fred GET of a value the size of the payload's encoding.
fn floor(c: &mut Group<'_>, e: &Env, p: &Sessions) {
    let id = match p.payload {
        Payload::Seed => "same payload",
        Payload::Realistic => "realistic payload",
    };
    c.bench_function(BenchmarkId::new("raw fred GET (floor)", id), |b| {
        b.to_async(&e.rt).iter(|| async {
            let v: Option<Bytes> = e.raw.get(&p.raw_key).await.unwrap();
            black_box(v)
        })
    });
}

/// The floors of both payloads.
fn floors(c: &mut Group<'_>, e: &Env) {
    for p in &e.payloads {
        floor(c, e, p);
    }
}

fn bench(c: &mut Criterion, e: &Env) {
    let counter = AtomicUsize::new(1_000_000);
    let mut g = c.benchmark_group("Create");
    for (name, p) in [
        ("redis", Payload::Seed),
        ("hybrid", Payload::Seed),
        ("redis", Payload::Realistic),
    ] {
        g.bench_function(BenchmarkId::new(name, p.param("seed")), |b| {
            b.to_async(&e.rt).iter(|| async {
                let s = p.session(counter.fetch_add(1, Ordering::Relaxed), SystemClock.now());
                if name == "redis" {
                    black_box(e.store.create(s).await.unwrap())
                } else {
                    black_box(e.hybrid_hit.create(s).await.unwrap())
                }
            })
        });
    }
    floors(&mut g, e);
    g.finish();

    let mut g = c.benchmark_group("Get");
    let next = AtomicUsize::new(0);
    for p in &e.payloads {
        let ids = p.ids();
        g.bench_function(BenchmarkId::new("redis", p.payload.param("hit")), |b| {
            b.to_async(&e.rt).iter(|| async {
                let i = next.fetch_add(1, Ordering::Relaxed) % ids.len();
                black_box(e.store.get(&ids[i]).await.unwrap())
            })
        });
        if p.payload != Payload::Seed {
            continue;
        }
        let hybrid_ids: Vec<SessionId> = e.hybrid_sessions.iter().map(|s| s.id).collect();
        e.rt.block_on(async {
            // Fill the L1.
            for id in &hybrid_ids {
                e.hybrid_hit.get(id).await.unwrap();
            }
        });
        for (name, param, store) in [
            ("hybrid hit", "L1", &e.hybrid_hit),
            ("hybrid miss", "Redis + fill", &e.hybrid_miss),
        ] {
            // A plain counter, as the memory store's Get bench has: an atomic add per
            // iteration would cost as much as a fifth of a hit.
            let mut i = 0;
            g.bench_function(BenchmarkId::new(name, param), |b| {
                b.to_async(&e.rt).iter(|| {
                    i = (i + 1) % hybrid_ids.len();
                    let id = &hybrid_ids[i];
                    async move { black_box(store.get(id).await.unwrap()) }
                })
            });
        }
    }
    floors(&mut g, e);
    g.finish();

    let mut g = c.benchmark_group("Update");
    let latest = e
        .payloads
        .each_ref()
        .map(|p| Mutex::new(p.sessions.clone()));
    let hybrid_latest = Mutex::new(e.hybrid_sessions.clone());
    let id = |name, p: Payload| BenchmarkId::new(name, p.param("cas"));
    benches::update_bench(
        &mut g,
        &e.rt,
        id("redis", Payload::Seed),
        &e.store,
        &latest[0],
    );
    benches::update_bench(
        &mut g,
        &e.rt,
        id("hybrid", Payload::Seed),
        &e.hybrid_hit,
        &hybrid_latest,
    );
    benches::update_bench(
        &mut g,
        &e.rt,
        id("redis", Payload::Realistic),
        &e.store,
        &latest[1],
    );
    floors(&mut g, e);
    g.finish();

    let user = &e.seed().user;
    let mut g = c.benchmark_group("GetByUserID(10)");
    g.bench_function(BenchmarkId::new("redis", 10), |b| {
        b.to_async(&e.rt).iter(|| async {
            let v = e.store.get_by_user_id(user).await.unwrap();
            assert_eq!(v.len(), 10);
            black_box(v)
        })
    });
    floor(&mut g, e, e.seed());
    g.finish();

    let ids = e.seed().ids();
    let mut g = c.benchmark_group("GetMany(10)");
    let next = AtomicUsize::new(0);
    g.bench_function(BenchmarkId::new("redis", 10), |b| {
        b.to_async(&e.rt).iter(|| async {
            let i = (next.fetch_add(10, Ordering::Relaxed)) % (ids.len() - 10);
            black_box(e.store.get_many(&ids[i..i + 10]).await.unwrap())
        })
    });
    floor(&mut g, e, e.seed());
    g.finish();

    // Each sample deletes sessions created (untimed) just before it.
    let mut g = c.benchmark_group("Delete");
    let id = |name| BenchmarkId::new(name, "seed");
    benches::delete_bench(&mut g, &e.rt, id("redis"), &e.store, &counter);
    benches::delete_bench(&mut g, &e.rt, id("hybrid"), &e.hybrid_hit, &counter);
    floor(&mut g, e, e.seed());
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
    g: &mut Group<'_>,
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
                                benches::load_op(&store, id, k, mix).await;
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
fn concurrent_floor(g: &mut Group<'_>, e: &Env, tasks: usize) {
    let raw = Arc::new(e.raw.clone());
    let key = Arc::new(e.seed().raw_key.clone());
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

/// The operations of the paired table.
#[derive(Clone, Copy, PartialEq)]
enum Op {
    Get,
    Create,
    Update,
    Touch,
    GetByUserId,
    Delete,
}

impl Op {
    const ALL: [Op; 6] = [
        Op::Get,
        Op::Create,
        Op::Update,
        Op::Touch,
        Op::GetByUserId,
        Op::Delete,
    ];

    fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Create => "create",
            Op::Update => "update",
            Op::Touch => "touch",
            Op::GetByUserId => "get_by_user_id(10)",
            Op::Delete => "delete",
        }
    }
}

/// One payload's operations, round by round: what each round needs prepared untimed (a
/// session to delete) and the operation itself.
struct Rounds<'a> {
    e: &'a Env,
    p: &'a Sessions,
    ids: Vec<SessionId>,
    /// The current version of each session, for updates.
    latest: Vec<Arc<Session>>,
    created: usize,
}

impl<'a> Rounds<'a> {
    async fn new(e: &'a Env, p: &'a Sessions) -> Self {
        let ids = p.ids();
        // The criterion groups above updated these sessions: start from their current versions.
        let mut latest = Vec::with_capacity(ids.len());
        for id in &ids {
            latest.push(e.store.get(id).await.unwrap().unwrap());
        }
        Rounds {
            e,
            p,
            ids,
            latest,
            created: 0,
        }
    }

    /// A fresh session of the payload's shape, stored by `create`.
    fn fresh(&mut self) -> Session {
        self.created += 1;
        self.p
            .payload
            .session(2_000_000 + self.created, SystemClock.now())
    }

    /// What round `k` of `op` needs beforehand, untimed: for a delete, a session to delete.
    async fn prepare(&mut self, op: Op) -> Option<SessionId> {
        if op != Op::Delete {
            return None;
        }
        let s = self.fresh();
        Some(self.e.store.create(s).await.unwrap().id)
    }

    async fn run(&mut self, op: Op, k: usize, prepared: Option<SessionId>) {
        let store = &self.e.store;
        match op {
            Op::Get => {
                black_box(store.get(&self.ids[k % self.ids.len()]).await.unwrap());
            }
            Op::Create => {
                let s = self.fresh();
                black_box(store.create(s).await.unwrap());
            }
            Op::Update => {
                let i = k % self.latest.len();
                let mut s = Session::clone(&self.latest[i]);
                s.stats.packets_sent += 1;
                self.latest[i] = store.update(s).await.unwrap();
            }
            Op::Touch => {
                // A new expiry, half an hour on, as a request that keeps its session alive
                // sets; the version it bumps is the one the next update starts from.
                let i = k % self.latest.len();
                let expires_at = SystemClock.now() + Duration::from_secs(1800);
                self.latest[i] = store.touch(&self.latest[i].id, expires_at).await.unwrap();
            }
            Op::GetByUserId => {
                let v = store.get_by_user_id(&self.p.user).await.unwrap();
                assert_eq!(v.len(), 10);
                black_box(v);
            }
            Op::Delete => {
                let id = prepared.unwrap_or_else(|| unreachable!("prepared"));
                assert!(store.delete(&id).await.unwrap());
            }
        }
    }

    /// The floor: a raw GET of this payload's size, timed, in ns.
    async fn floor(&self) -> u128 {
        let t = Instant::now();
        let v: Option<Bytes> = self.e.raw.get(&self.p.raw_key).await.unwrap();
        black_box(v);
        t.elapsed().as_nanos()
    }

    /// Server time per operation, µs: `n` rounds of `op` alone (or of the floor's GET with
    /// `None`) between two readings of INFO commandstats.
    async fn server_us(&mut self, op: Option<Op>, n: usize) -> f64 {
        let mut prepared = Vec::with_capacity(n);
        for _ in 0..n {
            prepared.push(match op {
                Some(op) => self.prepare(op).await,
                None => None,
            });
        }
        let before = CommandStats::read(&self.e.raw).await;
        for (k, prepared) in prepared.into_iter().enumerate() {
            match op {
                Some(op) => self.run(op, k, prepared).await,
                None => {
                    self.floor().await;
                }
            }
        }
        let after = CommandStats::read(&self.e.raw).await;
        after.sent_usec_since(&before) / n as f64
    }
}

/// A paired row: operation, payload, client medians (µs) and their ratio, server times (µs).
struct Row {
    op: Op,
    payload: Payload,
    store_us: f64,
    floor_us: f64,
    server_us: Option<f64>,
    server_get_us: Option<f64>,
}

/// Paired measurement: each round runs the operation and then the floor, back to back, so
/// both see the same machine state; the ratio of medians is what the targets are about
/// (absolute times on a shared 2-core box swing with how idle the cores are). Then, on a
/// server the bench started, as many rounds of each operation alone between two readings of
/// INFO commandstats give its server time, and as many raw GETs a GET's.
fn paired(e: &Env) {
    let rounds: usize = if benches::quick() { 300 } else { 3_000 };
    let median = |mut v: Vec<u128>| {
        v.sort_unstable();
        v[v.len() / 2] as f64
    };
    let rows = e.rt.block_on(async {
        let mut rows = Vec::new();
        for p in &e.payloads {
            let mut r = Rounds::new(e, p).await;
            let server_get_us = match e.owned {
                true => Some(r.server_us(None, rounds).await),
                false => None,
            };
            for op in Op::ALL {
                let (mut a, mut b) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
                for k in 0..rounds {
                    let prepared = r.prepare(op).await;
                    let t = Instant::now();
                    r.run(op, k, prepared).await;
                    a.push(t.elapsed().as_nanos());
                    b.push(r.floor().await);
                }
                // INFO commandstats counts a script's own time apart from the commands it
                // runs, which it also counts: an operation that sends a script is timed by
                // the script alone (touch too: its script reads the record itself).
                let server_us = match (e.owned, server_get_us) {
                    (true, Some(_)) => Some(r.server_us(Some(op), rounds).await),
                    _ => None,
                };
                rows.push(Row {
                    op,
                    payload: p.payload,
                    store_us: median(a) / 1e3,
                    floor_us: median(b) / 1e3,
                    server_us,
                    server_get_us,
                });
            }
        }
        rows
    });
    println!(
        "\npaired medians over {rounds} rounds (operation, then a raw fred GET of the same payload); \
         payloads: {}; server time: {}:",
        e.payloads
            .iter()
            .map(|p| format!("{} {} B", p.payload.name(), p.size))
            .collect::<Vec<_>>()
            .join(", "),
        if e.owned {
            format!("INFO commandstats over {rounds} more rounds of each alone")
        } else {
            "not measured (a server this bench did not start)".to_owned()
        }
    );
    println!(
        "| operation | payload | redis store (us) | raw fred GET (us) | ratio | server (us) | \
         server GET (us) | server / GET |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let us = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.1}"));
    for r in rows {
        let server_ratio = r.server_us.zip(r.server_get_us).map(|(s, g)| s / g);
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.2} | {} | {} | {} |",
            r.op.name(),
            r.payload.name(),
            r.store_us,
            r.floor_us,
            r.store_us / r.floor_us,
            us(r.server_us),
            us(r.server_get_us),
            server_ratio.map_or("–".to_owned(), |v| format!("{v:.2}"))
        );
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

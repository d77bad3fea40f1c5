//! The session stores a user would otherwise pick, on the operations they have, in the same
//! criterion groups as ours (Create, Get, Update) with one `BenchmarkId` each:
//!
//! - tower-sessions' `MemoryStore` (tower-sessions-memory-store),
//! - tower-sessions' `RedisStore` (tower-sessions-redis-store, on fred like ours),
//! - actix-session's `RedisSessionStore` (on the redis crate's connection manager).
//!
//! They store an opaque map, not a typed session: each record holds our seed session as a
//! serde JSON value (tower-sessions, which then encodes the record with MessagePack) or a JSON
//! string (actix-session), so every store moves the same information. None of them has
//! indexes by user or connection, compare-and-set, or expiry-safe writes; their Update is a
//! blind overwrite. Keep that in mind when reading the ratios.
//!
//! The Redis peers also store the realistic session (`shared/BENCH-PAYLOAD.md`, parameter
//! `realistic`): the nine fields as nine entries of their map (tower-sessions: JSON values;
//! actix-session: JSON text, as it stores them), beside ours in redis.rs.
//!
//! The Redis peers use a server from testkit, as `redis.rs` does, under a fresh key prefix
//! that is removed at the end.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use actix_session::storage::{RedisSessionStore, SessionKey, SessionStore as _};
use benches::{Payload, REALISTIC_FIELDS, seed_session};
use criterion::{BenchmarkId, Criterion};
use session_core::{Clock, SystemClock};
use tower_sessions_core::SessionStore as _;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_memory_store::MemoryStore as TowerMemoryStore;
use tower_sessions_redis_store::RedisStore as TowerRedisStore;

const PREFILL: usize = 1_000;
const TOWER_MEMORY: &str = "tower-sessions MemoryStore";
const TOWER_REDIS: &str = "tower-sessions RedisStore (fred)";
const ACTIX_REDIS: &str = "actix-session RedisSessionStore";

/// A tower-sessions record: our seed session as one JSON value, or the nine fields.
fn record(p: Payload, i: usize) -> Record {
    let data = match p {
        Payload::Seed => HashMap::from([(
            "session".to_owned(),
            serde_json::to_value(seed_session(i, SystemClock.now())).unwrap_or_default(),
        )]),
        Payload::Realistic => REALISTIC_FIELDS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::from_str(v).unwrap_or_default()))
            .collect(),
    };
    Record {
        id: Id::default(),
        data,
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    }
}

/// An actix-session state: our seed session as one JSON string, or the nine fields' JSON text.
fn actix_state(p: Payload, i: usize) -> HashMap<String, String> {
    match p {
        Payload::Seed => HashMap::from([(
            "session".to_owned(),
            serde_json::to_string(&seed_session(i, SystemClock.now())).unwrap_or_default(),
        )]),
        Payload::Realistic => REALISTIC_FIELDS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// Creates, gets and updates of payload `p` on a tower-sessions store. With `track`, returns
/// the ids of every record created (so they can be deleted: this store's keys carry no prefix).
fn tower<S: tower_sessions_core::SessionStore>(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    store: &S,
    p: Payload,
    track: bool,
) -> Vec<Id> {
    let counter = AtomicUsize::new(0);
    let created = std::sync::Mutex::new(Vec::new());
    let records: Vec<Record> = rt.block_on(async {
        let mut v = Vec::with_capacity(PREFILL);
        for i in 0..PREFILL {
            let mut r = record(p, i);
            store.create(&mut r).await.unwrap();
            v.push(r);
        }
        v
    });
    let mut g = c.benchmark_group("Create");
    g.bench_function(BenchmarkId::new(name, p.param("seed")), |b| {
        b.to_async(rt).iter(|| async {
            let mut r = record(p, counter.fetch_add(1, Ordering::Relaxed));
            store.create(&mut r).await.unwrap();
            if track {
                created.lock().unwrap().push(r.id);
            }
            black_box(r.id)
        })
    });
    g.finish();
    let mut g = c.benchmark_group("Get");
    let next = AtomicUsize::new(0);
    g.bench_function(BenchmarkId::new(name, p.param("hit")), |b| {
        b.to_async(rt).iter(|| async {
            let i = next.fetch_add(1, Ordering::Relaxed) % records.len();
            black_box(store.load(&records[i].id).await.unwrap())
        })
    });
    g.finish();
    let mut g = c.benchmark_group("Update");
    let records = std::sync::Mutex::new(records);
    g.bench_function(BenchmarkId::new(name, p.param("overwrite")), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let records = &records;
            async move {
                let mut mine = std::mem::take(&mut *records.lock().unwrap());
                let start = Instant::now();
                for k in 0..iters as usize {
                    let i = k % mine.len();
                    // The caller edits its copy (as with ours), then saves it.
                    let mut r = mine[i].clone();
                    r.expiry_date += time::Duration::seconds(1);
                    store.save(&r).await.unwrap();
                    mine[i] = r;
                }
                let elapsed = start.elapsed();
                *records.lock().unwrap() = mine;
                elapsed
            }
        })
    });
    g.finish();
    let mut created = created.into_inner().unwrap();
    created.extend(records.into_inner().unwrap().iter().map(|r| r.id));
    created
}

/// Creates, gets and updates of payload `p` on actix-session's Redis store.
fn actix(c: &mut Criterion, rt: &tokio::runtime::Runtime, store: &RedisSessionStore, p: Payload) {
    let ttl = time::Duration::hours(1);
    let counter = AtomicUsize::new(0);
    let keys: Vec<SessionKey> = rt.block_on(async {
        let mut v = Vec::with_capacity(PREFILL);
        for i in 0..PREFILL {
            v.push(store.save(actix_state(p, i), &ttl).await.unwrap());
        }
        v
    });
    let mut g = c.benchmark_group("Create");
    g.bench_function(BenchmarkId::new(ACTIX_REDIS, p.param("seed")), |b| {
        b.to_async(rt).iter(|| async {
            let state = actix_state(p, counter.fetch_add(1, Ordering::Relaxed));
            black_box(store.save(state, &ttl).await.unwrap())
        })
    });
    g.finish();
    let mut g = c.benchmark_group("Get");
    let next = AtomicUsize::new(0);
    g.bench_function(BenchmarkId::new(ACTIX_REDIS, p.param("hit")), |b| {
        b.to_async(rt).iter(|| async {
            let i = next.fetch_add(1, Ordering::Relaxed) % keys.len();
            black_box(store.load(&keys[i]).await.unwrap())
        })
    });
    g.finish();
    let mut g = c.benchmark_group("Update");
    let keys = std::sync::Mutex::new(keys);
    let state = actix_state(p, 0);
    g.bench_function(BenchmarkId::new(ACTIX_REDIS, p.param("overwrite")), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let (keys, state) = (&keys, &state);
            async move {
                let mut mine = std::mem::take(&mut *keys.lock().unwrap());
                let start = Instant::now();
                for k in 0..iters as usize {
                    let i = k % mine.len();
                    let key = mine.swap_remove(i);
                    let key = store.update(key, state.clone(), &ttl).await.unwrap();
                    mine.push(key);
                }
                let elapsed = start.elapsed();
                *keys.lock().unwrap() = mine;
                elapsed
            }
        })
    });
    g.finish();
}

fn main() {
    let rt = benches::runtime(2);
    let mut c = benches::criterion();

    let memory = TowerMemoryStore::default();
    tower(&mut c, &rt, TOWER_MEMORY, &memory, Payload::Seed, false);

    let Some(server) = rt.block_on(testkit::redis_or_skip()) else {
        c.final_summary();
        return;
    };
    eprintln!("Redis for this run: {}", server.description());
    let url = server.url().to_owned();
    let prefix = testkit::unique_prefix("bench-peers");

    // tower-sessions-redis-store names its keys by the session id alone (no prefix): every id
    // it created is deleted at the end through the store's own `delete` (they expire in an
    // hour anyway).
    let client = rt.block_on(benches::raw_client(&url));
    let tower_redis = TowerRedisStore::new(client.clone());
    let mut created = Vec::new();
    for p in Payload::ALL {
        created.extend(tower(&mut c, &rt, TOWER_REDIS, &tower_redis, p, true));
    }

    let keygen_prefix = format!("{prefix}:actix:");
    let actix_store = rt
        .block_on(
            RedisSessionStore::builder(url.clone())
                .cache_keygen(move |key| format!("{keygen_prefix}{key}"))
                .build(),
        )
        .unwrap();
    for p in Payload::ALL {
        actix(&mut c, &rt, &actix_store, p);
    }
    c.final_summary();
    rt.block_on(async {
        for id in &created {
            tower_redis.delete(id).await.unwrap();
        }
        testkit::cleanup_prefix(&url, &prefix).await.unwrap();
    });
}

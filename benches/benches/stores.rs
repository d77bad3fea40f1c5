//! One criterion group per operation, one `BenchmarkId` per store, so each group reads as a
//! comparison: Create, Get, Update, Touch, GetByUserID(10), GetMany(10), Delete, and get
//! throughput on 1 and 2 threads.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use benches::{seed_session, seed_user};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use session_core::{Clock, FastClock, Session, SessionId, Store, SystemClock};
use store_memory::MemoryStore;

const PREFILL: usize = 10_000;

/// A memory store holding `PREFILL` seed sessions; returns it and their ids.
fn prefilled(rt: &tokio::runtime::Runtime) -> (MemoryStore, Vec<Arc<Session>>) {
    let store = MemoryStore::new();
    let now = SystemClock.now();
    let sessions = rt.block_on(async {
        let mut v = Vec::with_capacity(PREFILL);
        for i in 0..PREFILL {
            v.push(store.create(seed_session(i, now)).await.unwrap());
        }
        v
    });
    (store, sessions)
}

fn create(c: &mut Criterion) {
    let rt = benches::runtime(1);
    let mut g = c.benchmark_group("Create");
    let counter = AtomicUsize::new(0);
    // The session is built inside the timed loop, as the Go benchmark does: two UUIDv7, a
    // formatted user id, a clock read. Each sample starts from an empty store.
    g.bench_function(BenchmarkId::new("memory", "seed"), |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let counter = &counter;
            async move {
                let store = MemoryStore::new();
                let start = Instant::now();
                for _ in 0..iters {
                    let i = counter.fetch_add(1, Ordering::Relaxed);
                    let s = seed_session(i, SystemClock.now());
                    black_box(store.create(s).await.unwrap());
                }
                let elapsed = start.elapsed();
                drop(store);
                elapsed
            }
        })
    });
    g.finish();
}

fn get(c: &mut Criterion) {
    let rt = benches::runtime(1);
    let (store, sessions) = prefilled(&rt);
    let ids: Vec<SessionId> = sessions.iter().map(|s| s.id).collect();
    let mut g = c.benchmark_group("Get");
    // The Go benchmark reads one session over and over: everything stays in cache.
    let one = ids[0];
    g.bench_function(BenchmarkId::new("memory", "same id"), |b| {
        b.to_async(&rt).iter(|| {
            let (store, id) = (&store, &one);
            async move { black_box(store.get(id).await.unwrap()) }
        })
    });
    // Cycling through 10k sessions: cache misses on the table and the record.
    let mut i = 0usize;
    g.bench_function(BenchmarkId::new("memory", "10k ids"), |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % ids.len();
            let (store, id) = (&store, &ids[i]);
            async move { black_box(store.get(id).await.unwrap()) }
        })
    });
    // What the clock read costs on its own: the store's default FastClock, and SystemTime.
    let fast = FastClock::new();
    g.bench_function(BenchmarkId::new("clock", "FastClock"), |b| {
        b.iter(|| black_box(fast.now()))
    });
    g.bench_function(BenchmarkId::new("clock", "SystemClock"), |b| {
        b.iter(|| black_box(SystemClock.now()))
    });
    g.finish();
}

fn update(c: &mut Criterion) {
    let rt = benches::runtime(1);
    let (store, sessions) = prefilled(&rt);
    let current = std::sync::Mutex::new(sessions);
    let mut g = c.benchmark_group("Update");
    // Compare-and-set with the version read. The copy of the record that the caller edits is
    // made inside the timed loop; the Go benchmark instead stores the caller's pointer.
    g.bench_function(BenchmarkId::new("memory", "cas"), |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (store, current) = (&store, &current);
            async move {
                let mut latest = std::mem::take(&mut *current.lock().unwrap());
                let n = latest.len();
                let start = Instant::now();
                for k in 0..iters as usize {
                    let i = k % n;
                    let mut next = Session::clone(&latest[i]);
                    next.stats.packets_sent += 1;
                    latest[i] = store.update(next).await.unwrap();
                }
                let elapsed = start.elapsed();
                *current.lock().unwrap() = latest;
                elapsed
            }
        })
    });
    // The Go benchmark updates one session over and over.
    let one = std::sync::Mutex::new(Arc::clone(&current.lock().unwrap()[0]));
    g.bench_function(BenchmarkId::new("memory", "cas, same session"), |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (store, one) = (&store, &one);
            async move {
                let mut latest = Arc::clone(&one.lock().unwrap());
                let start = Instant::now();
                for _ in 0..iters {
                    let mut next = Session::clone(&latest);
                    next.stats.packets_sent += 1;
                    latest = store.update(next).await.unwrap();
                }
                let elapsed = start.elapsed();
                *one.lock().unwrap() = latest;
                elapsed
            }
        })
    });
    // The same, with the caller's copy made outside the timed region (in chunks of 1000): what
    // the store itself costs per update, closest to the Go benchmark, which stores the
    // caller's pointer and copies nothing.
    g.bench_function(
        BenchmarkId::new("memory", "cas, same session, copy untimed"),
        |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (store, one) = (&store, &one);
                async move {
                    let mut latest = Arc::clone(&one.lock().unwrap());
                    let mut elapsed = Duration::ZERO;
                    let mut left = iters as usize;
                    let mut batch = Vec::with_capacity(1000);
                    while left > 0 {
                        let n = left.min(1000);
                        left -= n;
                        for k in 0..n as u64 {
                            let mut next = Session::clone(&latest);
                            next.stats.packets_sent += 1;
                            next.version += k;
                            batch.push(next);
                        }
                        let start = Instant::now();
                        for next in batch.drain(..) {
                            latest = store.update(next).await.unwrap();
                        }
                        elapsed += start.elapsed();
                    }
                    *one.lock().unwrap() = latest;
                    elapsed
                }
            })
        },
    );
    g.finish();
}

/// `touch` (a new expiry, the rest kept) of one session over and over: the store copies the
/// record itself, so there is no caller's copy to time or not.
fn touch(c: &mut Criterion) {
    let rt = benches::runtime(1);
    let (store, sessions) = prefilled(&rt);
    let one = Arc::clone(&sessions[0]);
    drop(sessions);
    let mut g = c.benchmark_group("Touch");
    g.bench_function(BenchmarkId::new("memory", "same session"), |b| {
        b.to_async(&rt).iter(|| {
            let (store, one) = (&store, &one);
            async move { black_box(store.touch(&one.id, one.expires_at).await.unwrap()) }
        })
    });
    g.finish();
}

fn get_by_user_id(c: &mut Criterion) {
    let rt = benches::runtime(1);
    let (store, _) = prefilled(&rt);
    let user = seed_user(usize::MAX);
    let now = SystemClock.now();
    rt.block_on(async {
        for i in 0..10 {
            let mut s = seed_session(i, now);
            s.user_id = user.clone();
            store.create(s).await.unwrap();
        }
    });
    let mut g = c.benchmark_group("GetByUserID(10)");
    g.bench_function(BenchmarkId::new("memory", 10), |b| {
        b.to_async(&rt).iter(|| {
            let (store, user) = (&store, &user);
            async move {
                let v = store.get_by_user_id(user).await.unwrap();
                debug_assert_eq!(v.len(), 10);
                black_box(v)
            }
        })
    });
    g.finish();
}

fn get_many(c: &mut Criterion) {
    let rt = benches::runtime(1);
    let (store, sessions) = prefilled(&rt);
    let ids: Vec<SessionId> = sessions.iter().map(|s| s.id).collect();
    let mut g = c.benchmark_group("GetMany(10)");
    let mut i = 0usize;
    g.bench_function(BenchmarkId::new("memory", 10), |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 10) % (ids.len() - 10);
            let (store, ids) = (&store, &ids[i..i + 10]);
            async move { black_box(store.get_many(ids).await.unwrap()) }
        })
    });
    g.finish();
}

/// Each sample deletes sessions created (untimed) just before it.
fn delete(c: &mut Criterion) {
    let rt = benches::runtime(1);
    let store = MemoryStore::new();
    let counter = AtomicUsize::new(0);
    let mut g = c.benchmark_group("Delete");
    let id = BenchmarkId::new("memory", "seed");
    benches::delete_bench(&mut g, &rt, id, &store, &counter);
    g.finish();
}

/// Gets per second from `threads` OS threads hammering one store.
fn get_throughput(c: &mut Criterion) {
    let rt = benches::runtime(1);
    let (store, sessions) = prefilled(&rt);
    let ids: Arc<Vec<SessionId>> = Arc::new(sessions.iter().map(|s| s.id).collect());
    let mut g = c.benchmark_group("GetThroughput");
    if !benches::quick() {
        g.measurement_time(Duration::from_secs(4));
    }
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements(threads as u64));
        g.bench_function(BenchmarkId::new("memory", threads), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|scope| {
                    for t in 0..threads {
                        let (store, ids) = (&store, &ids);
                        scope.spawn(move || {
                            let mut i = t * 7919;
                            for _ in 0..iters {
                                i = (i + 1) % ids.len();
                                black_box(store.get_now(&ids[i]));
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = benches::criterion();
    targets = create, get, update, touch, get_by_user_id, get_many, delete, get_throughput
}
criterion_main!(benches);

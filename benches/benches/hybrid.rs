//! The hybrid store's local tier, measured in one sitting (prints a table, does not use
//! criterion): a hit beside a memory-store get; 64 tasks for a few seconds doing L1 gets and a
//! 95:5 get:update mix, beside RedisStore's mix, with the L1 hit rate of the mix, and the mix's
//! updates alone (20 x their rate bounds the mix's); and the
//! cross-instance invalidation latency, idle and under that mix.
//!
//! `cargo bench -p benches --bench hybrid` (SESSION_BENCH_QUICK=1: shorter runs). The server
//! comes from testkit, as in redis.rs.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use benches::seed_session;
use session_core::{Clock, Session, SessionId, Store, SystemClock};
use store_hybrid::{HybridConfig, HybridStats, HybridStore};
use store_memory::MemoryStore;
use store_redis::{RedisConfig, RedisStore};

const SESSIONS: usize = 1_000;
const TASKS: usize = 64;

fn secs() -> Duration {
    if benches::quick() {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(3)
    }
}

/// Nanoseconds per call of `op`, the median of 15 runs of `n` calls.
async fn per_call<F: std::future::Future>(n: usize, mut op: impl FnMut(usize) -> F) -> f64 {
    let mut runs = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        for i in 0..n {
            black_box(op(i).await);
        }
        runs.push(t.elapsed().as_nanos() as f64 / n as f64);
    }
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

/// What the tasks of [`throughput`] do.
#[derive(Clone, Copy, PartialEq)]
enum Load {
    Gets,
    /// One `update_with` in twenty, gets otherwise.
    Mix,
    /// `update_with` only: what the mix's updates cost on their own.
    Updates,
}

/// Operations per second of `TASKS` tasks for `secs()` doing `load`.
async fn throughput<S: Store + Clone + 'static>(
    store: &S,
    ids: &Arc<Vec<SessionId>>,
    load: Load,
) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (store, ids, stop) = (store.clone(), ids.clone(), stop.clone());
            tokio::spawn(async move {
                let mut k = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let id = &ids[(t * 31 + k) % ids.len()];
                    match load {
                        Load::Updates => benches::load_op(&store, id, 19, true).await,
                        _ => benches::load_op(&store, id, k, load == Load::Mix).await,
                    }
                    k += 1;
                }
                k
            })
        })
        .collect();
    tokio::time::sleep(secs()).await;
    stop.store(true, Ordering::Relaxed);
    let mut ops = 0;
    for t in tasks {
        ops += t.await.unwrap();
    }
    ops as f64 / start.elapsed().as_secs_f64()
}

/// Where the writer and the watcher of [`invalidation_samples`] run.
#[derive(Clone, Copy)]
enum Watch {
    /// A task of the bench's runtime, yielding to it between looks.
    InRuntime,
    /// A thread of its own: the figure is the invalidation's delivery to B, not how soon a
    /// task of a busy runtime notices it.
    OffRuntime,
}

/// From `writer`'s acknowledgement of a write to B's L1 no longer holding the version before
/// it, over `n` writes: (p50, p99, max) in microseconds.
async fn invalidation_samples(
    writer: &impl Store,
    b: &HybridStore,
    first: Session,
    n: usize,
    watch: Watch,
) -> (f64, f64, f64) {
    let mut latest = writer.create(first).await.unwrap();
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        // B caches the current version.
        let deadline = Instant::now() + Duration::from_secs(10);
        while b
            .l1_peek(&latest.id)
            .is_none_or(|c| c.version < latest.version)
        {
            black_box(b.get(&latest.id).await.unwrap());
            assert!(Instant::now() < deadline, "B never cached");
            match watch {
                Watch::InRuntime => tokio::task::yield_now().await,
                Watch::OffRuntime => tokio::time::sleep(Duration::from_micros(100)).await,
            }
        }
        let mut next = Session::clone(&latest);
        next.stats.packets_sent += 1;
        latest = writer.update(next).await.unwrap();
        let acked = Instant::now();
        while b
            .l1_peek(&latest.id)
            .is_some_and(|c| c.version < latest.version)
        {
            assert!(
                acked.elapsed() < Duration::from_secs(10),
                "invalidation lost"
            );
            match watch {
                Watch::InRuntime => tokio::task::yield_now().await,
                Watch::OffRuntime => std::thread::yield_now(),
            }
        }
        samples.push(acked.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    (pct(0.5), pct(0.99), samples[samples.len() - 1])
}

/// [`invalidation_samples`] with A as the writer, on the bench's runtime.
async fn invalidation_latency(a: &HybridStore, b: &HybridStore, n: usize) -> (f64, f64, f64) {
    let first = seed_session(9_000_000, SystemClock.now());
    invalidation_samples(a, b, first, n, Watch::InRuntime).await
}

/// [`invalidation_samples`] with the writes made and timed, and B's L1 watched, on a thread
/// of its own (a current-thread runtime with its own RedisStore).
fn invalidation_latency_off_runtime(
    config: RedisConfig,
    b: HybridStore,
    n: usize,
) -> std::thread::JoinHandle<(f64, f64, f64)> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let writer = RedisStore::connect(config).await.unwrap();
            let first = seed_session(9_500_000, SystemClock.now());
            let samples = invalidation_samples(&writer, &b, first, n, Watch::OffRuntime).await;
            writer.close().await.unwrap();
            samples
        })
    })
}

fn delta(a: HybridStats, b: HybridStats) -> (u64, u64, u64) {
    (
        b.hits - a.hits,
        b.misses - a.misses,
        b.refreshes - a.refreshes,
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = benches::runtime(2);
    rt.block_on(async {
        let Some(server) = testkit::redis_or_skip().await else {
            return;
        };
        let url = server.url().to_owned();
        let prefix = testkit::unique_prefix("bench-hybrid");
        let hybrid_config = || {
            HybridConfig::new(RedisConfig::new(&url).prefix(prefix.clone()))
                .max_age(Duration::from_secs(3600))
        };
        let a = HybridStore::connect(hybrid_config()).await.unwrap();
        let b = HybridStore::connect(hybrid_config()).await.unwrap();
        let redis = RedisStore::connect(RedisConfig::new(&url).prefix(format!("{prefix}-r")))
            .await
            .unwrap();
        let memory = MemoryStore::new();
        let now = SystemClock.now();
        let (mut hids, mut rids, mut mids) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..SESSIONS {
            hids.push(a.create(seed_session(i, now)).await.unwrap().id);
            rids.push(redis.create(seed_session(i, now)).await.unwrap().id);
            mids.push(memory.create(seed_session(i, now)).await.unwrap().id);
        }
        for id in &hids {
            a.get(id).await.unwrap();
        }
        println!("loadavg {}", std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());

        // A hit beside a memory get, same id over and over, one task.
        let (hid, mid) = (hids[0], mids[0]);
        let mut rows = Vec::new();
        for _ in 0..3 {
            let m = per_call(200_000, |_| memory.get(&mid)).await;
            let h = per_call(200_000, |_| a.get(&hid)).await;
            rows.push((m, h));
        }
        println!("\n| one task, same id | memory get (ns) | hybrid hit (ns) | ratio |");
        println!("|---|---:|---:|---:|");
        for (m, h) in &rows {
            println!("| run | {m:.1} | {h:.1} | {:.2} |", h / m);
        }

        // 64 tasks.
        let hids = Arc::new(hids);
        let rids = Arc::new(rids);
        let before = a.stats();
        let gets = throughput(&a, &hids, Load::Gets).await;
        let s1 = a.stats();
        let hmix = throughput(&a, &hids, Load::Mix).await;
        let s2 = a.stats();
        let rmix = throughput(&redis, &rids, Load::Mix).await;
        let hupd = throughput(&a, &hids, Load::Updates).await;
        let (gh, gm, _) = delta(before, s1);
        let (mh, mm, mr) = delta(s1, s2);
        println!("\n| {TASKS} tasks, {:?} each | ops/s | L1 hit rate |", secs());
        println!("|---|---:|---:|");
        println!(
            "| hybrid gets (L1 hits) | {gets:.0} | {:.2} % |",
            100.0 * gh as f64 / (gh + gm).max(1) as f64
        );
        println!(
            "| hybrid 95:5 get:update | {hmix:.0} | {:.2} % ({mh} hits, {mm} misses, {mr} refreshes) |",
            100.0 * mh as f64 / (mh + mm).max(1) as f64
        );
        println!("| redis 95:5 get:update | {rmix:.0} | - |");
        println!("| hybrid mix / redis mix | {:.2}x | |", hmix / rmix);
        // Each update_with is a read and a scripted write: the mix's updates alone bound it.
        println!("| hybrid update_with only | {hupd:.0} | - |");
        println!(
            "| mix bound by its updates (20 x updates only) | {:.0} = {:.2}x redis mix | |",
            20.0 * hupd,
            20.0 * hupd / rmix
        );

        // Cross-instance invalidation latency: idle, then under the hybrid mix on A.
        let (p50, p99, max) = invalidation_latency(&a, &b, 2_000).await;
        println!("\n| invalidation A -> B | p50 (us) | p99 (us) | max (us) |");
        println!("|---|---:|---:|---:|");
        println!("| idle | {p50:.0} | {p99:.0} | {max:.0} |");
        let load = {
            let (a, hids) = (a.clone(), hids.clone());
            tokio::spawn(async move { throughput(&a, &hids, Load::Mix).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (p50, p99, max) = invalidation_latency(&a, &b, 500).await;
        load.await.unwrap();
        println!("| under the {TASKS}-task mix on A | {p50:.0} | {p99:.0} | {max:.0} |");
        // The same, written and watched from a thread of its own, idle and under the mix.
        let writer_config = || RedisConfig::new(&url).prefix(prefix.clone());
        let (p50, p99, max) =
            tokio::task::spawn_blocking({
                let (c, b) = (writer_config(), b.clone());
                move || invalidation_latency_off_runtime(c, b, 2_000).join().unwrap()
            })
            .await
            .unwrap();
        println!("| idle, watched off the runtime | {p50:.0} | {p99:.0} | {max:.0} |");
        let load = {
            let (a, hids) = (a.clone(), hids.clone());
            tokio::spawn(async move { throughput(&a, &hids, Load::Mix).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let watcher = invalidation_latency_off_runtime(writer_config(), b.clone(), 500);
        load.await.unwrap();
        let (p50, p99, max) = tokio::task::spawn_blocking(move || watcher.join().unwrap())
            .await
            .unwrap();
        println!(
            "| under the {TASKS}-task mix on A, watched off the runtime | {p50:.0} | {p99:.0} | {max:.0} |"
        );

        for s in [&a, &b] {
            s.close().await.unwrap();
        }
        redis.close().await.unwrap();
        testkit::cleanup_prefix(&url, &prefix).await.unwrap();
        testkit::cleanup_prefix(&url, &format!("{prefix}-r")).await.unwrap();
    });
}

//! Shared fixtures for the criterion benchmarks in `benches/`.
//!
//! Run them with `cargo bench -p benches` (all) or `cargo bench -p benches --bench stores`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::BenchmarkId;
use criterion::measurement::WallTime;
use fred::bytes::Bytes;
use fred::prelude::{Builder, Client, ClientLike, Config, KeysInterface};
use session_core::{
    Clock, ConnectionId, Session, SessionId, SessionState, Store, SystemClock, Timestamp, UserId,
};
use tokio::runtime::Runtime;

/// A criterion benchmark group, as every bench here uses it.
pub type Group<'a> = criterion::BenchmarkGroup<'a, WallTime>;

/// How long bench sessions live: long enough never to expire during a run.
pub const TTL: Duration = Duration::from_secs(3600);

/// A session shaped like the Go original's benchmark session: a formatted user id, a
/// connection id, IPv4 client and server addresses, state Active, empty metadata.
pub fn seed_session(i: usize, now: Timestamp) -> Session {
    Session::builder(seed_user(i), now, TTL)
        .connection_id(ConnectionId::new())
        .client_addr(SocketAddr::from(([192, 168, 1, 100], 54321)))
        .server_addr(SocketAddr::from(([10, 0, 0, 1], 8443)))
        .state(SessionState::Active)
        .build()
}

/// The same session with two metadata entries, as a gateway typically adds.
pub fn seed_session_with_metadata(i: usize, now: Timestamp) -> Session {
    let mut s = seed_session(i, now);
    s.metadata.insert("client_version".into(), "1.2.3".into());
    s.metadata.insert("region".into(), "eu-west-1".into());
    s
}

/// The realistic session of `shared/BENCH-PAYLOAD.md`: the peers' nine fields as nine metadata
/// entries (key -> the value's JSON text), a connection id, client 192.0.2.7:51000, server
/// 192.0.2.1:8443, state Active (about 351 bytes in our codec with a 30-minute expiry).
pub fn realistic_session(i: usize, now: Timestamp) -> Session {
    let mut b = Session::builder(seed_user(i), now, Duration::from_secs(1800))
        .connection_id(ConnectionId::new())
        .client_addr(SocketAddr::from(([192, 0, 2, 7], 51000)))
        .server_addr(SocketAddr::from(([192, 0, 2, 1], 8443)))
        .state(SessionState::Active);
    for (key, value) in REALISTIC_FIELDS {
        b = b.metadata(key, value);
    }
    b.build()
}

/// The peers' nine fields of a typical web session: key and the value's JSON text.
pub const REALISTIC_FIELDS: [(&str, &str); 9] = [
    ("user_id", "4211337"),
    ("username", "\"alice.example\""),
    ("roles", "[\"user\",\"editor\"]"),
    ("csrf_token", "\"q8Vd2K1xR0m9ZpL4sT7wYbN3cH6jF5aE\""),
    ("locale", "\"en-GB\""),
    ("theme", "\"dark\""),
    ("cart_items", "3"),
    ("last_seen", "1764168000"),
    ("flash", "\"Profile updated\""),
];

/// Which session a benchmark moves: the seed-shaped one or the realistic one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// [`seed_session`]: the Go original's benchmark session, no metadata.
    Seed,
    /// [`realistic_session`]: the peers' nine fields as metadata.
    Realistic,
}

impl Payload {
    /// Both, seed first (the report's matrix takes the first).
    pub const ALL: [Payload; 2] = [Payload::Seed, Payload::Realistic];

    /// `seed` or `realistic`: the paired table's payload column.
    pub fn name(self) -> &'static str {
        match self {
            Payload::Seed => "seed",
            Payload::Realistic => "realistic",
        }
    }

    /// The benchmark parameter: `seed_param` for the seed (the ids the report has always
    /// read), `realistic` for the realistic session.
    pub fn param(self, seed_param: &'static str) -> &'static str {
        match self {
            Payload::Seed => seed_param,
            Payload::Realistic => "realistic",
        }
    }

    /// Session `i` of this shape. The realistic sessions' users are apart from the seed's
    /// (`user-{i + 10^9}`), so the two never share a user index.
    pub fn session(self, i: usize, now: Timestamp) -> Session {
        match self {
            Payload::Seed => seed_session(i, now),
            Payload::Realistic => realistic_session(i + 1_000_000_000, now),
        }
    }
}

/// `user-{i}`.
pub fn seed_user(i: usize) -> UserId {
    UserId::new(format!("user-{i}")).unwrap_or_else(|e| unreachable!("{e}"))
}

/// Whether this is a smoke run (`SESSION_BENCH_QUICK=1`, as `cargo xtask bench --quick` sets):
/// benches then skip their own longer measurement times and shorten fixed loops, so criterion's
/// command-line times (`--warm-up-time`, `--measurement-time`) hold everywhere.
pub fn quick() -> bool {
    std::env::var("SESSION_BENCH_QUICK").is_ok_and(|v| v == "1" || v == "true")
}

/// A multi-thread tokio runtime with `workers` worker threads.
pub fn runtime(workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"))
}

/// A raw fred client (1 s command timeout), connected: the floor's client.
pub async fn raw_client(url: &str) -> Client {
    let client = Builder::from_config(Config::from_url(url).unwrap_or_else(|e| panic!("{e}")))
        .with_performance_config(|p| p.default_command_timeout = Duration::from_secs(1))
        .build()
        .unwrap_or_else(|e| panic!("fred client: {e}"));
    client
        .init()
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    client
}

/// Stores `payload` under `key` for an hour: what the floor's GET reads.
pub async fn set_floor(raw: &Client, key: &str, payload: Bytes) {
    let () = raw
        .set(
            key,
            payload,
            Some(fred::types::Expiration::EX(3600)),
            None,
            false,
        )
        .await
        .unwrap_or_else(|e| panic!("SET {key}: {e}"));
}

/// One operation of a concurrent load on `store`: a get, or with `mix` one `update_with`
/// (read, then compare-and-set) in twenty (`k` counts the caller's operations).
pub async fn load_op<S: Store>(store: &S, id: &SessionId, k: usize, mix: bool) {
    if mix && k % 20 == 19 {
        let s = store
            .update_with(id, |s| {
                s.stats.packets_sent += 1;
                Ok(())
            })
            .await
            .unwrap_or_else(|e| panic!("update_with: {e}"));
        black_box(s);
    } else {
        black_box(store.get(id).await.unwrap_or_else(|e| panic!("get: {e}")));
    }
}

/// `id`: deletes of sessions created (untimed) just before each sample.
pub fn delete_bench<S: Store>(
    g: &mut Group<'_>,
    rt: &Runtime,
    id: BenchmarkId,
    store: &S,
    counter: &AtomicUsize,
) {
    g.bench_function(id, |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let now = SystemClock.now();
            let mut ids = Vec::with_capacity(iters as usize);
            for _ in 0..iters {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let s = store.create(seed_session(i, now)).await;
                ids.push(s.unwrap_or_else(|e| panic!("create: {e}")).id);
            }
            let start = Instant::now();
            for id in &ids {
                black_box(store.delete(id).await.unwrap_or_else(|e| panic!("{e}")));
            }
            start.elapsed()
        })
    });
}

/// `id`: compare-and-set updates of `latest` (each the caller's copy of the current version,
/// one packet counted), round robin; `latest` holds the new versions afterwards.
pub fn update_bench<S: Store>(
    g: &mut Group<'_>,
    rt: &Runtime,
    id: BenchmarkId,
    store: &S,
    latest: &Mutex<Vec<Arc<Session>>>,
) {
    g.bench_function(id, |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut mine = std::mem::take(&mut *latest.lock().unwrap_or_else(|e| e.into_inner()));
            let start = Instant::now();
            for k in 0..iters as usize {
                let i = k % mine.len();
                let mut s = Session::clone(&mine[i]);
                s.stats.packets_sent += 1;
                mine[i] = store
                    .update(s)
                    .await
                    .unwrap_or_else(|e| panic!("update: {e}"));
            }
            let elapsed = start.elapsed();
            *latest.lock().unwrap_or_else(|e| e.into_inner()) = mine;
            elapsed
        })
    });
}

/// A server's `INFO commandstats`: per command, calls and microseconds.
#[derive(Debug, Clone, Default)]
pub struct CommandStats(BTreeMap<String, (u64, u64)>);

/// Commands a bench or a client sends besides the operations measured.
const ADMIN: &[&str] = &[
    "info", "config", "ping", "hello", "client", "select", "auth", "cluster", "command",
];

/// Script commands: when an operation sends one, the commands its script runs inside are
/// counted too (Redis 7 counts them), so only the script's own time is its server time.
const SCRIPTS: &[&str] = &[
    "evalsha",
    "eval",
    "evalsha_ro",
    "eval_ro",
    "fcall",
    "fcall_ro",
];

impl CommandStats {
    /// Reads them from the server.
    pub async fn read(client: &Client) -> Self {
        let text: String = client
            .info(Some(fred::types::InfoKind::CommandStats))
            .await
            .unwrap_or_else(|e| panic!("INFO commandstats: {e}"));
        Self::parse(&text)
    }

    /// `cmdstat_get:calls=3,usec=7,usec_per_call=2.33,...` lines.
    pub fn parse(text: &str) -> Self {
        let mut out = BTreeMap::new();
        for line in text.lines() {
            let Some((name, fields)) = line
                .trim()
                .strip_prefix("cmdstat_")
                .and_then(|l| l.split_once(':'))
            else {
                continue;
            };
            let field = |key: &str| {
                fields
                    .split(',')
                    .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
                    .and_then(|v| v.parse::<u64>().ok())
            };
            if let (Some(calls), Some(usec)) = (field("calls"), field("usec")) {
                out.insert(name.to_ascii_lowercase(), (calls, usec));
            }
        }
        Self(out)
    }

    /// Server microseconds spent, since `before`, in the commands clients sent: the scripts'
    /// own if any ran (not the commands inside them), else every command but [`ADMIN`] ones.
    pub fn sent_usec_since(&self, before: &CommandStats) -> f64 {
        let delta: Vec<(&str, u64)> = self
            .0
            .iter()
            .map(|(name, (_, usec))| {
                let then = before.0.get(name).map_or(0, |(_, u)| *u);
                (name.as_str(), usec.saturating_sub(then))
            })
            .filter(|(name, usec)| {
                *usec > 0 && !ADMIN.contains(&name.split('|').next().unwrap_or(name))
            })
            .collect();
        let scripts: u64 = delta
            .iter()
            .filter(|(n, _)| SCRIPTS.contains(n))
            .map(|(_, u)| u)
            .sum();
        if scripts > 0 {
            scripts as f64
        } else {
            delta.iter().map(|(_, u)| u).sum::<u64>() as f64
        }
    }
}

/// Criterion as every bench here configures it: the command line's settings, and a flame-graph
/// profiler that runs only in profile mode (`-- --profile-time SECONDS`), writing
/// `target/criterion/<benchmark>/profile/flamegraph.svg`.
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .with_profiler(Flamegraph::default())
        .configure_from_args()
}

/// A criterion [`Profiler`](criterion::profiler::Profiler) sampling with pprof (997 Hz) and
/// writing a flame graph per profiled benchmark.
#[derive(Default)]
pub struct Flamegraph {
    guard: Option<pprof::ProfilerGuard<'static>>,
}

impl criterion::profiler::Profiler for Flamegraph {
    fn start_profiling(&mut self, _benchmark_id: &str, _benchmark_dir: &Path) {
        self.guard = pprof::ProfilerGuardBuilder::default()
            .frequency(997)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .map_err(|e| eprintln!("flame graph: cannot start pprof: {e}"))
            .ok();
    }

    fn stop_profiling(&mut self, benchmark_id: &str, benchmark_dir: &Path) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let written = (|| -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
            let report = guard.report().build()?;
            std::fs::create_dir_all(benchmark_dir)?;
            let path = benchmark_dir.join("flamegraph.svg");
            report.flamegraph(std::fs::File::create(&path)?)?;
            Ok(path)
        })();
        match written {
            Ok(path) => eprintln!("flame graph of {benchmark_id}: {}", path.display()),
            Err(e) => eprintln!("flame graph of {benchmark_id}: failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_time_is_what_the_operations_sent() {
        let before = CommandStats::parse(
            "# Commandstats\r\ncmdstat_get:calls=10,usec=20,usec_per_call=2.00,rejected_calls=0\r\n\
             cmdstat_info:calls=1,usec=30,usec_per_call=30.00\r\n",
        );
        let after = CommandStats::parse(
            "cmdstat_get:calls=20,usec=45,usec_per_call=2.25\r\n\
             cmdstat_info:calls=2,usec=60,usec_per_call=30.00\r\n\
             cmdstat_evalsha:calls=5,usec=300,usec_per_call=60.00\r\n\
             cmdstat_config|get:calls=1,usec=9,usec_per_call=9.00\r\n",
        );
        // A script ran: its own time, not the GETs it ran inside.
        assert_eq!(after.sent_usec_since(&before), 300.0);
        let gets =
            CommandStats::parse("cmdstat_get:calls=20,usec=45\r\ncmdstat_info:calls=2,usec=60\r\n");
        assert_eq!(gets.sent_usec_since(&before), 25.0);
    }

    #[test]
    fn the_realistic_session_is_about_351_bytes() {
        let s = Payload::Realistic.session(7, SystemClock.now());
        let n = session_core::codec::encode(&s).len();
        assert!((330..=370).contains(&n), "{n} bytes");
        assert_eq!(s.metadata.len(), 9);
    }
}

//! Shared fixtures for the criterion benchmarks in `benches/`.
//!
//! Run them with `cargo bench -p benches` (all) or `cargo bench -p benches --bench stores`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use session_core::{ConnectionId, Session, SessionState, Timestamp, UserId};

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
    Session::builder(seed_user(i), now, Duration::from_secs(1800))
        .connection_id(ConnectionId::new())
        .client_addr(SocketAddr::from(([192, 0, 2, 7], 51000)))
        .server_addr(SocketAddr::from(([192, 0, 2, 1], 8443)))
        .state(SessionState::Active)
        .metadata("user_id", "4211337")
        .metadata("username", "\"alice.example\"")
        .metadata("roles", "[\"user\",\"editor\"]")
        .metadata("csrf_token", "\"q8Vd2K1xR0m9ZpL4sT7wYbN3cH6jF5aE\"")
        .metadata("locale", "\"en-GB\"")
        .metadata("theme", "\"dark\"")
        .metadata("cart_items", "3")
        .metadata("last_seen", "1764168000")
        .metadata("flash", "\"Profile updated\"")
        .build()
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

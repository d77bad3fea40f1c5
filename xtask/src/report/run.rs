//! What `cargo xtask bench` records in target/session-bench/run.json, typed: written by
//! `bench`, read by the report (also from an earlier run with `--no-run`, so every field has a
//! default).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One run of `cargo xtask bench`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Run {
    /// When it started, `2026-01-01T00:00:00Z`.
    pub(crate) date: Option<String>,
    /// `--quick`: a smoke run.
    pub(crate) quick: bool,
    /// Which Redis the benches used, and why.
    pub(crate) redis_choice: Option<String>,
    /// Each criterion bench and the benchmark ids it listed.
    pub(crate) benches: Vec<Bench>,
    /// How long the whole run took, seconds.
    pub(crate) seconds: Option<f64>,
    /// Each pass's own estimates and paired table.
    pub(crate) passes: Vec<Pass>,
    /// The last pass's paired table (the redis bench's own print).
    pub(crate) paired: Option<Paired>,
    /// The servers the redis and peers benches said they used.
    pub(crate) server_redis: Option<String>,
    pub(crate) server_peers: Option<String>,
    /// What each Redis operation sends (the round_trips bench).
    pub(crate) round_trips: Option<RoundTrips>,
    /// Bytes per session (the footprint bench).
    pub(crate) footprint: Option<Vec<Footprint>>,
    /// The codec bench's `encoded sizes: ...` line.
    pub(crate) codec_sizes: Option<String>,
    /// The coalesce bench's table: 64 tasks on the realistic session, read coalescing off and
    /// on, beside raw GETs.
    pub(crate) coalesce: Option<Coalesce>,
    /// The hybrid bench's tables: a hit beside a memory get, the 64-task 95:5 mix beside
    /// RedisStore's with the L1 hit rate, invalidation latency.
    pub(crate) hybrid: Option<Hybrid>,
    /// The Go original's own memory-store benchmarks, run in the same sitting
    /// (`--go-seed PATH`).
    pub(crate) go: Option<Go>,
    /// Why a source of figures is absent from this run (`coalesce`, `hybrid`, `go`): not
    /// asked for, or the bench failed.
    pub(crate) not_run: BTreeMap<String, String>,
    /// The Machine table's rows (CPU, cores, memory, OS, rustc, git revision) as they were
    /// when the run started, so that a report rebuilt later (`--no-run`) names the revision
    /// that was measured. Empty in a run.json written before it was recorded.
    pub(crate) machine: Vec<(String, String)>,
}

/// The coalesce bench's table.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Coalesce {
    /// Concurrent tasks.
    pub(crate) tasks: Option<u64>,
    /// The session's encoded size, bytes.
    pub(crate) payload_bytes: Option<u64>,
    pub(crate) rows: Vec<CoalesceRow>,
}

/// One variant of the coalesce bench: throughput of the tasks (median over its passes), and
/// for the read variants the p50 latency of one caller.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct CoalesceRow {
    pub(crate) variant: String,
    pub(crate) ops_per_sec: f64,
    pub(crate) p50_us: Option<f64>,
}

/// The hybrid bench's figures.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Hybrid {
    /// Each run of one task, same id: (memory get ns, hybrid hit ns).
    pub(crate) hit_runs: Vec<(f64, f64)>,
    /// Concurrent tasks of the throughput rows.
    pub(crate) tasks: Option<u64>,
    /// L1 gets alone, ops/s.
    pub(crate) gets_ops: Option<f64>,
    /// The 95:5 get:update mix on the hybrid store, ops/s, and its L1 hit rate, %.
    pub(crate) mix_ops: Option<f64>,
    pub(crate) mix_hit_rate_pct: Option<f64>,
    /// The same mix on RedisStore, ops/s.
    pub(crate) redis_mix_ops: Option<f64>,
    /// Cross-instance invalidation, idle: p50, p99, max in µs.
    pub(crate) invalidation_idle_us: Option<[f64; 3]>,
    /// The same under the 64-task mix.
    pub(crate) invalidation_loaded_us: Option<[f64; 3]>,
}

/// The Go original's benchmarks (`go test -bench`).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Go {
    /// run.sh's first line: `go version ...; loadavg ...`.
    pub(crate) version: Option<String>,
    pub(crate) benchmarks: Vec<GoBench>,
}

/// One Go benchmark: ns/op of each of its `-count` runs.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct GoBench {
    /// Without the `-GOMAXPROCS` suffix: `BenchmarkMemoryStore_Update`.
    pub(crate) name: String,
    pub(crate) ns_per_op: Vec<f64>,
}

/// A criterion bench and its benchmark ids.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Bench {
    pub(crate) name: String,
    pub(crate) ids: Vec<String>,
}

/// One pass over every criterion bench.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Pass {
    pub(crate) pass: u32,
    /// Benchmark id -> its estimate in this pass.
    pub(crate) figures: BTreeMap<String, Estimate>,
    pub(crate) paired: Option<Paired>,
}

/// A criterion median and its confidence interval, ns per iteration.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Estimate {
    pub(crate) median: f64,
    pub(crate) low: f64,
    pub(crate) high: f64,
}

/// The redis bench's paired table: each operation run back to back with a raw GET.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Paired {
    pub(crate) rounds: Option<u64>,
    pub(crate) rows: Vec<PairedRow>,
}

/// One operation of the paired table on one payload, medians in µs.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PairedRow {
    pub(crate) operation: String,
    /// `seed` or `realistic` (absent in runs before payloads were measured: the seed).
    #[serde(default)]
    pub(crate) payload: Option<String>,
    pub(crate) store_us: f64,
    pub(crate) floor_us: f64,
    pub(crate) ratio: f64,
    /// Server time per operation (INFO commandstats: the commands it sends), and per GET of
    /// the same payload; absent on a server the bench did not start.
    #[serde(default)]
    pub(crate) server_us: Option<f64>,
    #[serde(default)]
    pub(crate) server_get_us: Option<f64>,
}

impl PairedRow {
    /// The payload's name in ratio names: none for the seed.
    pub(crate) fn payload_suffix(&self) -> String {
        match self.payload.as_deref() {
            None | Some("seed") => String::new(),
            Some(p) => format!(" ({p})"),
        }
    }
}

/// The round_trips bench's file.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RoundTrips {
    pub(crate) server: Option<String>,
    pub(crate) operations: Vec<RoundTripOp>,
}

/// What one operation sends, counted by the server (MONITOR).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RoundTripOp {
    pub(crate) operation: String,
    pub(crate) round_trips: u64,
    pub(crate) commands_sent: Vec<String>,
    pub(crate) commands_total: u64,
}

/// One footprint line: bytes per session at a number of sessions.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Footprint {
    pub(crate) label: String,
    pub(crate) sessions: f64,
    pub(crate) allocator_bytes_per_session: f64,
    pub(crate) resident_bytes_per_session: f64,
}

impl Run {
    /// The passes' paired tables, or the run's own one for a run without passes.
    pub(crate) fn paired_tables(&self) -> Vec<Option<&Paired>> {
        if self.passes.is_empty() {
            vec![self.paired.as_ref()]
        } else {
            self.passes.iter().map(|p| p.paired.as_ref()).collect()
        }
    }

    /// How many round trips an operation takes, from the round_trips bench.
    pub(crate) fn round_trip(&self, op: &str) -> Option<&RoundTripOp> {
        self.round_trips
            .as_ref()?
            .operations
            .iter()
            .find(|o| o.operation == op)
    }

    /// Passes, at least one.
    pub(crate) fn pass_count(&self) -> usize {
        self.passes.len().max(1)
    }
}

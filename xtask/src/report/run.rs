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

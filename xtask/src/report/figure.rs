//! One benchmark's figure, and choosing figures: which stores, which groups, which figure
//! stands for a store in a group.

use super::format::{ns, ns_bare};

/// The raw-GET floor's function id in the redis bench.
pub(crate) const FLOOR: &str = "raw fred GET (floor)";

/// How a benchmark parameter (and a paired row's payload) names the realistic session.
pub(crate) const REALISTIC: &str = "realistic";

/// One criterion benchmark's result.
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    pub(crate) full_id: String,
    pub(crate) group: String,
    pub(crate) function: String,
    pub(crate) param: Option<String>,
    /// Median time per iteration and its 95% confidence interval, in ns.
    pub(crate) median: f64,
    pub(crate) low: f64,
    pub(crate) high: f64,
    pub(crate) confidence: f64,
    /// Operations per iteration (throughput groups), else 1.
    pub(crate) elements: u64,
    /// Whether criterion recorded a throughput for it (a concurrency figure).
    pub(crate) throughput: bool,
    /// Each pass's median (per iteration, ns), in pass order; empty for a one-pass run read
    /// straight from criterion.
    pub(crate) pass_medians: Vec<f64>,
}

impl Figure {
    /// Time per single operation, ns.
    pub(crate) fn per_op(&self) -> f64 {
        self.median / self.elements as f64
    }
    pub(crate) fn ops_per_sec(&self) -> f64 {
        1e9 / self.per_op()
    }
    /// `57.4 µs [56.9–58.0]`, per operation.
    pub(crate) fn with_spread(&self) -> String {
        let e = self.elements as f64;
        format!(
            "{} [{}–{}]",
            ns(self.median / e),
            ns_bare(self.low / e, self.median / e),
            ns_bare(self.high / e, self.median / e)
        )
    }
    pub(crate) fn is_throughput(&self) -> bool {
        self.throughput || self.elements > 1 || self.group.contains("Throughput")
    }
    /// Whether it crosses to Redis (over 5 µs per operation) rather than staying in-process.
    pub(crate) fn is_remote(&self) -> bool {
        self.per_op() > 5_000.0
    }
    /// A peer's figure (not one of our stores, the floor or the clock).
    pub(crate) fn is_peer(&self) -> bool {
        !(matches!(self.function.as_str(), "memory" | "redis" | FLOOR | "clock")
            || self.function.starts_with("hybrid"))
    }
    /// Whether it measured the realistic session (`shared/BENCH-PAYLOAD.md`, parameter
    /// `realistic` or `realistic payload`) rather than the seed-shaped one.
    pub(crate) fn is_realistic(&self) -> bool {
        self.param
            .as_deref()
            .is_some_and(|p| p.starts_with(REALISTIC))
    }
    /// Which of our stores a peer is compared with: `redis` for a Redis-backed peer.
    pub(crate) fn ours(&self) -> &'static str {
        if self.function.to_ascii_lowercase().contains("redis") {
            "redis"
        } else {
            "memory"
        }
    }
}

/// The store columns (clock reads excluded): ours from the nearest to the farthest (memory,
/// hybrid hit, hybrid miss, hybrid writes, Redis, the floor), then the peers in order of first
/// appearance.
pub(crate) fn stores(figures: &[Figure]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in figures {
        if f.function != "clock" && !out.contains(&f.function) {
            out.push(f.function.clone());
        }
    }
    let rank = |s: &String| match s.as_str() {
        "memory" => 0,
        "hybrid hit" => 1,
        "hybrid miss" => 2,
        "hybrid" => 3,
        "redis" => 4,
        FLOOR => 5,
        _ => 6,
    };
    out.sort_by_key(rank);
    out
}

/// The operation groups compared latency-wise, in order of first appearance.
pub(crate) fn latency_groups(figures: &[Figure]) -> Vec<String> {
    groups(figures, |f| {
        !f.is_throughput() && !f.group.starts_with("Codec")
    })
}

/// The concurrency groups, in order of first appearance.
pub(crate) fn throughput_groups(figures: &[Figure]) -> Vec<String> {
    groups(figures, Figure::is_throughput)
}

fn groups(figures: &[Figure], keep: impl Fn(&Figure) -> bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in figures {
        if keep(f) && !out.contains(&f.group) {
            out.push(f.group.clone());
        }
    }
    out
}

/// The figure for a store in a group: `prefer`red parameter if present, else the first listed.
fn pick<'a>(
    figures: &'a [Figure],
    group: &str,
    function: &str,
    prefer: &[&str],
) -> Option<&'a Figure> {
    let all: Vec<&Figure> = figures
        .iter()
        .filter(|f| f.group == group && f.function == function && !f.is_realistic())
        .collect();
    prefer
        .iter()
        .find_map(|p| all.iter().find(|f| f.param.as_deref() == Some(p)).copied())
        .or_else(|| all.first().copied())
}

/// The representative figure of a store in a group (for the matrix and the chart), always of
/// the seed-shaped session: for the memory store's Get the "10k ids" case (not one id read
/// over and over), else the first.
pub(crate) fn main_figure<'a>(
    figures: &'a [Figure],
    group: &str,
    function: &str,
) -> Option<&'a Figure> {
    pick(figures, group, function, &["10k ids", "cas", "hit", "seed"])
}

/// A store's figure in a throughput group at `elements` tasks, or at the most measured.
pub(crate) fn at_tasks<'a>(
    figures: &'a [Figure],
    group: &str,
    function: &str,
    elements: Option<u64>,
) -> Option<&'a Figure> {
    let mut of = figures
        .iter()
        .filter(|f| f.group == group && f.function == function);
    match elements {
        Some(n) => of.find(|f| f.elements == n),
        None => of.max_by_key(|f| f.elements),
    }
}

/// The figure a peer's is compared with: ours (`redis` or `memory`) with the same payload.
pub(crate) fn ours_for<'a>(figures: &'a [Figure], peer: &Figure) -> Option<&'a Figure> {
    if peer.is_realistic() {
        figures
            .iter()
            .find(|f| f.group == peer.group && f.function == peer.ours() && f.is_realistic())
    } else {
        main_figure(figures, &peer.group, peer.ours())
    }
}

/// A group's name with the payload when it is the realistic one: `Get (realistic payload)`.
pub(crate) fn group_label(f: &Figure) -> String {
    if f.is_realistic() {
        format!("{} (realistic payload)", f.group)
    } else {
        f.group.clone()
    }
}

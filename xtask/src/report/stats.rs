//! Statistics over the passes: each figure as the median of the passes with the interval a
//! re-run is expected to fall in, and the ratios the report stands behind, each with how far
//! it moved between passes.

use super::Report;
use super::figure::{
    FLOOR, Figure, group_label, latency_groups, main_figure, ours_for, throughput_groups,
};
use super::run::Run;

/// A ratio of two figures measured in the same pass: the median over the passes and the
/// lowest and highest pass (or the re-run interval, once widened).
#[derive(Debug, Clone)]
pub(crate) struct Ratio {
    pub(crate) name: String,
    pub(crate) value: f64,
    pub(crate) low: f64,
    pub(crate) high: f64,
}

impl Ratio {
    /// The median and range of a ratio's values over the passes.
    fn of(name: String, values: &[f64]) -> Self {
        Ratio {
            name,
            value: median(values),
            low: min(values),
            high: max(values),
        }
    }
}

/// The median of a non-empty list (mean of the middle two for an even count).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// How far a figure's pass medians moved: (lowest, highest; the highest floored at 0).
fn pass_range(f: &Figure) -> (f64, f64) {
    (
        min(&f.pass_medians),
        f.pass_medians.iter().copied().fold(0.0, f64::max),
    )
}

/// With several passes in run.json: each figure becomes the median of the passes' medians,
/// and its stated spread the interval a re-run is expected to fall in: from the lowest to the
/// highest end of the passes' confidence intervals, widened on each side by the larger of the
/// pass-to-pass range of its medians and the typical range of figures of its kind in this run
/// (see [`typical_ranges`]). Returns the figures as each pass saw them.
pub(crate) fn apply_passes(run: &Run, figures: &mut [Figure]) -> Vec<Vec<Figure>> {
    let mut per_pass: Vec<Vec<Figure>> = vec![Vec::new(); run.passes.len()];
    for f in figures.iter_mut() {
        let mut measured = Vec::new();
        for (k, p) in run.passes.iter().enumerate() {
            if let Some(e) = p.figures.get(&f.full_id) {
                measured.push(*e);
                per_pass[k].push(Figure {
                    median: e.median,
                    low: e.low,
                    high: e.high,
                    ..f.clone()
                });
            }
        }
        if measured.is_empty() {
            continue;
        }
        f.pass_medians = measured.iter().map(|x| x.median).collect();
        f.median = median(&f.pass_medians);
        f.low = min(&measured.iter().map(|x| x.low).collect::<Vec<_>>());
        f.high = max(&measured.iter().map(|x| x.high).collect::<Vec<_>>());
    }
    let typical = typical_ranges(figures);
    for f in figures.iter_mut().filter(|f| f.pass_medians.len() > 1) {
        let (lo, hi) = (min(&f.pass_medians), max(&f.pass_medians));
        let kind = if f.is_remote() { typical.1 } else { typical.0 };
        let widen = (hi - lo).max(kind * f.median);
        f.low = (f.low - widen).max(0.0);
        f.high += widen;
    }
    per_pass
}

/// The typical (median) pass-to-pass range of figures' medians, relative to the median: for
/// in-process figures and for those that cross to Redis. Zero with one pass.
pub(crate) fn typical_ranges(figures: &[Figure]) -> (f64, f64) {
    let of = |remote: bool| {
        let v: Vec<f64> = figures
            .iter()
            .filter(|f| f.pass_medians.len() > 1 && f.is_remote() == remote)
            .map(|f| {
                let (lo, hi) = pass_range(f);
                (hi - lo) / f.median
            })
            .collect();
        if v.is_empty() { 0.0 } else { median(&v) }
    };
    (of(false), of(true))
}

/// How far the pass medians of absolute figures moved, relative to the fastest pass: for
/// in-process figures and for those that cross to Redis.
pub(crate) fn drift(figures: &[Figure], remote: bool) -> Vec<f64> {
    figures
        .iter()
        .filter(|f| f.pass_medians.len() > 1 && f.is_remote() == remote)
        .map(|f| {
            let (lo, hi) = pass_range(f);
            hi / lo - 1.0
        })
        .collect()
}

/// Widens each ratio's pass range into the interval a re-run is expected to fall in: on each
/// side by the larger of its own range and the typical relative range of all the ratios.
/// Returns that typical range.
fn widen_ratios(rs: &mut [Ratio]) -> f64 {
    let rel: Vec<f64> = rs
        .iter()
        .filter(|r| r.value > 0.0)
        .map(|r| (r.high - r.low) / r.value)
        .collect();
    let typical = if rel.is_empty() { 0.0 } else { median(&rel) };
    for r in rs.iter_mut() {
        let widen = (r.high - r.low).max(typical * r.value);
        r.low = (r.low - widen).max(0.0);
        r.high += widen;
    }
    typical
}

fn tasks(n: u64) -> &'static str {
    if n == 1 { "task" } else { "tasks" }
}

/// The ratios one set of figures gives (all per operation: time over time, or throughput
/// over throughput where the name says so).
fn figure_ratios(figures: &[Figure]) -> Vec<(String, f64)> {
    let get = |g: &str, f: &str| main_figure(figures, g, f).map(Figure::per_op);
    let realistic = |g: &str, function: &str| {
        figures
            .iter()
            .find(|f| f.group == g && f.function == function && f.is_realistic())
            .map(Figure::per_op)
    };
    let mut out = Vec::new();
    for g in latency_groups(figures) {
        if let (Some(r), Some(m)) = (get(&g, "redis"), get(&g, "memory")) {
            out.push((format!("{g}: redis / memory (time)"), r / m));
        }
        if let (Some(r), Some(f)) = (get(&g, "redis"), get(&g, FLOOR)) {
            out.push((format!("{g}: redis / raw fred GET (time)"), r / f));
        }
        if let (Some(h), Some(r)) = (get(&g, "hybrid"), get(&g, "redis")) {
            out.push((format!("{g}: hybrid / redis (time)"), h / r));
        }
        if let (Some(r), Some(f)) = (realistic(&g, "redis"), realistic(&g, FLOOR)) {
            out.push((
                format!("{g} (realistic payload): redis / raw fred GET (time)"),
                r / f,
            ));
        }
        for f in figures.iter().filter(|f| f.group == g && f.is_peer()) {
            if let Some(o) = ours_for(figures, f) {
                out.push((
                    format!(
                        "{}: {} / our {} store (time)",
                        group_label(f),
                        f.function,
                        f.ours()
                    ),
                    f.per_op() / o.per_op(),
                ));
            }
        }
    }
    if let (Some(h), Some(m)) = (get("Get", "hybrid hit"), get("Get", "memory")) {
        out.push(("Get: hybrid hit / memory (time)".into(), h / m));
    }
    if let (Some(h), Some(r)) = (get("Get", "hybrid miss"), get("Get", "redis")) {
        out.push(("Get: hybrid miss / redis (time)".into(), h / r));
    }
    for g in throughput_groups(figures) {
        let at = |function: &str, n: u64| {
            figures
                .iter()
                .find(|f| f.group == g && f.function == function && f.elements == n)
                .map(Figure::ops_per_sec)
        };
        let mut levels: Vec<u64> = figures
            .iter()
            .filter(|f| f.group == g)
            .map(|f| f.elements)
            .collect();
        levels.sort_unstable();
        levels.dedup();
        for &n in &levels {
            if let (Some(r), Some(f)) = (at("redis", n), at(FLOOR, n)) {
                out.push((
                    format!("{g}, {n} {}: redis / raw GETs (ops/s)", tasks(n)),
                    r / f,
                ));
            }
            if let (Some(h), Some(r)) = (at("hybrid", n), at("redis", n)) {
                out.push((
                    format!("{g}, {n} {}: hybrid / redis (ops/s)", tasks(n)),
                    h / r,
                ));
            }
        }
        if let (Some(&lo), Some(&hi)) = (levels.first(), levels.last())
            && lo != hi
            && let (Some(a), Some(b)) = (at("memory", hi), at("memory", lo))
        {
            out.push((format!("{g}: memory {hi} / {lo} threads (ops/s)"), a / b));
        }
    }
    out
}

/// The paired table, across passes: per operation and payload the medians and the ratios'
/// spread.
#[derive(Debug, Clone)]
pub(crate) struct PairedRow {
    pub(crate) operation: String,
    pub(crate) payload: Option<String>,
    pub(crate) store_us: f64,
    pub(crate) floor_us: f64,
    pub(crate) ratio: Ratio,
    /// Server time per operation and per GET (µs), and their ratio, where measured.
    pub(crate) server_us: Option<f64>,
    pub(crate) server_get_us: Option<f64>,
    pub(crate) server_ratio: Option<Ratio>,
}

/// The paired table's rounds and rows, each the median over the passes.
pub(crate) fn paired_rows(run: &Run) -> (Option<u64>, Vec<PairedRow>) {
    let tables: Vec<_> = run.paired_tables().into_iter().flatten().collect();
    let rounds = tables.iter().find_map(|t| t.rounds);
    let key = |r: &super::run::PairedRow| (r.operation.clone(), r.payload.clone());
    let mut keys: Vec<(String, Option<String>)> = Vec::new();
    for r in tables.iter().flat_map(|t| &t.rows) {
        if !keys.contains(&key(r)) {
            keys.push(key(r));
        }
    }
    let rows = keys
        .into_iter()
        .map(|k| {
            let rows: Vec<_> = tables
                .iter()
                .flat_map(|t| &t.rows)
                .filter(|r| key(r) == k)
                .collect();
            let col = |c: fn(&super::run::PairedRow) -> Option<f64>| -> Vec<f64> {
                rows.iter().filter_map(|r| c(r)).collect()
            };
            let of = |v: Vec<f64>| (!v.is_empty()).then(|| median(&v));
            let (op, suffix) = (&k.0, rows[0].payload_suffix());
            let server_ratios = col(|r| Some(r.server_us? / r.server_get_us?));
            PairedRow {
                ratio: Ratio::of(
                    format!("paired {op}{suffix}: redis / raw fred GET (time)"),
                    &col(|r| Some(r.ratio)),
                ),
                server_ratio: (!server_ratios.is_empty()).then(|| {
                    Ratio::of(
                        format!("paired {op}{suffix}: server time / a GET's"),
                        &server_ratios,
                    )
                }),
                store_us: median(&col(|r| Some(r.store_us))),
                floor_us: median(&col(|r| Some(r.floor_us))),
                server_us: of(col(|r| r.server_us)),
                server_get_us: of(col(|r| r.server_get_us)),
                operation: k.0,
                payload: k.1,
            }
        })
        .collect();
    (rounds, rows)
}

impl Report {
    /// Every ratio with its re-run interval (see [`widen_ratios`]); with one pass, one value.
    pub(crate) fn ratios(&self) -> Vec<Ratio> {
        let mut out = self.pass_ratios();
        if self.pass_figures.len() > 1 {
            widen_ratios(&mut out);
        }
        out
    }

    /// Every ratio with the lowest and highest pass: from the passes when there were several,
    /// else one value.
    pub(crate) fn pass_ratios(&self) -> Vec<Ratio> {
        let sets: Vec<Vec<(String, f64)>> = if self.pass_figures.len() > 1 {
            self.pass_figures.iter().map(|f| figure_ratios(f)).collect()
        } else {
            vec![figure_ratios(&self.figures)]
        };
        let mut out: Vec<Ratio> = Vec::new();
        for (name, _) in sets.first().into_iter().flatten() {
            let values: Vec<f64> = sets
                .iter()
                .filter_map(|s| s.iter().find(|(n, _)| n == name).map(|(_, v)| *v))
                .filter(|v| v.is_finite())
                .collect();
            if !values.is_empty() {
                out.push(Ratio::of(name.clone(), &values));
            }
        }
        let paired = paired_rows(&self.run).1;
        out.extend(paired.iter().map(|r| r.ratio.clone()));
        out.extend(paired.into_iter().filter_map(|r| r.server_ratio));
        out
    }

    /// The typical relative pass-to-pass range of the ratios (0 with one pass).
    pub(crate) fn ratio_typical(&self) -> f64 {
        if self.pass_figures.len() < 2 {
            return 0.0;
        }
        widen_ratios(&mut self.pass_ratios())
    }
}

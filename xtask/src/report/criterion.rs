//! Reading criterion's files: each benchmark's `new/benchmark.json` (ids, throughput) and
//! `new/estimates.json` (the median and its confidence interval).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::figure::Figure;
use super::run::Estimate;
use crate::util::Result;

/// criterion's `benchmark.json`, the fields the report reads.
#[derive(Deserialize)]
struct BenchmarkJson {
    full_id: String,
    #[serde(default)]
    group_id: String,
    #[serde(default)]
    function_id: Option<String>,
    #[serde(default)]
    value_str: Option<String>,
    #[serde(default)]
    throughput: Option<Throughput>,
}

/// criterion's `Throughput` (an externally tagged enum): elements per iteration if counted.
#[derive(Deserialize)]
struct Throughput {
    #[serde(rename = "Elements")]
    elements: Option<u64>,
}

/// criterion's `estimates.json`: the median's point estimate and interval.
#[derive(Deserialize)]
struct EstimatesJson {
    median: EstimateJson,
}

#[derive(Deserialize)]
struct EstimateJson {
    point_estimate: f64,
    confidence_interval: IntervalJson,
}

#[derive(Deserialize)]
struct IntervalJson {
    #[serde(default = "ninety_five")]
    confidence_level: f64,
    lower_bound: f64,
    upper_bound: f64,
}

fn ninety_five() -> f64 {
    0.95
}

/// Each listed benchmark's current criterion estimate (ns per iteration): what one pass
/// measured, before the next pass overwrites criterion's files.
pub(crate) fn snapshot(criterion: &Path, ids: &[String]) -> BTreeMap<String, Estimate> {
    let index = index(criterion);
    ids.iter()
        .filter_map(|id| {
            let f = read_figure(index.get(id)?).ok()?;
            Some((
                id.clone(),
                Estimate {
                    median: f.median,
                    low: f.low,
                    high: f.high,
                },
            ))
        })
        .collect()
}

/// full_id -> the benchmark's directory (the one holding `new/`).
pub(crate) fn index(dir: &Path) -> BTreeMap<String, PathBuf> {
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
                if let Some(b) = fs::read(p.join("benchmark.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<BenchmarkJson>(&b).ok())
                {
                    out.insert(b.full_id, d.clone());
                }
            } else if p.file_name().is_some_and(|n| n != "base" && n != "report") {
                stack.push(p);
            }
        }
    }
    out
}

/// The figure criterion recorded in a benchmark's directory.
pub(crate) fn read_figure(dir: &Path) -> Result<Figure> {
    let bench: BenchmarkJson = serde_json::from_slice(&fs::read(dir.join("new/benchmark.json"))?)?;
    let est: EstimatesJson = serde_json::from_slice(&fs::read(dir.join("new/estimates.json"))?)?;
    let median = est.median;
    Ok(Figure {
        full_id: bench.full_id,
        group: bench.group_id,
        function: bench.function_id.unwrap_or_default(),
        param: bench.value_str,
        median: median.point_estimate,
        low: median.confidence_interval.lower_bound,
        high: median.confidence_interval.upper_bound,
        confidence: median.confidence_interval.confidence_level,
        elements: bench
            .throughput
            .as_ref()
            .and_then(|t| t.elements)
            .unwrap_or(1)
            .max(1),
        throughput: bench.throughput.is_some(),
        pass_medians: Vec::new(),
    })
}

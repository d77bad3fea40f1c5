//! report.json: the figures, ratios and advice, machine-readable; read back by `--compare`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::Report;
use super::run::{Footprint, RoundTrips};
use super::stats::paired_rows;

/// report.json. Its keys are written sorted (through `serde_json::Value`), as they always were.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ReportJson {
    pub(crate) date: Option<String>,
    pub(crate) quick: bool,
    pub(crate) machine: BTreeMap<String, String>,
    pub(crate) versions: BTreeMap<String, String>,
    pub(crate) redis: RedisJson,
    pub(crate) figures: Vec<FigureJson>,
    pub(crate) missing: Vec<String>,
    #[serde(default = "one")]
    pub(crate) passes: u64,
    pub(crate) ratios: Vec<RatioJson>,
    pub(crate) paired: PairedJson,
    pub(crate) round_trips: Option<RoundTrips>,
    pub(crate) footprint: Option<Vec<Footprint>>,
    pub(crate) codec_sizes: Option<String>,
    pub(crate) advice: Vec<String>,
    pub(crate) bench_seconds: Option<f64>,
    /// Issues #14 and #15's targets against this run's figures.
    pub(crate) targets: Vec<TargetJson>,
}

/// One target: its goal, the value measured (absent when not measured), whether it is met,
/// and the figures behind the value or why there is none.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct TargetJson {
    pub(crate) issue: u32,
    pub(crate) target: String,
    pub(crate) unit: String,
    pub(crate) goal: String,
    pub(crate) value: Option<f64>,
    pub(crate) met: Option<bool>,
    pub(crate) detail: String,
}

fn one() -> u64 {
    1
}

/// Which Redis the run used.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RedisJson {
    pub(crate) choice: Option<String>,
    pub(crate) server_redis_bench: Option<String>,
    pub(crate) server_peers_bench: Option<String>,
}

/// One benchmark: times per iteration in ns (NaN is written as null and read back as NaN).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct FigureJson {
    pub(crate) id: String,
    pub(crate) group: String,
    pub(crate) store: String,
    pub(crate) param: Option<String>,
    #[serde(deserialize_with = "number")]
    pub(crate) median_ns: f64,
    /// The re-run interval (reports before it was stated had only criterion's interval,
    /// `ci_low_ns`/`ci_high_ns`).
    #[serde(alias = "ci_low_ns", deserialize_with = "number")]
    pub(crate) spread_low_ns: f64,
    #[serde(alias = "ci_high_ns", deserialize_with = "number")]
    pub(crate) spread_high_ns: f64,
    pub(crate) pass_medians_ns: Vec<f64>,
    pub(crate) confidence_level: f64,
    #[serde(default = "one")]
    pub(crate) elements_per_iteration: u64,
    #[serde(deserialize_with = "number")]
    pub(crate) per_op_ns: f64,
    #[serde(deserialize_with = "number")]
    pub(crate) ops_per_sec: f64,
}

/// A ratio and its re-run interval.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RatioJson {
    pub(crate) name: String,
    #[serde(deserialize_with = "number")]
    pub(crate) value: f64,
    #[serde(deserialize_with = "number")]
    pub(crate) low: f64,
    #[serde(deserialize_with = "number")]
    pub(crate) high: f64,
}

/// The paired table, medians over the passes.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct PairedJson {
    pub(crate) rounds: Option<u64>,
    pub(crate) rows: Vec<PairedRowJson>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct PairedRowJson {
    pub(crate) operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) payload: Option<String>,
    /// Server time per operation and per GET, µs (INFO commandstats), where measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) server_us: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) server_get_us: Option<f64>,
    pub(crate) store_us: f64,
    pub(crate) floor_us: f64,
    pub(crate) ratio: f64,
    pub(crate) ratio_low: f64,
    pub(crate) ratio_high: f64,
}

/// A number, or null (a NaN written by serde_json) read as NaN.
fn number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl FigureJson {
    /// A time per iteration, per operation.
    pub(crate) fn per_op(&self, ns_per_iteration: f64) -> f64 {
        ns_per_iteration / self.elements_per_iteration.max(1) as f64
    }
}

impl Report {
    /// report.json's content.
    pub(crate) fn json(&self) -> ReportJson {
        let (rounds, paired) = paired_rows(&self.run);
        ReportJson {
            date: self.run.date.clone(),
            quick: self.run.quick,
            machine: self.machine.iter().cloned().collect(),
            versions: self.versions.iter().cloned().collect(),
            redis: RedisJson {
                choice: self.run.redis_choice.clone(),
                server_redis_bench: self.run.server_redis.clone(),
                server_peers_bench: self.run.server_peers.clone(),
            },
            figures: self
                .figures
                .iter()
                .map(|f| FigureJson {
                    id: f.full_id.clone(),
                    group: f.group.clone(),
                    store: f.function.clone(),
                    param: f.param.clone(),
                    median_ns: f.median,
                    spread_low_ns: f.low,
                    spread_high_ns: f.high,
                    pass_medians_ns: f.pass_medians.clone(),
                    confidence_level: f.confidence,
                    elements_per_iteration: f.elements,
                    per_op_ns: f.per_op(),
                    ops_per_sec: f.ops_per_sec(),
                })
                .collect(),
            missing: self.missing.clone(),
            passes: self.run.pass_count() as u64,
            ratios: self
                .ratios()
                .into_iter()
                .map(|r| RatioJson {
                    name: r.name,
                    value: r.value,
                    low: r.low,
                    high: r.high,
                })
                .collect(),
            paired: PairedJson {
                rounds,
                rows: paired
                    .into_iter()
                    .map(|r| PairedRowJson {
                        operation: r.operation,
                        payload: r.payload,
                        server_us: r.server_us,
                        server_get_us: r.server_get_us,
                        store_us: r.store_us,
                        floor_us: r.floor_us,
                        ratio: r.ratio.value,
                        ratio_low: r.ratio.low,
                        ratio_high: r.ratio.high,
                    })
                    .collect(),
            },
            round_trips: self.run.round_trips.clone(),
            footprint: self.run.footprint.clone(),
            codec_sizes: self.run.codec_sizes.clone(),
            advice: self.advice(),
            bench_seconds: self.run.seconds,
            targets: self
                .targets()
                .into_iter()
                .map(|t| TargetJson {
                    issue: t.issue,
                    unit: t.unit_name().to_owned(),
                    goal: t.goal_ascii(),
                    value: t.value(),
                    met: t.met(),
                    detail: match &t.measured {
                        Ok((_, d)) => d.clone(),
                        Err(why) => format!("not measured in this run: {why}"),
                    },
                    target: t.what,
                })
                .collect(),
        }
    }

    /// report.json as written: pretty, keys sorted.
    pub(crate) fn json_bytes(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec_pretty(&serde_json::to_value(self.json())?)
    }
}

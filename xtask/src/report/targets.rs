//! The targets of issues #14 (the Redis store against the raw GET floor) and #15 (the hybrid
//! store, the memory store against the Go original), each against the figure this run measured
//! for it: met, not met, or not measured and why. Every value comes from the run.

use super::Report;
use super::figure::Figure;
use super::format::{ns, rate, sig3};
use super::stats::{PairedRow, median, paired_rows};

/// What a target asks of its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Goal {
    AtMost(f64),
    AtLeast(f64),
    /// Strictly below: "stays ahead".
    Below(f64),
}

/// How a target's value reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Unit {
    /// A ratio: `1.15×`.
    Times,
    Percent,
    Micros,
}

/// One target and what the run measured for it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) issue: u32,
    pub(crate) what: String,
    pub(crate) goal: Goal,
    pub(crate) unit: Unit,
    /// The value and the figures it is made of, or why the run has none.
    pub(crate) measured: Result<(f64, String), String>,
}

impl Target {
    /// Whether the value meets the goal; `None` when not measured.
    pub(crate) fn met(&self) -> Option<bool> {
        let (v, _) = self.measured.as_ref().ok()?;
        Some(match self.goal {
            Goal::AtMost(l) => *v <= l,
            Goal::AtLeast(l) => *v >= l,
            Goal::Below(l) => *v < l,
        })
    }

    pub(crate) fn value(&self) -> Option<f64> {
        self.measured.as_ref().ok().map(|(v, _)| *v)
    }

    /// `≤ 1.15×`.
    pub(crate) fn goal_text(&self) -> String {
        let (sign, limit) = match self.goal {
            Goal::AtMost(l) => ("≤", l),
            Goal::AtLeast(l) => ("≥", l),
            Goal::Below(l) => ("<", l),
        };
        format!("{sign} {}", self.format(limit))
    }

    /// `<= 1.15` (report.json).
    pub(crate) fn goal_ascii(&self) -> String {
        match self.goal {
            Goal::AtMost(l) => format!("<= {l}"),
            Goal::AtLeast(l) => format!(">= {l}"),
            Goal::Below(l) => format!("< {l}"),
        }
    }

    /// The unit's name in report.json.
    pub(crate) fn unit_name(&self) -> &'static str {
        match self.unit {
            Unit::Times => "ratio",
            Unit::Percent => "percent",
            Unit::Micros => "µs",
        }
    }

    pub(crate) fn format(&self, v: f64) -> String {
        match self.unit {
            Unit::Times => format!("{}×", sig3(v)),
            Unit::Percent => format!("{v:.2} %"),
            Unit::Micros => format!("{} µs", sig3(v)),
        }
    }

    /// The measured cell: the value and its figures, or why there is none.
    pub(crate) fn measured_text(&self) -> String {
        match &self.measured {
            Ok((v, detail)) => format!("{} ({detail})", self.format(*v)),
            Err(why) => format!("not measured in this run: {why}"),
        }
    }
}

/// A target row.
fn target(
    issue: u32,
    what: impl Into<String>,
    goal: Goal,
    unit: Unit,
    measured: Result<(f64, String), String>,
) -> Target {
    Target {
        issue,
        what: what.into(),
        goal,
        unit,
        measured,
    }
}

/// The memory store's figure that each Go benchmark is set against, by preference: Go's Get
/// reads one id over and over; its Update writes one session over and over (it stores the
/// caller's pointer, so it copies nothing, but our caller must copy the record to edit it,
/// and that copy is part of what a user pays: the timed copy comes first); its GetByUserID
/// finds 10 sessions.
const AGAINST_GO: [(&str, &str, &[&str]); 4] = [
    ("get", "Get", &["same id", "10k ids"]),
    ("create", "Create", &["seed"]),
    (
        "update",
        "Update",
        &[
            "cas, same session",
            "cas, same session, copy untimed",
            "cas",
        ],
    ),
    ("get_by_user_id(10)", "GetByUserID(10)", &["10"]),
];

impl Report {
    /// Why a source of figures is absent: what the run recorded, else that run.json predates it.
    fn absent(&self, source: &str, what: &str) -> String {
        self.run.not_run.get(source).cloned().unwrap_or_else(|| {
            format!("run.json has no {what} (a run before `cargo xtask bench` recorded it)")
        })
    }

    /// Every target of issues #14 and #15, in the issues' order.
    pub(crate) fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        let (_, paired) = paired_rows(&self.run);
        let widened = self.ratios();
        let realistic = |op: &str| -> Result<&PairedRow, String> {
            if paired.is_empty() {
                return Err("the redis bench printed no paired table".into());
            }
            paired
                .iter()
                .find(|r| r.operation == op && r.payload.as_deref() == Some("realistic"))
                .ok_or_else(|| format!("the paired table has no {op} row on the realistic payload"))
        };
        let interval = |name: &str| {
            widened
                .iter()
                .find(|w| w.name == name && w.low < w.high)
                .map(|w| format!("; re-run interval {}–{}", sig3(w.low), sig3(w.high)))
                .unwrap_or_default()
        };

        // #14: one caller, against the raw GET of the same payload, in the same rounds.
        for (op, limit) in [
            ("create", 1.15),
            ("update", 1.15),
            ("touch", 1.15),
            ("delete", 1.15),
            ("get", 1.02),
            ("get_by_user_id(10)", 1.30),
        ] {
            let measured = realistic(op).map(|r| {
                (
                    r.ratio.value,
                    format!(
                        "{:.1} µs against a raw GET's {:.1} µs{}",
                        r.store_us,
                        r.floor_us,
                        interval(&r.ratio.name)
                    ),
                )
            });
            out.push(target(
                14,
                format!("one caller, realistic payload: {op} / a raw GET"),
                Goal::AtMost(limit),
                Unit::Times,
                measured,
            ));
        }
        // #14: server time per operation against a GET's (INFO commandstats).
        for (op, limit) in [
            ("create", 4.0),
            ("update", 4.0),
            ("touch", 4.0),
            ("delete", 4.0),
            ("get_by_user_id(10)", 6.0),
        ] {
            let measured = realistic(op).and_then(|r| {
                let s = r.server_ratio.as_ref().ok_or(
                    "the redis bench did not start its server, so INFO commandstats would \
                     count other clients' commands",
                )?;
                Ok((
                    s.value,
                    format!(
                        "{} µs against a GET's {} µs{}",
                        r.server_us.map_or("?".into(), sig3),
                        r.server_get_us.map_or("?".into(), sig3),
                        interval(&s.name)
                    ),
                ))
            });
            out.push(target(
                14,
                format!("server time per {op} (realistic) / a GET's"),
                Goal::AtMost(limit),
                Unit::Times,
                measured,
            ));
        }
        out.extend(self.coalesce_targets());
        out.extend(self.hybrid_targets());
        out.extend(self.go_targets());
        out
    }

    /// #14 at 64 tasks: the coalesce bench (realistic payload, throughput over its passes).
    fn coalesce_targets(&self) -> Vec<Target> {
        let c = self.run.coalesce.as_ref();
        let tasks = c.and_then(|c| c.tasks).unwrap_or(64);
        let row = |prefix: &str| -> Result<f64, String> {
            let c = c.ok_or_else(|| self.absent("coalesce", "coalesce table"))?;
            c.rows
                .iter()
                .find(|r| r.variant.starts_with(prefix))
                .map(|r| r.ops_per_sec)
                .ok_or_else(|| format!("the coalesce bench printed no `{prefix}` row"))
        };
        let ratio = |a: &str, b: &str, a_name: &str, b_name: &str| {
            let (x, y) = (row(a)?, row(b)?);
            Ok((
                x / y,
                format!("{a_name} {} against {b_name} {}", rate(x), rate(y)),
            ))
        };
        let floor = "raw fred GET (floor)";
        vec![
            target(
                14,
                format!(
                    "{tasks} tasks, realistic payload: get throughput, coalescing off / raw GETs"
                ),
                Goal::AtLeast(1.0),
                Unit::Times,
                ratio("get, coalescing off", floor, "get", "raw GETs"),
            ),
            target(
                14,
                format!(
                    "{tasks} tasks, realistic payload: get throughput, coalescing on (default) / raw GETs"
                ),
                Goal::AtLeast(2.0),
                Unit::Times,
                ratio("get, coalescing on (default", floor, "get", "raw GETs"),
            ),
            target(
                14,
                format!(
                    "{tasks} tasks, realistic payload: 95:5 get:update / plain get (default config)"
                ),
                Goal::AtLeast(0.9),
                Unit::Times,
                ratio(
                    "95:5 get:update, coalescing on (default",
                    "get, coalescing on (default",
                    "mix",
                    "get",
                ),
            ),
        ]
    }

    /// #15: the hybrid bench (one sitting: the mixes, the hit rate, a hit beside a memory get,
    /// invalidation), and the soak, which the bench run does not measure.
    fn hybrid_targets(&self) -> Vec<Target> {
        let h = self
            .run
            .hybrid
            .as_ref()
            .ok_or_else(|| self.absent("hybrid", "hybrid bench figures"));
        let tasks = h.as_ref().ok().and_then(|h| h.tasks).unwrap_or(64);
        let missing = |what: &str| format!("the hybrid bench printed no {what}");
        let mix = h.clone().and_then(|h| {
            let (m, r) = (
                h.mix_ops.ok_or_else(|| missing("hybrid 95:5 row"))?,
                h.redis_mix_ops.ok_or_else(|| missing("redis 95:5 row"))?,
            );
            Ok((
                m / r,
                format!("hybrid {} against RedisStore {}", rate(m), rate(r)),
            ))
        });
        let hit_rate = h.clone().and_then(|h| {
            let v = h.mix_hit_rate_pct.ok_or_else(|| missing("hit rate"))?;
            Ok((v, format!("hybrid bench, {tasks} tasks")))
        });
        let hit = h.clone().and_then(|h| {
            if h.hit_runs.is_empty() {
                return Err(missing("hit-beside-memory rows"));
            }
            let ratios: Vec<f64> = h.hit_runs.iter().map(|(m, x)| x / m).collect();
            let (m, x) = (
                median(&h.hit_runs.iter().map(|r| r.0).collect::<Vec<_>>()),
                median(&h.hit_runs.iter().map(|r| r.1).collect::<Vec<_>>()),
            );
            Ok((
                median(&ratios),
                format!(
                    "the median ratio of {} runs, one task, same id; medians: hit {}, memory \
                     get {}",
                    ratios.len(),
                    ns(x),
                    ns(m)
                ),
            ))
        });
        let invalidation = h.and_then(|h| {
            let [p50, p99, max] = h
                .invalidation_idle_us
                .ok_or_else(|| missing("idle invalidation row"))?;
            let loaded = h
                .invalidation_loaded_us
                .map(|[_, p99, _]| format!("; under the {tasks}-task mix p99 {p99:.0} µs"))
                .unwrap_or_default();
            Ok((p99, format!("p50 {p50:.0} µs, max {max:.0} µs{loaded}")))
        });
        vec![
            target(
                15,
                format!("{tasks} tasks, 95:5 get:update: hybrid / RedisStore (ops/s)"),
                Goal::AtLeast(10.0),
                Unit::Times,
                mix,
            ),
            target(
                15,
                format!("L1 hit rate in the {tasks}-task hybrid mix"),
                Goal::AtLeast(98.0),
                Unit::Percent,
                hit_rate,
            ),
            target(
                15,
                "hybrid hit / a memory get",
                Goal::AtMost(1.3),
                Unit::Times,
                hit,
            ),
            target(
                15,
                "cross-instance invalidation p99, idle",
                Goal::AtMost(1000.0),
                Unit::Micros,
                invalidation,
            ),
            target(
                15,
                "soak RSS growth after warm-up (hybrid)",
                Goal::AtMost(2.0),
                Unit::Percent,
                Err("the soak measures it (`cargo xtask soak`), not the bench run".into()),
            ),
        ]
    }

    /// #15 against the Go original: our memory store's figures over Go's own benchmarks, run
    /// in the same sitting.
    fn go_targets(&self) -> Vec<Target> {
        let go = self
            .run
            .go
            .as_ref()
            .ok_or_else(|| self.absent("go", "Go figures"));
        AGAINST_GO
            .iter()
            .map(|(op, group, params)| {
                let bench = format!(
                    "BenchmarkMemoryStore_{}",
                    if *group == "GetByUserID(10)" {
                        "GetByUserID"
                    } else {
                        group
                    }
                );
                let measured = go.clone().and_then(|go| {
                    let theirs = go
                        .benchmarks
                        .iter()
                        .find(|b| b.name == bench && !b.ns_per_op.is_empty())
                        .ok_or_else(|| format!("the Go run printed no {bench}"))?;
                    let ours: &Figure = params
                        .iter()
                        .find_map(|p| {
                            self.figures.iter().find(|f| {
                                f.group == *group
                                    && f.function == "memory"
                                    && f.param.as_deref() == Some(p)
                            })
                        })
                        .ok_or_else(|| format!("no {group}/memory figure in this run"))?;
                    let g = median(&theirs.ns_per_op);
                    Ok((
                        ours.per_op() / g,
                        format!(
                            "{} {} against Go's {}, the median of its {} run{}",
                            ours.full_id,
                            ns(ours.per_op()),
                            ns(g),
                            theirs.ns_per_op.len(),
                            if theirs.ns_per_op.len() == 1 { "" } else { "s" }
                        ),
                    ))
                });
                let goal = if *op == "update" {
                    Goal::AtMost(1.0)
                } else {
                    Goal::Below(1.0)
                };
                target(
                    15,
                    format!("memory {op} / the Go original's {bench}"),
                    goal,
                    Unit::Times,
                    measured,
                )
            })
            .collect()
    }
}

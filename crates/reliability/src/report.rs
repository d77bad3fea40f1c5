//! What a load run saw: tallies, judgements, latency and the timeline.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::{Call, Histogram, Tracked};

/// What a load run saw.
#[derive(Debug, Default)]
pub struct Report {
    /// Calls made (ended, hangs included).
    pub calls: u64,
    /// Outcomes: `"<op> ok"` or `"<op> <error kind>"`, e.g. `"update Timeout"`.
    pub tally: BTreeMap<String, u64>,
    /// Calls that returned an error.
    pub errors: u64,
    /// Calls still running at [`LoadConfig::call_bound`].
    pub hangs: u64,
    /// Stale reads (see the crate docs).
    pub stale: u64,
    /// Revoked reads (see the crate docs).
    pub revoked: u64,
    /// Reads that found nothing where an acknowledged write should be.
    pub missing: u64,
    /// Reads judged against the ledger.
    pub judged: u64,
    /// Sessions abandoned after a failed write.
    pub abandoned: u64,
    /// Every call's latency (errors included).
    pub latency: Histogram,
    /// Every call, when [`LoadConfig::timeline`] is on.
    pub timeline: Vec<Call>,
    /// The sessions tracked at the end (live and deleted), for [`verify`].
    pub tracked: Vec<Tracked>,
    /// The first few anomalies, described.
    pub samples: Vec<String>,
    /// The first few errors of each kind, with their sources.
    pub error_samples: BTreeMap<&'static str, Vec<String>>,
}

impl Report {
    pub(crate) fn merge(&mut self, other: Report) {
        self.calls += other.calls;
        for (k, v) in other.tally {
            *self.tally.entry(k).or_default() += v;
        }
        self.errors += other.errors;
        self.hangs += other.hangs;
        self.stale += other.stale;
        self.revoked += other.revoked;
        self.missing += other.missing;
        self.judged += other.judged;
        self.abandoned += other.abandoned;
        self.latency.merge(&other.latency);
        self.timeline.extend(other.timeline);
        self.tracked.extend(other.tracked);
        for (kind, texts) in other.error_samples {
            let mine = self.error_samples.entry(kind).or_default();
            for t in texts {
                if mine.len() < 3 {
                    mine.push(t);
                }
            }
        }
        for s in other.samples {
            if self.samples.len() < 10 {
                self.samples.push(s);
            }
        }
    }

    /// Errors by kind, summed over operations: `{"Timeout": 12, "Unavailable": 30}`.
    pub fn errors_by_kind(&self) -> BTreeMap<&str, u64> {
        let mut out = BTreeMap::new();
        for (k, v) in &self.tally {
            if let Some((_, kind)) = k.split_once(' ') {
                if kind != "ok" {
                    *out.entry(kind).or_default() += v;
                }
            }
        }
        out
    }

    /// The first call that started at or after `t` and succeeded, as a delay from `t`.
    pub fn first_success_after(&self, t: Instant) -> Option<Duration> {
        self.timeline
            .iter()
            .filter(|c| c.began >= t && c.ok)
            .map(|c| c.ended - t)
            .min()
    }

    /// The end of the last failed call that started at or after `t`, as a delay from `t`
    /// (zero when none failed).
    pub fn last_failure_after(&self, t: Instant) -> Duration {
        self.timeline
            .iter()
            .filter(|c| c.began >= t && !c.ok)
            .map(|c| c.ended - t)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// Calls that were running at some point in `[from, to)` (in flight at `from`, or started
    /// before `to`), and how many of them failed.
    pub fn calls_overlapping(&self, from: Instant, to: Instant) -> (u64, u64) {
        let mut n = (0, 0);
        for c in self
            .timeline
            .iter()
            .filter(|c| c.began < to && c.ended >= from)
        {
            n.0 += 1;
            n.1 += u64::from(!c.ok);
        }
        n
    }

    /// Calls that started in `[from, to)`, and how many of them failed.
    pub fn calls_between(&self, from: Instant, to: Instant) -> (u64, u64) {
        let mut n = (0, 0);
        for c in self
            .timeline
            .iter()
            .filter(|c| c.began >= from && c.began < to)
        {
            n.0 += 1;
            n.1 += u64::from(!c.ok);
        }
        n
    }

    /// A one-line summary: calls, errors by kind, hangs, judgements, latency quantiles.
    pub fn summary(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "{} calls, errors {:?}, hangs {}, reads judged {} (stale {}, revoked {}, missing {}), \
             abandoned sessions {}, latency p50 {:.2} ms p99 {:.2} ms max {:.1} ms",
            self.calls,
            self.errors_by_kind(),
            self.hangs,
            self.judged,
            self.stale,
            self.revoked,
            self.missing,
            self.abandoned,
            ms(self.latency.quantile(0.5)),
            ms(self.latency.quantile(0.99)),
            ms(self.latency.max()),
        )
    }
}

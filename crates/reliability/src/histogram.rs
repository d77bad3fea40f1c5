//! A latency histogram with fixed memory, for long soaks.

use std::time::Duration;

/// A latency histogram with fixed memory: 16 linear sub-buckets per power of two of
/// nanoseconds (at most 6.25 % error), so that a long soak does not grow the heap it measures.
#[derive(Debug, Clone)]
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    max: Duration,
}

const SUB: u32 = 16;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; 64 * SUB as usize],
            count: 0,
            max: Duration::ZERO,
        }
    }
}

impl Histogram {
    fn index(ns: u64) -> usize {
        if ns < u64::from(SUB) {
            return ns as usize;
        }
        let exp = 63 - ns.leading_zeros(); // >= 4
        let sub = (ns >> (exp - 4)) & u64::from(SUB - 1);
        ((exp - 3) * SUB) as usize + sub as usize
    }

    fn lower_bound(index: usize) -> u64 {
        let (group, sub) = (index as u64 / u64::from(SUB), index as u64 % u64::from(SUB));
        if group == 0 {
            return sub;
        }
        let exp = group + 3;
        (1 << exp) + (sub << (exp - 4))
    }

    /// Records one latency.
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = Self::index(ns).min(self.buckets.len() - 1);
        self.buckets[i] += 1;
        self.count += 1;
        self.max = self.max.max(d);
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.max = self.max.max(other.max);
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest latency recorded.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The `q` quantile (0 to 1), as the lower bound of its bucket.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Duration::from_nanos(Self::lower_bound(i)).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_within_a_bucket() {
        let mut h = Histogram::default();
        for us in 1..=10_000u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile(0.5).as_nanos() as f64 / 1000.0;
        let p99 = h.quantile(0.99).as_nanos() as f64 / 1000.0;
        assert!((p50 - 5000.0).abs() / 5000.0 < 0.07, "p50 {p50}");
        assert!((p99 - 9900.0).abs() / 9900.0 < 0.07, "p99 {p99}");
        assert_eq!(h.max(), Duration::from_micros(10_000));
        assert_eq!(h.count(), 10_000);
        for us in [0u64, 1, 15, 16, 17, 1000, 1 << 40] {
            let i = Histogram::index(us);
            assert!(Histogram::lower_bound(i) <= us, "{us}");
            assert!(Histogram::lower_bound(i + 1) > us, "{us}");
        }
    }
}

//! A log-linear latency histogram in microseconds.
//!
//! Values below 256 µs are kept exactly; above that every power of two is split into 128
//! equal buckets, so a bucket is at most 1/128 (0.78 %) of its lower bound wide and the
//! reported value (the bucket's middle) is within 0.4 % of any value recorded in it.
//! Minimum and maximum are kept exactly. Percentiles use the nearest-rank definition: the
//! p-th percentile is the smallest recorded value that at least p % of the samples do not
//! exceed.

const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Enough buckets for any `u64`: the highest power of two (2^63) has shift 56.
const BUCKETS: usize = (SUB + (64 - SUB_BITS as u64) * SUB) as usize;

#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub fn new() -> Self {
        Self { counts: vec![0; BUCKETS], total: 0, min: u64::MAX, max: 0, sum: 0 }
    }

    pub fn record(&mut self, micros: u64) {
        self.counts[index(micros)] += 1;
        self.total += 1;
        self.min = self.min.min(micros);
        self.max = self.max.max(micros);
        self.sum += u128::from(micros);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest value recorded, exactly; 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The smallest value recorded, exactly; 0 when empty.
    pub fn min(&self) -> u64 {
        if self.total == 0 { 0 } else { self.min }
    }

    pub fn mean(&self) -> f64 {
        if self.total == 0 { 0.0 } else { self.sum as f64 / self.total as f64 }
    }

    /// The nearest-rank percentile `p` (0–100], in microseconds; 0 when empty.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let p = p.clamp(0.0, 100.0);
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, high) = bounds(i);
                return (low + (high - low) / 2).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

fn index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exponent = 63 - v.leading_zeros();
    let shift = exponent - SUB_BITS;
    let mantissa = v >> shift;
    (SUB + u64::from(shift) * SUB + (mantissa - SUB)) as usize
}

/// The smallest and largest value that fall in bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        return (i, i);
    }
    let j = i - SUB;
    let shift = j / SUB;
    let low = (SUB + j % SUB) << shift;
    (low, low + ((1u64 << shift) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: impl IntoIterator<Item = u64>) -> Histogram {
        let mut h = Histogram::new();
        for v in values {
            h.record(v);
        }
        h
    }

    fn assert_close(got: u64, want: u64, tolerance: f64) {
        let err = (got as f64 - want as f64).abs() / want as f64;
        assert!(err <= tolerance, "got {got}, want {want} (error {:.3} %)", err * 100.0);
    }

    #[test]
    fn small_values_give_exact_nearest_rank_percentiles() {
        let h = of(1..=100);
        assert_eq!(h.count(), 100);
        assert_eq!(h.percentile(50.0), 50);
        assert_eq!(h.percentile(90.0), 90);
        assert_eq!(h.percentile(99.0), 99);
        assert_eq!(h.percentile(99.5), 100);
        assert_eq!(h.percentile(100.0), 100);
        assert_eq!(h.percentile(0.0), 1);
        assert_eq!(h.min(), 1);
        assert_eq!(h.max(), 100);
        assert!((h.mean() - 50.5).abs() < 1e-9);
    }

    #[test]
    fn order_of_recording_does_not_matter() {
        let h = of((1..=200).rev());
        assert_eq!(h.percentile(50.0), 100);
        assert_eq!(h.percentile(90.0), 180);
        assert_eq!(h.percentile(99.0), 198);
    }

    #[test]
    fn a_tail_is_found_at_the_right_rank() {
        // 990 requests at 1 ms and 10 at 50 ms: p99 is still 1 ms, the 991st value is 50 ms.
        let h = of(std::iter::repeat_n(1_000, 990).chain(std::iter::repeat_n(50_000, 10)));
        assert_close(h.percentile(50.0), 1_000, 0.004);
        assert_close(h.percentile(99.0), 1_000, 0.004);
        assert_close(h.percentile(99.1), 50_000, 0.004);
        assert_eq!(h.percentile(100.0), 50_000);
        assert_eq!(h.max(), 50_000);
        assert_eq!(h.min(), 1_000);
    }

    #[test]
    fn large_uniform_values_are_within_half_a_percent() {
        let h = of(1..=1_000_000);
        for (p, want) in [(50.0, 500_000), (90.0, 900_000), (99.0, 990_000), (99.9, 999_000)] {
            assert_close(h.percentile(p), want, 0.004);
        }
        assert_eq!(h.percentile(100.0), 1_000_000);
    }

    #[test]
    fn every_value_lands_in_a_bucket_that_contains_it_and_is_narrow() {
        let mut v = 0u64;
        while v < u64::MAX / 3 {
            for x in [v, v + 1, v.saturating_mul(3) / 2] {
                let (low, high) = bounds(index(x));
                assert!(low <= x && x <= high, "{x} not in [{low}, {high}]");
                assert!((high - low) as f64 <= low as f64 / 100.0 || high == low, "bucket of {x} too wide");
            }
            v = v * 2 + 1;
        }
        assert!(index(u64::MAX) < BUCKETS);
        assert_eq!(bounds(index(u64::MAX)).1, u64::MAX);
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let mut a = of((1..=5_000).map(|v| v * 7));
        let b = of((1..=3_000).map(|v| v * 13));
        let all = of((1..=5_000).map(|v| v * 7).chain((1..=3_000).map(|v| v * 13)));
        a.merge(&b);
        for p in [1.0, 50.0, 90.0, 99.0, 100.0] {
            assert_eq!(a.percentile(p), all.percentile(p));
        }
        assert_eq!(a.count(), 8_000);
        assert_eq!(a.max(), 39_000);
    }

    #[test]
    fn empty_histogram_reports_zero() {
        let h = Histogram::new();
        assert_eq!(h.percentile(99.0), 0);
        assert_eq!(h.min(), 0);
        assert_eq!(h.max(), 0);
        assert_eq!(h.mean(), 0.0);
    }
}

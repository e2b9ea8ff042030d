//! Latency over a range, for charts: a range cut into equal buckets, and per region and bucket
//! the checks, the failures and the answered checks' latency — median (p50), p95, mean and
//! slowest.
//!
//! The stores count a range's answered checks into the fixed latency bins of [`BIN_UPPER_MS`]
//! (one row per bucket, region and bin, so a 30-day range of a busy monitor still reads a few
//! thousand rows, never its million results), and the percentiles are read off those bins:
//! a percentile is the upper bound of the bin its rank falls in, capped at the bucket's
//! slowest check, so it is never below the true value and at most one bin width (≤ 34 %)
//! above it. A bucket holding a single check per region reads exactly that check.
//!
//! Where retention has folded raw results into minute rollups, those minutes carry counts,
//! the latency sum and the slowest check only: such a bucket has a mean and a maximum but no
//! percentiles ([`BucketFigures::rolled`]), and the chart says so.

use crate::time::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;

/// The bins' upper bounds in ms (a latency `v` falls in the first bin with `v <= bound`; the
/// last bin holds everything slower). Each bound at most 34 % above the one before from 4 ms on.
pub const BIN_UPPER_MS: [u32; 44] = [
    1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120, 150, 200, 250, 300, 400, 500, 600, 800,
    1_000, 1_200, 1_500, 2_000, 2_500, 3_000, 4_000, 5_000, 6_000, 8_000, 10_000, 12_000, 15_000, 20_000, 25_000,
    30_000, 60_000,
];

/// The bin a latency falls in.
pub fn bin_of(ms: u32) -> u8 {
    BIN_UPPER_MS.iter().position(|&b| ms <= b).unwrap_or(BIN_UPPER_MS.len() - 1) as u8
}

/// What one store row holds: checks of one region in one bucket, of one [`CellKind`]; answered
/// raw checks also of one latency bin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatencyCell {
    /// Bucket index from the range's start.
    pub bucket: u32,
    pub region: String,
    pub kind: CellKind,
    /// The latency bin ([`BIN_UPPER_MS`]) of `Answered` cells with a latency.
    pub bin: Option<u8>,
    pub checks: u64,
    /// Checks with a latency among `checks`, their sum and the slowest.
    pub latency_count: u64,
    pub latency_sum_ms: u64,
    pub latency_max_ms: Option<u32>,
}

/// Which checks a [`LatencyCell`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// Raw results that were up or degraded.
    Answered,
    /// Raw results that were down or errors (their latency is not charted).
    Failed,
    /// Minute rollups' up and degraded checks, with the latency of every check the minute
    /// held (rollups do not keep failed checks' latency apart).
    RolledAnswered,
    /// Minute rollups' down and error checks.
    RolledFailed,
}

/// A range cut into `count` buckets of `width_ms`, from `from`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buckets {
    pub from: Timestamp,
    pub width_ms: i64,
    pub count: u32,
}

impl Buckets {
    /// `[from, to)` cut into at most `max` buckets of a whole number of seconds (at least one).
    pub fn new(from: Timestamp, to: Timestamp, max: u32) -> Buckets {
        let span = (to.millis() - from.millis()).max(1000);
        let width_ms = (span + i64::from(max) - 1) / i64::from(max.max(1));
        let width_ms = ((width_ms + 999) / 1000 * 1000).max(1000);
        let count = ((span + width_ms - 1) / width_ms) as u32;
        Buckets { from, width_ms, count }
    }
    pub fn to(&self) -> Timestamp {
        self.from.plus_ms(self.width_ms * i64::from(self.count))
    }
    pub fn start(&self, bucket: u32) -> Timestamp {
        self.from.plus_ms(self.width_ms * i64::from(bucket))
    }
}

/// One region's figures in one bucket.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BucketFigures {
    pub checks: u64,
    pub failed: u64,
    pub p50_ms: Option<u32>,
    pub p95_ms: Option<u32>,
    pub mean_ms: Option<u32>,
    pub max_ms: Option<u32>,
    /// Some checks came from minute rollups, so there are no percentiles.
    pub rolled: bool,
}

/// One region over the range: a figure per bucket (`None` for a bucket without checks), and
/// the whole range's.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegionSeries {
    pub region: String,
    pub buckets: Vec<Option<BucketFigures>>,
    pub total: BucketFigures,
}

#[derive(Default)]
struct Acc {
    checks: u64,
    failed: u64,
    bins: BTreeMap<u8, u64>,
    latency_count: u64,
    latency_sum_ms: u64,
    max_ms: Option<u32>,
    rolled: bool,
}

impl Acc {
    fn add(&mut self, c: &LatencyCell) {
        match c.kind {
            CellKind::Failed | CellKind::RolledFailed => self.failed += c.checks,
            CellKind::Answered | CellKind::RolledAnswered => {
                if let Some(b) = c.bin {
                    *self.bins.entry(b).or_default() += c.latency_count;
                }
                self.latency_count += c.latency_count;
                self.latency_sum_ms += c.latency_sum_ms;
                self.max_ms = self.max_ms.max(c.latency_max_ms);
            }
        }
        self.checks += c.checks;
        self.rolled |= matches!(c.kind, CellKind::RolledAnswered | CellKind::RolledFailed);
    }

    /// The upper bound of the bin holding the `q`-quantile (nearest rank), capped at the max.
    fn percentile(&self, q: f64) -> Option<u32> {
        let n: u64 = self.bins.values().sum();
        if self.rolled || n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (&bin, &k) in &self.bins {
            seen += k;
            if seen >= rank {
                let bound = BIN_UPPER_MS[usize::from(bin)];
                return Some(self.max_ms.map_or(bound, |m| m.min(bound)));
            }
        }
        self.max_ms
    }

    fn figures(&self) -> BucketFigures {
        BucketFigures {
            checks: self.checks,
            failed: self.failed,
            p50_ms: self.percentile(0.50),
            p95_ms: self.percentile(0.95),
            mean_ms: (self.latency_count > 0)
                .then(|| u32::try_from(self.latency_sum_ms / self.latency_count).unwrap_or(u32::MAX)),
            max_ms: self.max_ms,
            rolled: self.rolled,
        }
    }
}

/// The store's cells as one series per region (in region order).
pub fn series(cells: &[LatencyCell], buckets: &Buckets) -> Vec<RegionSeries> {
    let mut by: BTreeMap<&str, (Vec<Acc>, Acc)> = BTreeMap::new();
    for c in cells.iter().filter(|c| c.bucket < buckets.count) {
        let (per, total) = by
            .entry(c.region.as_str())
            .or_insert_with(|| ((0..buckets.count).map(|_| Acc::default()).collect(), Acc::default()));
        per[c.bucket as usize].add(c);
        total.add(c);
    }
    by.into_iter()
        .map(|(region, (per, total))| RegionSeries {
            region: region.to_owned(),
            buckets: per.iter().map(|a| (a.checks > 0).then(|| a.figures())).collect(),
            total: total.figures(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(bucket: u32, region: &str, values: &[u32]) -> Vec<LatencyCell> {
        let mut by: BTreeMap<u8, Vec<u32>> = BTreeMap::new();
        for &v in values {
            by.entry(bin_of(v)).or_default().push(v);
        }
        by.into_iter()
            .map(|(bin, vs)| LatencyCell {
                bucket,
                region: region.into(),
                kind: CellKind::Answered,
                bin: Some(bin),
                checks: vs.len() as u64,
                latency_count: vs.len() as u64,
                latency_sum_ms: vs.iter().map(|&v| u64::from(v)).sum(),
                latency_max_ms: vs.iter().copied().max(),
            })
            .collect()
    }

    #[test]
    fn bins_grow_by_at_most_a_third_from_4_ms() {
        for w in BIN_UPPER_MS.windows(2).filter(|w| w[0] >= 4 && w[1] <= 30_000) {
            assert!(f64::from(w[1]) / f64::from(w[0]) <= 1.34, "{w:?}");
        }
        assert_eq!(bin_of(0), 0);
        assert_eq!(bin_of(10), 7);
        assert_eq!(bin_of(11), 8);
        assert_eq!(bin_of(u32::MAX), 43);
    }

    #[test]
    fn buckets_cover_the_range_in_whole_seconds() {
        let b = Buckets::new(Timestamp::from_millis(0), Timestamp::from_millis(86_400_000), 120);
        assert_eq!((b.width_ms, b.count), (720_000, 120));
        let b = Buckets::new(Timestamp::from_millis(0), Timestamp::from_millis(3_600_001), 120);
        assert_eq!(b.width_ms, 31_000);
        assert!(b.to().millis() >= 3_600_001);
        assert_eq!(b.start(2).millis(), 62_000);
    }

    #[test]
    fn a_lone_check_reads_exactly_and_percentiles_never_undershoot() {
        let b = Buckets::new(Timestamp::from_millis(0), Timestamp::from_millis(10_000), 10);
        let s = series(&answered(3, "eu", &[137]), &b);
        let f = s[0].buckets[3].clone().unwrap();
        assert_eq!((f.p50_ms, f.p95_ms, f.max_ms, f.mean_ms), (Some(137), Some(137), Some(137), Some(137)));
        assert!(s[0].buckets[2].is_none());

        // 1..=100 ms: true p50 50, p95 95.
        let values: Vec<u32> = (1..=100).collect();
        let s = series(&answered(0, "eu", &values), &b);
        let t = &s[0].total;
        let (p50, p95) = (t.p50_ms.unwrap(), t.p95_ms.unwrap());
        assert!((50..=67).contains(&p50), "{p50}");
        assert!((95..=100).contains(&p95), "{p95}");
        assert_eq!((t.mean_ms, t.max_ms, t.checks, t.failed), (Some(50), Some(100), 100, 0));
    }

    #[test]
    fn failures_count_apart_and_rollups_give_means_without_percentiles() {
        let b = Buckets::new(Timestamp::from_millis(0), Timestamp::from_millis(10_000), 10);
        let mut cells = answered(0, "us", &[20, 30]);
        cells.push(LatencyCell {
            bucket: 0,
            region: "us".into(),
            kind: CellKind::Failed,
            bin: None,
            checks: 2,
            latency_count: 0,
            latency_sum_ms: 0,
            latency_max_ms: None,
        });
        cells.push(LatencyCell {
            bucket: 1,
            region: "us".into(),
            kind: CellKind::RolledAnswered,
            bin: None,
            checks: 4,
            latency_count: 4,
            latency_sum_ms: 400,
            latency_max_ms: Some(250),
        });
        let s = series(&cells, &b);
        let first = s[0].buckets[0].clone().unwrap();
        assert_eq!((first.checks, first.failed, first.p50_ms, first.rolled), (4, 2, Some(20), false));
        let rolled = s[0].buckets[1].clone().unwrap();
        assert_eq!((rolled.p50_ms, rolled.mean_ms, rolled.max_ms, rolled.rolled), (None, Some(100), Some(250), true));
        assert!(s[0].total.rolled && s[0].total.p95_ms.is_none());
    }
}

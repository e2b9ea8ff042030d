//! Prometheus metrics: a few counters and histograms on atomics, rendered as text at `/metrics`.
//!
//! Durations are exported in seconds (`…_seconds`, Prometheus's base unit). Each latency
//! histogram is also exported under its old millisecond name (`…_ms`, same observations,
//! bounds and sum in milliseconds) for one more release: [`DEPRECATED_MS`].

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing counter.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn dec(&self) {
        let _ = self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(v.saturating_sub(1)));
    }
}

/// A histogram of milliseconds with fixed buckets.
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_us: AtomicU64,
}

const MS_BUCKETS: &[f64] = &[1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0];

impl Default for Histogram {
    fn default() -> Self {
        Self {
            bounds: MS_BUCKETS,
            buckets: MS_BUCKETS.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe_ms(&self, ms: f64) {
        let ms = ms.max(0.0);
        if let Some(i) = self.bounds.iter().position(|b| ms <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add((ms * 1000.0) as u64, Ordering::Relaxed);
    }
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
    /// `{base}_seconds`, then the deprecated `{base}_ms` with the same observations.
    fn render(&self, base: &str, help: &str, out: &mut String) {
        self.render_in(&format!("{base}_seconds"), help, 1_000_000.0, out);
        let old = format!("{base}_ms");
        let help = format!("Deprecated, removed in the next release: use {base}_seconds. {help} In milliseconds.");
        self.render_in(&old, &help, 1000.0, out);
    }

    /// One histogram family in a unit of `us_per_unit` microseconds.
    fn render_in(&self, name: &str, help: &str, us_per_unit: f64, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (b, n) in self.bounds.iter().zip(&self.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            let le = b * 1000.0 / us_per_unit;
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count());
        let _ = writeln!(out, "{name}_sum {}", self.sum_us.load(Ordering::Relaxed) as f64 / us_per_unit);
        let _ = writeln!(out, "{name}_count {}", self.count());
    }
}

/// The millisecond names still exported beside their `_seconds` ones, until the next release.
pub const DEPRECATED_MS: [&str; 4] = [
    "netpulse_scheduler_dispatch_lag_ms",
    "netpulse_check_to_ingest_ms",
    "netpulse_ingest_batch_ms",
    "netpulse_check_to_dashboard_ms",
];

/// Every metric the engine exports.
#[derive(Default)]
pub struct Metrics {
    pub checks_up: Counter,
    pub checks_degraded: Counter,
    pub checks_down: Counter,
    pub checks_error: Counter,
    pub checks_skipped: Counter,
    pub results_ingested: Counter,
    pub results_duplicate: Counter,
    /// Results the database refused for good, set aside in `quarantined_results`.
    pub results_quarantined: Counter,
    /// Results refused because they started before the raw-retention horizon.
    pub results_too_old: Counter,
    pub ingest_batches: Counter,
    pub ingest_errors: Counter,
    pub alerts_sent: Counter,
    pub alerts_retried: Counter,
    pub alerts_failed: Counter,
    pub monitors_scheduled: Gauge,
    /// Monitors the scheduler read whole (a partition taken, a monitor changed).
    pub scheduler_monitors_read: Counter,
    pub checks_in_flight: Gauge,
    pub dispatch_lag_ms: Histogram,
    /// One read of the scheduler's monitors from the store.
    pub scheduler_read_ms: Histogram,
    pub check_to_ingest_ms: Histogram,
    pub ingest_batch_ms: Histogram,
    /// From a result leaving the checker to its event being written to a dashboard's SSE stream.
    pub check_to_dashboard_ms: Histogram,
    pub live_subscribers: Gauge,
    /// Public status pages read from the store (cache misses and refreshes, not answers).
    pub status_page_reads: Counter,
}

impl Metrics {
    pub fn count_check(&self, outcome: netpulse_core::Outcome) {
        use netpulse_core::Outcome::*;
        match outcome {
            Up => self.checks_up.add(1),
            Degraded => self.checks_degraded.add(1),
            Down => self.checks_down.add(1),
            Error => self.checks_error.add(1),
        }
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ =
            writeln!(out, "# HELP netpulse_checks_total Checks run, by outcome.\n# TYPE netpulse_checks_total counter");
        for (o, c) in [
            ("up", &self.checks_up),
            ("degraded", &self.checks_degraded),
            ("down", &self.checks_down),
            ("error", &self.checks_error),
        ] {
            let _ = writeln!(out, "netpulse_checks_total{{outcome=\"{o}\"}} {}", c.get());
        }
        let counters = [
            (
                "netpulse_checks_skipped_total",
                "Checks skipped because the checker was saturated.",
                &self.checks_skipped,
            ),
            ("netpulse_results_ingested_total", "Results stored.", &self.results_ingested),
            (
                "netpulse_results_duplicate_total",
                "Redelivered results ignored by idempotent ingest.",
                &self.results_duplicate,
            ),
            (
                "netpulse_results_quarantined_total",
                "Results the database refused for good, kept in quarantined_results instead of stored.",
                &self.results_quarantined,
            ),
            (
                "netpulse_results_too_old_total",
                "Results refused (at the gateway or ingest) because they started before the raw-retention horizon.",
                &self.results_too_old,
            ),
            ("netpulse_ingest_batches_total", "Ingest transactions committed.", &self.ingest_batches),
            ("netpulse_ingest_errors_total", "Ingest transactions that failed and were retried.", &self.ingest_errors),
            (
                "netpulse_alerts_sent_total",
                "Notifications delivered (to channels and to status-page subscribers).",
                &self.alerts_sent,
            ),
            ("netpulse_alerts_retried_total", "Delivery attempts that will be retried.", &self.alerts_retried),
            (
                "netpulse_alerts_failed_total",
                "Notifications given up on (to channels and to status-page subscribers).",
                &self.alerts_failed,
            ),
            (
                "netpulse_scheduler_monitors_read_total",
                "Monitors the scheduler read whole from the store (partitions taken, monitors changed).",
                &self.scheduler_monitors_read,
            ),
            (
                "netpulse_status_page_reads_total",
                "Public status pages read from the store (one per slug at a time; cached answers read nothing).",
                &self.status_page_reads,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", c.get());
        }
        for (name, help, g) in [
            ("netpulse_monitors_scheduled", "Monitors the scheduler is running.", &self.monitors_scheduled),
            ("netpulse_checks_in_flight", "Checks running now.", &self.checks_in_flight),
            ("netpulse_live_subscribers", "Dashboard SSE streams open now.", &self.live_subscribers),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}", g.get());
        }
        for (base, help, h) in [
            (
                "netpulse_scheduler_dispatch_lag",
                "Delay between a check's due time and its dispatch.",
                &self.dispatch_lag_ms,
            ),
            ("netpulse_check_to_ingest", "From a result leaving the checker to its commit.", &self.check_to_ingest_ms),
            ("netpulse_ingest_batch", "Duration of one ingest transaction.", &self.ingest_batch_ms),
            (
                "netpulse_check_to_dashboard",
                "From a result leaving the checker to its event being written to a dashboard SSE stream.",
                &self.check_to_dashboard_ms,
            ),
        ] {
            h.render(base, help, &mut out);
        }
        self.scheduler_read_ms.render_in(
            "netpulse_scheduler_read_seconds",
            "One read of the scheduler's monitors: partitions taken, or a reload's ids and versions and the monitors changed.",
            1_000_000.0,
            &mut out,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latency_is_exported_in_seconds_and_under_its_old_millisecond_name() {
        let m = Metrics::default();
        m.ingest_batch_ms.observe_ms(4.0);
        m.ingest_batch_ms.observe_ms(30.0);
        let text = m.render();
        for line in [
            "# TYPE netpulse_ingest_batch_seconds histogram",
            "netpulse_ingest_batch_seconds_bucket{le=\"0.005\"} 1",
            "netpulse_ingest_batch_seconds_bucket{le=\"0.05\"} 2",
            "netpulse_ingest_batch_seconds_sum 0.034",
            "netpulse_ingest_batch_seconds_count 2",
            "netpulse_ingest_batch_ms_bucket{le=\"5\"} 1",
            "netpulse_ingest_batch_ms_sum 34",
        ] {
            assert!(text.lines().any(|l| l == line), "`{line}` missing from\n{text}");
        }
        for old in DEPRECATED_MS {
            let new = old.replace("_ms", "_seconds");
            assert!(
                text.contains(&format!("# TYPE {new} histogram")) && text.contains(&format!("# TYPE {old} histogram"))
            );
        }
    }
}

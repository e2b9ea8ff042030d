//! Retention: the `[retention]` config and the loop that ages data out in bounded steps.
//!
//! Raw results of the UTC days older than `raw_days` are folded into per-region minute rollups
//! and deleted; minute rollups go after `minute_rollup_days` (hourly rollups, written at
//! ingest, hold the same checks); hourly rollups older than `hour_rollup_days` are folded into
//! daily rollups, which go after `day_rollup_days`. Row by row, each step touches at most
//! [`CHUNK`] rows per kind, so writers are never blocked long; PostgreSQL keeps raw results in
//! one partition per UTC day and retires a day whole (folded, then its partition dropped, in
//! one transaction). A step counts each row once however many engine nodes run
//! it at the same moment (see [`Store::apply_retention`]), so the loop needs no lease. It
//! runs at start and then hourly; uptime reads plan their sources with the same horizons
//! ([`RetentionConfig::window`]), and the gateway and ingest refuse results that started
//! before the raw horizon ([`RetentionConfig::accepts_from`]) so none is counted twice.

use crate::progress::Progress;
use netpulse_core::retention::{Horizons, RetentionDays, UptimeWindow};
use netpulse_core::Timestamp;
use netpulse_store::clock;
use netpulse_store::{RetentionPass, Store, StoreResult};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Rows per kind one retention step touches at most.
pub const CHUNK: usize = 5_000;

/// How long each kind of row is kept (`[retention]`), in days counted back from now.
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    pub raw_days: u32,
    pub minute_rollup_days: u32,
    pub hour_rollup_days: u32,
    pub day_rollup_days: u32,
}

/// How much closer than the raw horizon a result must start to be accepted ([`RetentionConfig::accepts_from`]).
pub const ACCEPT_MARGIN_MS: i64 = 3_600_000;

/// The status page draws 90 daily bars from hourly rollups.
const STATUS_PAGE_DAYS: u32 = 90;
/// A hundred years: beyond that a typo is likelier than intent.
const MAX_DAYS: u32 = 36_500;

impl RetentionConfig {
    pub fn days(&self) -> RetentionDays {
        RetentionDays {
            raw: self.raw_days,
            minute: self.minute_rollup_days,
            hour: self.hour_rollup_days,
            day: self.day_rollup_days,
        }
    }

    pub fn horizons(&self, now: Timestamp) -> Horizons {
        Horizons::at(now, &self.days())
    }

    /// The earliest start a result may have to be accepted at `now` (by the gateway and by
    /// ingest): the raw horizon of [`ACCEPT_MARGIN_MS`] later. A result that started before
    /// the raw horizon may have been stored, folded into the minute rollups and deleted
    /// already; the id check cannot tell, and storing it again would count it twice in the
    /// rollups, so it is refused instead. The margin covers engine clocks that differ a
    /// little and a retention step taken while the result is on its way: the horizon is a
    /// UTC midnight, so from an hour before the midnight at which retention starts folding a
    /// day, that day's results are refused.
    pub fn accepts_from(&self, now: Timestamp) -> Timestamp {
        self.horizons(now.plus_ms(ACCEPT_MARGIN_MS)).raw
    }

    /// Where the uptime of `[from, to)` is read from at `now`.
    pub fn window(&self, from: Timestamp, to: Timestamp, now: Timestamp) -> UptimeWindow {
        UptimeWindow::plan(from, to, &self.horizons(now))
    }

    /// Each tier must outlive the one it is read after: raw ≤ minute ≤ hour ≤ day.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let tiers = [
            ("retention.raw_days", self.raw_days, 1, "1 day"),
            ("retention.minute_rollup_days", self.minute_rollup_days, self.raw_days, "retention.raw_days"),
            (
                "retention.hour_rollup_days",
                self.hour_rollup_days,
                self.minute_rollup_days.max(STATUS_PAGE_DAYS),
                "retention.minute_rollup_days and 90 (status pages show 90 days of hourly rollups)",
            ),
            ("retention.day_rollup_days", self.day_rollup_days, self.hour_rollup_days, "retention.hour_rollup_days"),
        ];
        for (key, value, min, what) in tiers {
            if value < min {
                return Err((key, format!("must be at least {what} ({min}), is {value}")));
            }
            if value > MAX_DAYS {
                return Err((key, format!("must be at most {MAX_DAYS} days, is {value}")));
            }
        }
        Ok(())
    }
}

pub struct Retention {
    pub store: Arc<dyn Store>,
    pub config: RetentionConfig,
}

impl Retention {
    /// One bounded step at the horizons of `now`.
    pub async fn step(&self, now: Timestamp) -> StoreResult<RetentionPass> {
        self.store.apply_retention(&self.config.horizons(now), CHUNK).await
    }

    /// One bounded step now; `Progressed` while rows of some kind may be left.
    pub async fn try_run_once(&self) -> Progress {
        match self.step(clock::now()).await {
            Ok(pass) if pass.more_left(CHUNK) => Progress::Progressed,
            Ok(pass) => {
                if pass.rows() > 0 {
                    tracing::info!(?pass, "retention: rows aged out");
                }
                Progress::Idle
            }
            Err(e) => {
                tracing::warn!(error = %e, "retention pass failed; will retry next hour");
                Progress::Idle
            }
        }
    }

    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            while self.try_run_once().await == Progress::Progressed {
                tokio::task::yield_now().await;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(raw: u32, minute: u32, hour: u32, day: u32) -> RetentionConfig {
        RetentionConfig { raw_days: raw, minute_rollup_days: minute, hour_rollup_days: hour, day_rollup_days: day }
    }

    #[test]
    fn each_tier_must_outlive_the_one_before_it() {
        assert!(config(30, 60, 100, 400).validate().is_ok());
        assert!(config(1, 1, 90, 90).validate().is_ok());
        let key = |c: RetentionConfig| c.validate().unwrap_err().0;
        assert_eq!(key(config(0, 60, 100, 400)), "retention.raw_days");
        assert_eq!(key(config(30, 20, 100, 400)), "retention.minute_rollup_days");
        assert_eq!(key(config(30, 60, 50, 400)), "retention.hour_rollup_days");
        assert_eq!(key(config(30, 60, 89, 400)), "retention.hour_rollup_days");
        assert_eq!(key(config(30, 60, 100, 99)), "retention.day_rollup_days");
        assert_eq!(key(config(30, 60, 100, 40_000)), "retention.day_rollup_days");
    }
}

//! Uptime: tallies of a monitor's checks by outcome over a window, from raw results and the
//! minute, hourly and daily rollups, read with the [`Evidence`] the caller names; and
//! retention, which folds old raw results and hours into rollups and deletes what is past
//! its horizon.

use crate::error::StoreResult;
use async_trait::async_trait;
use netpulse_core::retention::{Horizons, UptimeWindow};
use netpulse_core::uptime::Tally;
use netpulse_core::{MonitorId, TenantId, Timestamp};
use std::collections::HashMap;

/// What one retention step did, per kind of row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionPass {
    /// Raw results folded into minute rollups (and deleted), live or not.
    pub results_rolled: usize,
    pub minutes_deleted: usize,
    /// Hourly rollup rows folded into daily rollups (and deleted).
    pub hours_rolled: usize,
    pub days_deleted: usize,
    /// Outbox rows, delivery-log attempts and status-page subscribers' sent or failed
    /// notices deleted.
    pub deliveries_deleted: usize,
    /// PostgreSQL: day partitions dropped whole — of raw results, folded first (their results
    /// are counted in `results_rolled`), and of minute rollups past their horizon (their rows
    /// are not counted in `minutes_deleted`).
    pub partitions_dropped: usize,
    /// Real visitors' page views folded into daily counts (and deleted).
    pub visits_rolled: usize,
}

impl RetentionPass {
    pub fn rows(&self) -> usize {
        self.results_rolled
            + self.minutes_deleted
            + self.hours_rolled
            + self.days_deleted
            + self.deliveries_deleted
            + self.visits_rolled
    }
    /// Both passes together.
    pub fn plus(self, o: RetentionPass) -> RetentionPass {
        RetentionPass {
            results_rolled: self.results_rolled + o.results_rolled,
            minutes_deleted: self.minutes_deleted + o.minutes_deleted,
            hours_rolled: self.hours_rolled + o.hours_rolled,
            days_deleted: self.days_deleted + o.days_deleted,
            deliveries_deleted: self.deliveries_deleted + o.deliveries_deleted,
            partitions_dropped: self.partitions_dropped + o.partitions_dropped,
            visits_rolled: self.visits_rolled + o.visits_rolled,
        }
    }
    /// Whether some kind hit the step's limit, so more rows may be due.
    pub fn more_left(&self, limit: usize) -> bool {
        [
            self.results_rolled,
            self.minutes_deleted,
            self.hours_rolled,
            self.days_deleted,
            self.deliveries_deleted,
            self.visits_rolled,
        ]
        .iter()
        .any(|&n| n >= limit)
    }
}

/// Which results an uptime read counts: the caller says so with every tally and sparkline
/// read, so no read picks its evidence by accident.
///
/// `Live` is everything public and every real organisation: raw live results and the rollups
/// (which ingest and retention fill from live results only). `Demo` is only for the demo
/// organisation's own read-only dashboard and API (`Caller::evidence`): it counts raw
/// results of provenance `demo` over the whole window, never a rollup, and never a live
/// result. Status pages and badges have no evidence parameter to pass (`page_tallies`) or
/// pass `Live`, so nothing public counts demo or synthetic results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Evidence {
    #[default]
    Live,
    Demo,
}

impl Evidence {
    /// The provenance the read counts, as stored.
    pub fn provenance(self) -> netpulse_core::Provenance {
        match self {
            Evidence::Live => netpulse_core::Provenance::Live,
            Evidence::Demo => netpulse_core::Provenance::Demo,
        }
    }
}

/// Per monitor, `(hour start, tally of that hour)` in time order.
pub type HourlyTallies = HashMap<MonitorId, Vec<netpulse_core::uptime::HourTally>>;

/// Hour rows read in `(monitor, hour)` order, grouped per monitor (hours stay in order).
pub fn group_hours<E>(
    rows: impl IntoIterator<Item = Result<(MonitorId, Timestamp, Tally), E>>,
) -> Result<HourlyTallies, E> {
    let mut out = HourlyTallies::new();
    for row in rows {
        let (m, at, tally) = row?;
        out.entry(m).or_default().push((at, tally));
    }
    Ok(out)
}

/// Each monitor's hours summed into one tally.
pub fn sum_hours(hours: &HourlyTallies) -> HashMap<MonitorId, Tally> {
    let sum = |hs: &[netpulse_core::uptime::HourTally]| hs.iter().fold(Tally::default(), |acc, (_, t)| acc.plus(t));
    hours.iter().map(|(m, hs)| (m.clone(), sum(hs))).collect()
}

/// The latency cells of a range (see [`netpulse_core::latency`]) in one statement, in either
/// store's SQL: `raw` is the raw results' part (placeholders: range start 3, end 4, bucket
/// width 5, provenance 6; the dialect's placeholder sigil `p`), with the minute rollups' part
/// for live evidence. Columns: bucket, region, kind (0 answered, 1 failed, 2 rolled answered,
/// 3 rolled failed), bin, checks, latency count, sum and max.
pub(crate) fn latency_cells_sql(raw_from: &str, region: &str, raw_filter: &str, p: char, ev: Evidence) -> String {
    use netpulse_core::latency::BIN_UPPER_MS;
    use std::fmt::Write as _;
    let mut bin = String::from("CASE");
    for (i, b) in BIN_UPPER_MS.iter().enumerate().take(BIN_UPPER_MS.len() - 1) {
        let _ = write!(bin, " WHEN total_ms <= {b} THEN {i}");
    }
    let _ = write!(bin, " ELSE {} END", BIN_UPPER_MS.len() - 1);
    let failed = "outcome IN ('down', 'error')";
    let mut sql = format!(
        "SELECT (started_at - {p}3) / {p}5, {region}, CAST(CASE WHEN {failed} THEN 1 ELSE 0 END AS BIGINT), \
           CAST(CASE WHEN {failed} OR total_ms IS NULL THEN NULL ELSE {bin} END AS BIGINT), \
           COUNT(*), COUNT(total_ms), CAST(COALESCE(SUM(total_ms), 0) AS BIGINT), CAST(MAX(total_ms) AS BIGINT) \
         FROM {raw_from} WHERE {raw_filter} AND started_at >= {p}3 AND started_at < {p}4 AND provenance = {p}6 \
         GROUP BY 1, 2, 3, 4"
    );
    if ev == Evidence::Live {
        let minutes = format!(
            "FROM uptime_minute WHERE tenant_id = {p}1 AND monitor_id = {p}2 AND minute_start >= {p}3 \
             AND minute_start < {p}4 GROUP BY 1, 2"
        );
        let _ = write!(
            sql,
            " UNION ALL SELECT (minute_start - {p}3) / {p}5, region, 2, NULL, CAST(SUM(up + degraded) AS BIGINT), \
               CAST(SUM(latency_count) AS BIGINT), CAST(SUM(latency_sum_ms) AS BIGINT), CAST(MAX(latency_max_ms) AS BIGINT) \
               {minutes} HAVING SUM(up + degraded) > 0 \
             UNION ALL SELECT (minute_start - {p}3) / {p}5, region, 3, NULL, CAST(SUM(down + error) AS BIGINT), 0, 0, NULL \
               {minutes} HAVING SUM(down + error) > 0"
        );
    }
    sql
}

/// A row of [`latency_cells_sql`] as a cell.
pub(crate) fn latency_cell(
    bucket: i64,
    region: String,
    kind: i64,
    bin: Option<i64>,
    counts: [i64; 3],
    max: Option<i64>,
) -> netpulse_core::latency::LatencyCell {
    use netpulse_core::latency::CellKind;
    let kind = match kind {
        0 => CellKind::Answered,
        1 => CellKind::Failed,
        2 => CellKind::RolledAnswered,
        _ => CellKind::RolledFailed,
    };
    let [checks, latency_count, latency_sum_ms] = counts.map(|n| u64::try_from(n).unwrap_or(0));
    netpulse_core::latency::LatencyCell {
        bucket: u32::try_from(bucket).unwrap_or(u32::MAX),
        region,
        kind,
        bin: bin.and_then(|b| u8::try_from(b).ok()),
        checks,
        latency_count,
        latency_sum_ms,
        latency_max_ms: max.and_then(|m| u32::try_from(m).ok()),
    }
}

/// Uptime tallies and retention.
#[async_trait]
pub trait UptimeStore: Send + Sync {
    /// Results of evidence `ev` between `from` and `to`, counted by outcome (exact, from raw results).
    async fn tally(
        &self,
        t: &TenantId,
        m: &MonitorId,
        from: Timestamp,
        to: Timestamp,
        ev: Evidence,
    ) -> StoreResult<Tally>;
    /// Tallies of the planned window `w`. `Live`: raw results plus minute rollups over
    /// `w.fine`, hourly plus daily rollups over `w.coarse`, read in one statement (one
    /// snapshot, so a concurrent retention step can neither hide nor double a check).
    /// `Demo`: raw demo results over `w.from..w.to` (rollups hold no demo results).
    async fn tally_window(&self, t: &TenantId, m: &MonitorId, w: &UptimeWindow, ev: Evidence) -> StoreResult<Tally>;
    /// Per-monitor tallies since the hour of `from` (`Live`: from the hourly rollup; `Demo`:
    /// raw demo results of the tenant's monitors).
    async fn tallies_since(
        &self,
        t: &TenantId,
        from: Timestamp,
        ev: Evidence,
    ) -> StoreResult<HashMap<MonitorId, Tally>>;
    /// Each monitor's hourly tallies from the hour of `from` on, oldest first (the
    /// dashboard's sparklines; `Live`: the hourly rollup, `Demo`: raw demo results counted
    /// per hour); hours without results are absent.
    async fn hourly_tallies_since(&self, t: &TenantId, from: Timestamp, ev: Evidence) -> StoreResult<HourlyTallies>;
    /// Monitor `m`'s checks of evidence `ev` in the range `b`, counted per bucket, region and
    /// latency bin (see [`netpulse_core::latency`]), in one statement (one snapshot). `Live`:
    /// raw live results and the minute rollups retention folded them into; `Demo`: raw demo
    /// results.
    async fn latency_cells(
        &self,
        t: &TenantId,
        m: &MonitorId,
        b: &netpulse_core::latency::Buckets,
        ev: Evidence,
    ) -> StoreResult<Vec<netpulse_core::latency::LatencyCell>>;
    /// One bounded retention step at the horizons `h`: fold up to `limit` raw results started
    /// before `h.raw` into minute rollups and delete them, in one statement-level step, so a
    /// result is counted in exactly one of the two even with several nodes running retention;
    /// likewise fold hourly rollups before `h.hour` into daily ones; delete up to `limit`
    /// minute rollups before `h.minute`, daily rollups before `h.day` and finished deliveries
    /// older than `h.raw`; fold real visitors' page views before `h.raw` into daily counts,
    /// kept until `h.day`. Call again while [`RetentionPass::more_left`]. A step may do
    /// nothing while another node takes one (PostgreSQL); that node carries on.
    ///
    /// PostgreSQL keeps raw results and minute rollups in one partition per UTC day: a step
    /// also makes the result partitions of the days from `h.now`'s on, and retires each result
    /// partition wholly before `h.raw` whole — its results folded and the partition dropped in
    /// one transaction, so the same holds — however many results it has, and drops the minute
    /// rollups by whole days (`limit` bounds the rows outside day partitions).
    async fn apply_retention(&self, h: &Horizons, limit: usize) -> StoreResult<RetentionPass>;
}

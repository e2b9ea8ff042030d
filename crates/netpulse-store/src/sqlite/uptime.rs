//! Uptime tallies and retention in SQLite.
//!
//! A retention step folds the oldest raw results into minute rollups and deletes them in one
//! write transaction (SQLite has one writer, so the chunk the fold reads is the chunk the
//! delete removes); hourly rollups fold into daily ones the same way. Folding adds to
//! existing rollup rows, so a late result that arrives after its minute was folded is
//! simply folded in on the next step. Each statement touches at most `limit` rows.
//!
//! Demo evidence ([`Evidence::Demo`]) is counted from raw results of provenance `demo`,
//! never from a rollup (rollups hold live results only). Only the demo organisation's own
//! dashboard and API read it; the demo's seeded days are well within raw retention.

use super::SqliteStore;
use crate::*;
use async_trait::async_trait;
use netpulse_core::retention::{Horizons, UptimeWindow};
use netpulse_core::uptime::Tally;
use netpulse_core::{MonitorId, Outcome, TenantId, Timestamp};
use rusqlite::{params, Connection, Row, Transaction};
use std::collections::HashMap;

const HOUR_MS: i64 = 3_600_000;

/// The oldest `?2` raw results started before `?1`, in a fixed order.
const RAW_CHUNK: &str = "SELECT rowid FROM check_results WHERE started_at < ?1 ORDER BY started_at, rowid LIMIT ?2";

/// The oldest `?2` hourly rollup rows of hours before `?1`.
const HOUR_CHUNK: &str =
    "SELECT monitor_id, hour_start FROM uptime_hourly WHERE hour_start < ?1 ORDER BY hour_start, monitor_id LIMIT ?2";

#[async_trait]
impl UptimeStore for SqliteStore {
    async fn tally(
        &self,
        t: &TenantId,
        m: &MonitorId,
        from: Timestamp,
        to: Timestamp,
        ev: Evidence,
    ) -> StoreResult<Tally> {
        let (t, m) = (t.clone(), m.clone());
        self.read(move |c| raw_tally(c, &t, &m, (from, to), ev)).await
    }

    /// `Live`: from all four tables in one statement. Checks made during maintenance are
    /// counted apart where the hourly and daily rollups hold them; raw results and minute
    /// rollups do not separate them.
    async fn tally_window(&self, t: &TenantId, m: &MonitorId, w: &UptimeWindow, ev: Evidence) -> StoreResult<Tally> {
        let (t, m, w) = (t.clone(), m.clone(), *w);
        self.read(move |c| match ev {
            Evidence::Live => {
                let mut stmt = c.prepare_cached(
                    "SELECT SUM(up), SUM(degraded), SUM(down), SUM(error), SUM(maintenance) FROM ( \
                       SELECT SUM(outcome = 'up') AS up, SUM(outcome = 'degraded') AS degraded, SUM(outcome = 'down') AS down, \
                              SUM(outcome = 'error') AS error, 0 AS maintenance FROM check_results \
                        WHERE monitor_key = (SELECT key FROM result_monitors WHERE monitor_id = ?2 AND tenant_id = ?1) \
                          AND started_at >= ?3 AND started_at < ?4 AND provenance = 'live' \
                       UNION ALL SELECT SUM(up), SUM(degraded), SUM(down), SUM(error), 0 FROM uptime_minute \
                        WHERE tenant_id = ?1 AND monitor_id = ?2 AND minute_start >= ?3 AND minute_start < ?4 \
                       UNION ALL SELECT SUM(up), SUM(degraded), SUM(down), SUM(error), SUM(maintenance) FROM uptime_hourly \
                        WHERE tenant_id = ?1 AND monitor_id = ?2 AND hour_start >= ?5 AND hour_start < ?6 \
                       UNION ALL SELECT SUM(up), SUM(degraded), SUM(down), SUM(error), SUM(maintenance) FROM uptime_daily \
                        WHERE tenant_id = ?1 AND monitor_id = ?2 AND day_start >= ?5 AND day_start < ?6)",
                )?;
                let (fine, coarse) = (w.fine, w.coarse);
                Ok(stmt.query_row(
                    params![t.as_str(), m.as_str(), fine.0.millis(), fine.1.millis(), coarse.0.millis(), coarse.1.millis()],
                    |r| coarse_tally_row(r, 0),
                )?)
            }
            Evidence::Demo => raw_tally(c, &t, &m, (w.from, w.to), ev),
        })
        .await
    }

    async fn tallies_since(
        &self,
        t: &TenantId,
        from: Timestamp,
        ev: Evidence,
    ) -> StoreResult<HashMap<MonitorId, Tally>> {
        let t = t.clone();
        self.read(move |c| match ev {
            Evidence::Live => {
                let hour = from.millis().div_euclid(3_600_000) * 3_600_000;
                let mut stmt = c.prepare_cached(
                    "SELECT monitor_id, SUM(up), SUM(degraded), SUM(down), SUM(error), SUM(maintenance) FROM uptime_hourly \
                     WHERE tenant_id = ?1 AND hour_start >= ?2 GROUP BY monitor_id",
                )?;
                let rows = stmt.query_map(params![t.as_str(), hour], |r| {
                    Ok((MonitorId::from_trusted(r.get(0)?), coarse_tally_row(r, 1)?))
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            }
            Evidence::Demo => Ok(sum_hours(&demo_hours_since(c, &t, from)?)),
        })
        .await
    }

    async fn hourly_tallies_since(&self, t: &TenantId, from: Timestamp, ev: Evidence) -> StoreResult<HourlyTallies> {
        let t = t.clone();
        self.read(move |c| match ev {
            Evidence::Live => {
                let hour = from.millis().div_euclid(3_600_000) * 3_600_000;
                let mut stmt = c.prepare_cached(
                    "SELECT monitor_id, hour_start, up, degraded, down, error, maintenance FROM uptime_hourly \
                     WHERE tenant_id = ?1 AND hour_start >= ?2 ORDER BY monitor_id, hour_start",
                )?;
                let rows = stmt.query_map(params![t.as_str(), hour], |r| {
                    Ok((MonitorId::from_trusted(r.get(0)?), Timestamp::from_millis(r.get(1)?), coarse_tally_row(r, 2)?))
                })?;
                Ok(group_hours(rows)?)
            }
            Evidence::Demo => demo_hours_since(c, &t, from),
        })
        .await
    }

    async fn latency_cells(
        &self,
        t: &TenantId,
        m: &MonitorId,
        b: &netpulse_core::latency::Buckets,
        ev: Evidence,
    ) -> StoreResult<Vec<netpulse_core::latency::LatencyCell>> {
        let (t, m, b) = (t.clone(), m.clone(), *b);
        self.read(move |c| {
            let sql = crate::uptime::latency_cells_sql(
                "check_results r JOIN result_origins o ON o.key = r.origin_key",
                "o.region",
                "r.monitor_key = (SELECT key FROM result_monitors WHERE monitor_id = ?2 AND tenant_id = ?1)",
                '?',
                ev,
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(
                params![t.as_str(), m.as_str(), b.from.millis(), b.to().millis(), b.width_ms, ev.provenance().as_str()],
                |r| {
                    Ok(crate::uptime::latency_cell(
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        [r.get(4)?, r.get(5)?, r.get(6)?],
                        r.get(7)?,
                    ))
                },
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn apply_retention(&self, h: &Horizons, limit: usize) -> StoreResult<RetentionPass> {
        let h = *h;
        self.write(move |c| {
            let tx = c.transaction()?;
            let limit = limit as i64;
            let pass = RetentionPass {
                results_rolled: fold_results(&tx, h.raw, limit)?,
                minutes_deleted: tx.execute(
                    "DELETE FROM uptime_minute WHERE (tenant_id, monitor_id, minute_start, region) IN \
                     (SELECT tenant_id, monitor_id, minute_start, region FROM uptime_minute WHERE minute_start < ?1 LIMIT ?2)",
                    params![h.minute.millis(), limit],
                )?,
                hours_rolled: fold_hours(&tx, h.hour, limit)?,
                days_deleted: tx.execute(
                    "DELETE FROM uptime_daily WHERE (tenant_id, monitor_id, day_start) IN \
                     (SELECT tenant_id, monitor_id, day_start FROM uptime_daily WHERE day_start < ?1 LIMIT ?2)",
                    params![h.day.millis(), limit],
                )?,
                deliveries_deleted: tx.execute(
                    "DELETE FROM alert_outbox WHERE id IN (SELECT id FROM alert_outbox \
                     WHERE status IN ('sent', 'failed', 'grouped') AND created_at < ?1 LIMIT ?2)",
                    params![h.raw.millis(), limit],
                )? + tx.execute(
                    "DELETE FROM delivery_attempts WHERE id IN (SELECT id FROM delivery_attempts WHERE at < ?1 LIMIT ?2)",
                    params![h.raw.millis(), limit],
                )? + tx.execute(
                    "DELETE FROM subscriber_notices WHERE id IN (SELECT id FROM subscriber_notices \
                     WHERE status IN ('sent', 'failed') AND created_at < ?1 LIMIT ?2)",
                    params![h.raw.millis(), limit],
                )? + tx.execute(
                    "DELETE FROM page_subscribers WHERE id IN (SELECT id FROM page_subscribers \
                     WHERE confirmed_at IS NULL AND confirm_expires_at <= ?1 LIMIT ?2)",
                    params![h.now.millis(), limit],
                )?,
                partitions_dropped: 0, // one results table, no partitions
                visits_rolled: super::visits::fold_visits(&tx, h.raw, h.day, limit)?,
            };
            tx.commit()?;
            Ok(pass)
        })
        .await
    }
}

/// Raw results of evidence `ev` in `[from, to)`, counted by outcome.
fn raw_tally(
    c: &Connection,
    t: &TenantId,
    m: &MonitorId,
    (from, to): (Timestamp, Timestamp),
    ev: Evidence,
) -> StoreResult<Tally> {
    let mut stmt = c.prepare_cached(
        "SELECT outcome, COUNT(*) FROM check_results \
         WHERE monitor_key = (SELECT key FROM result_monitors WHERE monitor_id = ?2 AND tenant_id = ?1) \
         AND started_at >= ?3 AND started_at < ?4 AND provenance = ?5 GROUP BY outcome",
    )?;
    let mut tally = Tally::default();
    let p = ev.provenance().as_str();
    let rows = stmt.query_map(params![t.as_str(), m.as_str(), from.millis(), to.millis(), p], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (outcome, n) = row?;
        if let Some(o) = Outcome::parse(&outcome) {
            tally.add(o, n as u64);
        }
    }
    Ok(tally)
}

/// Each of the tenant's monitors' demo results from the hour of `from` on, counted per hour,
/// oldest first. Reached through the tenant's monitors, so the `(monitor_id, started_at)`
/// index serves it.
fn demo_hours_since(c: &Connection, t: &TenantId, from: Timestamp) -> StoreResult<HourlyTallies> {
    let hour = from.millis().div_euclid(HOUR_MS) * HOUR_MS;
    let mut stmt = c.prepare_cached(
        "SELECT k.monitor_id, (r.started_at / 3600000) * 3600000 AS hour, SUM(r.outcome = 'up'), \
         SUM(r.outcome = 'degraded'), SUM(r.outcome = 'down'), SUM(r.outcome = 'error') \
         FROM monitors m JOIN result_monitors k ON k.monitor_id = m.id AND k.tenant_id = m.tenant_id \
         JOIN check_results r ON r.monitor_key = k.key \
         WHERE m.tenant_id = ?1 AND r.started_at >= ?2 AND r.provenance = 'demo' \
         GROUP BY k.monitor_id, hour ORDER BY k.monitor_id, hour",
    )?;
    let rows = stmt.query_map(params![t.as_str(), hour], |r| {
        Ok((MonitorId::from_trusted(r.get(0)?), Timestamp::from_millis(r.get(1)?), tally_row(r, 2)?))
    })?;
    Ok(group_hours(rows)?)
}

fn tally_row(r: &Row<'_>, first: usize) -> rusqlite::Result<Tally> {
    let n = |i: usize| r.get::<_, Option<i64>>(first + i).map(|v| v.unwrap_or(0) as u64);
    Ok(Tally { up: n(0)?, degraded: n(1)?, down: n(2)?, error: n(3)?, maintenance: 0 })
}

/// [`tally_row`] and, in the next column, the checks made during maintenance (only the
/// hourly and daily rollups count those apart).
fn coarse_tally_row(r: &Row<'_>, first: usize) -> rusqlite::Result<Tally> {
    let maintenance = r.get::<_, Option<i64>>(first + 4)?.unwrap_or(0) as u64;
    Ok(Tally { maintenance, ..tally_row(r, first)? })
}

/// Add the live results of the chunk to their minute rollups, then delete the chunk.
fn fold_results(tx: &Transaction<'_>, before: Timestamp, limit: i64) -> StoreResult<usize> {
    tx.execute(
        &format!(
            "INSERT INTO uptime_minute (tenant_id, monitor_id, minute_start, region, up, degraded, down, error, \
             latency_count, latency_sum_ms, latency_min_ms, latency_max_ms) \
             SELECT m.tenant_id, m.monitor_id, (r.started_at / 60000) * 60000, o.region, SUM(r.outcome = 'up'), \
             SUM(r.outcome = 'degraded'), SUM(r.outcome = 'down'), SUM(r.outcome = 'error'), COUNT(r.total_ms), \
             COALESCE(SUM(r.total_ms), 0), MIN(r.total_ms), MAX(r.total_ms) \
             FROM check_results r JOIN result_monitors m ON m.key = r.monitor_key \
             JOIN result_origins o ON o.key = r.origin_key \
             WHERE r.rowid IN ({RAW_CHUNK}) AND r.provenance = 'live' GROUP BY 1, 2, 3, 4 \
             ON CONFLICT (tenant_id, monitor_id, minute_start, region) DO UPDATE SET \
             up = up + excluded.up, degraded = degraded + excluded.degraded, down = down + excluded.down, \
             error = error + excluded.error, latency_count = latency_count + excluded.latency_count, \
             latency_sum_ms = latency_sum_ms + excluded.latency_sum_ms, \
             latency_min_ms = MIN(COALESCE(latency_min_ms, excluded.latency_min_ms), \
                                  COALESCE(excluded.latency_min_ms, latency_min_ms)), \
             latency_max_ms = MAX(COALESCE(latency_max_ms, excluded.latency_max_ms), \
                                  COALESCE(excluded.latency_max_ms, latency_max_ms))"
        ),
        params![before.millis(), limit],
    )?;
    Ok(tx
        .execute(&format!("DELETE FROM check_results WHERE rowid IN ({RAW_CHUNK})"), params![before.millis(), limit])?)
}

/// Add the chunk of hourly rows to their days' rollups, then delete the chunk.
fn fold_hours(tx: &Transaction<'_>, before: Timestamp, limit: i64) -> StoreResult<usize> {
    tx.execute(
        &format!(
            "INSERT INTO uptime_daily (tenant_id, monitor_id, day_start, up, degraded, down, error, maintenance) \
             SELECT tenant_id, monitor_id, (hour_start / 86400000) * 86400000, SUM(up), SUM(degraded), SUM(down), \
             SUM(error), SUM(maintenance) FROM uptime_hourly WHERE (monitor_id, hour_start) IN ({HOUR_CHUNK}) GROUP BY 1, 2, 3 \
             ON CONFLICT (tenant_id, monitor_id, day_start) DO UPDATE SET up = up + excluded.up, \
             degraded = degraded + excluded.degraded, down = down + excluded.down, error = error + excluded.error, \
             maintenance = maintenance + excluded.maintenance"
        ),
        params![before.millis(), limit],
    )?;
    Ok(tx.execute(
        &format!("DELETE FROM uptime_hourly WHERE (monitor_id, hour_start) IN ({HOUR_CHUNK})"),
        params![before.millis(), limit],
    )?)
}

//! Retention and long-window uptime in SQLite.
//!
//! A retention step folds the oldest raw results into minute rollups and deletes them in one
//! write transaction (SQLite has one writer, so the chunk the fold reads is the chunk the
//! delete removes); hourly rollups fold into daily ones the same way. Folding adds to
//! existing rollup rows, so a late result that arrives after its minute was folded is
//! simply folded in on the next step. Each statement touches at most `limit` rows.

use super::reads::coarse_tally_row;
use crate::*;
use rusqlite::{params, Connection, Transaction};

/// The oldest `?2` raw results started before `?1`, in a fixed order.
const RAW_CHUNK: &str = "SELECT rowid FROM check_results WHERE started_at < ?1 ORDER BY started_at, rowid LIMIT ?2";

/// The oldest `?2` hourly rollup rows of hours before `?1`.
const HOUR_CHUNK: &str =
    "SELECT monitor_id, hour_start FROM uptime_hourly WHERE hour_start < ?1 ORDER BY hour_start, monitor_id LIMIT ?2";

pub fn apply_retention(c: &mut Connection, h: &Horizons, limit: usize) -> StoreResult<RetentionPass> {
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
        )?,
    };
    tx.commit()?;
    Ok(pass)
}

/// Add the live results of the chunk to their minute rollups, then delete the chunk.
fn fold_results(tx: &Transaction<'_>, before: Timestamp, limit: i64) -> StoreResult<usize> {
    tx.execute(
        &format!(
            "INSERT INTO uptime_minute (tenant_id, monitor_id, minute_start, region, up, degraded, down, error, \
             latency_count, latency_sum_ms, latency_min_ms, latency_max_ms) \
             SELECT tenant_id, monitor_id, (started_at / 60000) * 60000, region, SUM(outcome = 'up'), \
             SUM(outcome = 'degraded'), SUM(outcome = 'down'), SUM(outcome = 'error'), COUNT(total_ms), \
             COALESCE(SUM(total_ms), 0), MIN(total_ms), MAX(total_ms) \
             FROM check_results WHERE rowid IN ({RAW_CHUNK}) AND provenance = 'live' GROUP BY 1, 2, 3, 4 \
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

/// Live tallies of a planned window, from all four tables in one statement. Checks made
/// during maintenance are counted apart where the hourly and daily rollups hold them; raw
/// results and minute rollups do not separate them.
pub fn tally_window(c: &Connection, t: &TenantId, m: &MonitorId, w: &UptimeWindow) -> StoreResult<Tally> {
    let mut stmt = c.prepare_cached(
        "SELECT SUM(up), SUM(degraded), SUM(down), SUM(error), SUM(maintenance) FROM ( \
           SELECT SUM(outcome = 'up') AS up, SUM(outcome = 'degraded') AS degraded, SUM(outcome = 'down') AS down, \
                  SUM(outcome = 'error') AS error, 0 AS maintenance FROM check_results \
            WHERE tenant_id = ?1 AND monitor_id = ?2 AND started_at >= ?3 AND started_at < ?4 AND provenance = 'live' \
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

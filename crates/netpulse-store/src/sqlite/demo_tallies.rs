//! Uptime of demo evidence in SQLite ([`Evidence::Demo`]): counted from raw results of
//! provenance `demo`, never from a rollup (rollups hold live results only). Only the demo
//! organisation's own dashboard and API read these; the demo's seeded days are well within
//! raw retention.

use super::reads::tally_row;
use crate::*;
use rusqlite::{params, Connection};

const HOUR_MS: i64 = 3_600_000;

/// Each of the tenant's monitors' demo results from the hour of `from` on, counted per hour,
/// oldest first. Reached through the tenant's monitors, so the `(monitor_id, started_at)`
/// index serves it.
pub fn hourly_since(c: &Connection, t: &TenantId, from: Timestamp) -> StoreResult<HourlyTallies> {
    let hour = from.millis().div_euclid(HOUR_MS) * HOUR_MS;
    let mut stmt = c.prepare_cached(
        "SELECT r.monitor_id, (r.started_at / 3600000) * 3600000 AS hour, SUM(r.outcome = 'up'), \
         SUM(r.outcome = 'degraded'), SUM(r.outcome = 'down'), SUM(r.outcome = 'error') \
         FROM monitors m JOIN check_results r ON r.monitor_id = m.id AND r.tenant_id = m.tenant_id \
         WHERE m.tenant_id = ?1 AND r.started_at >= ?2 AND r.provenance = 'demo' \
         GROUP BY r.monitor_id, hour ORDER BY r.monitor_id, hour",
    )?;
    let rows = stmt.query_map(params![t.as_str(), hour], |r| {
        Ok((MonitorId::from_trusted(r.get(0)?), Timestamp::from_millis(r.get(1)?), tally_row(r, 2)?))
    })?;
    Ok(group_hours(rows)?)
}

//! Uptime of demo evidence in PostgreSQL ([`Evidence::Demo`]): counted from raw results of
//! provenance `demo`, never from a rollup (rollups hold live results only). Only the demo
//! organisation's own dashboard and API read these; the demo's seeded days are well within
//! raw retention. One unnamed typed statement (PgBouncer-safe).

use super::reads::{hour_row, tally_at};
use crate::*;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

const HOUR_MS: i64 = 3_600_000;

/// Each of the tenant's monitors' demo results from the hour of `from` on, counted per hour,
/// oldest first. Reached through the tenant's monitors, so the `(monitor_id, started_at)`
/// index serves it (the `started_at` BRIN index would read the whole table for a month).
pub async fn hourly_since(c: &Client, t: &TenantId, from: Timestamp) -> StoreResult<HourlyTallies> {
    let hour = from.millis().div_euclid(HOUR_MS) * HOUR_MS;
    let rows = c
        .query_typed(
            "SELECT r.monitor_id, (r.started_at / 3600000) * 3600000 AS hour, \
             COUNT(*) FILTER (WHERE r.outcome = 'up'), COUNT(*) FILTER (WHERE r.outcome = 'degraded'), \
             COUNT(*) FILTER (WHERE r.outcome = 'down'), COUNT(*) FILTER (WHERE r.outcome = 'error') \
             FROM monitors m JOIN check_results r ON r.monitor_id = m.id AND r.tenant_id = m.tenant_id \
             WHERE m.tenant_id = $1 AND r.started_at >= $2 AND r.provenance = 'demo' \
             GROUP BY 1, 2 ORDER BY 1, 2",
            &[(&t.as_str(), Type::TEXT), (&hour, Type::INT8)],
        )
        .await?;
    group_hours(rows.iter().map(|r| hour_row(r, tally_at(r, 2)?)))
}

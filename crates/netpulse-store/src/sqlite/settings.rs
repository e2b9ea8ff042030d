//! A tenant's alerting defaults in SQLite (`tenant_settings`), and the timer sweep's due list.

use crate::settings::AlertingDefaults;
use crate::*;
use rusqlite::{params, Connection, OptionalExtension};

/// The tenant's defaults; none set when it has no row.
pub fn alerting(c: &Connection, t: &TenantId) -> StoreResult<AlertingDefaults> {
    let text: Option<String> = c
        .prepare_cached("SELECT alerting FROM tenant_settings WHERE tenant_id = ?1")?
        .query_row([t.as_str()], |r| r.get(0))
        .optional()?;
    Ok(text.map(|s| serde_json::from_str(&s)).transpose()?.unwrap_or_default())
}

/// Save the defaults and, in the same transaction, give each of the tenant's monitors a new
/// `updated_at` (their effective policy changed; caches keyed by row version see it).
pub fn set_alerting(c: &mut Connection, t: &TenantId, d: &AlertingDefaults, now: Timestamp) -> StoreResult<()> {
    let tx = c.transaction()?;
    tx.execute(
        "INSERT INTO tenant_settings (tenant_id, alerting, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (tenant_id) DO UPDATE SET alerting = excluded.alerting, updated_at = excluded.updated_at",
        params![t.as_str(), serde_json::to_string(d)?, now.millis()],
    )?;
    tx.execute(
        "UPDATE monitors SET updated_at = MAX(updated_at + 1, ?2) WHERE tenant_id = ?1",
        params![t.as_str(), now.millis()],
    )?;
    // The timer sweep re-decides open incidents' reminders and escalation under the new policy.
    tx.execute(
        "UPDATE monitor_state SET timer_at = ?2 WHERE tenant_id = ?1 AND open_incident IS NOT NULL",
        params![t.as_str(), now.millis()],
    )?;
    tx.commit()?;
    Ok(())
}

/// Monitors whose next reminder or escalation is due at `now`, soonest first.
pub fn due_timers(c: &Connection, now: Timestamp, limit: usize) -> StoreResult<Vec<(TenantId, MonitorId)>> {
    let mut stmt = c.prepare_cached(
        "SELECT tenant_id, monitor_id FROM monitor_state WHERE timer_at IS NOT NULL AND timer_at <= ?1 \
         ORDER BY timer_at LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now.millis(), limit as i64], |r| {
        Ok((TenantId::from_trusted(r.get(0)?), MonitorId::from_trusted(r.get(1)?)))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

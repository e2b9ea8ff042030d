//! A tenant's alerting defaults in SQLite (`tenant_settings`).

use crate::store::settings::AlertingDefaults;
use crate::store::*;
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
    tx.commit()?;
    Ok(())
}

//! A tenant's alerting defaults in PostgreSQL (`tenant_settings`), and the timer sweep's due list.
//! Unnamed typed statements only, so it works through PgBouncer in transaction mode.

use crate::settings::AlertingDefaults;
use crate::*;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

/// The tenant's defaults; none set when it has no row.
pub async fn alerting(c: &Client, t: &TenantId) -> StoreResult<AlertingDefaults> {
    let row = c
        .query_typed_opt("SELECT alerting FROM tenant_settings WHERE tenant_id = $1", &[(&t.as_str(), Type::TEXT)])
        .await?;
    match row {
        Some(r) => Ok(serde_json::from_str(r.try_get::<_, &str>(0)?)?),
        None => Ok(AlertingDefaults::default()),
    }
}

/// Save the defaults and, in the same transaction, write each of the tenant's monitor rows
/// anew (a new `updated_at`, so a new `xmin`): ingest's draft cache, keyed by row version,
/// then reads the new defaults with the draft, and an ingest holding a monitor's row lock
/// finishes with the old policy before this commits.
pub async fn set_alerting(c: &mut Client, t: &TenantId, d: &AlertingDefaults, now: Timestamp) -> StoreResult<()> {
    let text = serde_json::to_string(d)?;
    let tx = c.transaction().await?;
    // Every monitor's facts change: out of every node's ingest memory from this commit on.
    super::hot::touch_tenant(&tx, t).await?;
    tx.execute_typed(
        "INSERT INTO tenant_settings (tenant_id, alerting, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id) DO UPDATE SET alerting = EXCLUDED.alerting, updated_at = EXCLUDED.updated_at",
        &[(&t.as_str(), Type::TEXT), (&text, Type::TEXT), (&now.millis(), Type::INT8)],
    )
    .await?;
    tx.execute_typed(
        "UPDATE monitors SET updated_at = GREATEST(updated_at + 1, $2) WHERE tenant_id = $1",
        &[(&t.as_str(), Type::TEXT), (&now.millis(), Type::INT8)],
    )
    .await?;
    // The timer sweep re-decides open incidents' reminders and escalation under the new policy.
    tx.execute_typed(
        "UPDATE monitor_state SET timer_at = $2 WHERE tenant_id = $1 AND open_incident IS NOT NULL",
        &[(&t.as_str(), Type::TEXT), (&now.millis(), Type::INT8)],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Monitors whose next reminder or escalation is due at `now`, soonest first.
pub async fn due_timers(c: &Client, now: Timestamp, limit: usize) -> StoreResult<Vec<(TenantId, MonitorId)>> {
    let rows = c
        .query_typed(
            "SELECT tenant_id, monitor_id FROM monitor_state WHERE timer_at IS NOT NULL AND timer_at <= $1 \
             ORDER BY timer_at LIMIT $2",
            &[(&now.millis(), Type::INT8), (&(limit as i64), Type::INT8)],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push((TenantId::from_trusted(r.try_get(0)?), MonitorId::from_trusted(r.try_get(1)?)));
    }
    Ok(out)
}

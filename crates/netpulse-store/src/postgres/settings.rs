//! A tenant's alerting defaults in PostgreSQL (`tenant_settings`). Unnamed typed statements
//! only, so it works through PgBouncer in transaction mode.

use super::PgStore;
use crate::*;
use async_trait::async_trait;
use netpulse_core::{TenantId, Timestamp};
use tokio_postgres::types::Type;

#[async_trait]
impl SettingsStore for PgStore {
    async fn alerting_defaults(&self, t: &TenantId) -> StoreResult<AlertingDefaults> {
        pooled!(self, |c| async {
            let row = c
                .query_typed_opt(
                    "SELECT alerting FROM tenant_settings WHERE tenant_id = $1",
                    &[(&t.as_str(), Type::TEXT)],
                )
                .await?;
            match row {
                Some(r) => Ok(serde_json::from_str(r.try_get::<_, &str>(0)?)?),
                None => Ok(AlertingDefaults::default()),
            }
        })
    }

    /// Save the defaults and, in the same transaction, write each of the tenant's monitor rows
    /// anew (a new `updated_at`, so a new `xmin`): ingest's draft cache, keyed by row version,
    /// then reads the new defaults with the draft, and an ingest holding a monitor's row lock
    /// finishes with the old policy before this commits.
    async fn set_alerting_defaults(&self, t: &TenantId, d: &AlertingDefaults, now: Timestamp) -> StoreResult<()> {
        pooled!(self, |c| async {
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
        })
    }
}

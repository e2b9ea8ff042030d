//! A tenant's alerting defaults in SQLite (`tenant_settings`).

use super::SqliteStore;
use crate::*;
use async_trait::async_trait;
use netpulse_core::{TenantId, Timestamp};
use rusqlite::{params, OptionalExtension};

#[async_trait]
impl SettingsStore for SqliteStore {
    async fn alerting_defaults(&self, t: &TenantId) -> StoreResult<AlertingDefaults> {
        let t = t.clone();
        self.read(move |c| {
            let text: Option<String> = c
                .prepare_cached("SELECT alerting FROM tenant_settings WHERE tenant_id = ?1")?
                .query_row([t.as_str()], |r| r.get(0))
                .optional()?;
            Ok(text.map(|s| serde_json::from_str(&s)).transpose()?.unwrap_or_default())
        })
        .await
    }

    async fn set_alerting_defaults(&self, t: &TenantId, d: &AlertingDefaults, now: Timestamp) -> StoreResult<()> {
        let (t, d) = (t.clone(), d.clone());
        self.write(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO tenant_settings (tenant_id, alerting, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (tenant_id) DO UPDATE SET alerting = excluded.alerting, updated_at = excluded.updated_at",
                params![t.as_str(), serde_json::to_string(&d)?, now.millis()],
            )?;
            tx.execute(
                "UPDATE monitors SET updated_at = MAX(updated_at + 1, ?2) WHERE tenant_id = ?1",
                params![t.as_str(), now.millis()],
            )?;
            // The timer sweep re-decides open incidents' reminders and escalation under the new policy.
            super::alert_work_written();
            tx.execute(
                "UPDATE monitor_state SET timer_at = ?2 WHERE tenant_id = ?1 AND open_incident IS NOT NULL",
                params![t.as_str(), now.millis()],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

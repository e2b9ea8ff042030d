//! Monitors in SQLite: rows with their status, the scheduler's list, lookups by heartbeat
//! token and by id alone, and the stored state.

use super::SqliteStore;
use crate::*;
use async_trait::async_trait;
use netpulse_core::incident::{Health, MonitorState};
use netpulse_core::monitor::MonitorDraft;
use netpulse_core::{IncidentId, MonitorId, Outcome, TenantId, Timestamp};
use rusqlite::{params, Connection, OptionalExtension, Row};

#[async_trait]
impl MonitorStore for SqliteStore {
    async fn create_monitor(&self, t: &TenantId, rec: &MonitorRecord) -> StoreResult<()> {
        self.create_monitor_within(t, rec, 0).await.map(|_| ())
    }

    async fn create_monitor_within(&self, t: &TenantId, rec: &MonitorRecord, cap: u32) -> StoreResult<bool> {
        let (t, rec) = (t.clone(), rec.clone());
        // The one writer connection makes the count and the insert one step.
        self.write(move |c| {
            let n = c.execute(
                "INSERT INTO monitors (id, tenant_id, name, draft, paused, heartbeat_token, created_at, updated_at, part) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?10 \
                 WHERE ?9 = 0 OR (SELECT count(*) FROM monitors WHERE tenant_id = ?2) < ?9",
                params![
                    rec.id.as_str(),
                    t.as_str(),
                    rec.draft.name,
                    serde_json::to_string(&rec.draft)?,
                    rec.draft.paused,
                    rec.heartbeat_token,
                    rec.created_at.millis(),
                    rec.updated_at.millis(),
                    cap,
                    crate::partition_of(&rec.id)
                ],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn get_monitor(&self, t: &TenantId, id: &MonitorId) -> StoreResult<Option<MonitorView>> {
        let (t, id) = (t.clone(), id.clone());
        self.read(move |c| Ok(views(c, &t, Some(&id))?.pop())).await
    }

    async fn list_monitors(&self, t: &TenantId) -> StoreResult<Vec<MonitorView>> {
        let t = t.clone();
        self.read(move |c| views(c, &t, None)).await
    }

    async fn update_monitor_if(
        &self,
        t: &TenantId,
        id: &MonitorId,
        draft: &MonitorDraft,
        now: Timestamp,
        expected: Option<Timestamp>,
    ) -> StoreResult<Conditional> {
        let (t, id, draft) = (t.clone(), id.clone(), draft.clone());
        self.write(move |c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE monitors SET name = ?3, draft = ?4, paused = ?5, updated_at = MAX(?6, updated_at + 1) \
                 WHERE tenant_id = ?1 AND id = ?2 AND (?7 IS NULL OR updated_at = ?7)",
                params![
                    t.as_str(),
                    id.as_str(),
                    draft.name,
                    serde_json::to_string(&draft)?,
                    draft.paused,
                    now.millis(),
                    expected.map(|e| e.millis())
                ],
            )?;
            if n == 0 {
                let exists = tx
                    .query_row(
                        "SELECT 1 FROM monitors WHERE tenant_id = ?1 AND id = ?2",
                        params![t.as_str(), id.as_str()],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                return Ok(if exists { Conditional::Changed } else { Conditional::Missing });
            }
            // Its policy may have changed: the timer sweep re-decides an open incident's timers now.
            super::alert_work_written();
            tx.execute(
                "UPDATE monitor_state SET timer_at = ?3 WHERE tenant_id = ?1 AND monitor_id = ?2 AND open_incident IS NOT NULL",
                params![t.as_str(), id.as_str(), now.millis()],
            )?;
            tx.commit()?;
            Ok(Conditional::Updated)
        })
        .await
    }

    async fn delete_monitor(&self, t: &TenantId, id: &MonitorId) -> StoreResult<bool> {
        let (t, id) = (t.clone(), id.clone());
        self.write(move |c| {
            let tx = c.transaction()?;
            let n =
                tx.execute("DELETE FROM monitors WHERE tenant_id = ?1 AND id = ?2", params![t.as_str(), id.as_str()])?;
            if n == 1 {
                tx.execute(
                    "DELETE FROM check_results WHERE monitor_key = \
                     (SELECT key FROM result_monitors WHERE monitor_id = ?2 AND tenant_id = ?1)",
                    params![t.as_str(), id.as_str()],
                )?;
                tx.execute(
                    "DELETE FROM result_monitors WHERE monitor_id = ?2 AND tenant_id = ?1",
                    params![t.as_str(), id.as_str()],
                )?;
                super::visits::delete_visits_of(&tx, "monitor_id", id.as_str())?;
                for table in ["monitor_state", "uptime_hourly", "uptime_minute", "uptime_daily", "visit_sources"] {
                    tx.execute(
                        &format!("DELETE FROM {table} WHERE tenant_id = ?1 AND monitor_id = ?2"),
                        params![t.as_str(), id.as_str()],
                    )?;
                }
                for table in ["incident_events", "incident_updates"] {
                    tx.execute(
                        &format!(
                            "DELETE FROM {table} WHERE tenant_id = ?1 \
                             AND incident_id IN (SELECT id FROM incidents WHERE monitor_id = ?2)"
                        ),
                        params![t.as_str(), id.as_str()],
                    )?;
                }
                tx.execute(
                    "DELETE FROM incidents WHERE tenant_id = ?1 AND monitor_id = ?2",
                    params![t.as_str(), id.as_str()],
                )?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
        .await
    }

    async fn schedulable_monitors(&self) -> StoreResult<Vec<ScheduledMonitor>> {
        self.read(|c| scheduled(c, "1 = 1", [])).await
    }

    async fn schedulable_monitors_in(&self, partitions: &[u32]) -> StoreResult<Vec<ScheduledMonitor>> {
        let (mask, demo) = (mask(partitions), crate::demo::tenant());
        self.read(move |c| scheduled(c, "(?1 >> m.part) & 1 = 1 AND m.tenant_id <> ?2", params![mask, demo.as_str()]))
            .await
    }

    async fn schedulable_versions_in(&self, partitions: &[u32]) -> StoreResult<Vec<(MonitorId, Timestamp)>> {
        let (mask, demo) = (mask(partitions), crate::demo::tenant());
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, updated_at FROM monitors WHERE paused = 0 AND (?1 >> part) & 1 = 1 AND tenant_id <> ?2",
            )?;
            let rows = stmt.query_map(params![mask, demo.as_str()], |r| {
                Ok((MonitorId::from_trusted(r.get(0)?), Timestamp::from_millis(r.get(1)?)))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn schedulable_monitors_by_id(&self, ids: &[MonitorId]) -> StoreResult<Vec<ScheduledMonitor>> {
        let ids = serde_json::to_string(&ids.iter().map(MonitorId::as_str).collect::<Vec<_>>())?;
        let demo = crate::demo::tenant();
        self.read(move |c| {
            let only = "m.id IN (SELECT value FROM json_each(?1)) AND m.tenant_id <> ?2";
            scheduled(c, only, params![ids, demo.as_str()])
        })
        .await
    }

    async fn heartbeat_monitor(&self, token: &str) -> StoreResult<Option<(TenantId, MonitorId, bool)>> {
        let token = token.to_owned();
        self.read(move |c| {
            Ok(c.query_row("SELECT tenant_id, id, paused FROM monitors WHERE heartbeat_token = ?1", [&token], |r| {
                Ok((TenantId::from_trusted(r.get(0)?), MonitorId::from_trusted(r.get(1)?), r.get(2)?))
            })
            .optional()?)
        })
        .await
    }

    async fn monitor_tenant(&self, m: &MonitorId) -> StoreResult<Option<TenantId>> {
        let m = m.clone();
        self.read(move |c| {
            Ok(c.query_row("SELECT tenant_id FROM monitors WHERE id = ?1", [m.as_str()], |r| {
                Ok(TenantId::from_trusted(r.get(0)?))
            })
            .optional()?)
        })
        .await
    }

    async fn monitor_state(&self, t: &TenantId, m: &MonitorId) -> StoreResult<Option<MonitorState>> {
        let (t, m) = (t.clone(), m.clone());
        self.read(move |c| {
            let s: Option<String> = c
                .query_row(
                    "SELECT state FROM monitor_state WHERE tenant_id = ?1 AND monitor_id = ?2",
                    params![t.as_str(), m.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(s.map(|s| serde_json::from_str(&s)).transpose()?)
        })
        .await
    }

    /// Read from `health_changed_at`, which a state write moves only when the health changes.
    async fn health_changed_since(&self, t: &TenantId, since: Timestamp) -> StoreResult<Vec<(MonitorId, Health)>> {
        let t = t.clone();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT monitor_id, health FROM monitor_state WHERE tenant_id = ?1 AND health_changed_at >= ?2 ORDER BY monitor_id",
            )?;
            let rows = stmt.query_map(params![t.as_str(), since.millis()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (m, health) = row?;
                out.push((MonitorId::from_trusted(m), serde_json::from_value(serde_json::Value::String(health))?));
            }
            Ok(out)
        })
        .await
    }
}

const MONITOR_COLS: &str = "m.id, m.tenant_id, m.draft, m.heartbeat_token, m.created_at, m.updated_at, \
     s.health, s.last_checked_at, s.last_outcome, s.last_latency_ms, s.last_error, s.last_success_at, s.open_incident";

fn monitor_view(r: &Row<'_>) -> rusqlite::Result<(MonitorRecord, MonitorStatus)> {
    let draft: String = r.get(2)?;
    let draft = serde_json::from_str(&draft)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e)))?;
    let record = MonitorRecord {
        id: MonitorId::from_trusted(r.get(0)?),
        tenant_id: TenantId::from_trusted(r.get(1)?),
        draft,
        heartbeat_token: r.get(3)?,
        created_at: Timestamp::from_millis(r.get(4)?),
        updated_at: Timestamp::from_millis(r.get(5)?),
    };
    let health: Option<String> = r.get(6)?;
    let status = MonitorStatus {
        health: health.and_then(|h| serde_json::from_value(serde_json::Value::String(h)).ok()).unwrap_or_default(),
        last_checked_at: r.get::<_, Option<i64>>(7)?.map(Timestamp::from_millis),
        last_outcome: r.get::<_, Option<String>>(8)?.and_then(|o| Outcome::parse(&o)),
        last_latency_ms: r.get(9)?,
        last_error: r.get(10)?,
        last_success_at: r.get::<_, Option<i64>>(11)?.map(Timestamp::from_millis),
        open_incident: r.get::<_, Option<String>>(12)?.map(IncidentId::from_trusted),
    };
    Ok((record, status))
}

/// The unpaused monitors that match `only` (a condition on `m`, the monitors row).
fn scheduled(c: &Connection, only: &str, args: impl rusqlite::Params) -> StoreResult<Vec<ScheduledMonitor>> {
    let sql = format!(
        "SELECT {MONITOR_COLS} FROM monitors m LEFT JOIN monitor_state s ON s.monitor_id = m.id \
         WHERE m.paused = 0 AND {only}"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(args, monitor_view)?;
    Ok(rows
        .map(|r| {
            r.map(|(record, status)| ScheduledMonitor {
                tenant_id: record.tenant_id.clone(),
                last_success_at: status.last_success_at,
                record,
            })
        })
        .collect::<Result<_, _>>()?)
}

/// `partitions` as a bit set (partitions are below 64).
fn mask(partitions: &[u32]) -> i64 {
    partitions.iter().filter(|p| **p < crate::monitors::PARTITIONS).fold(0u64, |m, p| m | 1 << p) as i64
}

/// `t`'s monitors with their status, or only the monitor `only`.
fn views(c: &Connection, t: &TenantId, only: Option<&MonitorId>) -> StoreResult<Vec<MonitorView>> {
    let sql = format!(
        "SELECT {MONITOR_COLS} FROM monitors m LEFT JOIN monitor_state s ON s.monitor_id = m.id \
         WHERE m.tenant_id = ?1 AND (?2 IS NULL OR m.id = ?2) ORDER BY m.created_at, m.id"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![t.as_str(), only.map(MonitorId::as_str)], monitor_view)?;
    Ok(rows.map(|r| r.map(|(record, status)| MonitorView { record, status })).collect::<Result<_, _>>()?)
}

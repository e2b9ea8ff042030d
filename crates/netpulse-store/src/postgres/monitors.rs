//! Monitors in PostgreSQL: rows with their status, the scheduler's list, lookups by
//! heartbeat token and by id alone, and the stored state.

use super::{days, Param, PgStore};
use crate::*;
use async_trait::async_trait;
use netpulse_core::incident::{Health, MonitorState};
use netpulse_core::monitor::MonitorDraft;
use netpulse_core::{IncidentId, MonitorId, TenantId, Timestamp};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, GenericClient, Row};

/// The class of the advisory lock (with the tenant's hash) that serialises monitor creation
/// under a cap; the two-key lock space is apart from the one-key locks of `accounts.rs`.
const MONITOR_CAP_LOCK: i32 = 0x6d6f_6e73; // "mons"

/// Insert `rec` unless `t` has `cap` monitors already (`cap` 0: no limit); whether it did.
async fn insert(c: &impl GenericClient, t: &TenantId, rec: &MonitorRecord, cap: u32) -> StoreResult<bool> {
    let draft = serde_json::to_string(&rec.draft)?;
    let n = c
        .execute_typed(
            "INSERT INTO monitors (id, tenant_id, name, draft, paused, heartbeat_token, created_at, updated_at, part) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $10 \
             WHERE $9 = 0 OR (SELECT count(*) FROM monitors WHERE tenant_id = $2) < $9",
            &[
                (&rec.id.as_str(), Type::TEXT),
                (&t.as_str(), Type::TEXT),
                (&rec.draft.name, Type::TEXT),
                (&draft, Type::TEXT),
                (&rec.draft.paused, Type::BOOL),
                (&rec.heartbeat_token, Type::TEXT),
                (&rec.created_at.millis(), Type::INT8),
                (&rec.updated_at.millis(), Type::INT8),
                (&i64::from(cap), Type::INT8),
                (&(crate::partition_of(&rec.id) as i32), Type::INT4),
            ],
        )
        .await?;
    Ok(n == 1)
}

#[async_trait]
impl MonitorStore for PgStore {
    async fn create_monitor(&self, t: &TenantId, rec: &MonitorRecord) -> StoreResult<()> {
        pooled!(self, |c| insert(&*c, t, rec, 0)).map(|_| ())
    }

    async fn create_monitor_within(&self, t: &TenantId, rec: &MonitorRecord, cap: u32) -> StoreResult<bool> {
        if cap == 0 {
            return pooled!(self, |c| insert(&*c, t, rec, 0));
        }
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            // One create per organisation at a time, each counting in a snapshot taken after
            // the lock, so two cannot both take the last place.
            tx.query_typed(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[(&MONITOR_CAP_LOCK, Type::INT4), (&t.as_str(), Type::TEXT)],
            )
            .await?;
            let created = insert(&tx, t, rec, cap).await?;
            tx.commit().await?;
            Ok(created)
        })
    }

    async fn get_monitor(&self, t: &TenantId, id: &MonitorId) -> StoreResult<Option<MonitorView>> {
        Ok(pooled!(self, |c| views(&c, t, Some(id)))?.pop())
    }

    async fn list_monitors(&self, t: &TenantId) -> StoreResult<Vec<MonitorView>> {
        pooled!(self, |c| views(&c, t, None))
    }

    async fn update_monitor_if(
        &self,
        t: &TenantId,
        id: &MonitorId,
        draft: &MonitorDraft,
        now: Timestamp,
        expected: Option<Timestamp>,
    ) -> StoreResult<Conditional> {
        pooled!(self, |c| async {
            let json = serde_json::to_string(draft)?;
            let tx = c.transaction().await?;
            // Ingest's memory of the monitor (its draft) is out of date from this commit on.
            super::hot::touch(&tx, &[id]).await?;
            // Its policy may have changed: the timer sweep re-decides an open incident's timers now.
            let row = tx
                .query_typed_one(
                    "WITH m AS (UPDATE monitors SET name = $3, draft = $4, paused = $5, \
                     updated_at = GREATEST($6, updated_at + 1) \
                     WHERE tenant_id = $1 AND id = $2 AND ($7::BIGINT IS NULL OR updated_at = $7) RETURNING id), \
                     s AS (UPDATE monitor_state SET timer_at = $6 WHERE tenant_id = $1 \
                     AND monitor_id IN (SELECT id FROM m) AND open_incident IS NOT NULL) \
                     SELECT (SELECT count(*) FROM m), \
                       (SELECT count(*) FROM monitors WHERE tenant_id = $1 AND id = $2)",
                    &[
                        (&t.as_str(), Type::TEXT),
                        (&id.as_str(), Type::TEXT),
                        (&draft.name, Type::TEXT),
                        (&json, Type::TEXT),
                        (&draft.paused, Type::BOOL),
                        (&now.millis(), Type::INT8),
                        (&expected.map(|e| e.millis()), Type::INT8),
                    ],
                )
                .await?;
            let (n, exists): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
            tx.commit().await?;
            Ok(match (n, exists) {
                (1, _) => Conditional::Updated,
                (_, 0) => Conditional::Missing,
                _ => Conditional::Changed,
            })
        })
    }

    async fn delete_monitor(&self, t: &TenantId, id: &MonitorId) -> StoreResult<bool> {
        self.drafts.forget(id);
        self.hot.forget(id);
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            super::hot::touch(&tx, &[id]).await?;
            let p: [Param<'_>; 2] = [(&t.as_str(), Type::TEXT), (&id.as_str(), Type::TEXT)];
            let n = tx.execute_typed("DELETE FROM monitors WHERE tenant_id = $1 AND id = $2", &p).await?;
            if n == 1 {
                super::visits::delete_visits_of(&tx, "monitor_id", id.as_str()).await?;
                for table in [
                    "monitor_state",
                    "check_results",
                    "uptime_hourly",
                    "uptime_minute",
                    "uptime_daily",
                    "visit_sources",
                ] {
                    tx.execute_typed(&format!("DELETE FROM {table} WHERE tenant_id = $1 AND monitor_id = $2"), &p)
                        .await?;
                }
                for table in ["incident_events", "incident_updates"] {
                    tx.execute_typed(
                        &format!(
                            "DELETE FROM {table} WHERE tenant_id = $1 \
                             AND incident_id IN (SELECT id FROM incidents WHERE monitor_id = $2)"
                        ),
                        &p,
                    )
                    .await?;
                }
                tx.execute_typed("DELETE FROM incidents WHERE tenant_id = $1 AND monitor_id = $2", &p).await?;
            }
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    async fn schedulable_monitors(&self) -> StoreResult<Vec<ScheduledMonitor>> {
        pooled!(self, |c| scheduled(&c, "TRUE", &[]))
    }

    async fn schedulable_monitors_in(&self, partitions: &[u32]) -> StoreResult<Vec<ScheduledMonitor>> {
        let (parts, demo) = (parts(partitions), crate::demo::tenant());
        let args: [Param<'_>; 2] = [(&parts, Type::INT4_ARRAY), (&demo.as_str(), Type::TEXT)];
        pooled!(self, |c| scheduled(&c, "m.part = ANY($1) AND m.tenant_id <> $2", &args))
    }

    async fn schedulable_versions_in(&self, partitions: &[u32]) -> StoreResult<Vec<(MonitorId, Timestamp)>> {
        let (parts, demo) = (parts(partitions), crate::demo::tenant());
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    "SELECT id, updated_at FROM monitors WHERE NOT paused AND part = ANY($1) AND tenant_id <> $2",
                    &[(&parts, Type::INT4_ARRAY), (&demo.as_str(), Type::TEXT)],
                )
                .await?;
            rows.iter()
                .map(|r| Ok((MonitorId::from_trusted(r.try_get(0)?), Timestamp::from_millis(r.try_get(1)?))))
                .collect()
        })
    }

    async fn schedulable_monitors_by_id(&self, ids: &[MonitorId]) -> StoreResult<Vec<ScheduledMonitor>> {
        let (ids, demo): (Vec<&str>, _) = (ids.iter().map(MonitorId::as_str).collect(), crate::demo::tenant());
        let args: [Param<'_>; 2] = [(&ids, Type::TEXT_ARRAY), (&demo.as_str(), Type::TEXT)];
        pooled!(self, |c| scheduled(&c, "m.id = ANY($1) AND m.tenant_id <> $2", &args))
    }

    async fn heartbeat_monitor(&self, token: &str) -> StoreResult<Option<(TenantId, MonitorId, bool)>> {
        pooled!(self, |c| async {
            let row = c
                .query_typed_opt(
                    "SELECT tenant_id, id, paused FROM monitors WHERE heartbeat_token = $1",
                    &[(&token, Type::TEXT)],
                )
                .await?;
            row.map(|r| {
                Ok((TenantId::from_trusted(r.try_get(0)?), MonitorId::from_trusted(r.try_get(1)?), r.try_get(2)?))
            })
            .transpose()
        })
    }

    async fn monitor_tenant(&self, m: &MonitorId) -> StoreResult<Option<TenantId>> {
        pooled!(self, |c| async {
            let row =
                c.query_typed_opt("SELECT tenant_id FROM monitors WHERE id = $1", &[(&m.as_str(), Type::TEXT)]).await?;
            row.map(|r| Ok(TenantId::from_trusted(r.try_get(0)?))).transpose()
        })
    }

    async fn monitor_state(&self, t: &TenantId, m: &MonitorId) -> StoreResult<Option<MonitorState>> {
        pooled!(self, |c| async {
            let row = c
                .query_typed_opt(
                    "SELECT state FROM monitor_state WHERE tenant_id = $1 AND monitor_id = $2",
                    &[(&t.as_str(), Type::TEXT), (&m.as_str(), Type::TEXT)],
                )
                .await?;
            row.map(|r| Ok(serde_json::from_str(&r.try_get::<_, String>(0)?)?)).transpose()
        })
    }

    /// A health change always writes the state row, and every write of a state row logs its
    /// monitor in `state_touches` (`at`: the database's clock), so the monitors touched since
    /// `since` include every one whose health changed. Older than the touches are trusted:
    /// every monitor of the tenant.
    async fn health_changed_since(&self, t: &TenantId, since: Timestamp) -> StoreResult<Vec<(MonitorId, Health)>> {
        pooled!(self, |c| async {
            let rows = if crate::clock::now().millis().saturating_sub(since.millis()) > TOUCHES_TRUSTED_MS {
                c.query_typed(
                    "SELECT s.monitor_id, s.health FROM monitors m JOIN monitor_state s ON s.monitor_id = m.id \
                     WHERE m.tenant_id = $1 AND s.tenant_id = $1 ORDER BY s.monitor_id",
                    &[(&t.as_str(), Type::TEXT)],
                )
                .await?
            } else {
                c.query_typed(
                    "SELECT s.monitor_id, s.health FROM monitor_state s WHERE s.tenant_id = $1 \
                     AND s.monitor_id IN (SELECT monitor_id FROM state_touches WHERE at >= $2) ORDER BY s.monitor_id",
                    &[(&t.as_str(), Type::TEXT), (&since.millis(), Type::INT8)],
                )
                .await?
            };
            rows.iter()
                .map(|r| {
                    let health = serde_json::from_value(serde_json::Value::String(r.try_get(1)?))?;
                    Ok((MonitorId::from_trusted(r.try_get(0)?), health))
                })
                .collect()
        })
    }
}

/// How far back `state_touches` is trusted to name every state row written: touches are kept
/// ten minutes by the database's clock (postgres/hot.rs); half of that leaves room for
/// the engine's clock to differ from the database's.
const TOUCHES_TRUSTED_MS: i64 = 300_000;

/// A monitor row with its stored state's display columns.
const MONITOR_COLS: &str = "m.id, m.tenant_id, m.draft, m.heartbeat_token, m.created_at, m.updated_at, \
     s.health, s.last_checked_at, s.last_outcome, s.last_latency_ms, s.last_error, s.last_success_at, s.open_incident";

/// The unpaused monitors that match `only` (a condition on `m`, the monitors row, over `args`).
async fn scheduled(c: &Client, only: &str, args: &[Param<'_>]) -> StoreResult<Vec<ScheduledMonitor>> {
    let sql = format!(
        "SELECT {MONITOR_COLS} FROM monitors m LEFT JOIN monitor_state s ON s.monitor_id = m.id \
         WHERE NOT m.paused AND {only}"
    );
    let rows = c.query_typed(&sql, args).await?;
    rows.iter()
        .map(|r| {
            let v = monitor_view(r)?;
            Ok(ScheduledMonitor {
                tenant_id: v.record.tenant_id.clone(),
                last_success_at: v.status.last_success_at,
                record: v.record,
            })
        })
        .collect()
}

/// `partitions` as the `part` values they are.
fn parts(partitions: &[u32]) -> Vec<i32> {
    partitions.iter().map(|p| *p as i32).collect()
}

/// [`MONITOR_COLS`] with the "last checked" columns taken from the monitor's newest stored
/// result (`l`, see [`LATEST`]): ingest writes a state row only when the state changes how
/// the monitor behaves (postgres/hot.rs), so the row's own columns are only as new as
/// its last write. `last_success_at` is the later of the row's (written at least when the
/// monitor starts failing) and the newest result's if that one succeeded. The row's columns
/// stand in once retention has removed every raw result.
const MONITOR_COLS_LIVE: &str = "m.id, m.tenant_id, m.draft, m.heartbeat_token, m.created_at, m.updated_at, \
     s.health, COALESCE(l.started_at, s.last_checked_at), \
     CASE WHEN l.started_at IS NULL THEN s.last_outcome ELSE l.outcome END, \
     CASE WHEN l.started_at IS NULL THEN s.last_latency_ms ELSE l.total_ms END, \
     CASE WHEN l.started_at IS NULL THEN s.last_error ELSE l.error END, \
     GREATEST(s.last_success_at, CASE WHEN l.outcome IN ('up', 'degraded') THEN l.started_at END), s.open_incident";

/// The newest stored result of monitor `m` started in `[$3, $4)` (the recent days,
/// [`days::recent`]: one backward step of `check_results_by_monitor` in the newest of their
/// partitions), or if none, the newest of all (one step in every partition).
const LATEST: &str = "LEFT JOIN LATERAL ( \
     (SELECT r.started_at, r.outcome, r.total_ms, r.error FROM check_results r \
      WHERE r.monitor_id = m.id AND r.tenant_id = m.tenant_id AND r.started_at >= $3 AND r.started_at < $4 \
      ORDER BY r.started_at DESC LIMIT 1) \
     UNION ALL (SELECT r.started_at, r.outcome, r.total_ms, r.error FROM check_results r \
      WHERE r.monitor_id = m.id AND r.tenant_id = m.tenant_id ORDER BY r.started_at DESC LIMIT 1) \
     LIMIT 1) l ON TRUE";

fn monitor_view(r: &Row) -> StoreResult<MonitorView> {
    let draft: String = r.try_get(2)?;
    let record = MonitorRecord {
        id: MonitorId::from_trusted(r.try_get(0)?),
        tenant_id: TenantId::from_trusted(r.try_get(1)?),
        draft: serde_json::from_str(&draft)?,
        heartbeat_token: r.try_get(3)?,
        created_at: Timestamp::from_millis(r.try_get(4)?),
        updated_at: Timestamp::from_millis(r.try_get(5)?),
    };
    let health: Option<String> = r.try_get(6)?;
    let status = MonitorStatus {
        health: health.and_then(|h| serde_json::from_value(serde_json::Value::String(h)).ok()).unwrap_or_default(),
        open_incident: r.try_get::<_, Option<String>>(12)?.map(IncidentId::from_trusted),
        ..super::state::status_of(r, 7)?
    };
    Ok(MonitorView { record, status })
}

/// `t`'s monitors with their status, or only the monitor `only`.
async fn views(c: &Client, t: &TenantId, only: Option<&MonitorId>) -> StoreResult<Vec<MonitorView>> {
    let sql = format!(
        "SELECT {MONITOR_COLS_LIVE} FROM monitors m LEFT JOIN monitor_state s ON s.monitor_id = m.id {LATEST} \
         WHERE m.tenant_id = $1 AND ($2::text IS NULL OR m.id = $2) ORDER BY m.created_at, m.id"
    );
    let (recent, soon) = days::recent(crate::clock::now());
    let rows = c
        .query_typed(
            &sql,
            &[
                (&t.as_str(), Type::TEXT),
                (&only.map(MonitorId::as_str), Type::TEXT),
                (&recent, Type::INT8),
                (&soon, Type::INT8),
            ],
        )
        .await?;
    rows.iter().map(monitor_view).collect()
}

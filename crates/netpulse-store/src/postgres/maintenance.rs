//! Maintenance windows in PostgreSQL: stored windows, and the transitions that start and end
//! them through the state machine, in the same transaction as the step they cause. Due rows
//! are taken with `FOR UPDATE SKIP LOCKED`, so two engine nodes never fire one transition.

use super::incidents::step_one;
use super::{Param, PgStore};
use crate::*;
use async_trait::async_trait;
use netpulse_core::incident::Observation;
use netpulse_core::{MonitorId, TenantId, Timestamp};
use tokio_postgres::types::Type;
use tokio_postgres::{Row, Transaction};

pub(super) const COLS: &str = "id, monitor_id, starts_at, ends_at, repeat_every_s, reason, phase, announce, updated_at";

#[async_trait]
impl MaintenanceStore for PgStore {
    async fn create_maintenance(&self, t: &TenantId, w: &MaintenanceWindow) -> StoreResult<()> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            tx.execute_typed(
                "INSERT INTO maintenance_windows \
                 (id, tenant_id, monitor_id, starts_at, ends_at, repeat_every_s, reason, phase, announce, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'scheduled', $8, $9)",
                &[
                    (&w.id.as_str(), Type::TEXT),
                    (&t.as_str(), Type::TEXT),
                    (&w.monitor_id.as_str(), Type::TEXT),
                    (&w.starts_at.millis(), Type::INT8),
                    (&w.ends_at.millis(), Type::INT8),
                    (&w.repeat_every_s, Type::INT8),
                    (&w.reason.as_str(), Type::TEXT),
                    (&w.announce, Type::BOOL),
                    (&w.updated_at.millis(), Type::INT8),
                ],
            )
            .await?;
            if w.announce {
                super::subscribers::queue_notices(&tx, t, w.monitor_id.as_str(), &w.id, crate::clock::now()).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    async fn list_maintenance(&self, t: &TenantId, m: &MonitorId) -> StoreResult<Vec<MaintenanceWindow>> {
        pooled!(self, |c| async {
            let sql = format!(
                "SELECT {COLS} FROM maintenance_windows WHERE tenant_id = $1 AND monitor_id = $2 ORDER BY starts_at, id"
            );
            let rows = c.query_typed(&sql, &[(&t.as_str(), Type::TEXT), (&m.as_str(), Type::TEXT)]).await?;
            rows.iter().map(|r| window_at(r, 0)).collect()
        })
    }

    async fn get_maintenance(&self, t: &TenantId, id: &str) -> StoreResult<Option<MaintenanceWindow>> {
        pooled!(self, |c| async {
            let sql = format!("SELECT {COLS} FROM maintenance_windows WHERE tenant_id = $1 AND id = $2");
            let row = c.query_typed_opt(&sql, &[(&t.as_str(), Type::TEXT), (&id, Type::TEXT)]).await?;
            row.map(|r| window_at(&r, 0)).transpose()
        })
    }

    async fn cancel_maintenance_if(
        &self,
        t: &TenantId,
        id: &str,
        now: Timestamp,
        expected: Option<Timestamp>,
    ) -> StoreResult<Conditional> {
        let cache = &self.drafts;
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let sql = format!(
                "DELETE FROM maintenance_windows WHERE tenant_id = $1 AND id = $2 \
                 AND ($3::BIGINT IS NULL OR updated_at = $3) RETURNING {COLS}"
            );
            let args: [Param<'_>; 3] =
                [(&t.as_str(), Type::TEXT), (&id, Type::TEXT), (&expected.map(|e| e.millis()), Type::INT8)];
            let Some(row) = tx.query_typed_opt(&sql, &args).await? else {
                let exists = tx
                    .query_typed_opt(
                        "SELECT 1 FROM maintenance_windows WHERE tenant_id = $1 AND id = $2",
                        &[(&t.as_str(), Type::TEXT), (&id, Type::TEXT)],
                    )
                    .await?;
                return Ok(Conditional::of(false, exists.is_some()));
            };
            let w = window_at(&row, 0)?;
            if w.phase == "active" && !other_active(&tx, t, &w.monitor_id).await? {
                step_one(&tx, cache, t, &w.monitor_id, Observation::Maintenance { at: now, active: false }, now)
                    .await?;
            }
            tx.commit().await?;
            Ok(Conditional::Updated)
        })
    }

    async fn advance_maintenance(&self, now: Timestamp) -> StoreResult<usize> {
        let cache = &self.drafts;
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let sql = format!(
                "SELECT tenant_id, {COLS} FROM maintenance_windows \
                 WHERE (phase = 'scheduled' AND starts_at <= $1) OR (phase = 'active' AND ends_at <= $1) \
                 ORDER BY starts_at LIMIT 200 FOR UPDATE SKIP LOCKED"
            );
            let rows = tx.query_typed(&sql, &[(&now.millis(), Type::INT8)]).await?;
            let mut due = Vec::with_capacity(rows.len());
            for r in &rows {
                due.push((TenantId::from_trusted(r.try_get(0)?), window_at(r, 1)?));
            }
            // Take the monitors' partitions first, all at once in partition order, then step the
            // monitors in id order: the lock order of every writer (see `ingest`), so a sweep and an
            // ingest batch never wait for each other in a cycle.
            let monitors: Vec<&MonitorId> = due.iter().map(|(_, w)| &w.monitor_id).collect();
            super::hot::touch(&tx, &monitors).await?;
            due.sort_by(|a, b| (a.1.monitor_id.as_str(), a.1.starts_at).cmp(&(b.1.monitor_id.as_str(), b.1.starts_at)));
            for (t, w) in due {
                let moved = advance(&w, now);
                if let Some(obs) = moved.starts {
                    step_one(&tx, cache, &t, &w.monitor_id, obs, now).await?;
                }
                tx.execute_typed(
                    "UPDATE maintenance_windows SET phase = $2, starts_at = $3, ends_at = $4, \
                     updated_at = GREATEST($5, updated_at + 1) WHERE id = $1",
                    &[
                        (&w.id.as_str(), Type::TEXT),
                        (&moved.phase, Type::TEXT),
                        (&moved.starts_at.millis(), Type::INT8),
                        (&moved.ends_at.millis(), Type::INT8),
                        (&now.millis(), Type::INT8),
                    ],
                )
                .await?;
                if moved.stopped {
                    if let Some(obs) = maintenance_ends(other_active(&tx, &t, &w.monitor_id).await?, now) {
                        step_one(&tx, cache, &t, &w.monitor_id, obs, now).await?;
                    }
                }
            }
            tx.commit().await?;
            Ok(rows.len())
        })
    }

    async fn next_maintenance_change(&self) -> StoreResult<Option<Timestamp>> {
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    "SELECT min(CASE phase WHEN 'scheduled' THEN starts_at ELSE ends_at END) \
                     FROM maintenance_windows WHERE phase IN ('scheduled', 'active')",
                    &[],
                )
                .await?;
            let next: Option<i64> = rows.first().map(|r| r.try_get(0)).transpose()?.flatten();
            Ok(next.map(Timestamp::from_millis))
        })
    }
}

pub(super) fn window_at(r: &Row, first: usize) -> StoreResult<MaintenanceWindow> {
    Ok(MaintenanceWindow {
        id: r.try_get(first)?,
        monitor_id: MonitorId::from_trusted(r.try_get(first + 1)?),
        starts_at: Timestamp::from_millis(r.try_get(first + 2)?),
        ends_at: Timestamp::from_millis(r.try_get(first + 3)?),
        repeat_every_s: r.try_get(first + 4)?,
        reason: r.try_get(first + 5)?,
        phase: r.try_get(first + 6)?,
        announce: r.try_get(first + 7)?,
        updated_at: Timestamp::from_millis(r.try_get(first + 8)?),
    })
}

async fn other_active(tx: &Transaction<'_>, t: &TenantId, m: &MonitorId) -> StoreResult<bool> {
    let row = tx
        .query_typed_opt(
            "SELECT 1 FROM maintenance_windows WHERE tenant_id = $1 AND monitor_id = $2 AND phase = 'active' LIMIT 1",
            &[(&t.as_str(), Type::TEXT), (&m.as_str(), Type::TEXT)],
        )
        .await?;
    Ok(row.is_some())
}

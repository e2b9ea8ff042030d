//! Maintenance windows in SQLite: stored windows, and the transitions that start and end
//! them through the state machine, each window's transition in the same transaction as its
//! step so it fires once.

use super::state::step_one;
use super::SqliteStore;
use crate::*;
use async_trait::async_trait;
use netpulse_core::incident::Observation;
use netpulse_core::{MonitorId, TenantId, Timestamp};
use rusqlite::{params, OptionalExtension, Row, Transaction};

pub(super) const COLS: &str = "id, monitor_id, starts_at, ends_at, repeat_every_s, reason, phase, announce, updated_at";

#[async_trait]
impl MaintenanceStore for SqliteStore {
    async fn create_maintenance(&self, t: &TenantId, w: &MaintenanceWindow) -> StoreResult<()> {
        let (t, w) = (t.clone(), w.clone());
        self.write(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO maintenance_windows \
                 (id, tenant_id, monitor_id, starts_at, ends_at, repeat_every_s, reason, phase, announce, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'scheduled', ?8, ?9)",
                params![
                    w.id,
                    t.as_str(),
                    w.monitor_id.as_str(),
                    w.starts_at.millis(),
                    w.ends_at.millis(),
                    w.repeat_every_s,
                    w.reason,
                    w.announce,
                    w.updated_at.millis()
                ],
            )?;
            if w.announce {
                super::subscribers::queue_notices(&tx, &t, w.monitor_id.as_str(), &w.id, crate::clock::now())?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn list_maintenance(&self, t: &TenantId, m: &MonitorId) -> StoreResult<Vec<MaintenanceWindow>> {
        let (t, m) = (t.clone(), m.clone());
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLS} FROM maintenance_windows WHERE tenant_id = ?1 AND monitor_id = ?2 ORDER BY starts_at, id"
            ))?;
            let rows = stmt.query_map(params![t.as_str(), m.as_str()], window)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn get_maintenance(&self, t: &TenantId, id: &str) -> StoreResult<Option<MaintenanceWindow>> {
        let (t, id) = (t.clone(), id.to_owned());
        self.read(move |c| {
            let sql = format!("SELECT {COLS} FROM maintenance_windows WHERE tenant_id = ?1 AND id = ?2");
            Ok(c.query_row(&sql, params![t.as_str(), id], window).optional()?)
        })
        .await
    }

    async fn cancel_maintenance_if(
        &self,
        t: &TenantId,
        id: &str,
        now: Timestamp,
        expected: Option<Timestamp>,
    ) -> StoreResult<Conditional> {
        let (t, id) = (t.clone(), id.to_owned());
        self.write(move |c| {
            let tx = c.transaction()?;
            let found = tx
                .query_row(
                    &format!("SELECT {COLS} FROM maintenance_windows WHERE tenant_id = ?1 AND id = ?2"),
                    params![t.as_str(), id],
                    window,
                )
                .optional()?;
            let Some(w) = found else { return Ok(Conditional::Missing) };
            if expected.is_some_and(|e| e != w.updated_at) {
                return Ok(Conditional::Changed);
            }
            tx.execute("DELETE FROM maintenance_windows WHERE tenant_id = ?1 AND id = ?2", params![t.as_str(), id])?;
            if w.phase == "active" && !other_active(&tx, &t, &w.monitor_id)? {
                step_one(&tx, &t, &w.monitor_id, Observation::Maintenance { at: now, active: false }, now)?;
            }
            tx.commit()?;
            Ok(Conditional::Updated)
        })
        .await
    }

    async fn advance_maintenance(&self, now: Timestamp) -> StoreResult<usize> {
        self.write(move |c| {
            let tx = c.transaction()?;
            let due: Vec<(String, MaintenanceWindow)> = {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT tenant_id, {COLS} FROM maintenance_windows \
                     WHERE (phase = 'scheduled' AND starts_at <= ?1) OR (phase = 'active' AND ends_at <= ?1) ORDER BY starts_at LIMIT 200"
                ))?;
                let rows = stmt.query_map([now.millis()], |r| Ok((r.get::<_, String>(0)?, window_at(r)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            for (tenant, w) in &due {
                let t = TenantId::from_trusted(tenant.clone());
                let moved = advance(w, now);
                if let Some(obs) = moved.starts {
                    step_one(&tx, &t, &w.monitor_id, obs, now)?;
                }
                tx.execute(
                    "UPDATE maintenance_windows SET phase = ?2, starts_at = ?3, ends_at = ?4, \
                     updated_at = MAX(?5, updated_at + 1) WHERE id = ?1",
                    params![w.id, moved.phase, moved.starts_at.millis(), moved.ends_at.millis(), now.millis()],
                )?;
                if moved.stopped {
                    if let Some(obs) = maintenance_ends(other_active(&tx, &t, &w.monitor_id)?, now) {
                        step_one(&tx, &t, &w.monitor_id, obs, now)?;
                    }
                }
            }
            tx.commit()?;
            Ok(due.len())
        })
        .await
    }

    async fn next_maintenance_change(&self) -> StoreResult<Option<Timestamp>> {
        self.read(|c| {
            let next: Option<i64> = c.query_row(
                "SELECT min(CASE phase WHEN 'scheduled' THEN starts_at ELSE ends_at END) \
                 FROM maintenance_windows WHERE phase IN ('scheduled', 'active')",
                [],
                |r| r.get(0),
            )?;
            Ok(next.map(Timestamp::from_millis))
        })
        .await
    }
}

fn window(r: &Row<'_>) -> rusqlite::Result<MaintenanceWindow> {
    window_from(r, 0)
}

/// The row with `tenant_id` first.
fn window_at(r: &Row<'_>) -> rusqlite::Result<MaintenanceWindow> {
    window_from(r, 1)
}

/// A window from the row's [`COLS`], the first at column `first`.
pub(super) fn window_from(r: &Row<'_>, first: usize) -> rusqlite::Result<MaintenanceWindow> {
    Ok(MaintenanceWindow {
        id: r.get(first)?,
        monitor_id: MonitorId::from_trusted(r.get(first + 1)?),
        starts_at: Timestamp::from_millis(r.get(first + 2)?),
        ends_at: Timestamp::from_millis(r.get(first + 3)?),
        repeat_every_s: r.get(first + 4)?,
        reason: r.get(first + 5)?,
        phase: r.get(first + 6)?,
        announce: r.get(first + 7)?,
        updated_at: Timestamp::from_millis(r.get(first + 8)?),
    })
}

fn other_active(tx: &Transaction<'_>, t: &TenantId, m: &MonitorId) -> StoreResult<bool> {
    Ok(tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM maintenance_windows WHERE tenant_id = ?1 AND monitor_id = ?2 AND phase = 'active')",
        params![t.as_str(), m.as_str()],
        |r| r.get(0),
    )?)
}

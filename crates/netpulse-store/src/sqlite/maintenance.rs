//! Maintenance windows in SQLite: stored windows, and the transitions that start and end
//! them through the state machine, each window's transition in the same transaction as its
//! step so it fires once.

use super::ingest::step_one;
use crate::*;
use netpulse_core::incident::Observation;
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

const COLS: &str = "id, monitor_id, starts_at, ends_at, repeat_every_s, reason, phase";

fn window(r: &Row<'_>) -> rusqlite::Result<MaintenanceWindow> {
    Ok(MaintenanceWindow {
        id: r.get(0)?,
        monitor_id: MonitorId::from_trusted(r.get(1)?),
        starts_at: Timestamp::from_millis(r.get(2)?),
        ends_at: Timestamp::from_millis(r.get(3)?),
        repeat_every_s: r.get(4)?,
        reason: r.get(5)?,
        phase: r.get(6)?,
    })
}

pub fn create(c: &mut Connection, t: &TenantId, w: &MaintenanceWindow) -> StoreResult<()> {
    c.execute(
        "INSERT INTO maintenance_windows (id, tenant_id, monitor_id, starts_at, ends_at, repeat_every_s, reason, phase) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'scheduled')",
        params![w.id, t.as_str(), w.monitor_id.as_str(), w.starts_at.millis(), w.ends_at.millis(), w.repeat_every_s, w.reason],
    )?;
    Ok(())
}

pub fn list(c: &Connection, t: &TenantId, m: &MonitorId) -> StoreResult<Vec<MaintenanceWindow>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {COLS} FROM maintenance_windows WHERE tenant_id = ?1 AND monitor_id = ?2 ORDER BY starts_at, id"
    ))?;
    let rows = stmt.query_map(params![t.as_str(), m.as_str()], window)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn cancel(c: &mut Connection, t: &TenantId, id: &str, now: Timestamp) -> StoreResult<bool> {
    let tx = c.transaction()?;
    let found = tx
        .query_row(
            &format!("SELECT {COLS} FROM maintenance_windows WHERE tenant_id = ?1 AND id = ?2"),
            params![t.as_str(), id],
            window,
        )
        .optional()?;
    let Some(w) = found else { return Ok(false) };
    tx.execute("DELETE FROM maintenance_windows WHERE tenant_id = ?1 AND id = ?2", params![t.as_str(), id])?;
    if w.phase == "active" && !other_active(&tx, t, &w.monitor_id)? {
        step_one(&tx, t, &w.monitor_id, Observation::Maintenance { at: now, active: false }, now)?;
    }
    tx.commit()?;
    Ok(true)
}

fn other_active(tx: &Transaction<'_>, t: &TenantId, m: &MonitorId) -> StoreResult<bool> {
    Ok(tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM maintenance_windows WHERE tenant_id = ?1 AND monitor_id = ?2 AND phase = 'active')",
        params![t.as_str(), m.as_str()],
        |r| r.get(0),
    )?)
}

pub fn advance(c: &mut Connection, now: Timestamp) -> StoreResult<usize> {
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
        let (phase, next) = transition(w, now);
        if phase == "active" && w.phase == "scheduled" {
            step_one(&tx, &t, &w.monitor_id, Observation::Maintenance { at: now, active: true }, now)?;
        }
        tx.execute(
            "UPDATE maintenance_windows SET phase = ?2, starts_at = ?3, ends_at = ?4 WHERE id = ?1",
            params![w.id, phase, next.0.millis(), next.1.millis()],
        )?;
        if w.phase == "active" && phase != "active" && !other_active(&tx, &t, &w.monitor_id)? {
            step_one(&tx, &t, &w.monitor_id, Observation::Maintenance { at: now, active: false }, now)?;
        }
    }
    tx.commit()?;
    Ok(due.len())
}

/// The row with `tenant_id` first.
fn window_at(r: &Row<'_>) -> rusqlite::Result<MaintenanceWindow> {
    Ok(MaintenanceWindow {
        id: r.get(1)?,
        monitor_id: MonitorId::from_trusted(r.get(2)?),
        starts_at: Timestamp::from_millis(r.get(3)?),
        ends_at: Timestamp::from_millis(r.get(4)?),
        repeat_every_s: r.get(5)?,
        reason: r.get(6)?,
        phase: r.get(7)?,
    })
}

//! Incidents in SQLite: reads, a person's commands and other observations, each stepped
//! through the state machine in one transaction, and the timer sweep's due list.

use super::state::step_one;
use super::SqliteStore;
use crate::*;
use async_trait::async_trait;
use netpulse_core::incident::Observation;
use netpulse_core::{IncidentId, MonitorId, TenantId, Timestamp};
use rusqlite::{params, Connection, OptionalExtension, Row};

#[async_trait]
impl IncidentStore for SqliteStore {
    async fn list_incidents(&self, t: &TenantId, f: &IncidentFilter, limit: usize) -> StoreResult<Vec<IncidentRecord>> {
        let (t, f) = (t.clone(), f.clone());
        self.read(move |c| incidents(c, &t, &f, None, limit)).await
    }

    async fn get_incident(
        &self,
        t: &TenantId,
        id: &IncidentId,
    ) -> StoreResult<Option<(IncidentRecord, Vec<TimelineEntry>)>> {
        let (t, id) = (t.clone(), id.clone());
        self.read(move |c| {
            let Some(rec) = incidents(c, &t, &IncidentFilter::default(), Some(&id), 1)?.pop() else {
                return Ok(None);
            };
            let mut stmt = c.prepare_cached(
                "SELECT at, message FROM incident_events WHERE tenant_id = ?1 AND incident_id = ?2 ORDER BY seq",
            )?;
            let timeline = stmt
                .query_map(params![t.as_str(), id.as_str()], |r| {
                    Ok(TimelineEntry { at: Timestamp::from_millis(r.get(0)?), message: r.get(1)? })
                })?
                .collect::<Result<_, _>>()?;
            Ok(Some((rec, timeline)))
        })
        .await
    }

    async fn incident_command(
        &self,
        t: &TenantId,
        id: &IncidentId,
        cmd: IncidentCommand,
        now: Timestamp,
    ) -> StoreResult<Option<IncidentRecord>> {
        let (t, id) = (t.clone(), id.clone());
        self.write(move |c| {
            let tx = c.transaction()?;
            let monitor: Option<String> = tx
                .prepare_cached("SELECT monitor_id FROM incidents WHERE tenant_id = ?1 AND id = ?2")?
                .query_row(params![t.as_str(), id.as_str()], |r| r.get(0))
                .optional()?;
            let Some(monitor) = monitor.map(MonitorId::from_trusted) else {
                return Ok(None);
            };
            let obs = match cmd {
                IncidentCommand::Acknowledge { by } => Observation::Acknowledge { incident: id.clone(), at: now, by },
                IncidentCommand::Resolve { by } => Observation::Resolve { incident: id.clone(), at: now, by },
            };
            match step_one(&tx, &t, &monitor, obs, now)? {
                None => return Ok(None),
                Some(0) => {
                    return Err(StoreError::Conflict(format!("incident {id} is not open (or already acknowledged)")))
                }
                Some(_) => {}
            }
            let rec = incidents(&tx, &t, &IncidentFilter::default(), Some(&id), 1)?.pop();
            tx.commit()?;
            Ok(rec)
        })
        .await
    }

    async fn observe(
        &self,
        t: &TenantId,
        m: &MonitorId,
        obs: Observation,
        now: Timestamp,
    ) -> StoreResult<Option<usize>> {
        let (t, m) = (t.clone(), m.clone());
        self.write(move |c| {
            let tx = c.transaction()?;
            let before = step_one(&tx, &t, &m, obs, now)?;
            tx.commit()?;
            Ok(before)
        })
        .await
    }

    async fn due_timers(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<(TenantId, MonitorId)>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT tenant_id, monitor_id FROM monitor_state WHERE timer_at IS NOT NULL AND timer_at <= ?1 \
                 ORDER BY timer_at LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![now.millis(), limit as i64], |r| {
                Ok((TenantId::from_trusted(r.get(0)?), MonitorId::from_trusted(r.get(1)?)))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}

fn incident_row(r: &Row<'_>) -> rusqlite::Result<IncidentRecord> {
    let status: String = r.get(3)?;
    Ok(IncidentRecord {
        id: IncidentId::from_trusted(r.get(0)?),
        monitor_id: MonitorId::from_trusted(r.get(1)?),
        monitor_name: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        status: IncidentStatus::parse(&status),
        cause: r.get(4)?,
        flapping: r.get(5)?,
        opened_at: Timestamp::from_millis(r.get(6)?),
        acknowledged_at: r.get::<_, Option<i64>>(7)?.map(Timestamp::from_millis),
        acknowledged_by: r.get(8)?,
        resolved_at: r.get::<_, Option<i64>>(9)?.map(Timestamp::from_millis),
        resolved_by: r.get(10)?,
    })
}

/// `t`'s incidents passing `f` (or only the incident `only`), newest first, at most `limit`.
fn incidents(
    c: &Connection,
    t: &TenantId,
    f: &IncidentFilter,
    only: Option<&IncidentId>,
    limit: usize,
) -> StoreResult<Vec<IncidentRecord>> {
    let mut stmt = c.prepare_cached(
        "SELECT i.id, i.monitor_id, m.name, i.status, i.cause, i.flapping, i.opened_at, i.acknowledged_at, i.acknowledged_by, \
         i.resolved_at, i.resolved_by FROM incidents i LEFT JOIN monitors m ON m.id = i.monitor_id AND m.tenant_id = i.tenant_id \
         WHERE i.tenant_id = ?1 AND (?2 IS NULL OR i.monitor_id = ?2) AND (?3 = 0 OR i.status != 'resolved') AND (?4 IS NULL OR i.id = ?4) \
         ORDER BY i.opened_at DESC, i.id DESC LIMIT ?5",
    )?;
    let rows = stmt.query_map(
        params![
            t.as_str(),
            f.monitor.as_ref().map(MonitorId::as_str),
            f.open_only,
            only.map(IncidentId::as_str),
            limit as i64
        ],
        incident_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

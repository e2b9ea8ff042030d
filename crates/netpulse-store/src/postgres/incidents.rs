//! Incidents in PostgreSQL: reads, a person's commands and other observations, each stepped
//! through the state machine in one transaction under the monitor's row lock (see
//! [`super::state`]), the writes a step's plan asks for, and the timer sweep's due list.

use super::facts::DraftCache;
use super::hot;
use super::state::{facts_of, load_states, lock_monitors, save_states, StateRow};
use super::PgStore;
use crate::plan::{plan, MonitorFacts, Write};
use crate::*;
use async_trait::async_trait;
use netpulse_core::incident::{MonitorState, Observation};
use netpulse_core::{IncidentId, MonitorId, TenantId, Timestamp};
use tokio_postgres::types::Type;
use tokio_postgres::{GenericClient, Row, Transaction};

#[async_trait]
impl IncidentStore for PgStore {
    async fn list_incidents(&self, t: &TenantId, f: &IncidentFilter, limit: usize) -> StoreResult<Vec<IncidentRecord>> {
        pooled!(self, |c| incidents(&*c, t, f, None, limit))
    }

    /// The incident and its timeline, read in one transaction so they agree.
    async fn get_incident(
        &self,
        t: &TenantId,
        id: &IncidentId,
    ) -> StoreResult<Option<(IncidentRecord, Vec<TimelineEntry>)>> {
        pooled!(self, |c| async {
            let tx =
                c.build_transaction().read_only(true).isolation_level(tokio_postgres::IsolationLevel::RepeatableRead);
            let tx = tx.start().await?;
            let Some(rec) = incidents(&tx, t, &IncidentFilter::default(), Some(id), 1).await?.pop() else {
                return Ok(None);
            };
            let rows = tx
                .query_typed(
                    "SELECT at, message FROM incident_events WHERE tenant_id = $1 AND incident_id = $2 ORDER BY seq",
                    &[(&t.as_str(), Type::TEXT), (&id.as_str(), Type::TEXT)],
                )
                .await?;
            let timeline = rows
                .iter()
                .map(|r| Ok(TimelineEntry { at: Timestamp::from_millis(r.try_get(0)?), message: r.try_get(1)? }))
                .collect::<StoreResult<_>>()?;
            tx.commit().await?;
            Ok(Some((rec, timeline)))
        })
    }

    async fn incident_command(
        &self,
        t: &TenantId,
        id: &IncidentId,
        cmd: IncidentCommand,
        now: Timestamp,
    ) -> StoreResult<Option<IncidentRecord>> {
        let cache = &self.drafts;
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let monitor = tx
                .query_typed_opt(
                    "SELECT monitor_id FROM incidents WHERE tenant_id = $1 AND id = $2",
                    &[(&t.as_str(), Type::TEXT), (&id.as_str(), Type::TEXT)],
                )
                .await?;
            let Some(monitor) = monitor.map(|r| r.try_get::<_, String>(0)).transpose()?.map(MonitorId::from_trusted)
            else {
                return Ok(None);
            };
            let Some((facts, state, status)) = lock_one(&tx, cache, t, &monitor).await? else {
                return Ok(None);
            };
            let obs = match cmd {
                IncidentCommand::Acknowledge { by } => Observation::Acknowledge { incident: id.clone(), at: now, by },
                IncidentCommand::Resolve { by } => Observation::Resolve { incident: id.clone(), at: now, by },
            };
            let p = plan(&facts, state, &[obs]);
            if p.writes.is_empty() {
                return Err(StoreError::Conflict(format!("incident {id} is not open (or already acknowledged)")));
            }
            execute(&tx, &facts, &p.writes, now).await?;
            save_states(&tx, &[StateRow { facts: &facts, state: p.state, status }]).await?;
            let rec = incidents(&tx, t, &IncidentFilter::default(), Some(id), 1).await?.pop();
            tx.commit().await?;
            Ok(rec)
        })
    }

    async fn observe(
        &self,
        t: &TenantId,
        m: &MonitorId,
        obs: Observation,
        now: Timestamp,
    ) -> StoreResult<Option<usize>> {
        let cache = &self.drafts;
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let changed = step_one(&tx, cache, t, m, obs, now).await?;
            tx.commit().await?;
            Ok(changed)
        })
    }

    async fn due_timers(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<(TenantId, MonitorId)>> {
        pooled!(self, |c| async {
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
        })
    }
}

/// Carry out the writes of a plan for the monitor `f`.
pub(super) async fn execute(
    tx: &Transaction<'_>,
    f: &MonitorFacts,
    writes: &[Write],
    now: Timestamp,
) -> StoreResult<()> {
    let t = f.tenant_id.as_str();
    for w in writes {
        match w {
            Write::OpenIncident { id, at, cause } => {
                tx.execute_typed(
                    "INSERT INTO incidents (id, tenant_id, monitor_id, status, cause, opened_at) \
                     VALUES ($1, $2, $3, 'open', $4, $5) ON CONFLICT (id) DO NOTHING",
                    &[
                        (&id.as_str(), Type::TEXT),
                        (&t, Type::TEXT),
                        (&f.id.as_str(), Type::TEXT),
                        (cause, Type::TEXT),
                        (&at.millis(), Type::INT8),
                    ],
                )
                .await?
            }
            Write::ReopenIncident { id } => {
                tx.execute_typed(
                    "UPDATE incidents SET status = 'open', flapping = TRUE, resolved_at = NULL, resolved_by = NULL, \
                     acknowledged_at = NULL, acknowledged_by = NULL WHERE tenant_id = $1 AND id = $2",
                    &[(&t, Type::TEXT), (&id.as_str(), Type::TEXT)],
                )
                .await?
            }
            Write::AcknowledgeIncident { id, at, by } => {
                tx.execute_typed(
                    "UPDATE incidents SET status = 'acknowledged', acknowledged_at = $3, acknowledged_by = $4 \
                     WHERE tenant_id = $1 AND id = $2",
                    &[(&t, Type::TEXT), (&id.as_str(), Type::TEXT), (&at.millis(), Type::INT8), (by, Type::TEXT)],
                )
                .await?
            }
            Write::ResolveIncident { id, at, by } => {
                tx.execute_typed(
                    "UPDATE incidents SET status = 'resolved', resolved_at = $3, resolved_by = $4 \
                     WHERE tenant_id = $1 AND id = $2",
                    &[(&t, Type::TEXT), (&id.as_str(), Type::TEXT), (&at.millis(), Type::INT8), (by, Type::TEXT)],
                )
                .await?
            }
            Write::Timeline { id, at, message } => {
                tx.execute_typed(
                    "INSERT INTO incident_events (tenant_id, incident_id, at, message) VALUES ($1, $2, $3, $4)",
                    &[(&t, Type::TEXT), (&id.as_str(), Type::TEXT), (&at.millis(), Type::INT8), (message, Type::TEXT)],
                )
                .await?
            }
            Write::Outbox { channel, event } => {
                let json = serde_json::to_string(event)?;
                tx.execute_typed(
                    "INSERT INTO alert_outbox (tenant_id, channel_id, dedup_key, kind, event, status, next_attempt_at, \
                     created_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) \
                     ON CONFLICT (channel_id, dedup_key) DO NOTHING",
                    &[
                        (&t, Type::TEXT),
                        (&channel.as_str(), Type::TEXT),
                        (&event.dedup_key, Type::TEXT),
                        (&event.kind.as_str(), Type::TEXT),
                        (&json, Type::TEXT),
                        (&now.millis(), Type::INT8),
                    ],
                )
                .await?
            }
        };
    }
    Ok(())
}

/// One monitor's facts and its state, read under the monitor row's lock; `None` when there
/// is no such monitor.
async fn lock_one(
    tx: &Transaction<'_>,
    cache: &DraftCache,
    t: &TenantId,
    m: &MonitorId,
) -> StoreResult<Option<(MonitorFacts, MonitorState, MonitorStatus)>> {
    hot::touch(tx, &[m]).await?;
    let found = lock_monitors(tx, &[(t.clone(), m.clone())]).await?;
    let Some(facts) = facts_of(tx, &found, cache).await?.pop().flatten() else {
        return Ok(None);
    };
    let stored = load_states(tx, &[&facts.id]).await?.remove(facts.id.as_str());
    // No row yet: the initial state.
    let (state, status) = stored.unwrap_or_default();
    Ok(Some((facts, state, status)))
}

/// Step one monitor through one observation inside `tx` and write the effects; returns how
/// many writes it made, or `None` when the monitor does not exist.
pub(super) async fn step_one(
    tx: &Transaction<'_>,
    cache: &DraftCache,
    t: &TenantId,
    m: &MonitorId,
    obs: Observation,
    now: Timestamp,
) -> StoreResult<Option<usize>> {
    let Some((facts, state, status)) = lock_one(tx, cache, t, m).await? else {
        return Ok(None);
    };
    let p = plan(&facts, state, &[obs]);
    execute(tx, &facts, &p.writes, now).await?;
    save_states(tx, &[StateRow { facts: &facts, state: p.state, status }]).await?;
    Ok(Some(p.writes.len()))
}

fn incident_row(r: &Row) -> StoreResult<IncidentRecord> {
    let status: String = r.try_get(3)?;
    Ok(IncidentRecord {
        id: IncidentId::from_trusted(r.try_get(0)?),
        monitor_id: MonitorId::from_trusted(r.try_get(1)?),
        monitor_name: r.try_get::<_, Option<String>>(2)?.unwrap_or_default(),
        status: IncidentStatus::parse(&status),
        cause: r.try_get(4)?,
        flapping: r.try_get(5)?,
        opened_at: Timestamp::from_millis(r.try_get(6)?),
        acknowledged_at: r.try_get::<_, Option<i64>>(7)?.map(Timestamp::from_millis),
        acknowledged_by: r.try_get(8)?,
        resolved_at: r.try_get::<_, Option<i64>>(9)?.map(Timestamp::from_millis),
        resolved_by: r.try_get(10)?,
    })
}

/// `t`'s incidents passing `f` (or only the incident `only`), newest first, at most `limit`.
async fn incidents(
    c: &impl GenericClient,
    t: &TenantId,
    f: &IncidentFilter,
    only: Option<&IncidentId>,
    limit: usize,
) -> StoreResult<Vec<IncidentRecord>> {
    let rows = c
        .query_typed(
            "SELECT i.id, i.monitor_id, m.name, i.status, i.cause, i.flapping, i.opened_at, i.acknowledged_at, \
             i.acknowledged_by, i.resolved_at, i.resolved_by FROM incidents i \
             LEFT JOIN monitors m ON m.id = i.monitor_id AND m.tenant_id = i.tenant_id \
             WHERE i.tenant_id = $1 AND ($2::text IS NULL OR i.monitor_id = $2) \
               AND (NOT $3 OR i.status <> 'resolved') AND ($4::text IS NULL OR i.id = $4) \
             ORDER BY i.opened_at DESC, i.id DESC LIMIT $5",
            &[
                (&t.as_str(), Type::TEXT),
                (&f.monitor.as_ref().map(MonitorId::as_str), Type::TEXT),
                (&f.open_only, Type::BOOL),
                (&only.map(IncidentId::as_str), Type::TEXT),
                (&(limit as i64), Type::INT8),
            ],
        )
        .await?;
    rows.iter().map(incident_row).collect()
}

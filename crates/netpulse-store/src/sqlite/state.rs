//! Stepping a monitor in SQLite, shared by ingest, incident commands, observations and
//! maintenance: the monitor's facts and stored state, the state row a step saves, and the
//! writes its plan asks for (incident rows, timeline lines, outbox rows), all inside the
//! caller's transaction.

use crate::plan::{plan, EnabledChannel, MonitorFacts, Write};
use crate::*;
use netpulse_core::incident::{next_timer, MonitorState, Observation};
use netpulse_core::monitor::MonitorDraft;
use netpulse_core::{IncidentId, MonitorId, Outcome, TenantId, Timestamp};
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::HashMap;

/// The monitor's name, effective policy (over its tenant's defaults, read in the same
/// transaction) and effective channels, scoped by tenant.
pub(super) fn monitor_facts(tx: &Transaction<'_>, t: &TenantId, m: &MonitorId) -> StoreResult<Option<MonitorFacts>> {
    FactsReader::default().monitor(tx, t, m)
}

/// Reads monitors' facts inside one transaction, each tenant's alerting defaults and enabled
/// channels once (a batch holds many monitors of few tenants).
#[derive(Default)]
pub(super) struct FactsReader {
    tenants: HashMap<TenantId, (AlertingDefaults, Vec<EnabledChannel>)>,
}

impl FactsReader {
    /// [`monitor_facts`], with the tenant's part read at most once per reader.
    pub(super) fn monitor(
        &mut self,
        tx: &Transaction<'_>,
        t: &TenantId,
        m: &MonitorId,
    ) -> StoreResult<Option<MonitorFacts>> {
        let draft: Option<String> = tx
            .prepare_cached("SELECT draft FROM monitors WHERE tenant_id = ?1 AND id = ?2")?
            .query_row(params![t.as_str(), m.as_str()], |r| r.get(0))
            .optional()?;
        let Some(draft) = draft else { return Ok(None) };
        let draft: MonitorDraft = serde_json::from_str(&draft)?;
        let (defaults, enabled) = match self.tenants.get(t) {
            Some(known) => known,
            None => {
                let read = tenant_alerting(tx, t)?;
                self.tenants.entry(t.clone()).or_insert(read)
            }
        };
        let parent = match &draft.depends_on {
            Some(parent) => tx
                .prepare_cached(
                    "SELECT open_incident, health FROM monitor_state WHERE tenant_id = ?1 AND monitor_id = ?2",
                )?
                .query_row(params![t.as_str(), parent.as_str()], |r| {
                    Ok((r.get::<_, Option<String>>(0)?.map(IncidentId::from_trusted), Some(r.get::<_, String>(1)?)))
                })
                .optional()?,
            None => None,
        };
        Ok(Some(MonitorFacts::from_draft(t.clone(), m.clone(), &draft, &defaults.policy, enabled.clone(), parent)))
    }
}

/// A tenant's alerting defaults and its enabled channels, oldest first.
fn tenant_alerting(tx: &Transaction<'_>, t: &TenantId) -> StoreResult<(AlertingDefaults, Vec<EnabledChannel>)> {
    let defaults: Option<String> = tx
        .prepare_cached("SELECT alerting FROM tenant_settings WHERE tenant_id = ?1")?
        .query_row([t.as_str()], |r| r.get(0))
        .optional()?
        .flatten();
    let defaults: AlertingDefaults = defaults.map(|d| serde_json::from_str(&d)).transpose()?.unwrap_or_default();
    let mut stmt = tx
        .prepare_cached("SELECT id, settings FROM channels WHERE tenant_id = ?1 AND enabled = 1 ORDER BY created_at")?;
    let enabled: Vec<EnabledChannel> = stmt
        .query_map([t.as_str()], |r| Ok(EnabledChannel::from_row(r.get(0)?, &r.get::<_, String>(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok((defaults, enabled))
}

/// The monitor's stored state and status; the initial ones when it has no state row yet.
pub(super) fn load_state(tx: &Transaction<'_>, m: &MonitorId) -> StoreResult<(MonitorState, MonitorStatus)> {
    let row = tx
        .prepare_cached("SELECT state, last_checked_at, last_outcome, last_latency_ms, last_error, last_success_at FROM monitor_state WHERE monitor_id = ?1")?
        .query_row(
            [m.as_str()],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    MonitorStatus {
                        last_checked_at: r.get::<_, Option<i64>>(1)?.map(Timestamp::from_millis),
                        last_outcome: r.get::<_, Option<String>>(2)?.and_then(|o| Outcome::parse(&o)),
                        last_latency_ms: r.get(3)?,
                        last_error: r.get(4)?,
                        last_success_at: r.get::<_, Option<i64>>(5)?.map(Timestamp::from_millis),
                        ..MonitorStatus::default()
                    },
                ))
            },
        )
        .optional()?;
    match row {
        Some((state, status)) => Ok((serde_json::from_str(&state)?, status)),
        None => Ok(Default::default()),
    }
}

/// Write a monitor's state row; `health_changed_at` stays as it was unless the health
/// changed, then it becomes `now` (the overview's catch-up reads it, `health_changed_since`).
pub(super) fn save_state(
    tx: &Transaction<'_>,
    f: &MonitorFacts,
    state: &MonitorState,
    s: &MonitorStatus,
    now: Timestamp,
) -> StoreResult<()> {
    let timer = next_timer(state, &f.policy);
    if timer.is_some() {
        super::alert_work_written();
    }
    // An upsert, not `INSERT OR REPLACE`: the row keeps its rowid and page, so its indexes are
    // rewritten only when their columns change (a replace deleted and re-added the row and
    // every index entry of it on each save).
    tx.prepare_cached(
        "INSERT INTO monitor_state (monitor_id, tenant_id, state, health, last_checked_at, last_outcome, last_latency_ms, \
         last_error, last_success_at, open_incident, timer_at, health_changed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
         ON CONFLICT (monitor_id) DO UPDATE SET tenant_id = excluded.tenant_id, state = excluded.state, health = excluded.health, \
         last_checked_at = excluded.last_checked_at, last_outcome = excluded.last_outcome, last_latency_ms = excluded.last_latency_ms, \
         last_error = excluded.last_error, last_success_at = excluded.last_success_at, open_incident = excluded.open_incident, \
         timer_at = excluded.timer_at, health_changed_at = CASE WHEN monitor_state.health = excluded.health \
         THEN COALESCE(monitor_state.health_changed_at, excluded.health_changed_at) ELSE excluded.health_changed_at END",
    )?
    .execute(params![
        f.id.as_str(),
        f.tenant_id.as_str(),
        serde_json::to_string(state)?,
        state.health.as_str(),
        s.last_checked_at.map(Timestamp::millis),
        s.last_outcome.map(Outcome::as_str),
        s.last_latency_ms,
        s.last_error,
        s.last_success_at.map(Timestamp::millis),
        state.open.as_ref().map(|o| o.id.as_str()),
        timer.map(Timestamp::millis),
        now.millis(),
    ])?;
    Ok(())
}

/// Carry out the writes of a plan for the monitor `f`.
pub(super) fn execute(tx: &Transaction<'_>, f: &MonitorFacts, writes: &[Write], now: Timestamp) -> StoreResult<()> {
    let t = f.tenant_id.as_str();
    for w in writes {
        match w {
            Write::OpenIncident { id, at, cause } => {
                tx.execute(
                    "INSERT OR IGNORE INTO incidents (id, tenant_id, monitor_id, status, cause, opened_at) VALUES (?1, ?2, ?3, 'open', ?4, ?5)",
                    params![id.as_str(), t, f.id.as_str(), cause, at.millis()],
                )?;
            }
            Write::ReopenIncident { id } => {
                tx.execute(
                    "UPDATE incidents SET status = 'open', flapping = 1, resolved_at = NULL, resolved_by = NULL, acknowledged_at = NULL, acknowledged_by = NULL WHERE tenant_id = ?1 AND id = ?2",
                    params![t, id.as_str()],
                )?;
            }
            Write::AcknowledgeIncident { id, at, by } => {
                tx.execute(
                    "UPDATE incidents SET status = 'acknowledged', acknowledged_at = ?3, acknowledged_by = ?4 WHERE tenant_id = ?1 AND id = ?2",
                    params![t, id.as_str(), at.millis(), by],
                )?;
            }
            Write::ResolveIncident { id, at, by } => {
                tx.execute(
                    "UPDATE incidents SET status = 'resolved', resolved_at = ?3, resolved_by = ?4 WHERE tenant_id = ?1 AND id = ?2",
                    params![t, id.as_str(), at.millis(), by],
                )?;
            }
            Write::Timeline { id, at, message } => {
                tx.prepare_cached(
                    "INSERT INTO incident_events (tenant_id, incident_id, at, message) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![t, id.as_str(), at.millis(), message])?;
            }
            Write::Outbox { channel, event } => {
                super::alert_work_written();
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO alert_outbox (tenant_id, channel_id, dedup_key, kind, event, status, next_attempt_at, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)",
                )?
                .execute(params![t, channel.as_str(), event.dedup_key, event.kind.as_str(), serde_json::to_string(event)?, now.millis()])?;
            }
        }
    }
    Ok(())
}

/// Step one monitor through one observation and write the effects; returns how many writes
/// it made (0: the observation changed nothing), or `None` when the monitor does not exist.
pub(super) fn step_one(
    tx: &Transaction<'_>,
    t: &TenantId,
    m: &MonitorId,
    obs: Observation,
    now: Timestamp,
) -> StoreResult<Option<usize>> {
    let Some(facts) = monitor_facts(tx, t, m)? else {
        return Ok(None);
    };
    let (state, status) = load_state(tx, m)?;
    let p = plan(&facts, state, &[obs]);
    execute(tx, &facts, &p.writes, now)?;
    save_state(tx, &facts, &p.state, &status, now)?;
    Ok(Some(p.writes.len()))
}

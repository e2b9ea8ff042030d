//! Ingest and incident commands in SQLite: results, state, incidents and outbox rows in one
//! transaction, so nothing is stepped or queued twice.

use crate::plan::{plan, EnabledChannel, MonitorFacts, Write};
use crate::*;
use netpulse_core::incident::{next_timer, Observation};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::collections::BTreeMap;

const HOUR_MS: i64 = 3_600_000;

pub fn ingest(c: &mut Connection, batch: &[CheckResult], now: Timestamp) -> StoreResult<IngestReport> {
    let tx = c.transaction()?;
    let mut report = IngestReport::default();
    let mut fresh: BTreeMap<&MonitorId, Vec<&CheckResult>> = BTreeMap::new();
    for r in batch {
        if insert_result(&tx, r)? {
            report.inserted += 1;
            fresh.entry(&r.monitor_id).or_default().push(r);
        } else {
            report.duplicates += 1;
        }
    }
    for (monitor, mut results) in fresh {
        results.sort_by_key(|r| (r.started_at, r.id.clone()));
        let observations: Vec<Observation> = results.iter().map(|r| Observation::of_result(r)).collect();
        let Some(facts) = monitor_facts(&tx, &results[0].tenant_id, monitor)? else {
            continue;
        };
        let (state, mut status) = load_state(&tx, monitor)?;
        let before = state.health;
        let p = plan(&facts, state, &observations);
        execute(&tx, &facts, &p.writes, now)?;
        report.changes.extend(crate::plan::live_changes(&facts, before, &p));
        for r in &results {
            status.observe(r);
        }
        save_state(&tx, &facts, &p.state, &status, now)?;
        report.notices += p.notices;
        if p.recheck {
            report.rechecks.push(monitor.clone());
        }
    }
    tx.commit()?;
    Ok(report)
}

fn insert_result(tx: &Transaction<'_>, r: &CheckResult) -> StoreResult<bool> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO check_results (id, tenant_id, monitor_id, region, worker, started_at, finished_at, outcome, \
         dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, status_code, error, cert_expires_at, provenance) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?;
    let t = &r.timings;
    let n = stmt.execute(params![
        r.id.as_str(),
        r.tenant_id.as_str(),
        r.monitor_id.as_str(),
        r.region,
        r.worker,
        r.started_at.millis(),
        r.finished_at.millis(),
        r.outcome.as_str(),
        t.dns_ms,
        t.connect_ms,
        t.tls_ms,
        t.ttfb_ms,
        t.total_ms,
        r.status_code,
        r.error,
        r.cert_expires_at.map(Timestamp::millis),
        r.provenance.as_str(),
    ])?;
    if n == 1 && r.provenance == netpulse_core::Provenance::Live {
        let in_maintenance: bool = tx
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM maintenance_windows WHERE tenant_id = ?1 AND monitor_id = ?2 \
                 AND starts_at <= ?3 AND ends_at > ?3)",
            )?
            .query_row(params![r.tenant_id.as_str(), r.monitor_id.as_str(), r.started_at.millis()], |row| row.get(0))?;
        let col = if in_maintenance { "maintenance" } else { r.outcome.as_str() };
        let hour = r.started_at.millis().div_euclid(HOUR_MS) * HOUR_MS;
        tx.prepare_cached(&format!(
            "INSERT INTO uptime_hourly (monitor_id, hour_start, tenant_id, {col}) VALUES (?1, ?2, ?3, 1) \
             ON CONFLICT (monitor_id, hour_start) DO UPDATE SET {col} = {col} + 1"
        ))?
        .execute(params![r.monitor_id.as_str(), hour, r.tenant_id.as_str()])?;
    }
    Ok(n == 1)
}

/// The monitor's name, effective policy (over its tenant's defaults, read in the same
/// transaction) and effective channels, scoped by tenant.
fn monitor_facts(tx: &Transaction<'_>, t: &TenantId, m: &MonitorId) -> StoreResult<Option<MonitorFacts>> {
    let row: Option<(String, Option<String>)> = tx
        .prepare_cached(
            "SELECT m.draft, s.alerting FROM monitors m LEFT JOIN tenant_settings s ON s.tenant_id = m.tenant_id \
             WHERE m.tenant_id = ?1 AND m.id = ?2",
        )?
        .query_row(params![t.as_str(), m.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((draft, defaults)) = row else { return Ok(None) };
    let draft: MonitorDraft = serde_json::from_str(&draft)?;
    let defaults: AlertingDefaults = defaults.map(|d| serde_json::from_str(&d)).transpose()?.unwrap_or_default();
    let mut stmt = tx
        .prepare_cached("SELECT id, settings FROM channels WHERE tenant_id = ?1 AND enabled = 1 ORDER BY created_at")?;
    let enabled: Vec<EnabledChannel> = stmt
        .query_map([t.as_str()], |r| Ok(EnabledChannel::from_row(r.get(0)?, &r.get::<_, String>(1)?)))?
        .collect::<Result<_, _>>()?;
    let parent = match &draft.depends_on {
        Some(parent) => tx
            .prepare_cached("SELECT open_incident, health FROM monitor_state WHERE tenant_id = ?1 AND monitor_id = ?2")?
            .query_row(params![t.as_str(), parent.as_str()], |r| {
                Ok((r.get::<_, Option<String>>(0)?.map(IncidentId::from_trusted), Some(r.get::<_, String>(1)?)))
            })
            .optional()?,
        None => None,
    };
    Ok(Some(MonitorFacts::from_draft(t.clone(), m.clone(), &draft, &defaults.policy, enabled, parent)))
}

fn load_state(tx: &Transaction<'_>, m: &MonitorId) -> StoreResult<(MonitorState, MonitorStatus)> {
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
fn save_state(
    tx: &Transaction<'_>,
    f: &MonitorFacts,
    state: &MonitorState,
    s: &MonitorStatus,
    now: Timestamp,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO monitor_state (monitor_id, tenant_id, state, health, last_checked_at, last_outcome, last_latency_ms, \
         last_error, last_success_at, open_incident, timer_at, health_changed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
         COALESCE((SELECT health_changed_at FROM monitor_state WHERE monitor_id = ?1 AND health = ?4), ?12))",
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
        next_timer(state, &f.policy).map(Timestamp::millis),
        now.millis(),
    ])?;
    Ok(())
}

fn execute(tx: &Transaction<'_>, f: &MonitorFacts, writes: &[Write], now: Timestamp) -> StoreResult<()> {
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

pub fn incident_command(
    c: &mut Connection,
    t: &TenantId,
    id: &IncidentId,
    cmd: IncidentCommand,
    now: Timestamp,
) -> StoreResult<Option<IncidentRecord>> {
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
    match step_one(&tx, t, &monitor, obs, now)? {
        None => return Ok(None),
        Some(0) => return Err(StoreError::Conflict(format!("incident {id} is not open (or already acknowledged)"))),
        Some(_) => {}
    }
    let rec = super::reads::list_incidents(&tx, t, &IncidentFilter::default(), Some(id), 1)?.pop();
    tx.commit()?;
    Ok(rec)
}

pub fn observe(
    c: &mut Connection,
    t: &TenantId,
    m: &MonitorId,
    obs: Observation,
    now: Timestamp,
) -> StoreResult<Option<usize>> {
    let tx = c.transaction()?;
    let before = step_one(&tx, t, m, obs, now)?;
    tx.commit()?;
    Ok(before)
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

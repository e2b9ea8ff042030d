//! Tenant-scoped reads in SQLite: results, uptime tallies, incidents.

use crate::*;
use netpulse_core::{Provenance, ResultId, Timings};
use rusqlite::{params, Connection, OptionalExtension, Row};

fn result_row(r: &Row<'_>) -> rusqlite::Result<CheckResult> {
    let outcome: String = r.get(7)?;
    let provenance: String = r.get(16)?;
    Ok(CheckResult {
        id: ResultId::from_trusted(r.get(0)?),
        tenant_id: TenantId::from_trusted(r.get(1)?),
        monitor_id: MonitorId::from_trusted(r.get(2)?),
        region: r.get(3)?,
        worker: r.get(4)?,
        started_at: Timestamp::from_millis(r.get(5)?),
        finished_at: Timestamp::from_millis(r.get(6)?),
        outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Error),
        timings: Timings {
            dns_ms: r.get(8)?,
            connect_ms: r.get(9)?,
            tls_ms: r.get(10)?,
            ttfb_ms: r.get(11)?,
            total_ms: r.get(12)?,
        },
        status_code: r.get(13)?,
        error: r.get(14)?,
        cert_expires_at: r.get::<_, Option<i64>>(15)?.map(Timestamp::from_millis),
        provenance: Provenance::parse(&provenance).unwrap_or(Provenance::Synthetic),
    })
}

/// Cursor: `<started_at>.<result id>` of the last row of the previous page.
fn parse_cursor(s: &str) -> StoreResult<(i64, String)> {
    s.split_once('.')
        .and_then(|(t, id)| Some((t.parse().ok()?, id.to_owned())))
        .ok_or_else(|| StoreError::Conflict(format!("cursor `{s}` is not one this API gave out")))
}

pub fn list_results(
    c: &Connection,
    t: &TenantId,
    m: &MonitorId,
    from: Timestamp,
    to: Timestamp,
    limit: usize,
    after: Option<&str>,
) -> StoreResult<ResultsPage> {
    let (cur_t, cur_id) = match after {
        Some(s) => parse_cursor(s)?,
        None => (i64::MAX, String::new()),
    };
    let mut stmt = c.prepare_cached(
        "SELECT id, tenant_id, monitor_id, region, worker, started_at, finished_at, outcome, dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, \
         status_code, error, cert_expires_at, provenance FROM check_results \
         WHERE tenant_id = ?1 AND monitor_id = ?2 AND started_at >= ?3 AND started_at < ?4 \
           AND (started_at < ?5 OR (started_at = ?5 AND id < ?6) OR ?6 = '') \
         ORDER BY started_at DESC, id DESC LIMIT ?7",
    )?;
    let mut results: Vec<CheckResult> = stmt
        .query_map(
            params![t.as_str(), m.as_str(), from.millis(), to.millis(), cur_t, cur_id, (limit + 1) as i64],
            result_row,
        )?
        .collect::<Result<_, _>>()?;
    let next = if results.len() > limit {
        results.truncate(limit);
        results.last().map(|r| format!("{}.{}", r.started_at.millis(), r.id))
    } else {
        None
    };
    Ok(ResultsPage { results, next })
}

/// Raw results of evidence `ev` in `[from, to)`, counted by outcome.
pub fn tally(
    c: &Connection,
    t: &TenantId,
    m: &MonitorId,
    (from, to): (Timestamp, Timestamp),
    ev: Evidence,
) -> StoreResult<Tally> {
    let mut stmt = c.prepare_cached(
        "SELECT outcome, COUNT(*) FROM check_results WHERE tenant_id = ?1 AND monitor_id = ?2 AND started_at >= ?3 AND started_at < ?4 \
         AND provenance = ?5 GROUP BY outcome",
    )?;
    let mut tally = Tally::default();
    let p = ev.provenance().as_str();
    let rows = stmt.query_map(params![t.as_str(), m.as_str(), from.millis(), to.millis(), p], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (outcome, n) = row?;
        if let Some(o) = Outcome::parse(&outcome) {
            tally.add(o, n as u64);
        }
    }
    Ok(tally)
}

pub(super) fn tally_row(r: &Row<'_>, first: usize) -> rusqlite::Result<Tally> {
    let n = |i: usize| r.get::<_, Option<i64>>(first + i).map(|v| v.unwrap_or(0) as u64);
    Ok(Tally { up: n(0)?, degraded: n(1)?, down: n(2)?, error: n(3)?, maintenance: 0 })
}

/// [`tally_row`] and, in the next column, the checks made during maintenance (only the
/// hourly and daily rollups count those apart).
pub(super) fn coarse_tally_row(r: &Row<'_>, first: usize) -> rusqlite::Result<Tally> {
    let maintenance = r.get::<_, Option<i64>>(first + 4)?.unwrap_or(0) as u64;
    Ok(Tally { maintenance, ..tally_row(r, first)? })
}

pub fn tallies_since(c: &Connection, t: &TenantId, from: Timestamp) -> StoreResult<HashMap<MonitorId, Tally>> {
    let hour = from.millis().div_euclid(3_600_000) * 3_600_000;
    let mut stmt = c.prepare_cached(
        "SELECT monitor_id, SUM(up), SUM(degraded), SUM(down), SUM(error), SUM(maintenance) FROM uptime_hourly \
         WHERE tenant_id = ?1 AND hour_start >= ?2 GROUP BY monitor_id",
    )?;
    let rows = stmt
        .query_map(params![t.as_str(), hour], |r| Ok((MonitorId::from_trusted(r.get(0)?), coarse_tally_row(r, 1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn hourly_tallies_since(c: &Connection, t: &TenantId, from: Timestamp) -> StoreResult<HourlyTallies> {
    let hour = from.millis().div_euclid(3_600_000) * 3_600_000;
    let mut stmt = c.prepare_cached(
        "SELECT monitor_id, hour_start, up, degraded, down, error, maintenance FROM uptime_hourly \
         WHERE tenant_id = ?1 AND hour_start >= ?2 ORDER BY monitor_id, hour_start",
    )?;
    let rows = stmt.query_map(params![t.as_str(), hour], |r| {
        Ok((MonitorId::from_trusted(r.get(0)?), Timestamp::from_millis(r.get(1)?), coarse_tally_row(r, 2)?))
    })?;
    Ok(group_hours(rows)?)
}

pub fn monitor_state(c: &Connection, t: &TenantId, m: &MonitorId) -> StoreResult<Option<MonitorState>> {
    let s: Option<String> = c
        .query_row(
            "SELECT state FROM monitor_state WHERE tenant_id = ?1 AND monitor_id = ?2",
            params![t.as_str(), m.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(s.map(|s| serde_json::from_str(&s)).transpose()?)
}

/// See `Store::health_changed_since`.
pub fn health_changed_since(c: &Connection, t: &TenantId, since: Timestamp) -> StoreResult<Vec<(MonitorId, Health)>> {
    let mut stmt = c.prepare_cached(
        "SELECT monitor_id, health FROM monitor_state WHERE tenant_id = ?1 AND health_changed_at >= ?2 ORDER BY monitor_id",
    )?;
    let rows =
        stmt.query_map(params![t.as_str(), since.millis()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (m, health) = row?;
        out.push((MonitorId::from_trusted(m), serde_json::from_value(serde_json::Value::String(health))?));
    }
    Ok(out)
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

pub fn list_incidents(
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

pub fn get_incident(
    c: &Connection,
    t: &TenantId,
    id: &IncidentId,
) -> StoreResult<Option<(IncidentRecord, Vec<TimelineEntry>)>> {
    let Some(rec) = list_incidents(c, t, &IncidentFilter::default(), Some(id), 1)?.pop() else {
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
}

//! Tenant-scoped reads in PostgreSQL: results, uptime tallies, incidents.

use crate::*;
use netpulse_core::{Provenance, ResultId, Timings};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, GenericClient, Row};

const HOUR_MS: i64 = 3_600_000;

fn millis_ms(v: Option<i32>) -> Option<u32> {
    v.map(|v| v.max(0) as u32)
}

fn result_row(r: &Row) -> StoreResult<CheckResult> {
    let outcome: String = r.try_get(7)?;
    let provenance: String = r.try_get(16)?;
    Ok(CheckResult {
        id: ResultId::from_trusted(r.try_get(0)?),
        tenant_id: TenantId::from_trusted(r.try_get(1)?),
        monitor_id: MonitorId::from_trusted(r.try_get(2)?),
        region: r.try_get(3)?,
        worker: r.try_get(4)?,
        started_at: Timestamp::from_millis(r.try_get(5)?),
        finished_at: Timestamp::from_millis(r.try_get(6)?),
        outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Error),
        timings: Timings {
            dns_ms: millis_ms(r.try_get(8)?),
            connect_ms: millis_ms(r.try_get(9)?),
            tls_ms: millis_ms(r.try_get(10)?),
            ttfb_ms: millis_ms(r.try_get(11)?),
            total_ms: millis_ms(r.try_get(12)?),
        },
        status_code: r.try_get::<_, Option<i32>>(13)?.map(|v| v as u16),
        error: r.try_get(14)?,
        cert_expires_at: r.try_get::<_, Option<i64>>(15)?.map(Timestamp::from_millis),
        provenance: Provenance::parse(&provenance).unwrap_or(Provenance::Synthetic),
    })
}

/// Cursor: `<started_at>.<result id>` of the last row of the previous page.
fn parse_cursor(s: &str) -> StoreResult<(i64, String)> {
    s.split_once('.')
        .and_then(|(t, id)| Some((t.parse().ok()?, id.to_owned())))
        .ok_or_else(|| StoreError::Conflict(format!("cursor `{s}` is not one this API gave out")))
}

pub async fn list_results(
    c: &Client,
    t: &TenantId,
    m: &MonitorId,
    (from, to): (Timestamp, Timestamp),
    limit: usize,
    after: Option<&str>,
) -> StoreResult<ResultsPage> {
    let (cur_t, cur_id) = match after {
        Some(s) => parse_cursor(s)?,
        None => (i64::MAX, String::new()),
    };
    let rows = c
        .query_typed(
            "SELECT id, tenant_id, monitor_id, region, worker, started_at, finished_at, outcome, dns_ms, connect_ms, \
             tls_ms, ttfb_ms, total_ms, status_code, error, cert_expires_at, provenance FROM check_results \
             WHERE tenant_id = $1 AND monitor_id = $2 AND started_at >= $3 AND started_at < $4 \
               AND (started_at < $5 OR (started_at = $5 AND id < $6) OR $6 = '') \
             ORDER BY started_at DESC, id DESC LIMIT $7",
            &[
                (&t.as_str(), Type::TEXT),
                (&m.as_str(), Type::TEXT),
                (&from.millis(), Type::INT8),
                (&to.millis(), Type::INT8),
                (&cur_t, Type::INT8),
                (&cur_id, Type::TEXT),
                (&((limit + 1) as i64), Type::INT8),
            ],
        )
        .await?;
    let mut results = rows.iter().map(result_row).collect::<StoreResult<Vec<_>>>()?;
    let next = if results.len() > limit {
        results.truncate(limit);
        results.last().map(|r| format!("{}.{}", r.started_at.millis(), r.id))
    } else {
        None
    };
    Ok(ResultsPage { results, next })
}

/// Raw results of evidence `ev` in `[from, to)`, counted by outcome.
pub async fn tally(
    c: &Client,
    t: &TenantId,
    m: &MonitorId,
    (from, to): (Timestamp, Timestamp),
    ev: Evidence,
) -> StoreResult<Tally> {
    let rows = c
        .query_typed(
            "SELECT outcome, COUNT(*) FROM check_results WHERE tenant_id = $1 AND monitor_id = $2 \
             AND started_at >= $3 AND started_at < $4 AND provenance = $5 GROUP BY outcome",
            &[
                (&t.as_str(), Type::TEXT),
                (&m.as_str(), Type::TEXT),
                (&from.millis(), Type::INT8),
                (&to.millis(), Type::INT8),
                (&ev.provenance().as_str(), Type::TEXT),
            ],
        )
        .await?;
    let mut tally = Tally::default();
    for r in &rows {
        let outcome: String = r.try_get(0)?;
        if let Some(o) = Outcome::parse(&outcome) {
            tally.add(o, r.try_get::<_, i64>(1)? as u64);
        }
    }
    Ok(tally)
}

/// A tally from columns `first..first + 4` holding `SUM(...)::BIGINT` (NULL when no rows).
pub(super) fn tally_at(r: &Row, first: usize) -> StoreResult<Tally> {
    let n = |i: usize| r.try_get::<_, Option<i64>>(first + i).map(|v| v.unwrap_or(0) as u64);
    Ok(Tally { up: n(0)?, degraded: n(1)?, down: n(2)?, error: n(3)?, maintenance: 0 })
}

pub(super) const SUMS: &str = "SUM(up)::BIGINT, SUM(degraded)::BIGINT, SUM(down)::BIGINT, SUM(error)::BIGINT";
/// [`SUMS`] and the checks made during maintenance (only the hourly and daily rollups count
/// those apart).
pub(super) const COARSE_SUMS: &str =
    "SUM(up)::BIGINT, SUM(degraded)::BIGINT, SUM(down)::BIGINT, SUM(error)::BIGINT, SUM(maintenance)::BIGINT";

/// A tally from columns `first..first + 5`: the outcomes, then the maintenance count.
pub(super) fn coarse_tally_at(r: &Row, first: usize) -> StoreResult<Tally> {
    let maintenance = r.try_get::<_, Option<i64>>(first + 4)?.unwrap_or(0) as u64;
    Ok(Tally { maintenance, ..tally_at(r, first)? })
}

pub async fn tallies_since(c: &Client, t: &TenantId, from: Timestamp) -> StoreResult<HashMap<MonitorId, Tally>> {
    let hour = from.millis().div_euclid(HOUR_MS) * HOUR_MS;
    let rows = c
        .query_typed(
            &format!(
                "SELECT monitor_id, {COARSE_SUMS} FROM uptime_hourly WHERE tenant_id = $1 AND hour_start >= $2 \
                 GROUP BY monitor_id"
            ),
            &[(&t.as_str(), Type::TEXT), (&hour, Type::INT8)],
        )
        .await?;
    rows.iter().map(|r| Ok((MonitorId::from_trusted(r.try_get(0)?), coarse_tally_at(r, 1)?))).collect()
}

pub async fn hourly_tallies_since(c: &Client, t: &TenantId, from: Timestamp) -> StoreResult<HourlyTallies> {
    let hour = from.millis().div_euclid(HOUR_MS) * HOUR_MS;
    let rows = c
        .query_typed(
            "SELECT monitor_id, hour_start, up, degraded, down, error, maintenance FROM uptime_hourly \
             WHERE tenant_id = $1 AND hour_start >= $2 ORDER BY monitor_id, hour_start",
            &[(&t.as_str(), Type::TEXT), (&hour, Type::INT8)],
        )
        .await?;
    group_hours(rows.iter().map(|r| hour_row(r, coarse_tally_at(r, 2)?)))
}

/// `(monitor, hour)` of an hour row whose tally was read as `tally`.
pub(super) fn hour_row(r: &Row, tally: Tally) -> StoreResult<(MonitorId, Timestamp, Tally)> {
    Ok((MonitorId::from_trusted(r.try_get(0)?), Timestamp::from_millis(r.try_get(1)?), tally))
}

/// How far back `state_touches` is trusted to name every state row written: touches are kept
/// ten minutes by the database's clock (store/postgres/hot.rs); half of that leaves room for
/// the engine's clock to differ from the database's.
const TOUCHES_TRUSTED_MS: i64 = 300_000;

/// See `Store::health_changed_since`. A health change always writes the state row, and every
/// write of a state row logs its monitor in `state_touches` (`at`: the database's clock), so
/// the monitors touched since `since` include every one whose health changed. Older than
/// the touches are trusted: every monitor of the tenant.
pub async fn health_changed_since(c: &Client, t: &TenantId, since: Timestamp) -> StoreResult<Vec<(MonitorId, Health)>> {
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
}

pub async fn monitor_state(c: &Client, t: &TenantId, m: &MonitorId) -> StoreResult<Option<MonitorState>> {
    let row = c
        .query_typed_opt(
            "SELECT state FROM monitor_state WHERE tenant_id = $1 AND monitor_id = $2",
            &[(&t.as_str(), Type::TEXT), (&m.as_str(), Type::TEXT)],
        )
        .await?;
    row.map(|r| Ok(serde_json::from_str(&r.try_get::<_, String>(0)?)?)).transpose()
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

pub async fn list_incidents(
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

/// The incident and its timeline, read in one transaction so they agree.
pub async fn get_incident(
    c: &mut Client,
    t: &TenantId,
    id: &IncidentId,
) -> StoreResult<Option<(IncidentRecord, Vec<TimelineEntry>)>> {
    let tx = c.build_transaction().read_only(true).isolation_level(tokio_postgres::IsolationLevel::RepeatableRead);
    let tx = tx.start().await?;
    let Some(rec) = list_incidents(&tx, t, &IncidentFilter::default(), Some(id), 1).await?.pop() else {
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
}

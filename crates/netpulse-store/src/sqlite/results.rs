//! Results in SQLite: ingest (results, state, incidents and outbox rows in one transaction,
//! so nothing is stepped or queued twice), quarantined results, and a monitor's results page
//! by page.

use super::state::{execute, load_state, monitor_facts, save_state};
use super::SqliteStore;
use crate::plan::plan;
use crate::*;
use async_trait::async_trait;
use netpulse_core::incident::Observation;
use netpulse_core::{CheckResult, MonitorId, Outcome, Provenance, ResultId, TenantId, Timestamp, Timings};
use rusqlite::{params, Row, Transaction};
use std::collections::BTreeMap;

const HOUR_MS: i64 = 3_600_000;

#[async_trait]
impl ResultStore for SqliteStore {
    async fn ingest(&self, batch: &[CheckResult], now: Timestamp) -> StoreResult<IngestReport> {
        let batch = batch.to_vec();
        self.write(move |c| {
            let tx = c.transaction()?;
            let mut report = IngestReport::default();
            let mut fresh: BTreeMap<&MonitorId, Vec<&CheckResult>> = BTreeMap::new();
            for r in &batch {
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
                report.rechecks.extend(p.rechecks(monitor));
            }
            tx.commit()?;
            Ok(report)
        })
        .await
    }

    async fn quarantine(&self, q: &QuarantinedResult) -> StoreResult<()> {
        let q = q.clone();
        self.write(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO quarantined_results (result_id, tenant_id, monitor_id, reason, result, quarantined_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    q.result_id.as_str(),
                    q.tenant_id.as_str(),
                    q.monitor_id.as_str(),
                    q.reason,
                    q.result,
                    q.quarantined_at.millis()
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn quarantined_results(&self, limit: usize) -> StoreResult<Vec<QuarantinedResult>> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT result_id, tenant_id, monitor_id, reason, result, quarantined_at FROM quarantined_results \
                 ORDER BY quarantined_at DESC, result_id LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit as i64], |r| {
                Ok(QuarantinedResult {
                    result_id: ResultId::from_trusted(r.get(0)?),
                    tenant_id: TenantId::from_trusted(r.get(1)?),
                    monitor_id: MonitorId::from_trusted(r.get(2)?),
                    reason: r.get(3)?,
                    result: r.get(4)?,
                    quarantined_at: Timestamp::from_millis(r.get(5)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn list_results(
        &self,
        t: &TenantId,
        m: &MonitorId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
        after: Option<&str>,
    ) -> StoreResult<ResultsPage> {
        let (t, m, after) = (t.clone(), m.clone(), after.map(str::to_owned));
        self.read(move |c| {
            let (cur_t, cur_id) = match after.as_deref() {
                Some(s) => parse_cursor(s)?,
                None => (i64::MAX, String::new()),
            };
            let mut stmt = c.prepare_cached(
                "SELECT id, tenant_id, monitor_id, region, worker, started_at, finished_at, outcome, dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, \
                 status_code, error, cert_expires_at, provenance, cert_issuer FROM check_results \
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
        })
        .await
    }
}

/// Insert one result unless its id is stored already, and count a new live result in its
/// hour's rollup (as `maintenance` inside one of its monitor's windows); whether it was new.
fn insert_result(tx: &Transaction<'_>, r: &CheckResult) -> StoreResult<bool> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO check_results (id, tenant_id, monitor_id, region, worker, started_at, finished_at, outcome, \
         dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, status_code, error, cert_expires_at, provenance, cert_issuer) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
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
        r.cert_issuer,
    ])?;
    if n == 1 && r.provenance == Provenance::Live {
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
        cert_issuer: r.get(17)?,
        provenance: Provenance::parse(&provenance).unwrap_or(Provenance::Synthetic),
    })
}

/// Cursor: `<started_at>.<result id>` of the last row of the previous page.
fn parse_cursor(s: &str) -> StoreResult<(i64, String)> {
    s.split_once('.')
        .and_then(|(t, id)| Some((t.parse().ok()?, id.to_owned())))
        .ok_or_else(|| StoreError::Conflict(format!("cursor `{s}` is not one this API gave out")))
}

//! Results in SQLite: ingest (results, state, incidents and outbox rows in one transaction,
//! so nothing is stepped or queued twice), quarantined results, and a monitor's results page
//! by page.

use super::state::{execute, load_state, save_state, FactsReader};
use super::SqliteStore;
use crate::plan::plan;
use crate::*;
use async_trait::async_trait;
use netpulse_core::ids::{decode_base32, encode_base32};
use netpulse_core::incident::Observation;
use netpulse_core::{CheckResult, MonitorId, Outcome, Provenance, ResultId, TenantId, Timestamp, Timings};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior};
use std::collections::{BTreeMap, HashMap};

const HOUR_MS: i64 = 3_600_000;

#[async_trait]
impl ResultStore for SqliteStore {
    async fn ingest(&self, batch: &[CheckResult], now: Timestamp) -> StoreResult<IngestReport> {
        let batch = batch.to_vec();
        self.write(move |c| {
            // Immediate: the batch's first statements read the result keys, and a read
            // transaction cannot become a write one while another connection writes.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut report = IngestReport::default();
            let mut fresh: BTreeMap<&MonitorId, Vec<&CheckResult>> = BTreeMap::new();
            let mut keys = Keys::default();
            for r in &batch {
                if insert_result(&tx, r, &mut keys)? {
                    report.inserted += 1;
                    fresh.entry(&r.monitor_id).or_default().push(r);
                } else {
                    report.duplicates += 1;
                }
            }
            let mut facts_of = FactsReader::default();
            for (monitor, mut results) in fresh {
                results.sort_by_key(|r| (r.started_at, r.id.clone()));
                let observations: Vec<Observation> = results.iter().map(|r| Observation::of_result(r)).collect();
                let Some(facts) = facts_of.monitor(&tx, &results[0].tenant_id, monitor)? else {
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
                "SELECT r.id, ?1, ?2, o.region, o.worker, r.started_at, r.finished_at, r.outcome, r.dns_ms, r.connect_ms, \
                 r.tls_ms, r.ttfb_ms, r.total_ms, r.status_code, r.error, r.cert_expires_at, r.provenance, r.cert_issuer \
                 FROM check_results r JOIN result_origins o ON o.key = r.origin_key \
                 WHERE r.monitor_key = (SELECT key FROM result_monitors WHERE monitor_id = ?2 AND tenant_id = ?1) \
                   AND r.started_at >= ?3 AND r.started_at < ?4 \
                   AND (r.started_at < ?5 OR (r.started_at = ?5 AND r.id < ?6) OR ?6 = '') \
                 ORDER BY r.started_at DESC, r.id DESC LIMIT ?7",
            )?;
            let cur_id = match cur_id.is_empty() {
                true => Value::Text(cur_id),
                false => id_value(&cur_id),
            };
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

/// The keys of a batch's monitors and origins, looked up (or added) once per batch.
#[derive(Default)]
struct Keys {
    monitors: HashMap<(TenantId, MonitorId), i64>,
    origins: HashMap<(String, String), i64>,
}

impl Keys {
    /// The `result_monitors` key of the result's monitor.
    fn monitor(&mut self, tx: &Transaction<'_>, r: &CheckResult) -> StoreResult<i64> {
        if let Some(k) = self.monitors.get(&(r.tenant_id.clone(), r.monitor_id.clone())) {
            return Ok(*k);
        }
        let k = key_of(
            tx,
            "SELECT key FROM result_monitors WHERE monitor_id = ?1 AND tenant_id = ?2",
            "INSERT INTO result_monitors (monitor_id, tenant_id) VALUES (?1, ?2)",
            (r.monitor_id.as_str(), r.tenant_id.as_str()),
        )?;
        self.monitors.insert((r.tenant_id.clone(), r.monitor_id.clone()), k);
        Ok(k)
    }

    /// The `result_origins` key of the result's region and worker.
    fn origin(&mut self, tx: &Transaction<'_>, r: &CheckResult) -> StoreResult<i64> {
        if let Some(k) = self.origins.get(&(r.region.clone(), r.worker.clone())) {
            return Ok(*k);
        }
        let k = key_of(
            tx,
            "SELECT key FROM result_origins WHERE region = ?1 AND worker = ?2",
            "INSERT INTO result_origins (region, worker) VALUES (?1, ?2)",
            (r.region.as_str(), r.worker.as_str()),
        )?;
        self.origins.insert((r.region.clone(), r.worker.clone()), k);
        Ok(k)
    }
}

/// The key `find` finds for `args`, or the one `add` gives them.
fn key_of(tx: &Transaction<'_>, find: &str, add: &str, args: (&str, &str)) -> StoreResult<i64> {
    if let Some(k) = tx.prepare_cached(find)?.query_row(params![args.0, args.1], |r| r.get(0)).optional()? {
        return Ok(k);
    }
    tx.prepare_cached(add)?.execute(params![args.0, args.1])?;
    Ok(tx.last_insert_rowid())
}

/// How a result id is stored: a canonical one (`res_` and 26 base32 characters) as its 16
/// bytes, big-endian so that they sort as the text does; any other id as its text.
pub(super) fn id_value(id: &str) -> Value {
    match id.strip_prefix(ResultId::PREFIX).and_then(decode_base32) {
        Some(v) => Value::Blob(v.to_be_bytes().to_vec()),
        None => Value::Text(id.to_owned()),
    }
}

/// A stored id as text ([`id_value`]'s inverse).
fn id_text(v: ValueRef<'_>) -> rusqlite::Result<String> {
    match v {
        ValueRef::Blob(b) => match <[u8; 16]>::try_from(b) {
            Ok(bytes) => Ok(format!("{}{}", ResultId::PREFIX, encode_base32(u128::from_be_bytes(bytes)))),
            Err(_) => Err(rusqlite::Error::InvalidColumnType(0, "id".into(), rusqlite::types::Type::Blob)),
        },
        other => other
            .as_str()
            .map(str::to_owned)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, other.data_type(), Box::new(e))),
    }
}

/// After the migration that narrowed `check_results`: the copied rows' text ids become 16
/// bytes ([`id_value`]), 10,000 rows per statement.
pub(super) fn narrow_ids(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let mut last = 0i64;
    loop {
        let chunk: Vec<(i64, String)> = tx
            .prepare_cached(
                "SELECT rowid, id FROM check_results WHERE rowid > ?1 AND typeof(id) = 'text' ORDER BY rowid LIMIT 10000",
            )?
            .query_map([last], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let Some((end, _)) = chunk.last() else { return Ok(()) };
        last = *end;
        let mut update = tx.prepare_cached("UPDATE check_results SET id = ?2 WHERE rowid = ?1")?;
        for (rowid, id) in &chunk {
            if let Value::Blob(b) = id_value(id) {
                update.execute(params![rowid, b])?;
            }
        }
    }
}

/// Insert one result unless it is stored already (the same id, monitor and start: a
/// redelivery), and count a new live result in its hour's rollup (as `maintenance` inside
/// one of its monitor's windows); whether it was new.
fn insert_result(tx: &Transaction<'_>, r: &CheckResult, keys: &mut Keys) -> StoreResult<bool> {
    let (monitor, origin) = (keys.monitor(tx, r)?, keys.origin(tx, r)?);
    let mut stmt = tx.prepare_cached(
        "INSERT INTO check_results (id, monitor_key, origin_key, started_at, finished_at, outcome, \
         dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, status_code, error, cert_expires_at, provenance, cert_issuer) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16 \
         WHERE NOT EXISTS (SELECT 1 FROM check_results WHERE monitor_key = ?2 AND started_at = ?4 AND id = ?1)",
    )?;
    let t = &r.timings;
    let n = stmt.execute(params![
        id_value(r.id.as_str()),
        monitor,
        origin,
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
        id: ResultId::from_trusted(id_text(r.get_ref(0)?)?),
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

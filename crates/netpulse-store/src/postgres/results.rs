//! Results in PostgreSQL: ingest (results, state, incidents, outbox rows and hourly rollups
//! in one transaction per batch, in a fixed number of statements), quarantined results, and
//! a monitor's results page by page.
//!
//! Lock order, the same in every transaction, so concurrent writers never deadlock: new
//! result ids (inserted sorted by id) → `state_partitions` rows (by partition, see [`hot`]) →
//! `monitors` rows (`FOR NO KEY UPDATE`, by id; taken by incident commands, maintenance and
//! region observations, not by ingest, which holds the partitions) → that monitor's incident,
//! outbox and state rows → rollup rows (sorted by monitor and hour).
//! Ingest steps monitors from this node's memory ([`HotCache`](hot::HotCache)) and writes a
//! state row only when the state stops behaving like the stored one (see [`hot`]). How a
//! batch's rows are written is in [`batch`](super::batch).

use super::batch::{insert_results, upsert_rollups, without_nul};
use super::facts::DraftCache;
use super::hot::{self, Hot};
use super::incidents::execute;
use super::state::{find_monitors, load_states, save_states, FactInputs, StateRow};
use super::PgStore;
use crate::plan::plan;
use crate::*;
use async_trait::async_trait;
use netpulse_core::incident::Observation;
use netpulse_core::{CheckResult, MonitorId, Outcome, Provenance, ResultId, TenantId, Timestamp, Timings};
use std::collections::HashMap;
use std::time::Instant;
use tokio_postgres::types::Type;
use tokio_postgres::{Row, Transaction};

#[async_trait]
impl ResultStore for PgStore {
    async fn ingest(&self, batch: &[CheckResult], now: Timestamp) -> StoreResult<IngestReport> {
        pooled!(self, |c| async {
            if batch.is_empty() {
                return Ok(IngestReport::default());
            }
            let batch = &*without_nul(batch);
            let t0 = Instant::now();
            let mut tx = c.transaction().await?;
            let mut new_ids = insert_results(&mut tx, batch).await?;
            let t_insert = t0.elapsed();
            let mut report = IngestReport {
                inserted: new_ids.len(),
                duplicates: batch.len() - new_ids.len(),
                ..IngestReport::default()
            };
            // A result id repeated inside one batch is new only the first time, as in SQLite. Each
            // monitor's new results in time order; monitors in id order.
            let mut fresh: Vec<(&MonitorId, Vec<&CheckResult>)> = Vec::new();
            {
                let mut index: HashMap<&str, usize> = HashMap::with_capacity(batch.len());
                for r in batch.iter().filter(|r| new_ids.remove(r.id.as_str())) {
                    let i = *index.entry(r.monitor_id.as_str()).or_insert_with(|| {
                        fresh.push((&r.monitor_id, Vec::new()));
                        fresh.len() - 1
                    });
                    fresh[i].1.push(r);
                }
            }
            fresh.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
            for (_, results) in &mut fresh {
                results.sort_by(|a, b| (a.started_at, a.id.as_str()).cmp(&(b.started_at, b.id.as_str())));
            }
            let monitors: Vec<&MonitorId> = fresh.iter().map(|f| f.0).collect();
            let section = self.hot.sync(&tx, monitors.iter().copied()).await?;
            let t_lock = t0.elapsed();
            let mut hot = self.hot.take(monitors.iter().copied());
            // A result names its tenant; a monitor of another tenant is not stepped by it.
            for (m, rs) in &fresh {
                if hot.get(*m).is_some_and(|h| h.tenant != rs[0].tenant_id) {
                    hot.remove(*m);
                }
            }
            let missing: Vec<(TenantId, MonitorId)> = fresh
                .iter()
                .filter(|(m, _)| !hot.contains_key(*m))
                .map(|(m, rs)| (rs[0].tenant_id.clone(), (*m).clone()))
                .collect();
            let read = load_missing(&tx, &self.drafts, &missing, &mut hot).await?;
            let t_load = t0.elapsed();
            let drafted: Vec<_> =
                fresh.iter().filter_map(|(m, _)| hot.get(*m).map(|h| (*m, &h.tenant, &h.draft))).collect();
            let inputs = FactInputs::read(&tx, &drafted).await?;
            let mut dirty: Vec<&MonitorId> = Vec::new();
            for (m, results) in &fresh {
                let Some(h) = hot.get_mut(*m) else { continue };
                let (f, state, status) = h.parts(m, &inputs);
                let observations: Vec<Observation> = results.iter().map(|r| Observation::of_result(r)).collect();
                let before = state.health;
                let p = plan(f, state.clone(), &observations);
                execute(&tx, f, &p.writes, now).await?;
                report.changes.extend(crate::plan::live_changes(f, before, &p));
                for r in results {
                    status.observe(r);
                }
                report.notices += p.notices;
                report.rechecks.extend(p.rechecks(&f.id));
                // `state` behaves like the stored row (it was read from it, or was not written only
                // because it did); write when the new one does not, or when due anyway.
                let write = !p.writes.is_empty() || !p.state.behaves_like(state);
                *state = p.state;
                if write || h.due() {
                    dirty.push(*m);
                }
            }
            let t_step = t0.elapsed();
            let rows: Vec<StateRow<'_>> = dirty
                .iter()
                .filter_map(|m| {
                    let h = hot.get(*m)?;
                    Some(StateRow { facts: &h.facts.as_ref()?.facts, state: h.state.clone(), status: h.status.clone() })
                })
                .collect();
            save_states(&tx, &rows).await?;
            drop(rows);
            let logged = hot::log(&tx, dirty.iter().copied()).await?;
            let t_save = t0.elapsed();
            let stored: Vec<&CheckResult> = fresh.iter().flat_map(|f| f.1.iter().copied()).collect();
            upsert_rollups(&tx, stored.into_iter()).await?;
            tx.commit().await?;
            let written = Instant::now();
            let states_written = dirty.len();
            for m in dirty {
                if let Some(h) = hot.get_mut(m) {
                    h.written = Some(written);
                }
            }
            let monitors = hot.len();
            self.hot.put(&logged, hot);
            drop(section);
            if self.hot.prune_due() {
                if let Err(e) = hot::prune(&c).await {
                    tracing::warn!(error = %e, "cannot prune old state touches");
                }
            }
            // Where a batch's time goes (`RUST_LOG=netpulse_store::postgres::results=debug`).
            tracing::debug!(
                results = batch.len(),
                monitors,
                states_read = read,
                states_written,
                insert_ms = t_insert.as_millis() as u64,
                lock_ms = (t_lock - t_insert).as_millis() as u64,
                load_ms = (t_load - t_lock).as_millis() as u64,
                step_ms = (t_step - t_load).as_millis() as u64,
                save_ms = (t_save - t_step).as_millis() as u64,
                rollup_commit_ms = (t0.elapsed() - t_save).as_millis() as u64,
                "ingest batch"
            );
            Ok(report)
        })
    }

    async fn quarantine(&self, q: &QuarantinedResult) -> StoreResult<()> {
        pooled!(self, |c| async {
            c.execute_typed(
                "INSERT INTO quarantined_results (result_id, tenant_id, monitor_id, reason, result, quarantined_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (result_id) DO NOTHING",
                &[
                    (&q.result_id.as_str(), Type::TEXT),
                    (&q.tenant_id.as_str(), Type::TEXT),
                    (&q.monitor_id.as_str(), Type::TEXT),
                    (&q.reason, Type::TEXT),
                    (&q.result, Type::TEXT),
                    (&q.quarantined_at.millis(), Type::INT8),
                ],
            )
            .await?;
            Ok(())
        })
    }

    async fn quarantined_results(&self, limit: usize) -> StoreResult<Vec<QuarantinedResult>> {
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    "SELECT result_id, tenant_id, monitor_id, reason, result, quarantined_at FROM quarantined_results \
                     ORDER BY quarantined_at DESC, result_id LIMIT $1",
                    &[(&(limit as i64), Type::INT8)],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(QuarantinedResult {
                        result_id: ResultId::from_trusted(r.try_get(0)?),
                        tenant_id: TenantId::from_trusted(r.try_get(1)?),
                        monitor_id: MonitorId::from_trusted(r.try_get(2)?),
                        reason: r.try_get(3)?,
                        result: r.try_get(4)?,
                        quarantined_at: Timestamp::from_millis(r.try_get(5)?),
                    })
                })
                .collect()
        })
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
        pooled!(self, |c| async {
            let (cur_t, cur_id) = match after {
                Some(s) => parse_cursor(s)?,
                None => (i64::MAX, String::new()),
            };
            let rows = c
                .query_typed(
                    "SELECT id, tenant_id, monitor_id, region, worker, started_at, finished_at, outcome, dns_ms, connect_ms, \
                     tls_ms, ttfb_ms, total_ms, status_code, error, cert_expires_at, provenance, cert_issuer FROM check_results \
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
        })
    }
}

/// Read the monitors not in memory (rows, drafts, stored states) into `hot`; a monitor that
/// does not exist under the result's tenant is left out. Returns how many were read.
async fn load_missing(
    tx: &Transaction<'_>,
    drafts: &DraftCache,
    missing: &[(TenantId, MonitorId)],
    hot: &mut HashMap<MonitorId, Box<Hot>>,
) -> StoreResult<usize> {
    if missing.is_empty() {
        return Ok(0);
    }
    let found = find_monitors(tx, missing).await?;
    let versions: Vec<_> = found.iter().map(|(m, _, v)| (m, *v)).collect();
    let parsed = drafts.drafts(tx, &versions).await?;
    let wanted: Vec<&MonitorId> = found.iter().map(|(m, _, _)| m).collect();
    let mut stored = load_states(tx, &wanted).await?;
    let read = Instant::now();
    let mut n = 0;
    for ((m, tenant, _), draft) in found.into_iter().zip(parsed) {
        let Some(draft) = draft else { continue };
        let row = stored.remove(m.as_str());
        let written = row.is_some().then_some(read);
        let (state, status) = row.unwrap_or_default();
        hot.insert(m, Box::new(Hot { tenant, draft, facts: None, state, status, written }));
        n += 1;
    }
    Ok(n)
}

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
        cert_issuer: r.try_get(17)?,
        provenance: Provenance::parse(&provenance).unwrap_or(Provenance::Synthetic),
    })
}

/// Cursor: `<started_at>.<result id>` of the last row of the previous page.
fn parse_cursor(s: &str) -> StoreResult<(i64, String)> {
    s.split_once('.')
        .and_then(|(t, id)| Some((t.parse().ok()?, id.to_owned())))
        .ok_or_else(|| StoreError::Conflict(format!("cursor `{s}` is not one this API gave out")))
}

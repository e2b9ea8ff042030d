//! Ingest and incident commands in PostgreSQL: results, state, incidents, outbox rows and
//! hourly rollups in one transaction per batch, in a fixed number of statements.
//!
//! Lock order, the same in every transaction, so concurrent writers never deadlock: new
//! result ids (inserted sorted by id) → `state_partitions` rows (by partition, see [`hot`]) →
//! `monitors` rows (`FOR NO KEY UPDATE`, by id; taken by incident commands, maintenance and
//! region observations, not by ingest, which holds the partitions) → that monitor's incident,
//! outbox and state rows → rollup rows (sorted by monitor and hour).
//! Ingest steps monitors from this node's memory ([`HotCache`]) and writes a state row only
//! when the state stops behaving like the stored one (see [`hot`]).

use super::copy;
use super::facts::DraftCache;
use super::hot::{self, Hot, HotCache};
use super::state::{facts_of, find_monitors, load_states, lock_monitors, save_states, FactInputs, StateRow};
use crate::plan::{plan, MonitorFacts, Write};
use crate::*;
use netpulse_core::incident::Observation;
use netpulse_core::Provenance;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Transaction};

const HOUR_MS: i64 = 3_600_000;

/// The per-store caches ingest and incident commands use.
pub struct Caches<'a> {
    pub drafts: &'a DraftCache,
    pub hot: &'a HotCache,
}

pub async fn ingest(
    c: &mut Client,
    caches: Caches<'_>,
    batch: &[CheckResult],
    now: Timestamp,
) -> StoreResult<IngestReport> {
    if batch.is_empty() {
        return Ok(IngestReport::default());
    }
    let batch = &*without_nul(batch);
    let t0 = Instant::now();
    let mut tx = c.transaction().await?;
    let mut new_ids = insert_results(&mut tx, batch).await?;
    let t_insert = t0.elapsed();
    let mut report =
        IngestReport { inserted: new_ids.len(), duplicates: batch.len() - new_ids.len(), ..IngestReport::default() };
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
    let section = caches.hot.sync(&tx, monitors.iter().copied()).await?;
    let t_lock = t0.elapsed();
    let mut hot = caches.hot.take(monitors.iter().copied());
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
    let read = load_missing(&tx, caches.drafts, &missing, &mut hot).await?;
    let t_load = t0.elapsed();
    let drafted: Vec<_> = fresh.iter().filter_map(|(m, _)| hot.get(*m).map(|h| (*m, &h.tenant, &h.draft))).collect();
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
        if p.recheck {
            report.rechecks.push(f.id.clone());
        }
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
    caches.hot.put(&logged, hot);
    drop(section);
    if caches.hot.prune_due() {
        if let Err(e) = hot::prune(c).await {
            tracing::warn!(error = %e, "cannot prune old state touches");
        }
    }
    // Where a batch's time goes (`RUST_LOG=netpulse_engine::store::postgres::ingest=debug`).
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

/// The batch with every `\0` in its texts (region, worker, error) replaced by U+FFFD:
/// PostgreSQL text cannot hold NUL (SQLSTATE 22021), and one such result would fail its whole
/// batch on every retry. The COPY, the UNNEST fallback and the state rows all store this copy.
pub(crate) fn without_nul(batch: &[CheckResult]) -> Cow<'_, [CheckResult]> {
    let has = |s: &str| s.contains('\0');
    let dirty = |r: &CheckResult| has(&r.region) || has(&r.worker) || r.error.as_deref().is_some_and(has);
    if !batch.iter().any(dirty) {
        return Cow::Borrowed(batch);
    }
    let clean = |s: &str| s.replace('\0', "\u{FFFD}");
    Cow::Owned(
        batch
            .iter()
            .map(|r| CheckResult {
                region: clean(&r.region),
                worker: clean(&r.worker),
                error: r.error.as_deref().map(clean),
                ..r.clone()
            })
            .collect(),
    )
}

/// Insert the batch sorted by id, deduplicated; returns the ids that were new. First by COPY
/// BINARY inside a savepoint; when a result id is already stored (a redelivery), the COPY
/// fails as a whole and [`insert_new_results`] inserts the batch skipping stored ids.
async fn insert_results(tx: &mut Transaction<'_>, batch: &[CheckResult]) -> StoreResult<HashSet<String>> {
    let mut sorted: Vec<&CheckResult> = batch.iter().collect();
    sorted.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    sorted.dedup_by(|a, b| a.id == b.id);
    let sp = tx.savepoint("copy_results").await?;
    let copied = match sp.copy_in(&copy::statement("check_results")).await {
        Ok(sink) => copy::write_results(sink, &sorted).await,
        Err(e) => Err(e),
    };
    match copied {
        Ok(_) => {
            sp.commit().await?;
            Ok(sorted.iter().map(|r| r.id.as_str().to_owned()).collect())
        }
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            sp.rollback().await?;
            insert_new_results(tx, &sorted).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Insert `sorted` (by id, no id twice) with one `INSERT … SELECT FROM UNNEST … ON CONFLICT
/// DO NOTHING`; returns the ids that were new.
async fn insert_new_results(tx: &Transaction<'_>, sorted: &[&CheckResult]) -> StoreResult<HashSet<String>> {
    let text = |f: fn(&CheckResult) -> &str| sorted.iter().map(|r| f(r)).collect::<Vec<&str>>();
    let ms = |f: fn(&CheckResult) -> Option<u32>| sorted.iter().map(|r| f(r).map(|v| v as i32)).collect::<Vec<_>>();
    let ids = text(|r| r.id.as_str());
    let tenants = text(|r| r.tenant_id.as_str());
    let monitors = text(|r| r.monitor_id.as_str());
    let regions = text(|r| &r.region);
    let workers = text(|r| &r.worker);
    let started: Vec<i64> = sorted.iter().map(|r| r.started_at.millis()).collect();
    let finished: Vec<i64> = sorted.iter().map(|r| r.finished_at.millis()).collect();
    let outcomes = text(|r| r.outcome.as_str());
    let (dns, connect, tls) = (ms(|r| r.timings.dns_ms), ms(|r| r.timings.connect_ms), ms(|r| r.timings.tls_ms));
    let (ttfb, total) = (ms(|r| r.timings.ttfb_ms), ms(|r| r.timings.total_ms));
    let codes: Vec<Option<i32>> = sorted.iter().map(|r| r.status_code.map(i32::from)).collect();
    let errors: Vec<Option<&str>> = sorted.iter().map(|r| r.error.as_deref()).collect();
    let certs: Vec<Option<i64>> = sorted.iter().map(|r| r.cert_expires_at.map(Timestamp::millis)).collect();
    let provenance = text(|r| r.provenance.as_str());
    let rows = tx
        .query_typed(
            "INSERT INTO check_results (id, tenant_id, monitor_id, region, worker, started_at, finished_at, outcome, \
             dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, status_code, error, cert_expires_at, provenance) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[], \
             $8::text[], $9::int4[], $10::int4[], $11::int4[], $12::int4[], $13::int4[], $14::int4[], $15::text[], \
             $16::int8[], $17::text[]) ON CONFLICT (id) DO NOTHING RETURNING id",
            &[
                (&ids, Type::TEXT_ARRAY),
                (&tenants, Type::TEXT_ARRAY),
                (&monitors, Type::TEXT_ARRAY),
                (&regions, Type::TEXT_ARRAY),
                (&workers, Type::TEXT_ARRAY),
                (&started, Type::INT8_ARRAY),
                (&finished, Type::INT8_ARRAY),
                (&outcomes, Type::TEXT_ARRAY),
                (&dns, Type::INT4_ARRAY),
                (&connect, Type::INT4_ARRAY),
                (&tls, Type::INT4_ARRAY),
                (&ttfb, Type::INT4_ARRAY),
                (&total, Type::INT4_ARRAY),
                (&codes, Type::INT4_ARRAY),
                (&errors, Type::TEXT_ARRAY),
                (&certs, Type::INT8_ARRAY),
                (&provenance, Type::TEXT_ARRAY),
            ],
        )
        .await?;
    rows.iter().map(|r| Ok(r.try_get::<_, String>(0)?)).collect()
}

/// Add the new live results to the hourly rollup, one upsert for the whole batch. A result
/// inside one of its monitor's maintenance windows counts in `maintenance`, not by outcome.
async fn upsert_rollups<'a>(tx: &Transaction<'_>, fresh: impl Iterator<Item = &'a CheckResult>) -> StoreResult<()> {
    let live: Vec<&CheckResult> = fresh.filter(|r| r.provenance == Provenance::Live).collect();
    if live.is_empty() {
        return Ok(());
    }
    let windows = maintenance_windows(tx, &live).await?;
    let mut hours: BTreeMap<(&str, i64), (&str, [i64; 5])> = BTreeMap::new();
    for r in live {
        let hour = r.started_at.millis().div_euclid(HOUR_MS) * HOUR_MS;
        let slot = hours.entry((r.monitor_id.as_str(), hour)).or_insert((r.tenant_id.as_str(), [0; 5]));
        let t = r.started_at.millis();
        let in_window = windows.iter().any(|(m, start, end)| m == r.monitor_id.as_str() && *start <= t && t < *end);
        let i = match r.outcome {
            _ if in_window => 4,
            Outcome::Up => 0,
            Outcome::Degraded => 1,
            Outcome::Down => 2,
            Outcome::Error => 3,
        };
        slot.1[i] += 1;
    }
    let monitors: Vec<&str> = hours.keys().map(|k| k.0).collect();
    let starts: Vec<i64> = hours.keys().map(|k| k.1).collect();
    let tenants: Vec<&str> = hours.values().map(|v| v.0).collect();
    let count = |i: usize| hours.values().map(|v| v.1[i]).collect::<Vec<i64>>();
    let (up, degraded, down, error, maintenance) = (count(0), count(1), count(2), count(3), count(4));
    tx.execute_typed(
        "INSERT INTO uptime_hourly (monitor_id, hour_start, tenant_id, up, degraded, down, error, maintenance) \
         SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::int8[]) \
         ON CONFLICT (monitor_id, hour_start) DO UPDATE SET up = uptime_hourly.up + EXCLUDED.up, \
         degraded = uptime_hourly.degraded + EXCLUDED.degraded, down = uptime_hourly.down + EXCLUDED.down, \
         error = uptime_hourly.error + EXCLUDED.error, maintenance = uptime_hourly.maintenance + EXCLUDED.maintenance",
        &[
            (&monitors, Type::TEXT_ARRAY),
            (&starts, Type::INT8_ARRAY),
            (&tenants, Type::TEXT_ARRAY),
            (&up, Type::INT8_ARRAY),
            (&degraded, Type::INT8_ARRAY),
            (&down, Type::INT8_ARRAY),
            (&error, Type::INT8_ARRAY),
            (&maintenance, Type::INT8_ARRAY),
        ],
    )
    .await?;
    Ok(())
}

/// `(monitor, starts_at, ends_at)` of the maintenance windows of the results' monitors.
async fn maintenance_windows(tx: &Transaction<'_>, results: &[&CheckResult]) -> StoreResult<Vec<(String, i64, i64)>> {
    let mut monitors: Vec<&str> = results.iter().map(|r| r.monitor_id.as_str()).collect();
    monitors.sort_unstable();
    monitors.dedup();
    let rows = tx
        .query_typed(
            "SELECT monitor_id, starts_at, ends_at FROM maintenance_windows WHERE monitor_id = ANY($1)",
            &[(&monitors, Type::TEXT_ARRAY)],
        )
        .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect()
}

async fn execute(tx: &Transaction<'_>, f: &MonitorFacts, writes: &[Write], now: Timestamp) -> StoreResult<()> {
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

pub async fn incident_command(
    c: &mut Client,
    cache: &DraftCache,
    t: &TenantId,
    id: &IncidentId,
    cmd: IncidentCommand,
    now: Timestamp,
) -> StoreResult<Option<IncidentRecord>> {
    let tx = c.transaction().await?;
    let monitor = tx
        .query_typed_opt(
            "SELECT monitor_id FROM incidents WHERE tenant_id = $1 AND id = $2",
            &[(&t.as_str(), Type::TEXT), (&id.as_str(), Type::TEXT)],
        )
        .await?;
    let Some(monitor) = monitor.map(|r| r.try_get::<_, String>(0)).transpose()?.map(MonitorId::from_trusted) else {
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
    let rec = super::reads::list_incidents(&tx, t, &IncidentFilter::default(), Some(id), 1).await?.pop();
    tx.commit().await?;
    Ok(rec)
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

/// Feed one monitor a non-result observation (maintenance, region availability) in one
/// transaction; returns the number of row changes, or `None` when no such monitor.
pub async fn observe(
    c: &mut Client,
    cache: &DraftCache,
    t: &TenantId,
    m: &MonitorId,
    obs: Observation,
    now: Timestamp,
) -> StoreResult<Option<usize>> {
    let tx = c.transaction().await?;
    let changed = step_one(&tx, cache, t, m, obs, now).await?;
    tx.commit().await?;
    Ok(changed)
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

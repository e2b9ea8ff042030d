//! How one ingest batch's rows are written in PostgreSQL: the results by `COPY BINARY` (or,
//! on a redelivery, one `INSERT … SELECT FROM UNNEST … ON CONFLICT DO NOTHING`), with every
//! NUL replaced first, and the new live results added to the hourly rollup in one upsert.

use super::copy;
use crate::*;
use netpulse_core::{CheckResult, Outcome, Provenance, Timestamp};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::Transaction;

const HOUR_MS: i64 = 3_600_000;

/// The batch with every `\0` in its texts (region, worker, error) replaced by U+FFFD:
/// PostgreSQL text cannot hold NUL (SQLSTATE 22021), and one such result would fail its whole
/// batch on every retry. The COPY, the UNNEST fallback and the state rows all store this copy.
pub(super) fn without_nul(batch: &[CheckResult]) -> Cow<'_, [CheckResult]> {
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
pub(super) async fn insert_results(tx: &mut Transaction<'_>, batch: &[CheckResult]) -> StoreResult<HashSet<String>> {
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
    let issuers: Vec<Option<&str>> = sorted.iter().map(|r| r.cert_issuer.as_deref()).collect();
    let rows = tx
        .query_typed(
            "INSERT INTO check_results (id, tenant_id, monitor_id, region, worker, started_at, finished_at, outcome, \
             dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, status_code, error, cert_expires_at, provenance, cert_issuer) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[], \
             $8::text[], $9::int4[], $10::int4[], $11::int4[], $12::int4[], $13::int4[], $14::int4[], $15::text[], \
             $16::int8[], $17::text[], $18::text[]) ON CONFLICT (id, started_at) DO NOTHING RETURNING id",
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
                (&issuers, Type::TEXT_ARRAY),
            ],
        )
        .await?;
    rows.iter().map(|r| Ok(r.try_get::<_, String>(0)?)).collect()
}

/// Add the new live results to the hourly rollup, one upsert for the whole batch. A result
/// inside one of its monitor's maintenance windows counts in `maintenance`, not by outcome.
pub(super) async fn upsert_rollups<'a>(
    tx: &Transaction<'_>,
    fresh: impl Iterator<Item = &'a CheckResult>,
) -> StoreResult<()> {
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

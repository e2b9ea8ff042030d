//! Real-visitor sources and visits in SQLite (see [`crate::visits`]).

use super::SqliteStore;
use crate::visits::{evidence_provenance, fold_tallies, visit_provenance, PAGE_MS_STEP};
use crate::*;
use async_trait::async_trait;
use netpulse_core::visits::VisitTally;
use netpulse_core::{MonitorId, TenantId, Timestamp};
use rusqlite::{params, params_from_iter, OptionalExtension, Row, Transaction};
use std::collections::HashMap;

const COLS: &str = "id, tenant_id, monitor_id, site_key, origins, sample_one_in, per_minute, health_url, created_at, \
                    dropped_origin, dropped_rate, dropped_token, dropped_bot, dropped_malformed, on_status_pages, token_key, in_alerts";

fn source(r: &Row) -> rusqlite::Result<VisitSource> {
    let origins: String = r.get(4)?;
    let n = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
    Ok(VisitSource {
        id: r.get(0)?,
        tenant_id: TenantId::from_trusted(r.get(1)?),
        monitor_id: MonitorId::from_trusted(r.get(2)?),
        site_key: r.get(3)?,
        origins: origins.split('\n').filter(|o| !o.is_empty()).map(str::to_owned).collect(),
        sample_one_in: r.get(5)?,
        per_minute: r.get(6)?,
        health_url: r.get(7)?,
        created_at: Timestamp::from_millis(r.get(8)?),
        dropped: VisitDrops { origin: n(9)?, rate: n(10)?, token: n(11)?, bot: n(12)?, malformed: n(13)? },
        on_status_pages: r.get(14)?,
        token_key: r.get(15)?,
        in_alerts: r.get(16)?,
    })
}

#[async_trait]
impl VisitStore for SqliteStore {
    async fn create_visit_source(&self, t: &TenantId, s: &VisitSource) -> StoreResult<()> {
        let (t, s) = (t.clone(), s.clone());
        self.write(move |c| {
            c.execute(
                "INSERT INTO visit_sources (id, tenant_id, monitor_id, site_key, origins, sample_one_in, per_minute, \
                 health_url, created_at, on_status_pages, token_key, in_alerts) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    s.id,
                    t.as_str(),
                    s.monitor_id.as_str(),
                    s.site_key,
                    s.origins.join("\n"),
                    s.sample_one_in,
                    s.per_minute,
                    s.health_url,
                    s.created_at.millis(),
                    s.on_status_pages,
                    s.token_key,
                    s.in_alerts
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_visit_source(&self, t: &TenantId, id: &str) -> StoreResult<bool> {
        let (t, id) = (t.clone(), id.to_owned());
        self.write(move |c| {
            let tx = c.transaction()?;
            let n =
                tx.execute("DELETE FROM visit_sources WHERE tenant_id = ?1 AND id = ?2", params![t.as_str(), id])?;
            if n == 1 {
                delete_visits_of(&tx, "source_id", &id)?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
        .await
    }

    async fn visit_sources(&self, t: &TenantId, monitor: Option<&MonitorId>) -> StoreResult<Vec<VisitSource>> {
        let (t, m) = (t.clone(), monitor.map(|m| m.as_str().to_owned()));
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLS} FROM visit_sources WHERE tenant_id = ?1 AND (?2 IS NULL OR monitor_id = ?2) \
                 ORDER BY created_at, id"
            ))?;
            let rows = stmt.query_map(params![t.as_str(), m], source)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn visit_source_by_key(&self, site_key: &str) -> StoreResult<Option<VisitSource>> {
        let key = site_key.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!("SELECT {COLS} FROM visit_sources WHERE site_key = ?1"))?;
            Ok(stmt.query_row([key], source).optional()?)
        })
        .await
    }

    async fn record_visit(&self, s: &VisitSource, v: &VisitRow) -> StoreResult<Recorded> {
        let (s, v) = (s.clone(), v.clone());
        self.write(move |c| {
            let tx = c.transaction()?;
            let per_minute: Option<i64> = tx
                .prepare_cached("SELECT per_minute FROM visit_sources WHERE id = ?1")?
                .query_row([&s.id], |r| r.get(0))
                .optional()?;
            let Some(per_minute) = per_minute else { return Ok(Recorded::NoSource) };
            if let Some(spend) = &v.spends {
                let at = spend.at.millis();
                tx.prepare_cached("DELETE FROM visit_spends WHERE source_id = ?1 AND expires_at <= ?2")?
                    .execute(params![s.id, at])?;
                let fresh = tx
                    .prepare_cached(
                        "INSERT INTO visit_spends (source_id, nonce, at, expires_at) VALUES (?1, ?2, ?3, ?4) \
                         ON CONFLICT DO NOTHING",
                    )?
                    .execute(params![s.id, spend.nonce, at, spend.expires_at.millis()])?;
                if fresh == 0 {
                    return Ok(Recorded::Replayed);
                }
                let taken: i64 = tx
                    .prepare_cached("SELECT count(*) FROM visit_spends WHERE source_id = ?1 AND at > ?2")?
                    .query_row(params![s.id, at - 60_000], |r| r.get(0))?;
                if taken > per_minute {
                    return Ok(Recorded::OverBudget);
                }
            }
            tx.prepare_cached(
                "INSERT INTO visits (source_id, tenant_id, monitor_id, at, ok, page_ms, health_ms, network, area, \
                 provenance) SELECT id, tenant_id, monitor_id, ?2, ?3, ?4, ?5, ?6, ?7, ?8 FROM visit_sources WHERE id = ?1",
            )?
            .execute(params![
                s.id,
                v.at.millis(),
                v.visit.ok,
                v.visit.page_ms,
                v.visit.health_ms,
                v.visit.network,
                v.visit.area,
                visit_provenance(v.demo)
            ])?;
            tx.commit()?;
            Ok(Recorded::Stored)
        })
        .await
    }

    async fn add_visit_drops(&self, source_id: &str, d: &VisitDrops) -> StoreResult<()> {
        let (id, d) = (source_id.to_owned(), *d);
        self.write(move |c| {
            c.execute(
                "UPDATE visit_sources SET dropped_origin = dropped_origin + ?2, dropped_rate = dropped_rate + ?3, \
                 dropped_token = dropped_token + ?4, dropped_bot = dropped_bot + ?5, \
                 dropped_malformed = dropped_malformed + ?6 WHERE id = ?1",
                params![id, d.origin as i64, d.rate as i64, d.token as i64, d.bot as i64, d.malformed as i64],
            )?;
            Ok(())
        })
        .await
    }

    async fn visit_tallies(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
        (since, until): (Timestamp, Timestamp),
        ev: Evidence,
    ) -> StoreResult<HashMap<MonitorId, VisitTally>> {
        if monitors.is_empty() {
            return Ok(HashMap::new());
        }
        let mut args: Vec<rusqlite::types::Value> = vec![
            t.as_str().to_owned().into(),
            since.millis().into(),
            until.millis().into(),
            evidence_provenance(ev).to_owned().into(),
        ];
        args.extend(monitors.iter().map(|m| m.as_str().to_owned().into()));
        let list = (5..5 + monitors.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        self.read(move |c| {
            let sql = format!(
                "SELECT monitor_id, COUNT(*), SUM(1 - ok), (page_ms / {PAGE_MS_STEP}) * {PAGE_MS_STEP} FROM visits \
                 WHERE tenant_id = ?1 AND at >= ?2 AND at < ?3 AND provenance = ?4 AND monitor_id IN ({list}) \
                 GROUP BY monitor_id, 4 \
                 UNION ALL SELECT monitor_id, SUM(loads), SUM(failed), NULL FROM visit_days \
                 WHERE tenant_id = ?1 AND day_start >= ?2 AND day_start < ?3 AND provenance = ?4 \
                 AND monitor_id IN ({list}) GROUP BY monitor_id"
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(params_from_iter(args), |r| {
                Ok((
                    MonitorId::from_trusted(r.get(0)?),
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                    r.get::<_, Option<u32>>(3)?,
                ))
            })?;
            Ok(fold_tallies(rows.collect::<Result<Vec<_>, _>>()?))
        })
        .await
    }
}

/// Delete the visits and daily counts whose `column` (`source_id` or `monitor_id`) is `id`.
pub(super) fn delete_visits_of(tx: &Transaction, column: &str, id: &str) -> rusqlite::Result<()> {
    for table in ["visits", "visit_days"] {
        tx.execute(&format!("DELETE FROM {table} WHERE {column} = ?1"), [id])?;
    }
    Ok(())
}

/// Fold up to `limit` visits before `before` into daily counts and delete them; delete daily
/// counts before `day_horizon`. Returns the visits folded.
pub(super) fn fold_visits(
    tx: &Transaction,
    before: Timestamp,
    day_horizon: Timestamp,
    limit: i64,
) -> StoreResult<usize> {
    const CHUNK: &str = "SELECT rowid FROM visits WHERE at < ?1 LIMIT ?2";
    tx.execute(
        &format!(
            "INSERT INTO visit_days (source_id, tenant_id, monitor_id, day_start, provenance, loads, failed) \
             SELECT source_id, tenant_id, monitor_id, (at / 86400000) * 86400000, provenance, COUNT(*), SUM(1 - ok) \
             FROM visits WHERE rowid IN ({CHUNK}) GROUP BY 1, 2, 3, 4, 5 \
             ON CONFLICT (source_id, day_start, provenance) DO UPDATE SET loads = loads + excluded.loads, \
             failed = failed + excluded.failed"
        ),
        params![before.millis(), limit],
    )?;
    let folded =
        tx.execute(&format!("DELETE FROM visits WHERE rowid IN ({CHUNK})"), params![before.millis(), limit])?;
    tx.execute(
        "DELETE FROM visit_days WHERE rowid IN (SELECT rowid FROM visit_days WHERE day_start < ?1 LIMIT ?2)",
        params![day_horizon.millis(), limit],
    )?;
    Ok(folded)
}

//! Real-visitor sources and visits in PostgreSQL (see [`crate::visits`]). Retention moves
//! visits into daily counts with one `DELETE … RETURNING` feeding the upsert, so with several
//! nodes each visit is counted once.

use super::{Param, PgStore};
use crate::visits::{evidence_provenance, fold_tallies, visit_provenance, PAGE_MS_STEP};
use crate::*;
use async_trait::async_trait;
use netpulse_core::visits::VisitTally;
use netpulse_core::{MonitorId, TenantId, Timestamp};
use std::collections::HashMap;
use tokio_postgres::types::Type;
use tokio_postgres::{Row, Transaction};

const COLS: &str = "id, tenant_id, monitor_id, site_key, origins, sample_one_in, per_minute, health_url, created_at, \
                    dropped_origin, dropped_rate, dropped_token, dropped_bot, dropped_malformed, on_status_pages, token_key, in_alerts";

fn source(r: &Row) -> StoreResult<VisitSource> {
    let origins: String = r.try_get(4)?;
    let n = |i: usize| r.try_get::<_, i64>(i).map(|v| v.max(0) as u64);
    Ok(VisitSource {
        id: r.try_get(0)?,
        tenant_id: TenantId::from_trusted(r.try_get(1)?),
        monitor_id: MonitorId::from_trusted(r.try_get(2)?),
        site_key: r.try_get(3)?,
        origins: origins.split('\n').filter(|o| !o.is_empty()).map(str::to_owned).collect(),
        sample_one_in: r.try_get::<_, i32>(5)? as u32,
        per_minute: r.try_get::<_, i32>(6)? as u32,
        health_url: r.try_get(7)?,
        created_at: Timestamp::from_millis(r.try_get(8)?),
        dropped: VisitDrops { origin: n(9)?, rate: n(10)?, token: n(11)?, bot: n(12)?, malformed: n(13)? },
        on_status_pages: r.try_get(14)?,
        token_key: r.try_get(15)?,
        in_alerts: r.try_get(16)?,
    })
}

#[async_trait]
impl VisitStore for PgStore {
    async fn create_visit_source(&self, t: &TenantId, s: &VisitSource) -> StoreResult<()> {
        let origins = s.origins.join("\n");
        let (sample, per_minute) = (s.sample_one_in as i32, s.per_minute as i32);
        pooled!(self, |c| async {
            c.execute_typed(
                "INSERT INTO visit_sources (id, tenant_id, monitor_id, site_key, origins, sample_one_in, per_minute, \
                 health_url, created_at, on_status_pages, token_key, in_alerts) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    (&s.id.as_str(), Type::TEXT),
                    (&t.as_str(), Type::TEXT),
                    (&s.monitor_id.as_str(), Type::TEXT),
                    (&s.site_key.as_str(), Type::TEXT),
                    (&origins.as_str(), Type::TEXT),
                    (&sample, Type::INT4),
                    (&per_minute, Type::INT4),
                    (&s.health_url.as_deref(), Type::TEXT),
                    (&s.created_at.millis(), Type::INT8),
                    (&s.on_status_pages, Type::BOOL),
                    (&s.token_key.as_str(), Type::TEXT),
                    (&s.in_alerts, Type::BOOL),
                ],
            )
            .await?;
            Ok(())
        })
    }

    async fn delete_visit_source(&self, t: &TenantId, id: &str) -> StoreResult<bool> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let n = tx
                .execute_typed(
                    "DELETE FROM visit_sources WHERE tenant_id = $1 AND id = $2",
                    &[(&t.as_str(), Type::TEXT), (&id, Type::TEXT)],
                )
                .await?;
            if n == 1 {
                delete_visits_of(&tx, "source_id", id).await?;
            }
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    async fn visit_sources(&self, t: &TenantId, monitor: Option<&MonitorId>) -> StoreResult<Vec<VisitSource>> {
        let m = monitor.map(MonitorId::as_str);
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    &format!(
                        "SELECT {COLS} FROM visit_sources WHERE tenant_id = $1 AND ($2::TEXT IS NULL OR monitor_id = $2) \
                         ORDER BY created_at, id"
                    ),
                    &[(&t.as_str(), Type::TEXT), (&m, Type::TEXT)],
                )
                .await?;
            rows.iter().map(source).collect()
        })
    }

    async fn visit_source_by_key(&self, site_key: &str) -> StoreResult<Option<VisitSource>> {
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    &format!("SELECT {COLS} FROM visit_sources WHERE site_key = $1"),
                    &[(&site_key, Type::TEXT)],
                )
                .await?;
            rows.first().map(source).transpose()
        })
    }

    async fn record_visit(&self, s: &VisitSource, v: &VisitRow) -> StoreResult<Recorded> {
        let page = v.visit.page_ms.map(|ms| ms as i32);
        let health = v.visit.health_ms.map(|ms| ms as i32);
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            // The source's row lock orders the views of one source across nodes.
            let Some(row) = tx
                .query_typed_opt(
                    "SELECT per_minute FROM visit_sources WHERE id = $1 FOR UPDATE",
                    &[(&s.id.as_str(), Type::TEXT)],
                )
                .await?
            else {
                return Ok(Recorded::NoSource);
            };
            if let Some(spend) = &v.spends {
                let per_minute: i32 = row.try_get(0)?;
                let at = spend.at.millis();
                tx.execute_typed(
                    "DELETE FROM visit_spends WHERE source_id = $1 AND expires_at <= $2",
                    &[(&s.id.as_str(), Type::TEXT), (&at, Type::INT8)],
                )
                .await?;
                let fresh = tx
                    .execute_typed(
                        "INSERT INTO visit_spends (source_id, nonce, at, expires_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT DO NOTHING",
                        &[
                            (&s.id.as_str(), Type::TEXT),
                            (&spend.nonce.as_str(), Type::TEXT),
                            (&at, Type::INT8),
                            (&spend.expires_at.millis(), Type::INT8),
                        ],
                    )
                    .await?;
                if fresh == 0 {
                    return Ok(Recorded::Replayed);
                }
                let since = at - 60_000;
                let taken: i64 = tx
                    .query_typed_one(
                        "SELECT count(*) FROM visit_spends WHERE source_id = $1 AND at > $2",
                        &[(&s.id.as_str(), Type::TEXT), (&since, Type::INT8)],
                    )
                    .await?
                    .try_get(0)?;
                if taken > i64::from(per_minute) {
                    return Ok(Recorded::OverBudget);
                }
            }
            tx.execute_typed(
                "INSERT INTO visits (source_id, tenant_id, monitor_id, at, ok, page_ms, health_ms, network, area, \
                 provenance) SELECT id, tenant_id, monitor_id, $2, $3, $4, $5, $6, $7, $8 FROM visit_sources WHERE id = $1",
                &[
                    (&s.id.as_str(), Type::TEXT),
                    (&v.at.millis(), Type::INT8),
                    (&v.visit.ok, Type::BOOL),
                    (&page, Type::INT4),
                    (&health, Type::INT4),
                    (&v.visit.network, Type::TEXT),
                    (&v.visit.area, Type::TEXT),
                    (&visit_provenance(v.demo), Type::TEXT),
                ],
            )
            .await?;
            tx.commit().await?;
            Ok(Recorded::Stored)
        })
    }

    async fn add_visit_drops(&self, source_id: &str, d: &VisitDrops) -> StoreResult<()> {
        let n = [d.origin, d.rate, d.token, d.bot, d.malformed].map(|v| v as i64);
        pooled!(self, |c| async {
            c.execute_typed(
                "UPDATE visit_sources SET dropped_origin = dropped_origin + $2, dropped_rate = dropped_rate + $3, \
                 dropped_token = dropped_token + $4, dropped_bot = dropped_bot + $5, \
                 dropped_malformed = dropped_malformed + $6 WHERE id = $1",
                &[
                    (&source_id, Type::TEXT),
                    (&n[0], Type::INT8),
                    (&n[1], Type::INT8),
                    (&n[2], Type::INT8),
                    (&n[3], Type::INT8),
                    (&n[4], Type::INT8),
                ],
            )
            .await?;
            Ok(())
        })
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
        let ids: Vec<&str> = monitors.iter().map(MonitorId::as_str).collect();
        let p = evidence_provenance(ev);
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    &format!(
                        "SELECT monitor_id, COUNT(*)::BIGINT, COUNT(*) FILTER (WHERE NOT ok)::BIGINT, \
                         (page_ms / {PAGE_MS_STEP}) * {PAGE_MS_STEP} FROM visits \
                         WHERE tenant_id = $1 AND at >= $2 AND at < $3 AND provenance = $4 AND monitor_id = ANY($5) \
                         GROUP BY 1, 4 \
                         UNION ALL SELECT monitor_id, SUM(loads)::BIGINT, SUM(failed)::BIGINT, NULL FROM visit_days \
                         WHERE tenant_id = $1 AND day_start >= $2 AND day_start < $3 AND provenance = $4 \
                         AND monitor_id = ANY($5) GROUP BY 1"
                    ),
                    &[
                        (&t.as_str(), Type::TEXT),
                        (&since.millis(), Type::INT8),
                        (&until.millis(), Type::INT8),
                        (&p, Type::TEXT),
                        (&ids, Type::TEXT_ARRAY),
                    ],
                )
                .await?;
            let rows: Vec<_> = rows
                .iter()
                .map(|r| {
                    Ok((
                        MonitorId::from_trusted(r.try_get(0)?),
                        r.try_get::<_, i64>(1)? as u64,
                        r.try_get::<_, i64>(2)? as u64,
                        r.try_get::<_, Option<i32>>(3)?.map(|ms| ms as u32),
                    ))
                })
                .collect::<StoreResult<_>>()?;
            Ok(fold_tallies(rows))
        })
    }
}

/// Delete the visits and daily counts whose `column` (`source_id` or `monitor_id`) is `id`.
pub(super) async fn delete_visits_of(tx: &Transaction<'_>, column: &str, id: &str) -> StoreResult<()> {
    for table in ["visits", "visit_days"] {
        tx.execute_typed(&format!("DELETE FROM {table} WHERE {column} = $1"), &[(&id, Type::TEXT)]).await?;
    }
    Ok(())
}

/// Fold up to `limit` visits before `before` into daily counts, deleting them in the same
/// statement; delete daily counts before `day_horizon`. Returns the visits folded.
pub(super) async fn fold_visits(
    tx: &Transaction<'_>,
    before: Timestamp,
    day_horizon: Timestamp,
    limit: i64,
) -> StoreResult<usize> {
    let p: [Param<'_>; 2] = [(&before.millis(), Type::INT8), (&limit, Type::INT8)];
    let rows = tx
        .query_typed(
            "WITH gone AS (DELETE FROM visits WHERE ctid IN \
               (SELECT ctid FROM visits WHERE at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED) \
               RETURNING source_id, tenant_id, monitor_id, at, ok, provenance), \
             added AS (INSERT INTO visit_days (source_id, tenant_id, monitor_id, day_start, provenance, loads, failed) \
               SELECT source_id, tenant_id, monitor_id, (at / 86400000) * 86400000, provenance, COUNT(*), \
               COUNT(*) FILTER (WHERE NOT ok) FROM gone GROUP BY 1, 2, 3, 4, 5 \
               ON CONFLICT (source_id, day_start, provenance) DO UPDATE SET \
               loads = visit_days.loads + excluded.loads, failed = visit_days.failed + excluded.failed) \
             SELECT COUNT(*)::BIGINT FROM gone",
            &p,
        )
        .await?;
    let folded: i64 = rows.first().map(|r| r.try_get(0)).transpose()?.unwrap_or(0);
    tx.execute_typed(
        "DELETE FROM visit_days WHERE ctid IN (SELECT ctid FROM visit_days WHERE day_start < $1 LIMIT $2)",
        &[(&day_horizon.millis(), Type::INT8), (&limit, Type::INT8)],
    )
    .await?;
    Ok(folded as usize)
}

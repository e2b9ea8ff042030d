//! Status pages in PostgreSQL: pages and their monitors, incidents' public updates, and the
//! live-only reads the public page is built from. Unnamed typed statements only (PgBouncer transaction mode).

use super::PgStore;
use crate::*;
use async_trait::async_trait;
use netpulse_core::uptime::Tally;
use netpulse_core::{IncidentId, MonitorId, Outcome, TenantId, Timestamp, UpdateId};
use std::collections::HashMap;
use tokio_postgres::types::Type;
use tokio_postgres::{GenericClient, Row, Transaction};

const COLS: &str = "id, tenant_id, slug, title, message, logo_url, created_at, domain, updated_at";

#[async_trait]
impl StatusPageStore for PgStore {
    async fn create_status_page(&self, t: &TenantId, p: &StatusPage) -> StoreResult<()> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            tx.execute_typed(
                "INSERT INTO status_pages (id, tenant_id, slug, title, message, logo_url, created_at, domain, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    (&p.id.as_str(), Type::TEXT),
                    (&t.as_str(), Type::TEXT),
                    (&p.slug.as_str(), Type::TEXT),
                    (&p.title.as_str(), Type::TEXT),
                    (&p.message.as_str(), Type::TEXT),
                    (&p.logo_url, Type::TEXT),
                    (&p.created_at.millis(), Type::INT8),
                    (&p.domain, Type::TEXT),
                    (&p.updated_at.millis(), Type::INT8),
                ],
            )
            .await?;
            insert_monitors(&tx, t, p).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn update_status_page_if(
        &self,
        t: &TenantId,
        p: &StatusPage,
        expected: Option<Timestamp>,
    ) -> StoreResult<Conditional> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let n = tx
                .execute_typed(
                    "UPDATE status_pages SET slug = $3, title = $4, message = $5, logo_url = $6, domain = $7, \
                     updated_at = GREATEST($8, updated_at + 1) \
                     WHERE id = $1 AND tenant_id = $2 AND ($9::BIGINT IS NULL OR updated_at = $9)",
                    &[
                        (&p.id.as_str(), Type::TEXT),
                        (&t.as_str(), Type::TEXT),
                        (&p.slug.as_str(), Type::TEXT),
                        (&p.title.as_str(), Type::TEXT),
                        (&p.message.as_str(), Type::TEXT),
                        (&p.logo_url, Type::TEXT),
                        (&p.domain, Type::TEXT),
                        (&p.updated_at.millis(), Type::INT8),
                        (&expected.map(|e| e.millis()), Type::INT8),
                    ],
                )
                .await?;
            if n == 0 {
                let exists = tx
                    .query_typed_opt(
                        "SELECT 1 FROM status_pages WHERE id = $1 AND tenant_id = $2",
                        &[(&p.id.as_str(), Type::TEXT), (&t.as_str(), Type::TEXT)],
                    )
                    .await?;
                return Ok(Conditional::of(false, exists.is_some()));
            }
            insert_monitors(&tx, t, p).await?;
            tx.commit().await?;
            Ok(Conditional::Updated)
        })
    }

    async fn delete_status_page(&self, t: &TenantId, id: &str) -> StoreResult<bool> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let args: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 2] =
                [(&id, Type::TEXT), (&t.as_str(), Type::TEXT)];
            tx.execute_typed("DELETE FROM status_page_monitors WHERE page_id = $1 AND tenant_id = $2", &args).await?;
            let n = tx.execute_typed("DELETE FROM status_pages WHERE id = $1 AND tenant_id = $2", &args).await?;
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    async fn list_status_pages(&self, t: &TenantId) -> StoreResult<Vec<StatusPage>> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let rows = tx
                .query_typed(
                    &format!("SELECT {COLS} FROM status_pages WHERE tenant_id = $1 ORDER BY created_at, id"),
                    &[(&t.as_str(), Type::TEXT)],
                )
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(with_monitors(&tx, page_row(r)?).await?);
            }
            tx.commit().await?;
            Ok(out)
        })
    }

    async fn status_page_by_slug(&self, slug: &str) -> StoreResult<Option<StatusPage>> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let row = tx
                .query_typed_opt(&format!("SELECT {COLS} FROM status_pages WHERE slug = $1"), &[(&slug, Type::TEXT)])
                .await?;
            let page = match row {
                Some(r) => Some(with_monitors(&tx, page_row(&r)?).await?),
                None => None,
            };
            tx.commit().await?;
            Ok(page)
        })
    }

    async fn status_page_slug_for_domain(&self, domain: &str) -> StoreResult<Option<String>> {
        pooled!(self, |c| async {
            let row =
                c.query_typed_opt("SELECT slug FROM status_pages WHERE domain = $1", &[(&domain, Type::TEXT)]).await?;
            Ok(row.map(|r| r.try_get(0)).transpose()?)
        })
    }

    async fn page_tallies(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
        now: Timestamp,
    ) -> StoreResult<Vec<(MonitorId, Timestamp, Tally)>> {
        pooled!(self, |c| async {
            // The bucket is netpulse_core::uptime::bucket_start: $4..$7 are the window starts.
            let [s24, s7, s30, s90] = netpulse_core::uptime::window_starts(now).map(Timestamp::millis);
            let rows = c
                .query_typed(
                    "SELECT monitor_id, GREATEST((hour_start / 86400000) * 86400000, \
                            CASE WHEN hour_start >= $4 THEN $4 WHEN hour_start >= $5 THEN $5 WHEN hour_start >= $6 THEN $6 ELSE $7 END) AS b, \
                            SUM(up)::INT8, SUM(degraded)::INT8, SUM(down)::INT8, SUM(error)::INT8, SUM(maintenance)::INT8 \
                     FROM uptime_hourly \
                     WHERE tenant_id = $1 AND hour_start >= $7 AND hour_start <= $2 AND monitor_id = ANY($3) \
                     GROUP BY monitor_id, b",
                    &[
                        (&t.as_str(), Type::TEXT),
                        (&now.millis(), Type::INT8),
                        (&ids(monitors), Type::TEXT_ARRAY),
                        (&s24, Type::INT8),
                        (&s7, Type::INT8),
                        (&s30, Type::INT8),
                        (&s90, Type::INT8),
                    ],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    let n = |i: usize| -> StoreResult<u64> { Ok(r.try_get::<_, i64>(i)?.max(0) as u64) };
                    Ok((
                        MonitorId::from_trusted(r.try_get(0)?),
                        Timestamp::from_millis(r.try_get(1)?),
                        Tally { up: n(2)?, degraded: n(3)?, down: n(4)?, error: n(5)?, maintenance: n(6)? },
                    ))
                })
                .collect()
        })
    }

    async fn page_monitors(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
    ) -> StoreResult<HashMap<MonitorId, PageMonitorState>> {
        let (recent, soon) = super::days::recent(crate::clock::now());
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    // The newest live result: of the recent days if any (one step in the newest
                    // of their partitions, see `days::recent`), else of all.
                    "SELECT m.id, m.paused, r.started_at, r.outcome FROM monitors m \
                     LEFT JOIN LATERAL ( \
                       (SELECT started_at, outcome FROM check_results WHERE monitor_id = m.id AND tenant_id = $1 \
                         AND provenance = 'live' AND started_at >= $3 AND started_at < $4 ORDER BY started_at DESC LIMIT 1) \
                       UNION ALL (SELECT started_at, outcome FROM check_results WHERE monitor_id = m.id AND tenant_id = $1 \
                         AND provenance = 'live' ORDER BY started_at DESC LIMIT 1) \
                       LIMIT 1) r \
                     ON TRUE WHERE m.tenant_id = $1 AND m.id = ANY($2::TEXT[])",
                    &[
                        (&t.as_str(), Type::TEXT),
                        (&ids(monitors), Type::TEXT_ARRAY),
                        (&recent, Type::INT8),
                        (&soon, Type::INT8),
                    ],
                )
                .await?;
            let mut out = HashMap::new();
            for r in &rows {
                let latest = match (r.try_get::<_, Option<i64>>(2)?, r.try_get::<_, Option<String>>(3)?) {
                    (Some(at), Some(o)) => {
                        Outcome::parse(&o).map(|outcome| LatestLive { at: Timestamp::from_millis(at), outcome })
                    }
                    _ => None,
                };
                out.insert(MonitorId::from_trusted(r.try_get(0)?), PageMonitorState { paused: r.try_get(1)?, latest });
            }
            Ok(out)
        })
    }

    async fn post_incident_update(&self, t: &TenantId, u: &IncidentUpdate) -> StoreResult<bool> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let n = tx
                .execute_typed(
                    "UPDATE incidents SET public_message = $3, public_message_at = $4 WHERE id = $1 AND tenant_id = $2",
                    &[
                        (&u.incident_id.as_str(), Type::TEXT),
                        (&t.as_str(), Type::TEXT),
                        (&u.message.as_str(), Type::TEXT),
                        (&u.posted_at.millis(), Type::INT8),
                    ],
                )
                .await?;
            if n == 0 {
                return Ok(false);
            }
            tx.execute_typed(
                "INSERT INTO incident_updates (id, tenant_id, incident_id, state, impact, message, posted_at, affects) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    (&u.id.as_str(), Type::TEXT),
                    (&t.as_str(), Type::TEXT),
                    (&u.incident_id.as_str(), Type::TEXT),
                    (&u.state.as_str(), Type::TEXT),
                    (&u.impact.as_str(), Type::TEXT),
                    (&u.message.as_str(), Type::TEXT),
                    (&u.posted_at.millis(), Type::INT8),
                    (&crate::status_pages::affects_text(&u.affects), Type::TEXT),
                ],
            )
            .await?;
            let line = u.timeline_line();
            tx.execute_typed(
                "INSERT INTO incident_events (tenant_id, incident_id, at, message) VALUES ($1, $2, $3, $4)",
                &[
                    (&t.as_str(), Type::TEXT),
                    (&u.incident_id.as_str(), Type::TEXT),
                    (&u.posted_at.millis(), Type::INT8),
                    (&line.as_str(), Type::TEXT),
                ],
            )
            .await?;
            super::subscribers::queue_update(&tx, t, u).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn incident_updates(&self, t: &TenantId, incidents: &[IncidentId]) -> StoreResult<Vec<IncidentUpdate>> {
        let wanted: Vec<&str> = incidents.iter().map(IncidentId::as_str).collect();
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    "SELECT id, incident_id, state, impact, message, posted_at, affects FROM incident_updates \
                     WHERE tenant_id = $1 AND incident_id = ANY($2) ORDER BY posted_at DESC, id DESC",
                    &[(&t.as_str(), Type::TEXT), (&wanted, Type::TEXT_ARRAY)],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(IncidentUpdate {
                        id: UpdateId::from_trusted(r.try_get(0)?),
                        incident_id: IncidentId::from_trusted(r.try_get(1)?),
                        state: UpdateState::parse(r.try_get(2)?).unwrap_or(UpdateState::Investigating),
                        impact: Impact::parse(r.try_get(3)?).unwrap_or(Impact::Major),
                        message: r.try_get(4)?,
                        posted_at: Timestamp::from_millis(r.try_get(5)?),
                        affects: crate::status_pages::affects_of(r.try_get(6)?),
                    })
                })
                .collect()
        })
    }

    async fn announced_maintenance(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
        now: Timestamp,
    ) -> StoreResult<Vec<MaintenanceWindow>> {
        pooled!(self, |c| async {
            let sql = format!(
                "SELECT {} FROM maintenance_windows WHERE tenant_id = $1 AND announce AND ends_at > $2 \
                 AND phase IN ('scheduled', 'active') AND monitor_id = ANY($3) ORDER BY starts_at, id LIMIT 50",
                super::maintenance::COLS
            );
            let rows = c
                .query_typed(
                    &sql,
                    &[(&t.as_str(), Type::TEXT), (&now.millis(), Type::INT8), (&ids(monitors), Type::TEXT_ARRAY)],
                )
                .await?;
            rows.iter().map(|r| super::maintenance::window_at(r, 0)).collect()
        })
    }

    async fn public_incidents(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
        since: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<PublicIncident>> {
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    "SELECT id, monitor_id, status, opened_at, resolved_at, public_message, public_message_at FROM incidents \
                     WHERE tenant_id = $1 AND opened_at >= $2 AND opened_at < $4 AND public_message IS NOT NULL \
                     AND (monitor_id = ANY($3) OR EXISTS (SELECT 1 FROM incident_updates u \
                       WHERE u.tenant_id = $1 AND u.incident_id = incidents.id \
                       AND string_to_array(u.affects, ' ') && $3)) \
                     ORDER BY opened_at DESC, id DESC LIMIT 100",
                    &[
                        (&t.as_str(), Type::TEXT),
                        (&since.millis(), Type::INT8),
                        (&ids(monitors), Type::TEXT_ARRAY),
                        (&until.millis(), Type::INT8),
                    ],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(PublicIncident {
                        id: IncidentId::from_trusted(r.try_get(0)?),
                        monitor_id: MonitorId::from_trusted(r.try_get(1)?),
                        status: IncidentStatus::parse(&r.try_get::<_, String>(2)?),
                        opened_at: Timestamp::from_millis(r.try_get(3)?),
                        resolved_at: r.try_get::<_, Option<i64>>(4)?.map(Timestamp::from_millis),
                        public_message: r.try_get(5)?,
                        posted_at: Timestamp::from_millis(r.try_get(6)?),
                        updates: Vec::new(),
                        also_affected: Vec::new(),
                    })
                })
                .collect()
        })
    }
}

fn page_row(r: &Row) -> StoreResult<StatusPage> {
    Ok(StatusPage {
        id: r.try_get(0)?,
        tenant_id: TenantId::from_trusted(r.try_get(1)?),
        slug: r.try_get(2)?,
        title: r.try_get(3)?,
        message: r.try_get(4)?,
        logo_url: r.try_get(5)?,
        created_at: Timestamp::from_millis(r.try_get(6)?),
        domain: r.try_get(7)?,
        updated_at: Timestamp::from_millis(r.try_get(8)?),
        monitors: Vec::new(),
    })
}

async fn with_monitors<C: GenericClient>(c: &C, mut p: StatusPage) -> StoreResult<StatusPage> {
    let rows = c
        .query_typed(
            "SELECT monitor_id, display_name, grp FROM status_page_monitors WHERE page_id = $1 AND tenant_id = $2 \
             ORDER BY position",
            &[(&p.id.as_str(), Type::TEXT), (&p.tenant_id.as_str(), Type::TEXT)],
        )
        .await?;
    p.monitors = rows
        .iter()
        .map(|r| {
            Ok(StatusPageMonitor {
                monitor_id: MonitorId::from_trusted(r.try_get(0)?),
                display_name: r.try_get(1)?,
                group: r.try_get(2)?,
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok(p)
}

async fn insert_monitors(tx: &Transaction<'_>, t: &TenantId, p: &StatusPage) -> StoreResult<()> {
    tx.execute_typed(
        "DELETE FROM status_page_monitors WHERE page_id = $1 AND tenant_id = $2",
        &[(&p.id.as_str(), Type::TEXT), (&t.as_str(), Type::TEXT)],
    )
    .await?;
    for (i, m) in p.monitors.iter().enumerate() {
        tx.execute_typed(
            "INSERT INTO status_page_monitors (page_id, tenant_id, monitor_id, display_name, grp, position) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                (&p.id.as_str(), Type::TEXT),
                (&t.as_str(), Type::TEXT),
                (&m.monitor_id.as_str(), Type::TEXT),
                (&m.display_name.as_str(), Type::TEXT),
                (&m.group.as_str(), Type::TEXT),
                (&(i as i64), Type::INT8),
            ],
        )
        .await?;
    }
    Ok(())
}

fn ids(monitors: &[MonitorId]) -> Vec<&str> {
    monitors.iter().map(MonitorId::as_str).collect()
}

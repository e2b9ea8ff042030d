//! Status pages in SQLite: pages and their monitors, incidents' public updates, and the
//! live-only reads the public page is built from.

use super::SqliteStore;
use crate::*;
use async_trait::async_trait;
use netpulse_core::uptime::Tally;
use netpulse_core::{IncidentId, MonitorId, Outcome, TenantId, Timestamp, UpdateId};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row, Transaction};
use std::collections::HashMap;

const COLS: &str = "id, tenant_id, slug, title, message, logo_url, created_at, domain, updated_at";

#[async_trait]
impl StatusPageStore for SqliteStore {
    async fn create_status_page(&self, t: &TenantId, p: &StatusPage) -> StoreResult<()> {
        let (t, p) = (t.clone(), p.clone());
        self.write(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO status_pages (id, tenant_id, slug, title, message, logo_url, created_at, domain, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    p.id,
                    t.as_str(),
                    p.slug,
                    p.title,
                    p.message,
                    p.logo_url,
                    p.created_at.millis(),
                    p.domain,
                    p.updated_at.millis()
                ],
            )
            .map_err(slug_taken)?;
            insert_monitors(&tx, &t, &p)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn update_status_page_if(
        &self,
        t: &TenantId,
        p: &StatusPage,
        expected: Option<Timestamp>,
    ) -> StoreResult<Conditional> {
        let (t, p) = (t.clone(), p.clone());
        self.write(move |c| {
            let tx = c.transaction()?;
            let n = tx
                .execute(
                    "UPDATE status_pages SET slug = ?3, title = ?4, message = ?5, logo_url = ?6, domain = ?7, \
                     updated_at = MAX(?8, updated_at + 1) \
                     WHERE id = ?1 AND tenant_id = ?2 AND (?9 IS NULL OR updated_at = ?9)",
                    params![
                        p.id,
                        t.as_str(),
                        p.slug,
                        p.title,
                        p.message,
                        p.logo_url,
                        p.domain,
                        p.updated_at.millis(),
                        expected.map(|e| e.millis())
                    ],
                )
                .map_err(slug_taken)?;
            if n == 0 {
                return Ok(Conditional::of(false, super::exists(&tx, "status_pages", t.as_str(), &p.id)?));
            }
            insert_monitors(&tx, &t, &p)?;
            tx.commit()?;
            Ok(Conditional::Updated)
        })
        .await
    }

    async fn delete_status_page(&self, t: &TenantId, id: &str) -> StoreResult<bool> {
        let (t, id) = (t.clone(), id.to_owned());
        self.write(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "DELETE FROM status_page_monitors WHERE page_id = ?1 AND tenant_id = ?2",
                params![id, t.as_str()],
            )?;
            let n = tx.execute("DELETE FROM status_pages WHERE id = ?1 AND tenant_id = ?2", params![id, t.as_str()])?;
            tx.commit()?;
            Ok(n == 1)
        })
        .await
    }

    async fn list_status_pages(&self, t: &TenantId) -> StoreResult<Vec<StatusPage>> {
        let t = t.clone();
        self.read(move |c| {
            let pages: Vec<StatusPage> = {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {COLS} FROM status_pages WHERE tenant_id = ?1 ORDER BY created_at, id"
                ))?;
                let rows = stmt.query_map([t.as_str()], page_row)?;
                rows.collect::<Result<_, _>>()?
            };
            pages.into_iter().map(|p| with_monitors(c, p)).collect()
        })
        .await
    }

    async fn status_page_by_slug(&self, slug: &str) -> StoreResult<Option<StatusPage>> {
        let slug = slug.to_owned();
        self.read(move |c| {
            let page = c
                .prepare_cached(&format!("SELECT {COLS} FROM status_pages WHERE slug = ?1"))?
                .query_row([slug], page_row)
                .optional()?;
            page.map(|p| with_monitors(c, p)).transpose()
        })
        .await
    }

    async fn status_page_slug_for_domain(&self, domain: &str) -> StoreResult<Option<String>> {
        let domain = domain.to_owned();
        self.read(move |c| {
            Ok(c.query_row("SELECT slug FROM status_pages WHERE domain = ?1", params![domain], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn page_tallies(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
        now: Timestamp,
    ) -> StoreResult<Vec<(MonitorId, Timestamp, Tally)>> {
        let (t, monitors) = (t.clone(), monitors.to_vec());
        self.read(move |c| {
            if monitors.is_empty() {
                return Ok(Vec::new());
            }
            // The bucket is netpulse_core::uptime::bucket_start: ?3..?6 are the window starts.
            let sql = format!(
                "SELECT monitor_id, MAX((hour_start / 86400000) * 86400000, \
                        CASE WHEN hour_start >= ?3 THEN ?3 WHEN hour_start >= ?4 THEN ?4 WHEN hour_start >= ?5 THEN ?5 ELSE ?6 END) AS b, \
                        SUM(up), SUM(degraded), SUM(down), SUM(error), SUM(maintenance) FROM uptime_hourly \
                 WHERE tenant_id = ?1 AND hour_start >= ?6 AND hour_start <= ?2 AND monitor_id IN ({}) \
                 GROUP BY monitor_id, b",
                placeholders(monitors.len(), 7)
            );
            let mut args: Vec<rusqlite::types::Value> = vec![t.as_str().to_owned().into(), now.millis().into()];
            args.extend(netpulse_core::uptime::window_starts(now).map(|s| s.millis().into()));
            args.extend(monitors.iter().map(|m| m.as_str().to_owned().into()));
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args), |r| {
                Ok((
                    MonitorId::from_trusted(r.get(0)?),
                    Timestamp::from_millis(r.get(1)?),
                    Tally {
                        up: r.get::<_, i64>(2)? as u64,
                        degraded: r.get::<_, i64>(3)? as u64,
                        down: r.get::<_, i64>(4)? as u64,
                        error: r.get::<_, i64>(5)? as u64,
                        maintenance: r.get::<_, i64>(6)? as u64,
                    },
                ))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn page_monitors(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
    ) -> StoreResult<HashMap<MonitorId, PageMonitorState>> {
        let (t, monitors) = (t.clone(), monitors.to_vec());
        self.read(move |c| {
            if monitors.is_empty() {
                return Ok(HashMap::new());
            }
            // The newest live result by the (monitor_id, started_at) index, one per monitor.
            let sql = format!(
                "SELECT m.id, m.paused, r.started_at, r.outcome FROM monitors m \
                 LEFT JOIN check_results r ON r.rowid = (SELECT rowid FROM check_results \
                   WHERE monitor_key = (SELECT key FROM result_monitors WHERE monitor_id = m.id AND tenant_id = ?1) \
                   AND provenance = 'live' ORDER BY started_at DESC LIMIT 1) \
                 WHERE m.tenant_id = ?1 AND m.id IN ({})",
                placeholders(monitors.len(), 2)
            );
            let mut args: Vec<rusqlite::types::Value> = vec![t.as_str().to_owned().into()];
            args.extend(monitors.iter().map(|m| m.as_str().to_owned().into()));
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args), |r| {
                let latest = match (r.get::<_, Option<i64>>(2)?, r.get::<_, Option<String>>(3)?) {
                    (Some(at), Some(o)) => {
                        Outcome::parse(&o).map(|outcome| LatestLive { at: Timestamp::from_millis(at), outcome })
                    }
                    _ => None,
                };
                Ok((MonitorId::from_trusted(r.get(0)?), PageMonitorState { paused: r.get(1)?, latest }))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn post_incident_update(&self, t: &TenantId, u: &IncidentUpdate) -> StoreResult<bool> {
        let (t, u) = (t.clone(), u.clone());
        self.write(move |c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE incidents SET public_message = ?3, public_message_at = ?4 WHERE id = ?1 AND tenant_id = ?2",
                params![u.incident_id.as_str(), t.as_str(), u.message, u.posted_at.millis()],
            )?;
            if n == 0 {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO incident_updates (id, tenant_id, incident_id, state, impact, message, posted_at, affects) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    u.id.as_str(),
                    t.as_str(),
                    u.incident_id.as_str(),
                    u.state.as_str(),
                    u.impact.as_str(),
                    u.message,
                    u.posted_at.millis(),
                    crate::status_pages::affects_text(&u.affects)
                ],
            )?;
            tx.execute(
                "INSERT INTO incident_events (tenant_id, incident_id, at, message) VALUES (?1, ?2, ?3, ?4)",
                params![t.as_str(), u.incident_id.as_str(), u.posted_at.millis(), u.timeline_line()],
            )?;
            super::subscribers::queue_update(&tx, &t, &u)?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn incident_updates(&self, t: &TenantId, incidents: &[IncidentId]) -> StoreResult<Vec<IncidentUpdate>> {
        let (t, incidents) = (t.clone(), incidents.to_vec());
        self.read(move |c| {
            if incidents.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT id, incident_id, state, impact, message, posted_at, affects FROM incident_updates \
                 WHERE tenant_id = ?1 AND incident_id IN ({}) ORDER BY posted_at DESC, id DESC",
                placeholders(incidents.len(), 2)
            );
            let mut args: Vec<rusqlite::types::Value> = vec![t.as_str().to_owned().into()];
            args.extend(incidents.iter().map(|i| i.as_str().to_owned().into()));
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args), |r| {
                let (state, impact): (String, String) = (r.get(2)?, r.get(3)?);
                Ok(IncidentUpdate {
                    id: UpdateId::from_trusted(r.get(0)?),
                    incident_id: IncidentId::from_trusted(r.get(1)?),
                    state: UpdateState::parse(&state).unwrap_or(UpdateState::Investigating),
                    impact: Impact::parse(&impact).unwrap_or(Impact::Major),
                    message: r.get(4)?,
                    posted_at: Timestamp::from_millis(r.get(5)?),
                    affects: crate::status_pages::affects_of(&r.get::<_, String>(6)?),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn announced_maintenance(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
        now: Timestamp,
    ) -> StoreResult<Vec<MaintenanceWindow>> {
        let (t, monitors) = (t.clone(), monitors.to_vec());
        self.read(move |c| {
            if monitors.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT {} FROM maintenance_windows WHERE tenant_id = ?1 AND announce AND ends_at > ?2 \
                 AND phase IN ('scheduled', 'active') AND monitor_id IN ({}) ORDER BY starts_at, id LIMIT 50",
                super::maintenance::COLS,
                placeholders(monitors.len(), 3)
            );
            let mut args: Vec<rusqlite::types::Value> = vec![t.as_str().to_owned().into(), now.millis().into()];
            args.extend(monitors.iter().map(|m| m.as_str().to_owned().into()));
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args), |r| super::maintenance::window_from(r, 0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn public_incidents(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
        since: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<PublicIncident>> {
        let (t, monitors) = (t.clone(), monitors.to_vec());
        self.read(move |c| {
            if monitors.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT id, monitor_id, status, opened_at, resolved_at, public_message, public_message_at FROM incidents \
                 WHERE tenant_id = ?1 AND opened_at >= ?2 AND opened_at < ?3 AND public_message IS NOT NULL \
                 AND (monitor_id IN ({list}) OR EXISTS (SELECT 1 FROM incident_updates u \
                   WHERE u.tenant_id = ?1 AND u.incident_id = incidents.id AND ({named}))) \
                 ORDER BY opened_at DESC, id DESC LIMIT 100",
                list = placeholders(monitors.len(), 4),
                named = (0..monitors.len())
                    .map(|i| format!("instr(' ' || u.affects || ' ', ' ' || ?{} || ' ') > 0", i + 4))
                    .collect::<Vec<_>>()
                    .join(" OR "),
            );
            let mut args: Vec<rusqlite::types::Value> =
                vec![t.as_str().to_owned().into(), since.millis().into(), until.millis().into()];
            args.extend(monitors.iter().map(|m| m.as_str().to_owned().into()));
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args), |r| {
                Ok(PublicIncident {
                    id: IncidentId::from_trusted(r.get(0)?),
                    monitor_id: MonitorId::from_trusted(r.get(1)?),
                    status: IncidentStatus::parse(&r.get::<_, String>(2)?),
                    opened_at: Timestamp::from_millis(r.get(3)?),
                    resolved_at: r.get::<_, Option<i64>>(4)?.map(Timestamp::from_millis),
                    public_message: r.get(5)?,
                    posted_at: Timestamp::from_millis(r.get(6)?),
                    updates: Vec::new(),
                    also_affected: Vec::new(),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}

fn page_row(r: &Row<'_>) -> rusqlite::Result<StatusPage> {
    Ok(StatusPage {
        id: r.get(0)?,
        tenant_id: TenantId::from_trusted(r.get(1)?),
        slug: r.get(2)?,
        title: r.get(3)?,
        message: r.get(4)?,
        logo_url: r.get(5)?,
        created_at: Timestamp::from_millis(r.get(6)?),
        domain: r.get(7)?,
        updated_at: Timestamp::from_millis(r.get(8)?),
        monitors: Vec::new(),
    })
}

fn with_monitors(c: &Connection, mut p: StatusPage) -> StoreResult<StatusPage> {
    let mut stmt = c.prepare_cached(
        "SELECT monitor_id, display_name, grp FROM status_page_monitors WHERE page_id = ?1 AND tenant_id = ?2 \
         ORDER BY position",
    )?;
    let rows = stmt.query_map(params![p.id, p.tenant_id.as_str()], |r| {
        Ok(StatusPageMonitor {
            monitor_id: MonitorId::from_trusted(r.get(0)?),
            display_name: r.get(1)?,
            group: r.get(2)?,
        })
    })?;
    p.monitors = rows.collect::<Result<_, _>>()?;
    Ok(p)
}

fn insert_monitors(tx: &Transaction<'_>, t: &TenantId, p: &StatusPage) -> StoreResult<()> {
    tx.execute("DELETE FROM status_page_monitors WHERE page_id = ?1 AND tenant_id = ?2", params![p.id, t.as_str()])?;
    for (i, m) in p.monitors.iter().enumerate() {
        tx.execute(
            "INSERT INTO status_page_monitors (page_id, tenant_id, monitor_id, display_name, grp, position) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![p.id, t.as_str(), m.monitor_id.as_str(), m.display_name, m.group, i as i64],
        )?;
    }
    Ok(())
}

fn slug_taken(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, Some(msg))
            if f.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains("slug") =>
        {
            StoreError::Conflict("slug: this slug is already taken".into())
        }
        rusqlite::Error::SqliteFailure(f, Some(msg))
            if f.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains("domain") =>
        {
            StoreError::Conflict("domain: another page has this domain".into())
        }
        _ => e.into(),
    }
}

fn placeholders(n: usize, first: usize) -> String {
    (0..n).map(|i| format!("?{}", first + i)).collect::<Vec<_>>().join(", ")
}

//! Status-page subscribers and their notices in SQLite (see [`crate::subscribers`]); the
//! notices are queued by `post_incident_update` ([`queue_update`]) and by
//! `create_maintenance` for an announced window ([`queue_notices`]).

use super::SqliteStore;
use crate::*;
use async_trait::async_trait;
use netpulse_core::{IncidentId, TenantId, Timestamp, UpdateId};
use rusqlite::{params, OptionalExtension, Row, Transaction};
use std::collections::HashMap;

use crate::subscribers::{claim_query, COLS};

fn subscriber_at(r: &Row, at: usize) -> rusqlite::Result<Subscriber> {
    let kind: String = r.get(at + 2)?;
    Ok(Subscriber {
        id: r.get(at)?,
        page_id: r.get(at + 1)?,
        kind: SubscriberKind::parse(&kind).unwrap_or(SubscriberKind::Email),
        address: r.get(at + 3)?,
        secret: Secret::new(r.get::<_, String>(at + 4)?),
        created_at: Timestamp::from_millis(r.get(at + 5)?),
        confirmed_at: r.get::<_, Option<i64>>(at + 6)?.map(Timestamp::from_millis),
    })
}

/// Queue a notice of `subject` (an update's or an announced window's id, of `t`) for every
/// confirmed subscriber of a page showing `monitor`; once per subscriber and subject, and a
/// window once per subscriber and maintenance: one with the same start, end and reason as a
/// window the subscriber was told of (another monitor's, as `apply` makes them) is not told.
pub(super) fn queue_notices(
    tx: &Transaction,
    t: &TenantId,
    monitor: &str,
    subject: &str,
    at: Timestamp,
) -> StoreResult<usize> {
    let n = tx.execute(
        "INSERT OR IGNORE INTO subscriber_notices (tenant_id, subscriber_id, subject_id, status, next_attempt_at, created_at) \
         SELECT s.tenant_id, s.id, ?3, 'pending', ?4, ?4 FROM page_subscribers s \
         WHERE s.tenant_id = ?1 AND s.confirmed_at IS NOT NULL AND s.page_id IN ( \
           SELECT page_id FROM status_page_monitors WHERE tenant_id = ?1 AND monitor_id = ?2) \
           AND NOT EXISTS (SELECT 1 FROM subscriber_notices n \
             JOIN maintenance_windows o ON o.id = n.subject_id JOIN maintenance_windows w ON w.id = ?3 \
             WHERE n.subscriber_id = s.id AND o.tenant_id = ?1 AND o.id <> w.id \
               AND o.starts_at = w.starts_at AND o.ends_at = w.ends_at AND o.reason = w.reason)",
        params![t.as_str(), monitor, subject, at.millis()],
    )?;
    if n > 0 {
        super::alert_work_written();
    }
    Ok(n)
}

/// Queue update `u` (of `t`, just posted) for the subscribers of the pages showing its
/// incident's monitor or one it names among those it affects; once per subscriber.
pub(super) fn queue_update(tx: &Transaction, t: &TenantId, u: &IncidentUpdate) -> StoreResult<usize> {
    let monitor: Option<String> = tx
        .query_row(
            "SELECT monitor_id FROM incidents WHERE id = ?1 AND tenant_id = ?2",
            params![u.incident_id.as_str(), t.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    let Some(m) = monitor else { return Ok(0) };
    let mut queued = 0;
    for m in std::iter::once(m.as_str()).chain(u.affects.iter().map(|a| a.as_str())) {
        queued += queue_notices(tx, t, m, u.id.as_str(), u.posted_at)?;
    }
    Ok(queued)
}

/// The subject of a claimed row (update columns at 6, window columns at 19), if it still exists.
fn subject_at(r: &Row) -> rusqlite::Result<Option<NoticeSubject>> {
    if let Some(update) = r.get::<_, Option<String>>(6)? {
        let (state, impact): (String, String) = (r.get(8)?, r.get(9)?);
        return Ok(Some(NoticeSubject::Update(IncidentUpdate {
            id: UpdateId::from_trusted(update),
            incident_id: IncidentId::from_trusted(r.get(7)?),
            state: UpdateState::parse(&state).unwrap_or(UpdateState::Investigating),
            impact: Impact::parse(&impact).unwrap_or(Impact::Major),
            message: r.get(10)?,
            posted_at: Timestamp::from_millis(r.get(11)?),
            affects: Vec::new(), // the claim names the component as the subscriber's page does
        })));
    }
    if r.get::<_, Option<String>>(19)?.is_some() {
        return Ok(Some(NoticeSubject::Maintenance(super::maintenance::window_from(r, 19)?)));
    }
    Ok(None)
}

#[async_trait]
impl SubscriberStore for SqliteStore {
    async fn sign_up(
        &self,
        t: &TenantId,
        s: &SignUp,
        max_pending: usize,
        now: Timestamp,
    ) -> StoreResult<SignUpOutcome> {
        let (t, s) = (t.clone(), s.clone());
        self.write(move |c| {
            let tx = c.transaction()?;
            let sub = &s.subscriber;
            tx.execute(
                "DELETE FROM page_subscribers WHERE tenant_id = ?1 AND page_id = ?2 AND confirmed_at IS NULL \
                 AND confirm_expires_at <= ?3",
                params![t.as_str(), sub.page_id, now.millis()],
            )?;
            // A full page refuses every address alike, known or not, so its answer never tells
            // who is subscribed.
            let pending: i64 = tx.query_row(
                "SELECT count(*) FROM page_subscribers WHERE page_id = ?1 AND confirmed_at IS NULL",
                [&sub.page_id],
                |r| r.get(0),
            )?;
            if pending as usize >= max_pending {
                tx.commit()?;
                return Ok(SignUpOutcome::PageFull);
            }
            let known: Option<Option<i64>> = tx
                .query_row(
                    "SELECT confirmed_at FROM page_subscribers WHERE page_id = ?1 AND kind = ?2 AND address = ?3",
                    params![sub.page_id, sub.kind.as_str(), sub.address],
                    |r| r.get(0),
                )
                .optional()?;
            let outcome = match known {
                Some(Some(_)) => SignUpOutcome::AlreadyConfirmed,
                Some(None) => {
                    tx.execute(
                        "UPDATE page_subscribers SET confirm_hash = ?4, confirm_expires_at = ?5 \
                         WHERE page_id = ?1 AND kind = ?2 AND address = ?3",
                        params![sub.page_id, sub.kind.as_str(), sub.address, s.confirm_hash, s.expires_at.millis()],
                    )?;
                    SignUpOutcome::Pending
                }
                None => {
                    tx.execute(
                        "INSERT INTO page_subscribers (id, tenant_id, page_id, kind, address, secret, confirm_hash, \
                             confirm_expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        params![
                            sub.id,
                            t.as_str(),
                            sub.page_id,
                            sub.kind.as_str(),
                            sub.address,
                            sub.secret.expose(),
                            s.confirm_hash,
                            s.expires_at.millis(),
                            sub.created_at.millis()
                        ],
                    )?;
                    SignUpOutcome::Pending
                }
            };
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    async fn confirm_subscriber(&self, confirm_hash: &str, now: Timestamp) -> StoreResult<Option<String>> {
        let hash = confirm_hash.to_owned();
        self.write(move |c| {
            let tx = c.transaction()?;
            let found: Option<(String, String)> = tx
                .query_row(
                    "SELECT s.id, p.slug FROM page_subscribers s JOIN status_pages p ON p.id = s.page_id \
                     WHERE s.confirm_hash = ?1 AND s.confirm_expires_at > ?2",
                    params![hash, now.millis()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((id, slug)) = found else { return Ok(None) };
            tx.execute(
                "UPDATE page_subscribers SET confirmed_at = ?2, confirm_hash = NULL, confirm_expires_at = NULL WHERE id = ?1",
                params![id, now.millis()],
            )?;
            tx.commit()?;
            Ok(Some(slug))
        })
        .await
    }

    async fn unsubscribe(&self, token: &str) -> StoreResult<bool> {
        let token = token.to_owned();
        self.write(move |c| {
            Ok(c.execute("DELETE FROM page_subscribers WHERE kind = 'email' AND secret = ?1", [token])? == 1)
        })
        .await
    }

    async fn add_subscriber(&self, t: &TenantId, s: &Subscriber) -> StoreResult<bool> {
        let (t, s) = (t.clone(), s.clone());
        self.write(move |c| {
            let n = c.execute(
                "INSERT INTO page_subscribers (id, tenant_id, page_id, kind, address, secret, created_at, confirmed_at) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS \
                 (SELECT 1 FROM status_pages WHERE id = ?3 AND tenant_id = ?2)",
                params![
                    s.id,
                    t.as_str(),
                    s.page_id,
                    s.kind.as_str(),
                    s.address,
                    s.secret.expose(),
                    s.created_at.millis(),
                    s.confirmed_at.map(Timestamp::millis)
                ],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn list_subscribers(&self, t: &TenantId, page_id: &str) -> StoreResult<Vec<Subscriber>> {
        let (t, page) = (t.clone(), page_id.to_owned());
        self.read(move |c| {
            let sql = format!(
                "SELECT {COLS} FROM page_subscribers s WHERE s.tenant_id = ?1 AND s.page_id = ?2 \
                 ORDER BY s.created_at DESC, s.id DESC"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![t.as_str(), page], |r| subscriber_at(r, 0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn delete_subscriber(&self, t: &TenantId, page_id: &str, id: &str) -> StoreResult<bool> {
        let (t, page, id) = (t.clone(), page_id.to_owned(), id.to_owned());
        self.write(move |c| {
            let n = c.execute(
                "DELETE FROM page_subscribers WHERE tenant_id = ?1 AND page_id = ?2 AND id = ?3",
                params![t.as_str(), page, id],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn subscriber_counts(&self, t: &TenantId) -> StoreResult<HashMap<String, usize>> {
        let t = t.clone();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT page_id, count(*) FROM page_subscribers WHERE tenant_id = ?1 AND confirmed_at IS NOT NULL \
                 GROUP BY page_id",
            )?;
            let rows = stmt.query_map([t.as_str()], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as usize)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn claim_subscriber_notices(
        &self,
        now: Timestamp,
        limit: usize,
        lease_ms: i64,
    ) -> StoreResult<Vec<SubscriberNotice>> {
        self.write(move |c| {
            let due: bool = c
                .prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM subscriber_notices WHERE status = 'pending' AND next_attempt_at <= ?1)",
                )?
                .query_row([now.millis()], |r| r.get(0))?;
            if !due {
                return Ok(Vec::new());
            }
            let tx = c.transaction()?;
            let rows: Vec<(i64, Option<SubscriberNotice>)> = {
                let mut stmt = tx.prepare_cached(&claim_query("?1", "?2"))?;
                let rows = stmt.query_map(params![now.millis(), limit as i64], |r| {
                    let id: i64 = r.get(0)?;
                    let Some(subject) = subject_at(r)? else { return Ok((id, None)) };
                    Ok((
                        id,
                        Some(SubscriberNotice {
                            id,
                            tenant_id: TenantId::from_trusted(r.get(1)?),
                            attempts: r.get(2)?,
                            page_slug: r.get(3)?,
                            page_title: r.get(4)?,
                            page_domain: r.get(28)?,
                            component: r.get(5)?,
                            subject,
                            subscriber: subscriber_at(r, 12)?,
                        }),
                    ))
                })?;
                rows.collect::<Result<_, _>>()?
            };
            let mut notices = Vec::with_capacity(rows.len());
            for (id, notice) in rows {
                match notice {
                    Some(n) => {
                        tx.execute(
                            "UPDATE subscriber_notices SET next_attempt_at = ?2 WHERE id = ?1",
                            params![id, now.millis() + lease_ms],
                        )?;
                        notices.push(n);
                    }
                    None => {
                        tx.execute(
                            "UPDATE subscriber_notices SET status = 'failed', last_error = 'its update or window is gone' WHERE id = ?1",
                            [id],
                        )?;
                    }
                }
            }
            tx.commit()?;
            Ok(notices)
        })
        .await
    }

    async fn record_subscriber_notice(&self, id: i64, delivery: &Delivery) -> StoreResult<()> {
        let delivery = delivery.clone();
        self.write(move |c| {
            let at = delivery.at.millis();
            match &delivery.result {
                DeliveryResult::Sent => c.execute(
                    "UPDATE subscriber_notices SET status = 'sent', attempts = attempts + 1, sent_at = ?2, last_error = NULL WHERE id = ?1",
                    params![id, at],
                )?,
                DeliveryResult::Retry { next_at, error } => c.execute(
                    "UPDATE subscriber_notices SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
                    params![id, next_at.millis(), error],
                )?,
                DeliveryResult::Failed { error } => c.execute(
                    "UPDATE subscriber_notices SET status = 'failed', attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                    params![id, error],
                )?,
            };
            Ok(())
        })
        .await
    }
}

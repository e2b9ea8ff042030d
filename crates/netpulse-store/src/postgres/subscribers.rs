//! Status-page subscribers and their notices in PostgreSQL (see [`crate::subscribers`]); the
//! notices are queued by `post_incident_update` ([`queue_update`]) and by
//! `create_maintenance` for an announced window ([`queue_notices`]). Due notices
//! are taken with `FOR UPDATE SKIP LOCKED`, so two nodes never send one twice at once.

use super::PgStore;
use crate::*;
use async_trait::async_trait;
use netpulse_core::{IncidentId, TenantId, Timestamp, UpdateId};
use std::collections::HashMap;
use tokio_postgres::types::Type;
use tokio_postgres::{Row, Transaction};

use crate::subscribers::{claim_query, COLS};

fn subscriber_at(r: &Row, at: usize) -> StoreResult<Subscriber> {
    let kind: &str = r.try_get(at + 2)?;
    Ok(Subscriber {
        id: r.try_get(at)?,
        page_id: r.try_get(at + 1)?,
        kind: SubscriberKind::parse(kind).unwrap_or(SubscriberKind::Email),
        address: r.try_get(at + 3)?,
        secret: Secret::new(r.try_get::<_, String>(at + 4)?),
        created_at: Timestamp::from_millis(r.try_get(at + 5)?),
        confirmed_at: r.try_get::<_, Option<i64>>(at + 6)?.map(Timestamp::from_millis),
    })
}

/// Queue a notice of `subject` (an update's or an announced window's id, of `t`) for every
/// confirmed subscriber of a page showing `monitor`; once per subscriber and subject, and a
/// window once per subscriber and maintenance: one with the same start, end and reason as a
/// window the subscriber was told of (another monitor's, as `apply` makes them) is not told.
pub(super) async fn queue_notices(
    tx: &Transaction<'_>,
    t: &TenantId,
    monitor: &str,
    subject: &str,
    at: Timestamp,
) -> StoreResult<u64> {
    Ok(tx
        .execute_typed(
            "INSERT INTO subscriber_notices (tenant_id, subscriber_id, subject_id, status, next_attempt_at, created_at) \
             SELECT s.tenant_id, s.id, $3, 'pending', $4, $4 FROM page_subscribers s \
             WHERE s.tenant_id = $1 AND s.confirmed_at IS NOT NULL AND s.page_id IN ( \
               SELECT page_id FROM status_page_monitors WHERE tenant_id = $1 AND monitor_id = $2) \
               AND NOT EXISTS (SELECT 1 FROM subscriber_notices n \
                 JOIN maintenance_windows o ON o.id = n.subject_id JOIN maintenance_windows w ON w.id = $3 \
                 WHERE n.subscriber_id = s.id AND o.tenant_id = $1 AND o.id <> w.id \
                   AND o.starts_at = w.starts_at AND o.ends_at = w.ends_at AND o.reason = w.reason) \
             ON CONFLICT (subscriber_id, subject_id) DO NOTHING",
            &[
                (&t.as_str(), Type::TEXT),
                (&monitor, Type::TEXT),
                (&subject, Type::TEXT),
                (&at.millis(), Type::INT8),
            ],
        )
        .await?)
}

/// Queue update `u` (of `t`, just posted) for the subscribers of the pages showing its
/// incident's monitor or one it names among those it affects; once per subscriber.
pub(super) async fn queue_update(tx: &Transaction<'_>, t: &TenantId, u: &IncidentUpdate) -> StoreResult<u64> {
    let row = tx
        .query_typed_opt(
            "SELECT monitor_id FROM incidents WHERE id = $1 AND tenant_id = $2",
            &[(&u.incident_id.as_str(), Type::TEXT), (&t.as_str(), Type::TEXT)],
        )
        .await?;
    let Some(r) = row else { return Ok(0) };
    let mut queued = 0;
    for m in std::iter::once(r.try_get::<_, &str>(0)?).chain(u.affects.iter().map(|a| a.as_str())) {
        queued += queue_notices(tx, t, m, u.id.as_str(), u.posted_at).await?;
    }
    Ok(queued)
}

/// The subject of a claimed row (update columns at 6, window columns at 19), if it still exists.
fn subject_at(r: &Row) -> StoreResult<Option<NoticeSubject>> {
    if let Some(update) = r.try_get::<_, Option<String>>(6)? {
        return Ok(Some(NoticeSubject::Update(IncidentUpdate {
            id: UpdateId::from_trusted(update),
            incident_id: IncidentId::from_trusted(r.try_get(7)?),
            state: UpdateState::parse(r.try_get(8)?).unwrap_or(UpdateState::Investigating),
            impact: Impact::parse(r.try_get(9)?).unwrap_or(Impact::Major),
            message: r.try_get(10)?,
            posted_at: Timestamp::from_millis(r.try_get(11)?),
            affects: Vec::new(), // the claim names the component as the subscriber's page does
        })));
    }
    if r.try_get::<_, Option<String>>(19)?.is_some() {
        return Ok(Some(NoticeSubject::Maintenance(super::maintenance::window_at(r, 19)?)));
    }
    Ok(None)
}

fn notice_at(r: &Row) -> StoreResult<Option<SubscriberNotice>> {
    let Some(subject) = subject_at(r)? else { return Ok(None) };
    let attempts: i32 = r.try_get(2)?;
    Ok(Some(SubscriberNotice {
        id: r.try_get(0)?,
        tenant_id: TenantId::from_trusted(r.try_get(1)?),
        attempts: attempts.max(0) as u32,
        page_slug: r.try_get(3)?,
        page_title: r.try_get(4)?,
        page_domain: r.try_get(28)?,
        component: r.try_get(5)?,
        subject,
        subscriber: subscriber_at(r, 12)?,
    }))
}

#[async_trait]
impl SubscriberStore for PgStore {
    async fn sign_up(
        &self,
        t: &TenantId,
        s: &SignUp,
        max_pending: usize,
        now: Timestamp,
    ) -> StoreResult<SignUpOutcome> {
        let sub = &s.subscriber;
        let (page, kind, addr) = (sub.page_id.as_str(), sub.kind.as_str(), sub.address.as_str());
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            // One sign-up of a page at a time, so the cap on pending ones holds.
            tx.execute_typed(
                "SELECT 1 FROM status_pages WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
                &[(&page, Type::TEXT), (&t.as_str(), Type::TEXT)],
            )
            .await?;
            tx.execute_typed(
                "DELETE FROM page_subscribers WHERE tenant_id = $1 AND page_id = $2 AND confirmed_at IS NULL \
                 AND confirm_expires_at <= $3",
                &[(&t.as_str(), Type::TEXT), (&page, Type::TEXT), (&now.millis(), Type::INT8)],
            )
            .await?;
            // A full page refuses every address alike, known or not, so its answer never tells
            // who is subscribed.
            let pending: i64 = tx
                .query_typed_one(
                    "SELECT count(*) FROM page_subscribers WHERE page_id = $1 AND confirmed_at IS NULL",
                    &[(&page, Type::TEXT)],
                )
                .await?
                .try_get(0)?;
            if pending as usize >= max_pending {
                tx.commit().await?;
                return Ok(SignUpOutcome::PageFull);
            }
            let known = tx
                .query_typed_opt(
                    "SELECT confirmed_at FROM page_subscribers WHERE page_id = $1 AND kind = $2 AND address = $3",
                    &[(&page, Type::TEXT), (&kind, Type::TEXT), (&addr, Type::TEXT)],
                )
                .await?;
            let outcome = match known.map(|r| r.try_get::<_, Option<i64>>(0)).transpose()? {
                Some(Some(_)) => SignUpOutcome::AlreadyConfirmed,
                Some(None) => {
                    tx.execute_typed(
                        "UPDATE page_subscribers SET confirm_hash = $4, confirm_expires_at = $5 \
                         WHERE page_id = $1 AND kind = $2 AND address = $3",
                        &[
                            (&page, Type::TEXT),
                            (&kind, Type::TEXT),
                            (&addr, Type::TEXT),
                            (&s.confirm_hash.as_str(), Type::TEXT),
                            (&s.expires_at.millis(), Type::INT8),
                        ],
                    )
                    .await?;
                    SignUpOutcome::Pending
                }
                None => {
                    tx.execute_typed(
                        "INSERT INTO page_subscribers (id, tenant_id, page_id, kind, address, secret, confirm_hash, \
                             confirm_expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        &[
                            (&sub.id.as_str(), Type::TEXT),
                            (&t.as_str(), Type::TEXT),
                            (&page, Type::TEXT),
                            (&kind, Type::TEXT),
                            (&addr, Type::TEXT),
                            (&sub.secret.expose(), Type::TEXT),
                            (&s.confirm_hash.as_str(), Type::TEXT),
                            (&s.expires_at.millis(), Type::INT8),
                            (&sub.created_at.millis(), Type::INT8),
                        ],
                    )
                    .await?;
                    SignUpOutcome::Pending
                }
            };
            tx.commit().await?;
            Ok(outcome)
        })
    }

    async fn confirm_subscriber(&self, confirm_hash: &str, now: Timestamp) -> StoreResult<Option<String>> {
        pooled!(self, |c| async {
            let row = c
                .query_typed_opt(
                    "UPDATE page_subscribers s SET confirmed_at = $2, confirm_hash = NULL, confirm_expires_at = NULL \
                     FROM status_pages p WHERE p.id = s.page_id AND s.confirm_hash = $1 AND s.confirm_expires_at > $2 \
                     RETURNING p.slug",
                    &[(&confirm_hash, Type::TEXT), (&now.millis(), Type::INT8)],
                )
                .await?;
            Ok(row.map(|r| r.try_get(0)).transpose()?)
        })
    }

    async fn unsubscribe(&self, token: &str) -> StoreResult<bool> {
        pooled!(self, |c| async {
            let n = c
                .execute_typed(
                    "DELETE FROM page_subscribers WHERE kind = 'email' AND secret = $1",
                    &[(&token, Type::TEXT)],
                )
                .await?;
            Ok(n == 1)
        })
    }

    async fn add_subscriber(&self, t: &TenantId, s: &Subscriber) -> StoreResult<bool> {
        pooled!(self, |c| async {
            let n = c
                .execute_typed(
                    "INSERT INTO page_subscribers (id, tenant_id, page_id, kind, address, secret, created_at, confirmed_at) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS \
                     (SELECT 1 FROM status_pages WHERE id = $3 AND tenant_id = $2)",
                    &[
                        (&s.id.as_str(), Type::TEXT),
                        (&t.as_str(), Type::TEXT),
                        (&s.page_id.as_str(), Type::TEXT),
                        (&s.kind.as_str(), Type::TEXT),
                        (&s.address.as_str(), Type::TEXT),
                        (&s.secret.expose(), Type::TEXT),
                        (&s.created_at.millis(), Type::INT8),
                        (&s.confirmed_at.map(Timestamp::millis), Type::INT8),
                    ],
                )
                .await?;
            Ok(n == 1)
        })
    }

    async fn list_subscribers(&self, t: &TenantId, page_id: &str) -> StoreResult<Vec<Subscriber>> {
        pooled!(self, |c| async {
            let sql = format!(
                "SELECT {COLS} FROM page_subscribers s WHERE s.tenant_id = $1 AND s.page_id = $2 \
                 ORDER BY s.created_at DESC, s.id DESC"
            );
            let rows = c.query_typed(&sql, &[(&t.as_str(), Type::TEXT), (&page_id, Type::TEXT)]).await?;
            rows.iter().map(|r| subscriber_at(r, 0)).collect()
        })
    }

    async fn delete_subscriber(&self, t: &TenantId, page_id: &str, id: &str) -> StoreResult<bool> {
        pooled!(self, |c| async {
            let n = c
                .execute_typed(
                    "DELETE FROM page_subscribers WHERE tenant_id = $1 AND page_id = $2 AND id = $3",
                    &[(&t.as_str(), Type::TEXT), (&page_id, Type::TEXT), (&id, Type::TEXT)],
                )
                .await?;
            Ok(n == 1)
        })
    }

    async fn subscriber_counts(&self, t: &TenantId) -> StoreResult<HashMap<String, usize>> {
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    "SELECT page_id, count(*) FROM page_subscribers WHERE tenant_id = $1 AND confirmed_at IS NOT NULL \
                     GROUP BY page_id",
                    &[(&t.as_str(), Type::TEXT)],
                )
                .await?;
            rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)? as usize))).collect()
        })
    }

    async fn claim_subscriber_notices(
        &self,
        now: Timestamp,
        limit: usize,
        lease_ms: i64,
    ) -> StoreResult<Vec<SubscriberNotice>> {
        pooled!(self, |c| async {
            let due = c
                .query_typed_opt(
                    "SELECT 1 FROM subscriber_notices WHERE status = 'pending' AND next_attempt_at <= $1 LIMIT 1",
                    &[(&now.millis(), Type::INT8)],
                )
                .await?;
            if due.is_none() {
                return Ok(Vec::new());
            }
            let tx = c.transaction().await?;
            let sql = format!("{} FOR UPDATE OF n SKIP LOCKED", claim_query("$1", "$2"));
            let rows = tx.query_typed(&sql, &[(&now.millis(), Type::INT8), (&(limit as i64), Type::INT8)]).await?;
            let (mut notices, mut gone) = (Vec::with_capacity(rows.len()), Vec::new());
            for r in &rows {
                match notice_at(r)? {
                    Some(n) => notices.push(n),
                    None => gone.push(r.try_get::<_, i64>(0)?),
                }
            }
            let leased: Vec<i64> = notices.iter().map(|n: &SubscriberNotice| n.id).collect();
            tx.execute_typed(
                "UPDATE subscriber_notices SET next_attempt_at = $2 WHERE id = ANY($1)",
                &[(&leased, Type::INT8_ARRAY), (&(now.millis() + lease_ms), Type::INT8)],
            )
            .await?;
            tx.execute_typed(
                "UPDATE subscriber_notices SET status = 'failed', last_error = 'its update or window is gone' WHERE id = ANY($1)",
                &[(&gone, Type::INT8_ARRAY)],
            )
            .await?;
            tx.commit().await?;
            Ok(notices)
        })
    }

    async fn record_subscriber_notice(&self, id: i64, delivery: &Delivery) -> StoreResult<()> {
        let at = delivery.at.millis();
        pooled!(self, |c| async {
            match &delivery.result {
                DeliveryResult::Sent => {
                    c.execute_typed(
                        "UPDATE subscriber_notices SET status = 'sent', attempts = attempts + 1, sent_at = $2, \
                         last_error = NULL WHERE id = $1",
                        &[(&id, Type::INT8), (&at, Type::INT8)],
                    )
                    .await?
                }
                DeliveryResult::Retry { next_at, error } => {
                    c.execute_typed(
                        "UPDATE subscriber_notices SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 \
                         WHERE id = $1",
                        &[(&id, Type::INT8), (&next_at.millis(), Type::INT8), (&error.as_str(), Type::TEXT)],
                    )
                    .await?
                }
                DeliveryResult::Failed { error } => {
                    c.execute_typed(
                        "UPDATE subscriber_notices SET status = 'failed', attempts = attempts + 1, last_error = $2 \
                         WHERE id = $1",
                        &[(&id, Type::INT8), (&error.as_str(), Type::TEXT)],
                    )
                    .await?
                }
            };
            Ok(())
        })
    }
}

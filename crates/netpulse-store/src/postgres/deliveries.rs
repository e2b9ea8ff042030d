//! The delivery log in PostgreSQL: one `delivery_attempts` row per attempt, appended by
//! [`insert_attempt`] in the transaction that moves the outbox row on, and read newest first
//! (the account's log, a channel's, an incident's) or folded into each channel's health.
//! Unnamed typed statements only, for PgBouncer in transaction mode.

use super::PgStore;
use crate::*;
use async_trait::async_trait;
use netpulse_core::{ChannelId, IncidentId, MonitorId, TenantId, Timestamp};
use tokio_postgres::types::Type;
use tokio_postgres::{Row, Transaction};

const ATTEMPT_COLS: &str = "id, at, channel_id, channel_name, channel_kind, monitor_id, monitor_name, incident_id, \
                            event, dedup_key, attempt, outcome, http_status, error, next_attempt_at";
/// The same columns of the attempt `l` (channel health joins `channels c`).
const L_ATTEMPT_COLS: &str = "l.id, l.at, l.channel_id, l.channel_name, l.channel_kind, l.monitor_id, l.monitor_name, \
                              l.incident_id, l.event, l.dedup_key, l.attempt, l.outcome, l.http_status, l.error, \
                              l.next_attempt_at";

/// Append attempt `a` of tenant `t` (of outbox row `outbox_id`, if it has one).
pub(super) async fn insert_attempt(
    tx: &Transaction<'_>,
    t: &TenantId,
    outbox_id: Option<i64>,
    a: &DeliveryAttempt,
) -> StoreResult<()> {
    let monitor = a.monitor_id.as_ref().map(|m| m.as_str());
    let incident = a.incident_id.as_ref().map(|i| i.as_str());
    let (attempt, status) = (a.attempt as i32, a.http_status.map(i32::from));
    let next = a.next_attempt_at.map(Timestamp::millis);
    tx.execute_typed(
        "INSERT INTO delivery_attempts (tenant_id, outbox_id, channel_id, channel_name, channel_kind, monitor_id, \
         monitor_name, incident_id, event, dedup_key, attempt, outcome, http_status, error, next_attempt_at, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        &[
            (&t.as_str(), Type::TEXT),
            (&outbox_id, Type::INT8),
            (&a.channel_id.as_str(), Type::TEXT),
            (&a.channel_name, Type::TEXT),
            (&a.channel_kind, Type::TEXT),
            (&monitor, Type::TEXT),
            (&a.monitor_name, Type::TEXT),
            (&incident, Type::TEXT),
            (&a.event, Type::TEXT),
            (&a.dedup_key, Type::TEXT),
            (&attempt, Type::INT4),
            (&a.outcome.as_str(), Type::TEXT),
            (&status, Type::INT4),
            (&a.error, Type::TEXT),
            (&next, Type::INT8),
            (&a.at.millis(), Type::INT8),
        ],
    )
    .await?;
    Ok(())
}

fn attempt_at(r: &Row, first: usize) -> StoreResult<DeliveryAttempt> {
    let outcome: String = r.try_get(first + 11)?;
    Ok(DeliveryAttempt {
        id: r.try_get(first)?,
        at: Timestamp::from_millis(r.try_get(first + 1)?),
        channel_id: ChannelId::from_trusted(r.try_get(first + 2)?),
        channel_name: r.try_get(first + 3)?,
        channel_kind: r.try_get(first + 4)?,
        monitor_id: r.try_get::<_, Option<String>>(first + 5)?.map(MonitorId::from_trusted),
        monitor_name: r.try_get(first + 6)?,
        incident_id: r.try_get::<_, Option<String>>(first + 7)?.map(IncidentId::from_trusted),
        event: r.try_get(first + 8)?,
        dedup_key: r.try_get(first + 9)?,
        attempt: r.try_get::<_, i32>(first + 10)?.max(0) as u32,
        outcome: AttemptOutcome::parse(&outcome),
        http_status: r.try_get::<_, Option<i32>>(first + 12)?.and_then(|s| u16::try_from(s).ok()),
        error: r.try_get(first + 13)?,
        next_attempt_at: r.try_get::<_, Option<i64>>(first + 14)?.map(Timestamp::from_millis),
    })
}

#[async_trait]
impl DeliveryLogStore for PgStore {
    async fn record_test_delivery(&self, t: &TenantId, attempt: &DeliveryAttempt) -> StoreResult<()> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            insert_attempt(&tx, t, None, attempt).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn delivery_attempts(&self, t: &TenantId, q: &AttemptQuery) -> StoreResult<Vec<DeliveryAttempt>> {
        let channel = q.channel.as_ref().map(|c| c.as_str());
        let incident = q.incident.as_ref().map(|i| i.as_str());
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    &format!(
                        "SELECT {ATTEMPT_COLS} FROM delivery_attempts WHERE tenant_id = $1 \
                         AND ($2::text IS NULL OR channel_id = $2) AND ($3::text IS NULL OR incident_id = $3) \
                         AND ($4::int8 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
                    ),
                    &[
                        (&t.as_str(), Type::TEXT),
                        (&channel, Type::TEXT),
                        (&incident, Type::TEXT),
                        (&q.before, Type::INT8),
                        (&(q.limit as i64), Type::INT8),
                    ],
                )
                .await?;
            rows.iter().map(|r| attempt_at(r, 0)).collect()
        })
    }

    async fn channel_health(&self, t: &TenantId) -> StoreResult<Vec<ChannelHealth>> {
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    &format!(
                        "SELECT {L_ATTEMPT_COLS}, \
                         (SELECT s.at FROM delivery_attempts s WHERE s.tenant_id = l.tenant_id AND s.channel_id = l.channel_id \
                          AND s.outcome = 'delivered' ORDER BY s.id DESC LIMIT 1), \
                         (SELECT f.at FROM delivery_attempts f WHERE f.tenant_id = l.tenant_id AND f.channel_id = l.channel_id \
                          AND f.id > COALESCE((SELECT s.id FROM delivery_attempts s WHERE s.tenant_id = l.tenant_id \
                          AND s.channel_id = l.channel_id AND s.outcome = 'delivered' ORDER BY s.id DESC LIMIT 1), 0) \
                          ORDER BY f.id LIMIT 1) \
                         FROM channels c JOIN delivery_attempts l ON l.id = (SELECT MAX(x.id) FROM delivery_attempts x \
                         WHERE x.tenant_id = c.tenant_id AND x.channel_id = c.id) WHERE c.tenant_id = $1"
                    ),
                    &[(&t.as_str(), Type::TEXT)],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    let last = attempt_at(r, 0)?;
                    let delivered: Option<i64> = r.try_get(15)?;
                    let since: Option<i64> = r.try_get(16)?;
                    let failing = last.outcome != AttemptOutcome::Delivered;
                    Ok(ChannelHealth {
                        channel_id: last.channel_id.clone(),
                        last,
                        last_delivered_at: delivered.map(Timestamp::from_millis),
                        failing_since: since.filter(|_| failing).map(Timestamp::from_millis),
                    })
                })
                .collect()
        })
    }

    async fn grouped_notices(&self, t: &TenantId, i: &IncidentId) -> StoreResult<Vec<GroupedNotice>> {
        let prefix = format!("{i}:");
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    "SELECT o.channel_id, c.name, o.kind, COALESCE(o.sent_at, o.created_at) FROM alert_outbox o \
                 LEFT JOIN channels c ON c.id = o.channel_id AND c.tenant_id = o.tenant_id \
                 WHERE o.tenant_id = $1 AND o.status = 'grouped' AND substr(o.dedup_key, 1, length($2)) = $2 \
                 ORDER BY o.id",
                    &[(&t.as_str(), Type::TEXT), (&prefix, Type::TEXT)],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(GroupedNotice {
                        channel_id: ChannelId::from_trusted(r.try_get(0)?),
                        channel_name: r.try_get(1)?,
                        event: r.try_get(2)?,
                        at: Timestamp::from_millis(r.try_get(3)?),
                    })
                })
                .collect()
        })
    }
}

//! The delivery log in SQLite: one `delivery_attempts` row per attempt, appended by
//! [`insert_attempt`] in the transaction that moves the outbox row on, and read newest first
//! (the account's log, a channel's, an incident's) or folded into each channel's health.

use super::SqliteStore;
use crate::*;
use async_trait::async_trait;
use netpulse_core::{ChannelId, IncidentId, MonitorId, TenantId, Timestamp};
use rusqlite::{params, Connection, Row};

const ATTEMPT_COLS: &str = "id, at, channel_id, channel_name, channel_kind, monitor_id, monitor_name, incident_id, \
                            event, dedup_key, attempt, outcome, http_status, error, next_attempt_at";
/// The same columns of the attempt `l` (channel health joins `channels c`).
const L_ATTEMPT_COLS: &str = "l.id, l.at, l.channel_id, l.channel_name, l.channel_kind, l.monitor_id, l.monitor_name, \
                              l.incident_id, l.event, l.dedup_key, l.attempt, l.outcome, l.http_status, l.error, \
                              l.next_attempt_at";

/// Append attempt `a` of tenant `t` (of outbox row `outbox_id`, if it has one).
pub(super) fn insert_attempt(
    c: &Connection,
    t: &TenantId,
    outbox_id: Option<i64>,
    a: &DeliveryAttempt,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO delivery_attempts (tenant_id, outbox_id, channel_id, channel_name, channel_kind, monitor_id, \
         monitor_name, incident_id, event, dedup_key, attempt, outcome, http_status, error, next_attempt_at, at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        t.as_str(),
        outbox_id,
        a.channel_id.as_str(),
        a.channel_name,
        a.channel_kind,
        a.monitor_id.as_ref().map(|m| m.as_str()),
        a.monitor_name,
        a.incident_id.as_ref().map(|i| i.as_str()),
        a.event,
        a.dedup_key,
        a.attempt,
        a.outcome.as_str(),
        a.http_status,
        a.error,
        a.next_attempt_at.map(Timestamp::millis),
        a.at.millis(),
    ])?;
    Ok(())
}

fn attempt_at(r: &Row<'_>, first: usize) -> rusqlite::Result<DeliveryAttempt> {
    let outcome: String = r.get(first + 11)?;
    Ok(DeliveryAttempt {
        id: r.get(first)?,
        at: Timestamp::from_millis(r.get(first + 1)?),
        channel_id: ChannelId::from_trusted(r.get(first + 2)?),
        channel_name: r.get(first + 3)?,
        channel_kind: r.get(first + 4)?,
        monitor_id: r.get::<_, Option<String>>(first + 5)?.map(MonitorId::from_trusted),
        monitor_name: r.get(first + 6)?,
        incident_id: r.get::<_, Option<String>>(first + 7)?.map(IncidentId::from_trusted),
        event: r.get(first + 8)?,
        dedup_key: r.get(first + 9)?,
        attempt: r.get(first + 10)?,
        outcome: AttemptOutcome::parse(&outcome),
        http_status: r.get(first + 12)?,
        error: r.get(first + 13)?,
        next_attempt_at: r.get::<_, Option<i64>>(first + 14)?.map(Timestamp::from_millis),
    })
}

#[async_trait]
impl DeliveryLogStore for SqliteStore {
    async fn record_test_delivery(&self, t: &TenantId, attempt: &DeliveryAttempt) -> StoreResult<()> {
        let (t, a) = (t.clone(), attempt.clone());
        self.write(move |c| Ok(insert_attempt(c, &t, None, &a)?)).await
    }

    async fn delivery_attempts(&self, t: &TenantId, q: &AttemptQuery) -> StoreResult<Vec<DeliveryAttempt>> {
        let (t, q) = (t.clone(), q.clone());
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {ATTEMPT_COLS} FROM delivery_attempts WHERE tenant_id = ?1 \
                 AND (?2 IS NULL OR channel_id = ?2) AND (?3 IS NULL OR incident_id = ?3) AND (?4 IS NULL OR id < ?4) \
                 ORDER BY id DESC LIMIT ?5"
            ))?;
            let rows = stmt.query_map(
                params![
                    t.as_str(),
                    q.channel.as_ref().map(|c| c.as_str()),
                    q.incident.as_ref().map(|i| i.as_str()),
                    q.before,
                    q.limit as i64
                ],
                |r| attempt_at(r, 0),
            )?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn channel_health(&self, t: &TenantId) -> StoreResult<Vec<ChannelHealth>> {
        let t = t.clone();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {L_ATTEMPT_COLS}, \
                 (SELECT s.at FROM delivery_attempts s WHERE s.tenant_id = l.tenant_id AND s.channel_id = l.channel_id \
                  AND s.outcome = 'delivered' ORDER BY s.id DESC LIMIT 1), \
                 (SELECT f.at FROM delivery_attempts f WHERE f.tenant_id = l.tenant_id AND f.channel_id = l.channel_id \
                  AND f.id > COALESCE((SELECT s.id FROM delivery_attempts s WHERE s.tenant_id = l.tenant_id \
                  AND s.channel_id = l.channel_id AND s.outcome = 'delivered' ORDER BY s.id DESC LIMIT 1), 0) \
                  ORDER BY f.id LIMIT 1) \
                 FROM channels c JOIN delivery_attempts l ON l.id = (SELECT MAX(x.id) FROM delivery_attempts x \
                 WHERE x.tenant_id = c.tenant_id AND x.channel_id = c.id) WHERE c.tenant_id = ?1"
            ))?;
            let rows = stmt.query_map(params![t.as_str()], |r| {
                let last = attempt_at(r, 0)?;
                let delivered: Option<i64> = r.get(15)?;
                let since: Option<i64> = r.get(16)?;
                let failing = last.outcome != AttemptOutcome::Delivered;
                Ok(ChannelHealth {
                    channel_id: last.channel_id.clone(),
                    last,
                    last_delivered_at: delivered.map(Timestamp::from_millis),
                    failing_since: since.filter(|_| failing).map(Timestamp::from_millis),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn grouped_notices(&self, t: &TenantId, i: &IncidentId) -> StoreResult<Vec<GroupedNotice>> {
        let (t, prefix) = (t.clone(), format!("{i}:"));
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT o.channel_id, c.name, o.kind, COALESCE(o.sent_at, o.created_at) FROM alert_outbox o \
                 LEFT JOIN channels c ON c.id = o.channel_id AND c.tenant_id = o.tenant_id \
                 WHERE o.tenant_id = ?1 AND o.status = 'grouped' AND substr(o.dedup_key, 1, length(?2)) = ?2 \
                 ORDER BY o.id",
            )?;
            let rows = stmt.query_map(params![t.as_str(), prefix], |r| {
                Ok(GroupedNotice {
                    channel_id: ChannelId::from_trusted(r.get(0)?),
                    channel_name: r.get(1)?,
                    event: r.get(2)?,
                    at: Timestamp::from_millis(r.get(3)?),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}

//! Alert channels, the outbox and storm control rows in PostgreSQL: a channel's storm in
//! progress, and grouping outbox rows into it in the same transaction that saves it. Unnamed
//! typed statements only, so it works through PgBouncer in transaction mode.

use super::{Param, PgStore};
use crate::*;
use async_trait::async_trait;
use netpulse_core::alert::AlertEvent;
use netpulse_core::storm::Storm;
use netpulse_core::{ChannelId, TenantId, Timestamp};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Row};

const CHANNEL_COLS: &str =
    "c.id, c.tenant_id, c.name, c.kind, c.url, c.secret, c.enabled, c.created_at, c.settings, c.updated_at";

#[async_trait]
impl ChannelStore for PgStore {
    async fn create_channel(&self, t: &TenantId, ch: &ChannelRecord) -> StoreResult<()> {
        pooled!(self, |c| async {
            let settings = ch.settings.to_string();
            c.execute_typed(
                "INSERT INTO channels (id, tenant_id, name, kind, url, secret, enabled, created_at, settings, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    (&ch.id.as_str(), Type::TEXT),
                    (&t.as_str(), Type::TEXT),
                    (&ch.name, Type::TEXT),
                    (&ch.kind.as_str(), Type::TEXT),
                    (&ch.url, Type::TEXT),
                    (&ch.secret.expose(), Type::TEXT),
                    (&ch.enabled, Type::BOOL),
                    (&ch.created_at.millis(), Type::INT8),
                    (&settings, Type::TEXT),
                    (&ch.updated_at.millis(), Type::INT8),
                ],
            )
            .await?;
            Ok(())
        })
    }

    async fn list_channels(&self, t: &TenantId) -> StoreResult<Vec<ChannelRecord>> {
        pooled!(self, |c| channels(&c, t, None))
    }

    async fn get_channel(&self, t: &TenantId, id: &ChannelId) -> StoreResult<Option<ChannelRecord>> {
        Ok(pooled!(self, |c| channels(&c, t, Some(id)))?.pop())
    }

    async fn update_channel_if(
        &self,
        t: &TenantId,
        ch: &ChannelRecord,
        expected: Option<Timestamp>,
    ) -> StoreResult<Conditional> {
        pooled!(self, |c| async {
            let settings = ch.settings.to_string();
            let row = c
                .query_typed_one(
                    "WITH u AS (UPDATE channels SET name = $3, url = $4, secret = $5, enabled = $6, settings = $7, \
                     updated_at = GREATEST($8, updated_at + 1) \
                     WHERE tenant_id = $1 AND id = $2 AND ($9::BIGINT IS NULL OR updated_at = $9) RETURNING id) \
                     SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM channels WHERE tenant_id = $1 AND id = $2)",
                    &[
                        (&t.as_str(), Type::TEXT),
                        (&ch.id.as_str(), Type::TEXT),
                        (&ch.name, Type::TEXT),
                        (&ch.url, Type::TEXT),
                        (&ch.secret.expose(), Type::TEXT),
                        (&ch.enabled, Type::BOOL),
                        (&settings, Type::TEXT),
                        (&ch.updated_at.millis(), Type::INT8),
                        (&expected.map(|e| e.millis()), Type::INT8),
                    ],
                )
                .await?;
            let (n, exists): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
            Ok(Conditional::of(n == 1, exists == 1))
        })
    }

    async fn delete_channel(&self, t: &TenantId, id: &ChannelId) -> StoreResult<bool> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let p: [Param<'_>; 2] = [(&t.as_str(), Type::TEXT), (&id.as_str(), Type::TEXT)];
            let n = tx.execute_typed("DELETE FROM channels WHERE tenant_id = $1 AND id = $2", &p).await?;
            tx.execute_typed(
                "DELETE FROM alert_outbox WHERE tenant_id = $1 AND channel_id = $2 AND status = 'pending'",
                &p,
            )
            .await?;
            tx.execute_typed("DELETE FROM alert_storms WHERE tenant_id = $1 AND channel_id = $2", &p).await?;
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    async fn list_deliveries(&self, t: &TenantId, ch: &ChannelId, limit: usize) -> StoreResult<Vec<DeliveryRecord>> {
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    "SELECT dedup_key, kind, status, attempts, last_error, created_at, sent_at FROM alert_outbox \
                     WHERE tenant_id = $1 AND channel_id = $2 ORDER BY id DESC LIMIT $3",
                    &[(&t.as_str(), Type::TEXT), (&ch.as_str(), Type::TEXT), (&(limit as i64), Type::INT8)],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(DeliveryRecord {
                        dedup_key: r.try_get(0)?,
                        kind: r.try_get(1)?,
                        status: r.try_get(2)?,
                        attempts: r.try_get::<_, i32>(3)?.max(0) as u32,
                        last_error: r.try_get(4)?,
                        created_at: Timestamp::from_millis(r.try_get(5)?),
                        sent_at: r.try_get::<_, Option<i64>>(6)?.map(Timestamp::from_millis),
                    })
                })
                .collect()
        })
    }

    /// Rows another dispatcher is claiming right now are skipped (`SKIP LOCKED`), so two engine
    /// nodes never take the same notification; a dead dispatcher's lease simply expires.
    async fn claim_outbox(&self, now: Timestamp, limit: usize, lease_ms: i64) -> StoreResult<Vec<OutboxItem>> {
        pooled!(self, |c| async {
            // The common case is "nothing due": answer it with one read, without a transaction.
            let due = c
                .query_typed_opt(
                    "SELECT 1 FROM alert_outbox WHERE status = 'pending' AND next_attempt_at <= $1 LIMIT 1",
                    &[(&now.millis(), Type::INT8)],
                )
                .await?;
            if due.is_none() {
                return Ok(Vec::new());
            }
            let tx = c.transaction().await?;
            let rows = tx
                .query_typed(
                    &format!(
                        "SELECT o.id, o.event, o.attempts, {CHANNEL_COLS} FROM alert_outbox o \
                         JOIN channels c ON c.id = o.channel_id AND c.tenant_id = o.tenant_id \
                         WHERE o.status = 'pending' AND o.next_attempt_at <= $1 ORDER BY o.id LIMIT $2 \
                         FOR UPDATE OF o SKIP LOCKED"
                    ),
                    &[(&now.millis(), Type::INT8), (&(limit as i64), Type::INT8)],
                )
                .await?;
            let mut items = Vec::with_capacity(rows.len());
            for r in &rows {
                let event: String = r.try_get(1)?;
                let attempts: i32 = r.try_get(2)?;
                items.push(OutboxItem {
                    id: r.try_get(0)?,
                    event: serde_json::from_str(&event)?,
                    attempts: attempts.max(0) as u32,
                    channel: channel_at(r, 3)?,
                });
            }
            let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
            if !ids.is_empty() {
                tx.execute_typed(
                    "UPDATE alert_outbox SET next_attempt_at = $2 WHERE id = ANY($1)",
                    &[(&ids, Type::INT8_ARRAY), (&(now.millis() + lease_ms), Type::INT8)],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(items)
        })
    }

    async fn next_alert_work(&self) -> StoreResult<Option<Timestamp>> {
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    "SELECT min(t) FROM ( \
                 SELECT min(next_attempt_at) AS t FROM alert_outbox WHERE status = 'pending' \
                 UNION ALL SELECT min(next_attempt_at) FROM subscriber_notices WHERE status = 'pending' \
                 UNION ALL SELECT min(timer_at) FROM monitor_state WHERE timer_at IS NOT NULL \
                 UNION ALL SELECT 0::bigint WHERE EXISTS (SELECT 1 FROM alert_storms)) AS due",
                    &[],
                )
                .await?;
            let next: Option<i64> = rows.first().map(|r| r.try_get(0)).transpose()?.flatten();
            Ok(next.map(Timestamp::from_millis))
        })
    }

    async fn record_delivery(&self, item: &OutboxItem, delivery: Delivery) -> StoreResult<()> {
        let attempt = DeliveryAttempt::of(&item.channel, &item.event, item.attempts + 1, &delivery);
        let (id, at) = (item.id, delivery.at.millis());
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            match &delivery.result {
                DeliveryResult::Sent => {
                    tx.execute_typed(
                        "UPDATE alert_outbox SET status = 'sent', attempts = attempts + 1, sent_at = $2, last_error = NULL \
                         WHERE id = $1",
                        &[(&id, Type::INT8), (&at, Type::INT8)],
                    )
                    .await?
                }
                DeliveryResult::Retry { next_at, error } => {
                    tx.execute_typed(
                        "UPDATE alert_outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 WHERE id = $1",
                        &[(&id, Type::INT8), (&next_at.millis(), Type::INT8), (error, Type::TEXT)],
                    )
                    .await?
                }
                DeliveryResult::Failed { error } => {
                    tx.execute_typed(
                        "UPDATE alert_outbox SET status = 'failed', attempts = attempts + 1, last_error = $2 WHERE id = $1",
                        &[(&id, Type::INT8), (error, Type::TEXT)],
                    )
                    .await?
                }
            };
            super::deliveries::insert_attempt(&tx, &item.channel.tenant_id, Some(id), &attempt).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn storm(&self, t: &TenantId, ch: &ChannelId) -> StoreResult<Option<Storm>> {
        pooled!(self, |c| async {
            let row = c
                .query_typed_opt(
                    "SELECT state FROM alert_storms WHERE tenant_id = $1 AND channel_id = $2",
                    &[(&t.as_str(), Type::TEXT), (&ch.as_str(), Type::TEXT)],
                )
                .await?;
            match row {
                Some(r) => Ok(Some(serde_json::from_str(&r.try_get::<_, String>(0)?)?)),
                None => Ok(None),
            }
        })
    }

    async fn recent_pages(
        &self,
        t: &TenantId,
        ch: &ChannelId,
        since: Timestamp,
    ) -> StoreResult<Vec<(i64, AlertEvent)>> {
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    "SELECT id, event FROM alert_outbox WHERE tenant_id = $1 AND channel_id = $2 AND created_at >= $3 \
                     AND kind IN ('opened', 'flapping', 'escalated') AND status IN ('pending', 'sent') ORDER BY id",
                    &[(&t.as_str(), Type::TEXT), (&ch.as_str(), Type::TEXT), (&since.millis(), Type::INT8)],
                )
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push((r.try_get(0)?, serde_json::from_str(&r.try_get::<_, String>(1)?)?));
            }
            Ok(out)
        })
    }

    async fn save_storm(
        &self,
        t: &TenantId,
        ch: &ChannelId,
        storm: Option<&Storm>,
        grouped: &[i64],
        announce: Option<&AlertEvent>,
        now: Timestamp,
    ) -> StoreResult<()> {
        pooled!(self, |c| async {
            let (tenant, channel) = (t.as_str(), ch.as_str());
            let tx = c.transaction().await?;
            tx.execute_typed(
                "UPDATE alert_outbox SET status = 'grouped', sent_at = $4 \
                 WHERE tenant_id = $1 AND channel_id = $2 AND id = ANY($3) AND status = 'pending'",
                &[
                    (&tenant, Type::TEXT),
                    (&channel, Type::TEXT),
                    (&grouped, Type::INT8_ARRAY),
                    (&now.millis(), Type::INT8),
                ],
            )
            .await?;
            match storm {
                Some(s) => {
                    let state = serde_json::to_string(s)?;
                    tx.execute_typed(
                        "INSERT INTO alert_storms (tenant_id, channel_id, state) VALUES ($1, $2, $3) \
                         ON CONFLICT (tenant_id, channel_id) DO UPDATE SET state = EXCLUDED.state",
                        &[(&tenant, Type::TEXT), (&channel, Type::TEXT), (&state, Type::TEXT)],
                    )
                    .await?
                }
                None => {
                    tx.execute_typed(
                        "DELETE FROM alert_storms WHERE tenant_id = $1 AND channel_id = $2",
                        &[(&tenant, Type::TEXT), (&channel, Type::TEXT)],
                    )
                    .await?
                }
            };
            if let Some(e) = announce {
                let event = serde_json::to_string(e)?;
                tx.execute_typed(
                    "INSERT INTO alert_outbox (tenant_id, channel_id, dedup_key, kind, event, status, next_attempt_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) ON CONFLICT (channel_id, dedup_key) DO NOTHING",
                    &[
                        (&tenant, Type::TEXT),
                        (&channel, Type::TEXT),
                        (&e.dedup_key.as_str(), Type::TEXT),
                        (&e.kind.as_str(), Type::TEXT),
                        (&event, Type::TEXT),
                        (&now.millis(), Type::INT8),
                    ],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    async fn active_storms(&self) -> StoreResult<Vec<(TenantId, ChannelId)>> {
        pooled!(self, |c| async {
            let rows = c
                .query_typed("SELECT tenant_id, channel_id FROM alert_storms ORDER BY tenant_id, channel_id", &[])
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push((TenantId::from_trusted(r.try_get(0)?), ChannelId::from_trusted(r.try_get(1)?)));
            }
            Ok(out)
        })
    }
}

/// A channel from the row's columns `first..first + 10`, in `CHANNEL_COLS` order.
fn channel_at(r: &Row, first: usize) -> StoreResult<ChannelRecord> {
    let kind: String = r.try_get(first + 3)?;
    let settings: String = r.try_get(first + 8)?;
    Ok(ChannelRecord {
        id: ChannelId::from_trusted(r.try_get(first)?),
        tenant_id: TenantId::from_trusted(r.try_get(first + 1)?),
        name: r.try_get(first + 2)?,
        kind: ChannelKind::parse(&kind)
            .ok_or_else(|| StoreError::Internal(format!("stored channel kind `{kind}` is unknown")))?,
        url: r.try_get(first + 4)?,
        secret: Secret::new(r.try_get::<_, String>(first + 5)?),
        enabled: r.try_get(first + 6)?,
        created_at: Timestamp::from_millis(r.try_get(first + 7)?),
        settings: serde_json::from_str(&settings)?,
        updated_at: Timestamp::from_millis(r.try_get(first + 9)?),
    })
}

/// `t`'s channels, or only the channel `only`.
async fn channels(c: &Client, t: &TenantId, only: Option<&ChannelId>) -> StoreResult<Vec<ChannelRecord>> {
    let sql = format!(
        "SELECT {CHANNEL_COLS} FROM channels c WHERE c.tenant_id = $1 AND ($2::text IS NULL OR c.id = $2) \
         ORDER BY c.created_at, c.id"
    );
    let rows = c.query_typed(&sql, &[(&t.as_str(), Type::TEXT), (&only.map(ChannelId::as_str), Type::TEXT)]).await?;
    rows.iter().map(|r| channel_at(r, 0)).collect()
}

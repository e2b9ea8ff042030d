//! Alert channels, the outbox and storm control rows in SQLite: a channel's storm in
//! progress, and grouping outbox rows into it in the same transaction that saves it.

use super::SqliteStore;
use crate::*;
use async_trait::async_trait;
use netpulse_core::alert::AlertEvent;
use netpulse_core::storm::Storm;
use netpulse_core::{ChannelId, TenantId, Timestamp};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::sync::Arc;
use tokio::sync::Notify;

const CHANNEL_COLS: &str =
    "c.id, c.tenant_id, c.name, c.kind, c.url, c.secret, c.enabled, c.created_at, c.settings, c.updated_at";

#[async_trait]
impl ChannelStore for SqliteStore {
    async fn create_channel(&self, t: &TenantId, ch: &ChannelRecord) -> StoreResult<()> {
        let (t, ch) = (t.clone(), ch.clone());
        self.write(move |c| {
            c.execute(
                "INSERT INTO channels (id, tenant_id, name, kind, url, secret, enabled, created_at, settings, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![ch.id.as_str(), t.as_str(), ch.name, ch.kind.as_str(), ch.url, ch.secret.expose(), ch.enabled, ch.created_at.millis(), ch.settings.to_string(), ch.updated_at.millis()],
            )?;
            Ok(())
        })
        .await
    }

    async fn list_channels(&self, t: &TenantId) -> StoreResult<Vec<ChannelRecord>> {
        let t = t.clone();
        self.read(move |c| channels(c, &t, None)).await
    }

    async fn get_channel(&self, t: &TenantId, id: &ChannelId) -> StoreResult<Option<ChannelRecord>> {
        let (t, id) = (t.clone(), id.clone());
        self.read(move |c| Ok(channels(c, &t, Some(&id))?.pop())).await
    }

    async fn update_channel_if(
        &self,
        t: &TenantId,
        ch: &ChannelRecord,
        expected: Option<Timestamp>,
    ) -> StoreResult<Conditional> {
        let (t, ch) = (t.clone(), ch.clone());
        self.write(move |c| {
            let n = c.execute(
                "UPDATE channels SET name = ?3, url = ?4, secret = ?5, enabled = ?6, settings = ?7, \
                 updated_at = MAX(?8, updated_at + 1) \
                 WHERE tenant_id = ?1 AND id = ?2 AND (?9 IS NULL OR updated_at = ?9)",
                params![
                    t.as_str(),
                    ch.id.as_str(),
                    ch.name,
                    ch.url,
                    ch.secret.expose(),
                    ch.enabled,
                    ch.settings.to_string(),
                    ch.updated_at.millis(),
                    expected.map(|e| e.millis())
                ],
            )?;
            let exists = || super::exists(c, "channels", t.as_str(), ch.id.as_str());
            Ok(Conditional::of(n == 1, n == 1 || exists()?))
        })
        .await
    }

    async fn delete_channel(&self, t: &TenantId, id: &ChannelId) -> StoreResult<bool> {
        let (t, id) = (t.clone(), id.clone());
        self.write(move |c| {
            let tx = c.transaction()?;
            let n =
                tx.execute("DELETE FROM channels WHERE tenant_id = ?1 AND id = ?2", params![t.as_str(), id.as_str()])?;
            tx.execute(
                "DELETE FROM alert_outbox WHERE tenant_id = ?1 AND channel_id = ?2 AND status = 'pending'",
                params![t.as_str(), id.as_str()],
            )?;
            tx.execute(
                "DELETE FROM alert_storms WHERE tenant_id = ?1 AND channel_id = ?2",
                params![t.as_str(), id.as_str()],
            )?;
            tx.commit()?;
            Ok(n == 1)
        })
        .await
    }

    async fn list_deliveries(&self, t: &TenantId, id: &ChannelId, limit: usize) -> StoreResult<Vec<DeliveryRecord>> {
        let (t, ch) = (t.clone(), id.clone());
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT dedup_key, kind, status, attempts, last_error, created_at, sent_at FROM alert_outbox \
                 WHERE tenant_id = ?1 AND channel_id = ?2 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![t.as_str(), ch.as_str(), limit as i64], |r| {
                Ok(DeliveryRecord {
                    dedup_key: r.get(0)?,
                    kind: r.get(1)?,
                    status: r.get(2)?,
                    attempts: r.get(3)?,
                    last_error: r.get(4)?,
                    created_at: Timestamp::from_millis(r.get(5)?),
                    sent_at: r.get::<_, Option<i64>>(6)?.map(Timestamp::from_millis),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// A dispatcher that dies leaves the lease to expire, and the notification is tried
    /// again (same dedup key).
    async fn claim_outbox(&self, now: Timestamp, limit: usize, lease_ms: i64) -> StoreResult<Vec<OutboxItem>> {
        self.write(move |c| {
            // The common case is "nothing due": answer it with a read, without a write transaction.
            let due: bool = c
                .prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM alert_outbox WHERE status = 'pending' AND next_attempt_at <= ?1)",
                )?
                .query_row([now.millis()], |r| r.get(0))?;
            if !due {
                return Ok(Vec::new());
            }
            let tx = c.transaction()?;
            let items = {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT o.id, o.event, o.attempts, {CHANNEL_COLS} FROM alert_outbox o JOIN channels c ON c.id = o.channel_id AND c.tenant_id = o.tenant_id \
                     WHERE o.status = 'pending' AND o.next_attempt_at <= ?1 ORDER BY o.id LIMIT ?2"
                ))?;
                let rows = stmt.query_map(params![now.millis(), limit as i64], |r| {
                    let event: String = r.get(1)?;
                    let channel = channel_at(r, 3)?;
                    Ok((r.get::<_, i64>(0)?, event, r.get::<_, u32>(2)?, channel))
                })?;
                let mut items = Vec::new();
                for row in rows {
                    let (id, event, attempts, channel) = row?;
                    items.push(OutboxItem { id, channel, event: serde_json::from_str(&event)?, attempts });
                }
                items
            };
            for item in &items {
                tx.prepare_cached("UPDATE alert_outbox SET next_attempt_at = ?2 WHERE id = ?1")?
                    .execute(params![item.id, now.millis() + lease_ms])?;
            }
            tx.commit()?;
            Ok(items)
        })
        .await
    }

    async fn next_alert_work(&self) -> StoreResult<Option<Timestamp>> {
        self.read(|c| {
            let next: Option<i64> = c
                .prepare_cached(
                    "SELECT min(t) FROM ( \
                 SELECT min(next_attempt_at) AS t FROM alert_outbox WHERE status = 'pending' \
                 UNION ALL SELECT min(next_attempt_at) FROM subscriber_notices WHERE status = 'pending' \
                 UNION ALL SELECT min(timer_at) FROM monitor_state WHERE timer_at IS NOT NULL \
                 UNION ALL SELECT 0 WHERE EXISTS (SELECT 1 FROM alert_storms)) AS due",
                )?
                .query_row([], |r| r.get(0))?;
            Ok(next.map(Timestamp::from_millis))
        })
        .await
    }

    fn alert_work_written(&self) -> Option<Arc<Notify>> {
        Some(self.alert_work.clone())
    }

    async fn record_delivery(&self, item: &OutboxItem, delivery: Delivery) -> StoreResult<()> {
        let (id, attempt) = (item.id, DeliveryAttempt::of(&item.channel, &item.event, item.attempts + 1, &delivery));
        let tenant = item.channel.tenant_id.clone();
        self.write(move |c| {
            let tx = c.transaction()?;
            let at = delivery.at.millis();
            match &delivery.result {
                DeliveryResult::Sent => tx.execute(
                    "UPDATE alert_outbox SET status = 'sent', attempts = attempts + 1, sent_at = ?2, last_error = NULL WHERE id = ?1",
                    params![id, at],
                )?,
                DeliveryResult::Retry { next_at, error } => tx.execute(
                    "UPDATE alert_outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
                    params![id, next_at.millis(), error],
                )?,
                DeliveryResult::Failed { error } => tx.execute(
                    "UPDATE alert_outbox SET status = 'failed', attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                    params![id, error],
                )?,
            };
            super::deliveries::insert_attempt(&tx, &tenant, Some(id), &attempt)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn storm(&self, t: &TenantId, ch: &ChannelId) -> StoreResult<Option<Storm>> {
        let (t, ch) = (t.clone(), ch.clone());
        self.read(move |c| {
            let state: Option<String> = c
                .prepare_cached("SELECT state FROM alert_storms WHERE tenant_id = ?1 AND channel_id = ?2")?
                .query_row(params![t.as_str(), ch.as_str()], |r| r.get(0))
                .optional()?;
            Ok(state.map(|s| serde_json::from_str(&s)).transpose()?)
        })
        .await
    }

    async fn recent_pages(
        &self,
        t: &TenantId,
        ch: &ChannelId,
        since: Timestamp,
    ) -> StoreResult<Vec<(i64, AlertEvent)>> {
        let (t, ch) = (t.clone(), ch.clone());
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, event FROM alert_outbox WHERE tenant_id = ?1 AND channel_id = ?2 AND created_at >= ?3 \
                 AND kind IN ('opened', 'flapping', 'escalated') AND status IN ('pending', 'sent') ORDER BY id",
            )?;
            let rows = stmt.query_map(params![t.as_str(), ch.as_str(), since.millis()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, event) = row?;
                out.push((id, serde_json::from_str(&event)?));
            }
            Ok(out)
        })
        .await
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
        let (t, ch, storm, grouped, announce) =
            (t.clone(), ch.clone(), storm.cloned(), grouped.to_vec(), announce.cloned());
        self.write(move |c| {
            let tx = c.transaction()?;
            for id in &grouped {
                tx.prepare_cached(
                    "UPDATE alert_outbox SET status = 'grouped', sent_at = ?4 \
                     WHERE tenant_id = ?1 AND channel_id = ?2 AND id = ?3 AND status = 'pending'",
                )?
                .execute(params![t.as_str(), ch.as_str(), id, now.millis()])?;
            }
            match &storm {
                Some(s) => tx.execute(
                    "INSERT INTO alert_storms (tenant_id, channel_id, state) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (tenant_id, channel_id) DO UPDATE SET state = excluded.state",
                    params![t.as_str(), ch.as_str(), serde_json::to_string(s)?],
                )?,
                None => tx.execute(
                    "DELETE FROM alert_storms WHERE tenant_id = ?1 AND channel_id = ?2",
                    params![t.as_str(), ch.as_str()],
                )?,
            };
            super::alert_work_written();
            if let Some(e) = &announce {
                tx.execute(
                    "INSERT OR IGNORE INTO alert_outbox (tenant_id, channel_id, dedup_key, kind, event, status, next_attempt_at, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)",
                    params![t.as_str(), ch.as_str(), e.dedup_key, e.kind.as_str(), serde_json::to_string(e)?, now.millis()],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn active_storms(&self) -> StoreResult<Vec<(TenantId, ChannelId)>> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT tenant_id, channel_id FROM alert_storms ORDER BY tenant_id, channel_id")?;
            let rows =
                stmt.query_map([], |r| Ok((TenantId::from_trusted(r.get(0)?), ChannelId::from_trusted(r.get(1)?))))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}

/// A channel from the row's columns `first..first + 10`, in `CHANNEL_COLS` order.
fn channel_at(r: &Row<'_>, first: usize) -> rusqlite::Result<ChannelRecord> {
    let bad = |i: usize, e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e)
    };
    let kind: String = r.get(first + 3)?;
    let settings: String = r.get(first + 8)?;
    Ok(ChannelRecord {
        id: ChannelId::from_trusted(r.get(first)?),
        tenant_id: TenantId::from_trusted(r.get(first + 1)?),
        name: r.get(first + 2)?,
        kind: ChannelKind::parse(&kind)
            .ok_or_else(|| bad(first + 3, format!("unknown channel kind `{kind}`").into()))?,
        url: r.get(first + 4)?,
        secret: Secret::new(r.get::<_, String>(first + 5)?),
        enabled: r.get(first + 6)?,
        created_at: Timestamp::from_millis(r.get(first + 7)?),
        settings: serde_json::from_str(&settings).map_err(|e| bad(first + 8, Box::new(e)))?,
        updated_at: Timestamp::from_millis(r.get(first + 9)?),
    })
}

/// `t`'s channels, or only the channel `only`.
fn channels(c: &Connection, t: &TenantId, only: Option<&ChannelId>) -> StoreResult<Vec<ChannelRecord>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {CHANNEL_COLS} FROM channels c WHERE c.tenant_id = ?1 AND (?2 IS NULL OR c.id = ?2) ORDER BY c.created_at, c.id"
    ))?;
    let rows = stmt.query_map(params![t.as_str(), only.map(ChannelId::as_str)], |r| channel_at(r, 0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

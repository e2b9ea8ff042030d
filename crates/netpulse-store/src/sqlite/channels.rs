//! Alert channels and the outbox in SQLite.

use crate::Secret;
use crate::*;
use rusqlite::{params, Connection, Row};

/// A channel from the row's columns `first..first + 9`, in `CHANNEL_COLS` order.
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
    })
}

const CHANNEL_COLS: &str = "c.id, c.tenant_id, c.name, c.kind, c.url, c.secret, c.enabled, c.created_at, c.settings";

pub fn create(c: &mut Connection, t: &TenantId, ch: &ChannelRecord) -> StoreResult<()> {
    c.execute(
        "INSERT INTO channels (id, tenant_id, name, kind, url, secret, enabled, created_at, settings) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![ch.id.as_str(), t.as_str(), ch.name, ch.kind.as_str(), ch.url, ch.secret.expose(), ch.enabled, ch.created_at.millis(), ch.settings.to_string()],
    )?;
    Ok(())
}

pub fn list(c: &Connection, t: &TenantId, only: Option<&ChannelId>) -> StoreResult<Vec<ChannelRecord>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {CHANNEL_COLS} FROM channels c WHERE c.tenant_id = ?1 AND (?2 IS NULL OR c.id = ?2) ORDER BY c.created_at, c.id"
    ))?;
    let rows = stmt.query_map(params![t.as_str(), only.map(ChannelId::as_str)], |r| channel_at(r, 0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn update(c: &mut Connection, t: &TenantId, ch: &ChannelRecord) -> StoreResult<bool> {
    let n = c.execute(
        "UPDATE channels SET name = ?3, url = ?4, secret = ?5, enabled = ?6, settings = ?7 WHERE tenant_id = ?1 AND id = ?2",
        params![t.as_str(), ch.id.as_str(), ch.name, ch.url, ch.secret.expose(), ch.enabled, ch.settings.to_string()],
    )?;
    Ok(n == 1)
}

pub fn delete(c: &mut Connection, t: &TenantId, id: &ChannelId) -> StoreResult<bool> {
    let tx = c.transaction()?;
    let n = tx.execute("DELETE FROM channels WHERE tenant_id = ?1 AND id = ?2", params![t.as_str(), id.as_str()])?;
    tx.execute(
        "DELETE FROM alert_outbox WHERE tenant_id = ?1 AND channel_id = ?2 AND status = 'pending'",
        params![t.as_str(), id.as_str()],
    )?;
    tx.execute("DELETE FROM alert_storms WHERE tenant_id = ?1 AND channel_id = ?2", params![t.as_str(), id.as_str()])?;
    tx.commit()?;
    Ok(n == 1)
}

/// Take up to `limit` due notifications, leasing them for `lease_ms` so that no other
/// dispatcher pass takes them while they are in flight. A dispatcher that dies leaves the
/// lease to expire, and the notification is tried again (same dedup key).
pub fn claim_outbox(c: &mut Connection, now: Timestamp, limit: usize, lease_ms: i64) -> StoreResult<Vec<OutboxItem>> {
    // The common case is "nothing due": answer it with a read, without a write transaction.
    let due: bool = c
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM alert_outbox WHERE status = 'pending' AND next_attempt_at <= ?1)")?
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
}

pub fn record_delivery(c: &mut Connection, id: i64, d: &Delivery) -> StoreResult<()> {
    match d {
        Delivery::Sent { at } => c.execute(
            "UPDATE alert_outbox SET status = 'sent', attempts = attempts + 1, sent_at = ?2, last_error = NULL WHERE id = ?1",
            params![id, at.millis()],
        )?,
        Delivery::Retry { at, error } => c.execute(
            "UPDATE alert_outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
            params![id, at.millis(), error],
        )?,
        Delivery::Failed { error, .. } => c.execute(
            "UPDATE alert_outbox SET status = 'failed', attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
            params![id, error],
        )?,
    };
    Ok(())
}

pub fn deliveries(c: &Connection, t: &TenantId, ch: &ChannelId, limit: usize) -> StoreResult<Vec<DeliveryRecord>> {
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
}

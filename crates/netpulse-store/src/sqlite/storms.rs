//! Storm control rows in SQLite: a channel's storm in progress, and grouping outbox rows
//! into it in the same transaction that saves it.

use crate::*;
use netpulse_core::storm::Storm;
use rusqlite::{params, Connection, OptionalExtension};

pub fn storm(c: &Connection, t: &TenantId, ch: &ChannelId) -> StoreResult<Option<Storm>> {
    let state: Option<String> = c
        .prepare_cached("SELECT state FROM alert_storms WHERE tenant_id = ?1 AND channel_id = ?2")?
        .query_row(params![t.as_str(), ch.as_str()], |r| r.get(0))
        .optional()?;
    Ok(state.map(|s| serde_json::from_str(&s)).transpose()?)
}

pub fn recent_pages(
    c: &Connection,
    t: &TenantId,
    ch: &ChannelId,
    since: Timestamp,
) -> StoreResult<Vec<(i64, AlertEvent)>> {
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
}

pub fn save_storm(
    c: &mut Connection,
    t: &TenantId,
    ch: &ChannelId,
    storm: Option<&Storm>,
    grouped: &[i64],
    announce: Option<&AlertEvent>,
    now: Timestamp,
) -> StoreResult<()> {
    let tx = c.transaction()?;
    for id in grouped {
        tx.prepare_cached(
            "UPDATE alert_outbox SET status = 'grouped', sent_at = ?4 \
             WHERE tenant_id = ?1 AND channel_id = ?2 AND id = ?3 AND status = 'pending'",
        )?
        .execute(params![t.as_str(), ch.as_str(), id, now.millis()])?;
    }
    match storm {
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
    if let Some(e) = announce {
        tx.execute(
            "INSERT OR IGNORE INTO alert_outbox (tenant_id, channel_id, dedup_key, kind, event, status, next_attempt_at, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)",
            params![t.as_str(), ch.as_str(), e.dedup_key, e.kind.as_str(), serde_json::to_string(e)?, now.millis()],
        )?;
    }
    tx.commit()?;
    Ok(())
}

pub fn active_storms(c: &Connection) -> StoreResult<Vec<(TenantId, ChannelId)>> {
    let mut stmt = c.prepare_cached("SELECT tenant_id, channel_id FROM alert_storms ORDER BY tenant_id, channel_id")?;
    let rows = stmt.query_map([], |r| Ok((TenantId::from_trusted(r.get(0)?), ChannelId::from_trusted(r.get(1)?))))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

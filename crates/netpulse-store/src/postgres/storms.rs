//! Storm control rows in PostgreSQL: a channel's storm in progress, and grouping outbox rows
//! into it in the same transaction that saves it. Unnamed typed statements only, so it works
//! through PgBouncer in transaction mode.

use crate::*;
use netpulse_core::storm::Storm;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

pub async fn storm(c: &Client, t: &TenantId, ch: &ChannelId) -> StoreResult<Option<Storm>> {
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
}

pub async fn recent_pages(
    c: &Client,
    t: &TenantId,
    ch: &ChannelId,
    since: Timestamp,
) -> StoreResult<Vec<(i64, AlertEvent)>> {
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
}

pub async fn save_storm(
    c: &mut Client,
    t: &TenantId,
    ch: &ChannelId,
    storm: Option<&Storm>,
    grouped: &[i64],
    announce: Option<&AlertEvent>,
    now: Timestamp,
) -> StoreResult<()> {
    let (tenant, channel) = (t.as_str(), ch.as_str());
    let tx = c.transaction().await?;
    tx.execute_typed(
        "UPDATE alert_outbox SET status = 'grouped', sent_at = $4 \
         WHERE tenant_id = $1 AND channel_id = $2 AND id = ANY($3) AND status = 'pending'",
        &[(&tenant, Type::TEXT), (&channel, Type::TEXT), (&grouped, Type::INT8_ARRAY), (&now.millis(), Type::INT8)],
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
}

pub async fn active_storms(c: &Client) -> StoreResult<Vec<(TenantId, ChannelId)>> {
    let rows =
        c.query_typed("SELECT tenant_id, channel_id FROM alert_storms ORDER BY tenant_id, channel_id", &[]).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push((TenantId::from_trusted(r.try_get(0)?), ChannelId::from_trusted(r.try_get(1)?)));
    }
    Ok(out)
}

//! `/api/v1/deliveries`: the account's delivery log, one entry per attempt to deliver a notice
//! to a channel (retries and tests included), newest first, paged by `cursor`; filtered by
//! `channel_id` or `incident_id`. Also the JSON of a channel's health and of an incident's
//! notifications, which the channel and incident answers embed. Viewers (read tokens, the
//! demo) see delivery errors as `[hidden]`, like every other delivery error.

use crate::base::audience::{delivery_error, Audience};
use crate::base::input::QueryParams;
use crate::base::{ApiError, ApiResult};
use crate::base::{AppState, Caller};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use netpulse_core::{ChannelId, IncidentId, Timestamp};
use netpulse_store::{AttemptQuery, ChannelHealth, DeliveryAttempt, GroupedNotice};
use serde::Deserialize;
use serde_json::{json, Value};

/// Entries per page by default, and at most.
pub const PAGE: usize = 50;
const MAX_PAGE: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    channel_id: Option<String>,
    incident_id: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// One attempt as the API and the dashboard's log show it.
pub fn attempt_json(a: &DeliveryAttempt, audience: Audience) -> Value {
    json!({
        "id": a.id,
        "at": a.at.to_rfc3339(),
        "channel": { "id": a.channel_id, "name": a.channel_name, "kind": a.channel_kind },
        "monitor": { "id": a.monitor_id, "name": a.monitor_name },
        "incident_id": a.incident_id,
        "event": a.event,
        "dedup_key": a.dedup_key,
        "attempt": a.attempt,
        "outcome": a.outcome,
        "http_status": a.http_status,
        "error": delivery_error(a.error.clone(), audience),
        "next_attempt_at": a.next_attempt_at.map(Timestamp::to_rfc3339),
    })
}

/// A channel's health: `unknown` before its first attempt, else `ok` or `failing` (since
/// when), with its last attempt.
pub fn health_json(h: Option<&ChannelHealth>, audience: Audience) -> Value {
    match h {
        None => json!({ "state": "unknown", "last": null, "last_delivered_at": null, "failing_since": null }),
        Some(h) => json!({
            "state": if h.is_failing() { "failing" } else { "ok" },
            "last": attempt_json(&h.last, audience),
            "last_delivered_at": h.last_delivered_at.map(Timestamp::to_rfc3339),
            "failing_since": h.failing_since.map(Timestamp::to_rfc3339),
        }),
    }
}

/// The query of a page of the log: filters parsed, `cursor` an attempt id.
pub fn parse_query(
    channel_id: Option<&str>,
    incident_id: Option<&str>,
    cursor: Option<&str>,
    limit: usize,
) -> ApiResult<AttemptQuery> {
    let channel =
        channel_id.map(ChannelId::parse).transpose().map_err(|e| ApiError::invalid("channel_id", e.to_string()))?;
    let incident =
        incident_id.map(IncidentId::parse).transpose().map_err(|e| ApiError::invalid("incident_id", e.to_string()))?;
    let before = cursor
        .map(|c| c.parse::<i64>().ok().filter(|n| *n > 0))
        .map(|c| c.ok_or_else(|| ApiError::invalid("cursor", "not a cursor this API gave (use next_cursor)")))
        .transpose()?;
    Ok(AttemptQuery { channel, incident, before, limit })
}

/// `GET /api/v1/deliveries?channel_id=&incident_id=&cursor=&limit=`.
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    QueryParams(q): QueryParams<LogQuery>,
) -> ApiResult<impl IntoResponse> {
    let limit = q.limit.unwrap_or(PAGE).clamp(1, MAX_PAGE);
    let query = parse_query(q.channel_id.as_deref(), q.incident_id.as_deref(), q.cursor.as_deref(), limit)?;
    let rows = s.store.delivery_attempts(caller.tenant(), &query).await?;
    let next = (rows.len() == limit).then(|| rows.last().map(|a| a.id.to_string())).flatten();
    let data: Vec<Value> = rows.iter().map(|a| attempt_json(a, caller.audience())).collect();
    Ok(Json(json!({ "data": data, "next_cursor": next })))
}

/// What was sent about incident `id`: every attempt, oldest first (who was notified, when,
/// with what answer), and the notices storm control folded into a storm notice instead.
pub async fn of_incident(
    s: &AppState,
    caller: &Caller,
    id: &IncidentId,
) -> ApiResult<(Vec<DeliveryAttempt>, Vec<GroupedNotice>)> {
    let q = AttemptQuery { incident: Some(id.clone()), limit: 1000, ..AttemptQuery::default() };
    let mut rows = s.store.delivery_attempts(caller.tenant(), &q).await?;
    rows.reverse();
    Ok((rows, s.store.grouped_notices(caller.tenant(), id).await?))
}

/// A notice that went out inside a storm notice.
pub fn grouped_json(g: &GroupedNotice) -> Value {
    json!({ "channel": { "id": g.channel_id, "name": g.channel_name }, "event": g.event, "at": g.at.to_rfc3339() })
}

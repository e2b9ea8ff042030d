//! `/api/v1/channels`: alert channels (signed webhooks), their delivery log and "send test".
//!
//! The signing secret is shown once, in the answer to the create call, and never again.

use super::error::{ApiError, ApiResult};
use super::input::{parse_field, JsonBody};
use super::{path_id, AppState, Caller};
use crate::alerts::Attempt;
use crate::clock;
use crate::config::Secret;
use crate::store::{ChannelKind, ChannelRecord};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use netpulse_core::alert::{AlertEvent, AlertKind};
use netpulse_core::ChannelId;
use serde::Deserialize;
use serde_json::{json, Map, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelIn {
    name: String,
    kind: ChannelKind,
    url: String,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default = "enabled")]
    enabled: bool,
}

fn enabled() -> bool {
    true
}

fn validate(c: &ChannelIn) -> ApiResult<()> {
    if c.name.trim().is_empty() || c.name.len() > 200 {
        return Err(ApiError::invalid("name", "must be 1 to 200 characters"));
    }
    netpulse_core::monitor::HttpUrl::parse(&c.url).map_err(|m| ApiError::invalid("url", m))?;
    if matches!(&c.secret, Some(s) if s.len() < 16) {
        return Err(ApiError::invalid("secret", "must be at least 16 characters, or omit it to have one generated"));
    }
    Ok(())
}

fn channel_json(c: &ChannelRecord) -> Value {
    json!({ "id": c.id, "name": c.name, "kind": c.kind, "url": c.url, "enabled": c.enabled, "created_at": c.created_at.to_rfc3339() })
}

pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    caller.require_write()?;
    let input: ChannelIn = parse_field("", Value::Object(body))?;
    validate(&input)?;
    let secret = input.secret.clone().unwrap_or_else(|| clock::secret_token("whsec_"));
    let rec = ChannelRecord {
        id: clock::fresh(),
        tenant_id: caller.tenant().clone(),
        name: input.name.trim().to_owned(),
        kind: input.kind,
        url: input.url,
        secret: Secret::new(secret.clone()),
        settings: serde_json::json!({}),
        enabled: input.enabled,
        created_at: clock::now(),
    };
    s.store.create_channel(caller.tenant(), &rec).await?;
    let mut body = channel_json(&rec);
    body["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    let rows = s.store.list_channels(caller.tenant()).await?;
    Ok(Json(json!({ "data": rows.iter().map(channel_json).collect::<Vec<_>>() })))
}

async fn load(s: &AppState, caller: &Caller, id: &str) -> ApiResult<ChannelRecord> {
    let id = path_id(id, ChannelId::parse, "channel")?;
    s.store.get_channel(caller.tenant(), &id).await?.ok_or_else(|| ApiError::not_found("channel"))
}

pub async fn get(State(s): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(channel_json(&load(&s, &caller, &id).await?)))
}

/// `PATCH`: merge over name/url/enabled (and a new secret, if given).
pub async fn update(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody,
) -> ApiResult<impl IntoResponse> {
    caller.require_write()?;
    let mut rec = load(&s, &caller, &id).await?;
    let mut merged = Map::new();
    merged.insert("name".into(), json!(rec.name));
    merged.insert("kind".into(), json!(rec.kind));
    merged.insert("url".into(), json!(rec.url));
    merged.insert("enabled".into(), json!(rec.enabled));
    merged.extend(patch);
    let input: ChannelIn = parse_field("", Value::Object(merged))?;
    validate(&input)?;
    rec.name = input.name.trim().to_owned();
    rec.url = input.url;
    rec.enabled = input.enabled;
    if let Some(secret) = input.secret {
        rec.secret = Secret::new(secret);
    }
    if !s.store.update_channel(caller.tenant(), &rec).await? {
        return Err(ApiError::not_found("channel"));
    }
    Ok(Json(channel_json(&rec)))
}

pub async fn delete(State(s): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    caller.require_write()?;
    let id = path_id(&id, ChannelId::parse, "channel")?;
    if !s.store.delete_channel(caller.tenant(), &id).await? {
        return Err(ApiError::not_found("channel"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Send a test notification now and report what the receiver said.
pub async fn test(State(s): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    caller.require_write()?;
    let ch = load(&s, &caller, &id).await?;
    let now = clock::now();
    let event = AlertEvent {
        kind: AlertKind::Test,
        dedup_key: format!("test:{}", clock::secret_token("")),
        tenant_id: caller.tenant().clone(),
        incident_id: None,
        monitor_id: None,
        monitor_name: "NetPulse test notification".into(),
        target: format!("channel {}", ch.name),
        at: now,
        since: None,
        error: None,
        regions: vec![],
    };
    let body = match s.sender.send(&ch, &event).await {
        Attempt::Delivered { status } => json!({ "delivered": true, "status": status }),
        Attempt::Transient { error, .. } | Attempt::Permanent { error } => {
            json!({ "delivered": false, "error": error })
        }
    };
    Ok(Json(body))
}

pub async fn deliveries(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let ch = load(&s, &caller, &id).await?;
    let rows = s.store.list_deliveries(caller.tenant(), &ch.id, 100).await?;
    Ok(Json(json!({ "data": rows })))
}

//! `/api/v1/channels`: alert channels with their delivery health, their outbox log and
//! "send test" (recorded in the delivery log like every attempt).
//!
//! Kinds and what `url` / `secret` mean for each:
//! - `webhook`: `url` http(s); `secret` signs (≥ 16 characters, generated when omitted).
//! - `slack`, `discord`, `teams`: `url` is the incoming-webhook URL; no secret.
//! - `pagerduty`: `secret` is the Events API v2 routing key (required, ≥ 8 characters);
//!   `url` defaults to PagerDuty's events endpoint.
//! - `email`: `url` lists 1 to 20 comma-separated recipients; needs `[smtp]` configured.
//! - `ntfy`, `telegram`, `gotify`, `pushover`, `opsgenie`, `matrix`, `google_chat`,
//!   `templated_webhook`: checked in [`super::channel_kinds`], with their extra fields.
//!
//! Every kind takes `notify_degraded` (default `false`): whether it also gets the
//! `degraded`/`degraded_ended` notices of slow-but-up monitors; and `managed_by` (`"file"`
//! or `null`, as on monitors: kept by a monitors-as-code file); both stored in `settings`.
//!
//! Chat and PagerDuty `url`s must be `https://` while `ssrf.block_private` is on (untrusted
//! tenants); `http://` is accepted otherwise (a LAN relay, a Mattermost server, tests). The SSRF guard applies at
//! send time either way, and while it blocks, a `url` whose host is a refused IP literal is
//! refused already here. Secrets are never shown after creation (a webhook's signing secret
//! is shown once, in the create answer), and chat webhook URLs — bearer credentials
//! themselves — are shown masked.
//!
//! A channel's `GET`, `POST` and `PATCH` answers carry an `ETag` (its version); a `PATCH`
//! with `If-Match` changes it only while it is still that version (else `412`; see
//! [`crate::base::precondition`]).

use super::channel_kinds;
use super::deliveries;
use crate::base::audience::Audience;
use crate::base::input::path_id;
use crate::base::input::PathParam;
use crate::base::input::{parse_field, JsonBody};
use crate::base::outbound::refuse_blocked_host;
use crate::base::precondition::{self, etag_header, IfMatch};
use crate::base::{ApiError, ApiResult};
use crate::base::{AppState, Caller};
use crate::config::WebConfig;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use netpulse_core::alert::{AlertEvent, AlertKind};
use netpulse_core::monitor::ManagedBy;
use netpulse_core::ChannelId;
use netpulse_pipeline::alerts::{email, pagerduty, Attempt, NO_SMTP};
use netpulse_store::clock;
use netpulse_store::plan::notify_degraded;
use netpulse_store::Secret;
use netpulse_store::{ChannelHealth, ChannelKind, ChannelRecord, Delivery, DeliveryAttempt, DeliveryResult};
use serde::Deserialize;
use serde_json::{json, Map, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChannelIn {
    name: String,
    pub(crate) kind: ChannelKind,
    #[serde(default)]
    pub(crate) url: Option<String>,
    #[serde(default)]
    pub(crate) secret: Option<String>,
    #[serde(default = "enabled")]
    enabled: bool,
    /// Also receive `degraded` / `degraded_ended` notices (slow, not down). Off by default.
    #[serde(default)]
    notify_degraded: bool,
    /// `file`: kept by a monitors-as-code file (`netpulse apply`).
    #[serde(default)]
    managed_by: Option<ManagedBy>,
    // The kind-specific settings ([`channel_kinds::FIELDS`]), stored in `settings`.
    /// ntfy: the topic.
    #[serde(default)]
    pub(crate) topic: Option<String>,
    /// Templated webhook: the body, with `{{field}}` placeholders.
    #[serde(default)]
    pub(crate) body_template: Option<String>,
    /// Templated webhook: the body's media type (default `application/json`).
    #[serde(default)]
    pub(crate) content_type: Option<String>,
    /// Templated webhook: extra request headers, name → value (values never shown).
    #[serde(default)]
    pub(crate) headers: Option<Map<String, Value>>,
    /// Templated webhook: `POST` (default), `PUT` or `PATCH`.
    #[serde(default)]
    pub(crate) method: Option<String>,
    /// Matrix: the room id (`!…`).
    #[serde(default)]
    pub(crate) room_id: Option<String>,
    /// Opsgenie: `us` (default) or `eu`, which picks the API base.
    #[serde(default)]
    pub(crate) region: Option<String>,
    /// Pushover: the user or group key.
    #[serde(default)]
    pub(crate) user_key: Option<String>,
    /// Telegram: the chat (numeric id or @channelusername).
    #[serde(default)]
    pub(crate) chat_id: Option<String>,
}

fn enabled() -> bool {
    true
}

/// What to store for a channel: where it sends, its secret and its kind-specific settings.
pub(crate) struct Validated {
    pub(crate) url: String,
    pub(crate) secret: String,
    pub(crate) settings: Map<String, Value>,
}

/// The `url`, `secret` and settings to store for `c`, checked for its kind. `stored_secret`
/// is the channel's current secret on update (kept when no new one is given).
fn validate(c: &ChannelIn, config: &WebConfig, stored_secret: Option<&str>) -> ApiResult<Validated> {
    if c.name.trim().is_empty() || c.name.len() > 200 {
        return Err(ApiError::invalid("name", "must be 1 to 200 characters"));
    }
    if let Some(v) = channel_kinds::validate(c, config, stored_secret)? {
        return Ok(v);
    }
    let (url, secret) = validate_url_secret(c, config, stored_secret)?;
    Ok(Validated { url, secret, settings: Map::new() })
}

/// The `url` and `secret` of the first six kinds (webhook, chat, PagerDuty, e-mail).
fn validate_url_secret(c: &ChannelIn, config: &WebConfig, stored_secret: Option<&str>) -> ApiResult<(String, String)> {
    let kind = c.kind.as_str();
    let given_secret = c.secret.as_deref();
    let url = c.url.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let required_url = |what: &str| url.ok_or_else(|| ApiError::invalid("url", format!("is required: {what}")));
    let no_secret = || match given_secret {
        Some(_) => Err(ApiError::invalid("secret", format!("is not used by {kind} channels; omit it"))),
        None => Ok(String::new()),
    };
    match c.kind {
        ChannelKind::Webhook => {
            let url = required_url("the URL to POST notifications to")?;
            let url = netpulse_core::monitor::HttpUrl::parse(url).map_err(|m| ApiError::invalid("url", m))?;
            refuse_blocked_host("url", url.as_url().host_str().unwrap_or(""), &config.ssrf)?;
            if matches!(given_secret, Some(s) if s.len() < 16) {
                let msg = "must be at least 16 characters, or omit it to have one generated";
                return Err(ApiError::invalid("secret", msg));
            }
            let secret = given_secret.or(stored_secret).map_or_else(|| clock::secret_token("whsec_"), str::to_owned);
            Ok((url.as_url().to_string(), secret))
        }
        ChannelKind::Slack | ChannelKind::Discord | ChannelKind::Teams => {
            Ok((web_url(required_url(&format!("the {kind} incoming-webhook URL"))?, config)?, no_secret()?))
        }
        ChannelKind::Pagerduty => {
            let url = web_url(url.unwrap_or(pagerduty::EVENTS_URL), config)?;
            let key = given_secret.or(stored_secret).filter(|k| !k.is_empty()).ok_or_else(|| {
                ApiError::invalid("secret", "is required: the routing key of a PagerDuty Events API v2 integration")
            })?;
            if key.len() < 8 || key.len() > 128 || !key.chars().all(|c| c.is_ascii_graphic()) {
                let msg = "must be the routing key: 8 to 128 printable characters without spaces (usually 32)";
                return Err(ApiError::invalid("secret", msg));
            }
            Ok((url, key.to_owned()))
        }
        ChannelKind::Email => {
            if !config.smtp.is_configured() {
                return Err(ApiError::invalid("kind", NO_SMTP));
            }
            let list = required_url("the recipients, comma-separated e-mail addresses")?;
            let to = email::parse_recipients(list).map_err(|m| ApiError::invalid("url", m))?;
            Ok((to.join(", "), no_secret()?))
        }
        other => Err(ApiError::invalid("kind", format!("{} channels are checked elsewhere", other.as_str()))),
    }
}

/// An http(s) URL; `https://` only while `ssrf.block_private` is on.
pub(crate) fn web_url(url: &str, config: &WebConfig) -> ApiResult<String> {
    let parsed = netpulse_core::monitor::HttpUrl::parse(url).map_err(|m| ApiError::invalid("url", m))?;
    if config.ssrf.block_private && parsed.as_url().scheme() != "https" {
        return Err(ApiError::invalid("url", "must be an https:// URL"));
    }
    refuse_blocked_host("url", parsed.as_url().host_str().unwrap_or(""), &config.ssrf)?;
    Ok(parsed.as_url().to_string())
}

/// Store who keeps the channel (`settings.managed_by`; none: the key is gone).
fn mark(settings: &mut Map<String, Value>, by: Option<ManagedBy>) {
    match by {
        Some(by) => settings.insert("managed_by".into(), json!(by)),
        None => settings.remove("managed_by"),
    };
}

/// Who keeps the channel besides people, as the API shows it (`"file"` or `null`).
pub(crate) fn managed_by(settings: &Value) -> Value {
    settings.get("managed_by").cloned().unwrap_or(Value::Null)
}

/// The URL as shown: chat webhook URLs carry their credential in the path (Google Chat's in
/// the query), so only the scheme, host and the path's last four characters are shown.
fn shown_url(c: &ChannelRecord) -> String {
    if !matches!(c.kind, ChannelKind::Slack | ChannelKind::Discord | ChannelKind::Teams | ChannelKind::GoogleChat) {
        return c.url.clone();
    }
    let Ok(u) = url::Url::parse(&c.url) else {
        return "…".into();
    };
    let path = u.path();
    let tail = if path.len() > 16 { path.get(path.len() - 4..).unwrap_or("") } else { "" };
    format!("{}://{}/…{tail}", u.scheme(), u.host_str().unwrap_or(""))
}

/// Where a channel sends, as `a` may see it (the API's `url` field; the dashboard shows the same).
pub(crate) fn visible_url(c: &ChannelRecord, a: Audience) -> String {
    channel_json(c, a)["url"].as_str().unwrap_or(crate::base::audience::HIDDEN).to_owned()
}

/// A channel in its API shape, as `a` may see it.
fn channel_json(c: &ChannelRecord, a: Audience) -> Value {
    let mut v = json!({
        "id": c.id,
        "name": c.name,
        "kind": c.kind,
        "url": shown_url(c),
        "has_secret": !c.secret.expose().is_empty(),
        "enabled": c.enabled,
        "notify_degraded": notify_degraded(&c.settings),
        "managed_by": managed_by(&c.settings),
        "created_at": c.created_at.to_rfc3339(),
    });
    if let Some(m) = v.as_object_mut() {
        channel_kinds::show(c, m, a);
        crate::base::audience::channel(m, a);
    }
    v
}

pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let (rec, secret) = create_from(&s, &caller, body).await?;
    let mut body = channel_json(&rec, caller.audience());
    if rec.kind == ChannelKind::Webhook {
        body["secret"] = json!(secret); // shown this once: receivers need it to verify signatures
    }
    Ok((StatusCode::CREATED, etag_header(rec.updated_at), Json(body)))
}

/// Create a channel from the API's input shape (the API and the dashboard's form); returns
/// it and its secret, which the caller shows once (webhooks) or never.
pub(crate) async fn create_from(
    s: &AppState,
    caller: &Caller,
    body: Map<String, Value>,
) -> ApiResult<(ChannelRecord, String)> {
    caller.require_admin()?;
    let input: ChannelIn = parse_field("", Value::Object(body.clone()))?;
    channel_kinds::refuse_unused(input.kind, &body)?;
    let Validated { url, secret, mut settings } = validate(&input, &s.config, None)?;
    settings.insert("notify_degraded".into(), json!(input.notify_degraded));
    mark(&mut settings, input.managed_by);
    let now = clock::now();
    let rec = ChannelRecord {
        id: clock::fresh(),
        tenant_id: caller.tenant().clone(),
        name: input.name.trim().to_owned(),
        kind: input.kind,
        url,
        secret: Secret::new(secret.clone()),
        settings: Value::Object(settings),
        enabled: input.enabled,
        created_at: now,
        updated_at: now,
    };
    s.store.create_channel(caller.tenant(), &rec).await?;
    Ok((rec, secret))
}

/// Channels with their delivery health (`health`: see [`deliveries::health_json`]).
pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    let rows = s.store.list_channels(caller.tenant()).await?;
    let health = s.store.channel_health(caller.tenant()).await?;
    let data: Vec<Value> = rows.iter().map(|c| with_health(c, &health, caller.audience())).collect();
    Ok(Json(json!({ "data": data })))
}

fn with_health(c: &ChannelRecord, health: &[ChannelHealth], a: Audience) -> Value {
    let mut v = channel_json(c, a);
    v["health"] = deliveries::health_json(health.iter().find(|h| h.channel_id == c.id), a);
    v
}

async fn load(s: &AppState, caller: &Caller, id: &str) -> ApiResult<ChannelRecord> {
    let id = path_id(id, ChannelId::parse, "channel")?;
    s.store.get_channel(caller.tenant(), &id).await?.ok_or_else(|| ApiError::not_found("channel"))
}

pub async fn get(State(s): State<AppState>, caller: Caller, PathParam(id): PathParam) -> ApiResult<impl IntoResponse> {
    let c = load(&s, &caller, &id).await?;
    let health = s.store.channel_health(caller.tenant()).await?;
    Ok((etag_header(c.updated_at), Json(with_health(&c, &health, caller.audience()))))
}

/// `PATCH`: merge over name/url/enabled (and a new secret, if given); the kind is fixed.
/// With `If-Match`, written only while the channel is still the version named (else `412`).
pub async fn update(
    State(s): State<AppState>,
    caller: Caller,
    if_match: IfMatch,
    PathParam(id): PathParam,
    JsonBody(patch): JsonBody,
) -> ApiResult<impl IntoResponse> {
    caller.require_admin()?;
    let mut rec = load(&s, &caller, &id).await?;
    let expected = if_match.expected(rec.updated_at);
    let mut merged = Map::new();
    merged.insert("name".into(), json!(rec.name));
    merged.insert("kind".into(), json!(rec.kind));
    merged.insert("url".into(), json!(rec.url));
    merged.insert("enabled".into(), json!(rec.enabled));
    merged.insert("notify_degraded".into(), json!(notify_degraded(&rec.settings)));
    merged.insert("managed_by".into(), managed_by(&rec.settings));
    channel_kinds::stored_into(&rec, &mut merged);
    merged.extend(patch);
    let input: ChannelIn = parse_field("", Value::Object(merged.clone()))?;
    if input.kind != rec.kind {
        return Err(ApiError::invalid("kind", "cannot be changed; create a new channel instead"));
    }
    channel_kinds::refuse_unused(input.kind, &merged)?;
    let Validated { url, secret, settings } = validate(&input, &s.config, Some(rec.secret.expose()))?;
    let mut kept = rec.settings.as_object().cloned().unwrap_or_default();
    kept.retain(|k, _| !channel_kinds::FIELDS.iter().any(|(f, _)| f == k));
    kept.extend(settings);
    kept.insert("notify_degraded".into(), json!(input.notify_degraded));
    mark(&mut kept, input.managed_by);
    rec.name = input.name.trim().to_owned();
    rec.url = url;
    rec.enabled = input.enabled;
    rec.settings = Value::Object(kept);
    rec.secret = Secret::new(secret);
    rec.updated_at = clock::now();
    let written = s.store.update_channel_if(caller.tenant(), &rec, expected).await?;
    precondition::judge(written, "channel", async { Ok(load(&s, &caller, &id).await?.updated_at) }).await?;
    let rec = load(&s, &caller, &id).await?;
    Ok((etag_header(rec.updated_at), Json(channel_json(&rec, caller.audience()))))
}

pub async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> ApiResult<impl IntoResponse> {
    caller.require_admin()?;
    let id = path_id(&id, ChannelId::parse, "channel")?;
    if !s.store.delete_channel(caller.tenant(), &id).await? {
        return Err(ApiError::not_found("channel"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Send a test notification now, through the channel's own kind, and report the answer.
pub async fn test(State(s): State<AppState>, caller: Caller, PathParam(id): PathParam) -> ApiResult<impl IntoResponse> {
    Ok(Json(send_test(&s, &caller, &id).await?))
}

/// Send a test notification through channel `id`: `{"delivered", "status" | "error"}`.
pub(crate) async fn send_test(s: &AppState, caller: &Caller, id: &str) -> ApiResult<Value> {
    caller.require_admin()?;
    let ch = load(s, caller, id).await?;
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
        affected_regions: vec![],
        storm: vec![],
        visitors: None,
    };
    let attempt = s.sender.send(&ch, &event).await;
    let (status, result) = match &attempt {
        Attempt::Delivered { .. } => (attempt.status(), DeliveryResult::Sent),
        Attempt::Transient { error, .. } | Attempt::Permanent { error, .. } => {
            (attempt.status(), DeliveryResult::Failed { error: error.clone() })
        }
    };
    let delivery = Delivery { at: clock::now(), status, result };
    s.store.record_test_delivery(caller.tenant(), &DeliveryAttempt::of(&ch, &event, 1, &delivery)).await?;
    let body = match attempt {
        Attempt::Delivered { status } => json!({ "delivered": true, "status": status }),
        Attempt::Transient { error, .. } | Attempt::Permanent { error, .. } => {
            json!({ "delivered": false, "error": error })
        }
    };
    Ok(body)
}

pub async fn deliveries(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> ApiResult<impl IntoResponse> {
    let ch = load(&s, &caller, &id).await?;
    let mut rows = s.store.list_deliveries(caller.tenant(), &ch.id, 100).await?;
    for r in &mut rows {
        r.last_error = crate::base::audience::delivery_error(r.last_error.take(), caller.audience());
    }
    Ok(Json(json!({ "data": rows })))
}

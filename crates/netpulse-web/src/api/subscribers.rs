//! A status page's subscribers, for its organisation: `GET|POST
//! /api/v1/status-pages/{id}/subscribers` and `DELETE /api/v1/status-pages/{id}/subscribers/{sub}`.
//!
//! E-mail subscribers sign up themselves on the public page (double opt-in:
//! `dashboard/status_subscribe.rs`); webhook subscribers are added here with a `url`, checked
//! like a webhook channel's (`https://` while `ssrf.block_private` is on, no refused IP
//! literal). Each webhook subscriber gets its own signing secret, shown once in the create
//! answer; deliveries are signed like the webhook channel's (see docs/status-pages.md).
//! Listing shows addresses, so it needs the right to change the page (editors and owners),
//! like adding and removing.

use super::channels::web_url;
use super::status_pages::find;
use crate::base::input::{parse_field, JsonBody};
use crate::base::{ApiError, ApiResult};
use crate::base::{AppState, Caller};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use netpulse_store::clock;
use netpulse_store::{Secret, Subscriber, SubscriberKind};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookIn {
    url: String,
}

fn subscriber_json(sub: &Subscriber) -> Value {
    json!({
        "id": sub.id,
        "kind": sub.kind.as_str(),
        "address": sub.address,
        "confirmed": sub.confirmed_at.is_some(),
        "created_at": sub.created_at.to_rfc3339(),
        "confirmed_at": sub.confirmed_at.map(|t| t.to_rfc3339()),
    })
}

/// `GET /api/v1/status-pages/{id}/subscribers`: newest first, pending sign-ups included.
pub async fn list(State(s): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    caller.require_write()?;
    let page = find(&s, &caller, &id).await?;
    let subs = s.store.list_subscribers(caller.tenant(), &page.id).await?;
    Ok(Json(json!({ "data": subs.iter().map(subscriber_json).collect::<Vec<_>>() })))
}

/// `POST /api/v1/status-pages/{id}/subscribers` with `{"url": …}`: 201, the webhook subscriber
/// and its signing `secret` (shown this once).
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    caller.require_write()?;
    let page = find(&s, &caller, &id).await?;
    let input: WebhookIn = parse_field("", Value::Object(body))?;
    let url = web_url(&input.url, &s.config)?;
    if s.store.list_subscribers(caller.tenant(), &page.id).await?.iter().any(|sub| sub.address == url) {
        let taken = "url: this page has a webhook subscriber at this URL already";
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict", taken));
    }
    let now = clock::now();
    let sub = Subscriber {
        id: format!("sub_{:032x}", clock::random_u128()),
        page_id: page.id,
        kind: SubscriberKind::Webhook,
        address: url,
        secret: Secret::new(clock::secret_token("whsec_")),
        created_at: now,
        confirmed_at: Some(now),
    };
    if !s.store.add_subscriber(caller.tenant(), &sub).await? {
        return Err(ApiError::not_found("status page"));
    }
    let mut v = subscriber_json(&sub);
    v["secret"] = json!(sub.secret.expose());
    Ok((StatusCode::CREATED, Json(v)))
}

/// `DELETE /api/v1/status-pages/{id}/subscribers/{sub}`: 204; it gets nothing more.
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, sub)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    caller.require_write()?;
    let page = find(&s, &caller, &id).await?;
    if !s.store.delete_subscriber(caller.tenant(), &page.id, &sub).await? {
        return Err(ApiError::not_found("subscriber"));
    }
    Ok(StatusCode::NO_CONTENT)
}

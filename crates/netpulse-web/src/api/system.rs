//! Health, readiness, metrics, the heartbeat (push) endpoint and the OpenAPI document.

use crate::base::input::PathParam;
use crate::base::AppState;
use crate::base::{ApiError, ApiResult};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use netpulse_core::wire::ResultEnvelope;
use netpulse_core::Outcome;
use netpulse_pipeline::scheduler::heartbeat_result;
use netpulse_store::clock;
use serde_json::json;

/// The API's OpenAPI 3.1 document, written by hand; tests check it lists exactly the
/// router's API routes and that its `info.version` is the crate's version.
pub const OPENAPI: &str = include_str!("openapi.json");

/// `GET /api/v1/openapi.json`: no credentials needed, it documents shapes, never data.
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers.
pub async fn readyz(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    s.store.ping().await.map_err(|e| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", format!("database not reachable: {e}"))
    })?;
    Ok(Json(json!({ "status": "ready", "queue_depth": s.results.depth() })))
}

pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render())
}

/// `GET|POST /api/v1/heartbeat/{token}`: the monitored job says it is alive.
pub async fn heartbeat(State(s): State<AppState>, PathParam(token): PathParam) -> ApiResult<impl IntoResponse> {
    let found = s.store.heartbeat_monitor(&token).await?;
    let Some((tenant, monitor, paused)) = found else {
        return Err(ApiError::not_found("heartbeat monitor"));
    };
    if paused {
        return Ok(Json(json!({ "status": "paused", "message": "monitor is paused; beat ignored" })));
    }
    let Some(view) = s.store.get_monitor(&tenant, &monitor).await? else {
        return Err(ApiError::not_found("heartbeat monitor"));
    };
    let result = heartbeat_result(&view.record, &s.config.monitors.local_region, clock::now(), Outcome::Up, None);
    s.results.publish(ResultEnvelope::new(result, clock::now())).await.map_err(|e| match e {
        netpulse_pipeline::queue::QueueError::Closed => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the engine is shutting down; retry")
        }
        e => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "queue_unavailable", format!("{e}; retry")),
    })?;
    Ok(Json(json!({ "status": "ok" })))
}

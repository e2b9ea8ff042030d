//! Maintenance windows: `POST|GET /api/v1/monitors/{id}/maintenance`, `GET|DELETE
//! /api/v1/maintenance/{id}`. During a window checks keep running and are recorded; alerts
//! are muted; a monitor still down when the window ends pages then, once. An `announce`d
//! window shows on the status pages that carry its monitor, ahead of time and while it runs.
//!
//! A window's `POST` and `GET` answers carry an `ETag` (its version, which its start, its end
//! and its move to the next occurrence change too); a `DELETE` with `If-Match` cancels it
//! only while it is still that version (else `412`; see [`crate::base::precondition`]).

use super::monitors::parse_time;
use crate::base::input::PathParam;
use crate::base::input::{parse_field, JsonBody};
use crate::base::precondition::{self, etag_header, IfMatch};
use crate::base::{ApiError, ApiResult};
use crate::base::{AppState, Caller};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use netpulse_core::MonitorId;
use netpulse_store::clock;
use netpulse_store::MaintenanceWindow;
use serde::Deserialize;
use serde_json::{json, Map, Value};

const WEEK_S: i64 = 7 * 86_400;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowIn {
    starts_at: Option<String>,
    ends_at: Option<String>,
    duration_s: Option<i64>,
    #[serde(default)]
    reason: String,
    repeat_every_s: Option<i64>,
    #[serde(default)]
    announce: bool,
}

fn window_json(w: &MaintenanceWindow) -> Value {
    json!({
        "id": w.id, "monitor_id": w.monitor_id, "starts_at": w.starts_at.to_rfc3339(), "ends_at": w.ends_at.to_rfc3339(),
        "repeat_every_s": w.repeat_every_s, "reason": w.reason, "phase": w.phase, "announce": w.announce,
    })
}

fn parse_window(input: WindowIn, monitor: MonitorId) -> ApiResult<MaintenanceWindow> {
    let now = clock::now();
    let starts_at = input.starts_at.as_deref().map(|s| parse_time("starts_at", s)).transpose()?.unwrap_or(now);
    let ends_at = match (input.ends_at.as_deref(), input.duration_s) {
        (Some(e), None) => parse_time("ends_at", e)?,
        (None, Some(d)) if (60..=WEEK_S).contains(&d) => starts_at.plus_ms(d * 1000),
        (None, Some(_)) => return Err(ApiError::invalid("duration_s", "must be between 60 and 604800 (one week)")),
        _ => return Err(ApiError::invalid("ends_at", "give either ends_at or duration_s")),
    };
    let length_s = ends_at.since(starts_at) / 1000;
    if !(60..=WEEK_S).contains(&length_s) {
        return Err(ApiError::invalid("ends_at", "a window lasts between one minute and one week, after starts_at"));
    }
    if ends_at <= now && input.repeat_every_s.is_none() {
        return Err(ApiError::invalid("ends_at", "is in the past"));
    }
    if let Some(r) = input.repeat_every_s {
        if r < length_s.max(3600) {
            return Err(ApiError::invalid(
                "repeat_every_s",
                "must be at least one hour and at least the window's length",
            ));
        }
    }
    Ok(MaintenanceWindow {
        id: format!("mw_{}", netpulse_core::ids::encode_base32(clock::random_u128())),
        monitor_id: monitor,
        starts_at,
        ends_at,
        repeat_every_s: input.repeat_every_s,
        reason: input.reason.chars().take(500).collect(),
        phase: "scheduled".into(),
        announce: input.announce,
        updated_at: now,
    })
}

/// The monitor's id, once the caller's tenant is known to own it.
async fn monitor(s: &AppState, caller: &Caller, id: &str) -> ApiResult<MonitorId> {
    Ok(super::monitors::load(s, caller, id).await?.record.id)
}

pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let w = create_from(&s, &caller, &id, body).await?;
    Ok((StatusCode::CREATED, etag_header(w.updated_at), Json(window_json(&w))))
}

/// Schedule a window on monitor `id` from the API's input shape (the API and the dashboard).
pub(crate) async fn create_from(
    s: &AppState,
    caller: &Caller,
    id: &str,
    body: Map<String, Value>,
) -> ApiResult<MaintenanceWindow> {
    caller.require_write()?;
    let m = monitor(s, caller, id).await?;
    let w = parse_window(parse_field("", Value::Object(body))?, m)?;
    s.store.create_maintenance(caller.tenant(), &w).await?;
    s.store.advance_maintenance(clock::now()).await?; // a window starting now starts now
    s.maintenance_changed.notify_one(); // the clock wakes for its start
    if w.announce {
        s.status_cache.clear();
    }
    let current = s.store.list_maintenance(caller.tenant(), &w.monitor_id).await?;
    Ok(current.into_iter().find(|x| x.id == w.id).unwrap_or(w))
}

pub async fn list(State(s): State<AppState>, caller: Caller, PathParam(id): PathParam) -> ApiResult<impl IntoResponse> {
    let m = monitor(&s, &caller, &id).await?;
    let rows = s.store.list_maintenance(caller.tenant(), &m).await?;
    Ok(Json(json!({ "data": rows.iter().map(window_json).collect::<Vec<_>>() })))
}

/// Window `id` of the caller's tenant.
async fn load(s: &AppState, caller: &Caller, id: &str) -> ApiResult<MaintenanceWindow> {
    let found = if id.starts_with("mw_") { s.store.get_maintenance(caller.tenant(), id).await? } else { None };
    found.ok_or_else(|| ApiError::not_found("maintenance window"))
}

pub async fn get(State(s): State<AppState>, caller: Caller, PathParam(id): PathParam) -> ApiResult<impl IntoResponse> {
    let w = load(&s, &caller, &id).await?;
    Ok((etag_header(w.updated_at), Json(window_json(&w))))
}

pub async fn cancel(
    State(s): State<AppState>,
    caller: Caller,
    if_match: IfMatch,
    PathParam(id): PathParam,
) -> ApiResult<impl IntoResponse> {
    cancel_window(&s, &caller, &id, &if_match).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Cancel window `id` of the caller's tenant; with `If-Match`, only while it is the version
/// named (else `412`, nothing cancelled).
pub(crate) async fn cancel_window(s: &AppState, caller: &Caller, id: &str, if_match: &IfMatch) -> ApiResult<()> {
    caller.require_write()?;
    let w = load(s, caller, id).await?;
    let expected = if_match.expected(w.updated_at);
    let done = s.store.cancel_maintenance_if(caller.tenant(), id, clock::now(), expected).await?;
    precondition::judge(done, "maintenance window", async { Ok(load(s, caller, id).await?.updated_at) }).await?;
    s.status_cache.clear();
    Ok(())
}

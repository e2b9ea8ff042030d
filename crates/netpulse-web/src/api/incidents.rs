//! `/api/v1/incidents`: list, get (with its timeline and its notifications: every delivery
//! attempt about it, oldest first, and the notices that went out inside a storm notice),
//! acknowledge, resolve.

use crate::base::input::path_id;
use crate::base::input::{PathParam, QueryParams};
use crate::base::{ApiError, ApiResult};
use crate::base::{AppState, Caller};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use netpulse_core::{IncidentId, MonitorId, Timestamp};
use netpulse_store::clock;
use netpulse_store::{IncidentCommand, IncidentFilter, IncidentRecord};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    monitor_id: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
}

pub fn incident_json(i: &IncidentRecord) -> Value {
    json!({
        "id": i.id, "monitor_id": i.monitor_id, "monitor_name": i.monitor_name,
        "status": i.status, "cause": i.cause, "flapping": i.flapping,
        "opened_at": i.opened_at.to_rfc3339(),
        "acknowledged_at": i.acknowledged_at.map(Timestamp::to_rfc3339), "acknowledged_by": i.acknowledged_by,
        "resolved_at": i.resolved_at.map(Timestamp::to_rfc3339), "resolved_by": i.resolved_by,
    })
}

pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<impl IntoResponse> {
    let monitor = q
        .monitor_id
        .as_deref()
        .map(MonitorId::parse)
        .transpose()
        .map_err(|e| ApiError::invalid("monitor_id", e.to_string()))?;
    let open_only = match q.status.as_deref() {
        None | Some("all") => false,
        Some("open") => true,
        Some(other) => return Err(ApiError::invalid("status", format!("`{other}` is not one of open, all"))),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = s.store.list_incidents(caller.tenant(), &IncidentFilter { monitor, open_only }, limit).await?;
    Ok(Json(json!({ "data": rows.iter().map(incident_json).collect::<Vec<_>>() })))
}

pub async fn get(State(s): State<AppState>, caller: Caller, PathParam(id): PathParam) -> ApiResult<impl IntoResponse> {
    let id = path_id(&id, IncidentId::parse, "incident")?;
    let (rec, timeline) =
        s.store.get_incident(caller.tenant(), &id).await?.ok_or_else(|| ApiError::not_found("incident"))?;
    let mut body = incident_json(&rec);
    body["timeline"] =
        json!(timeline.iter().map(|t| json!({ "at": t.at.to_rfc3339(), "message": t.message })).collect::<Vec<_>>());
    let (sent, grouped) = super::deliveries::of_incident(&s, &caller, &id).await?;
    let a = caller.audience();
    body["notifications"] = json!(sent.iter().map(|n| super::deliveries::attempt_json(n, a)).collect::<Vec<_>>());
    body["grouped_notices"] = json!(grouped.iter().map(super::deliveries::grouped_json).collect::<Vec<_>>());
    Ok(Json(body))
}

async fn command(s: AppState, caller: Caller, id: String, cmd: IncidentCommand) -> ApiResult<Json<Value>> {
    Ok(Json(incident_json(&apply(&s, &caller, &id, cmd).await?)))
}

/// Acknowledge or resolve an incident as `caller`: the API's commands and the dashboard's buttons.
pub(crate) async fn apply(s: &AppState, caller: &Caller, id: &str, cmd: IncidentCommand) -> ApiResult<IncidentRecord> {
    caller.require_write()?;
    let id = path_id(id, IncidentId::parse, "incident")?;
    s.store
        .incident_command(caller.tenant(), &id, cmd, clock::now())
        .await?
        .ok_or_else(|| ApiError::not_found("incident"))
}

pub async fn acknowledge(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> ApiResult<impl IntoResponse> {
    let by = caller.actor();
    command(s, caller, id, IncidentCommand::Acknowledge { by }).await
}

pub async fn resolve(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> ApiResult<impl IntoResponse> {
    let by = caller.actor();
    command(s, caller, id, IncidentCommand::Resolve { by }).await
}

//! Public updates of an incident, as a status page's readers see them:
//! `POST|GET /api/v1/incidents/{id}/updates` (state investigating → identified → monitoring →
//! resolved, an impact of degraded, partial or major, a message, and the other monitors it
//! `affects` besides the incident's own), and the older
//! `POST /api/v1/incidents/{id}/public-message`, which posts one update in the incident's
//! current state. Posting puts the incident on its monitor's status pages and in their feeds.

use super::incidents::incident_json;
use super::status_pages::text;
use crate::base::input::{parse_field, path_id, JsonBody, PathParam};
use crate::base::{ApiError, ApiResult, AppState, Caller};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use netpulse_core::{IncidentId, MonitorId};
use netpulse_store::clock::{self, fresh};
use netpulse_store::{Impact, IncidentRecord, IncidentStatus, IncidentUpdate, UpdateState};
use serde::Deserialize;
use serde_json::{json, Value};

/// Longest message of one update, in characters.
const MAX_MESSAGE: usize = 2000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateIn {
    state: String,
    message: String,
    impact: Option<String>,
    affects: Option<Vec<String>>,
}

/// Components an update may name as affected besides the incident's own.
const MAX_AFFECTS: usize = 50;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicMessageIn {
    message: String,
}

fn one_of<T: Copy>(field: &str, given: &str, all: &[T], name: fn(T) -> &'static str) -> ApiResult<T> {
    all.iter().copied().find(|v| name(*v) == given).ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
        ApiError::invalid(field, format!("`{given}` is not one of {}", names.join(", ")))
    })
}

/// The impact an update states when its poster names none: the newest update's, else major.
fn impact_or_latest(given: Option<Impact>, latest: Option<&IncidentUpdate>) -> Impact {
    given.or(latest.map(|u| u.impact)).unwrap_or(Impact::Major)
}

pub fn update_json(u: &IncidentUpdate) -> Value {
    json!({
        "id": u.id, "incident_id": u.incident_id, "state": u.state, "impact": u.impact,
        "message": u.message, "posted_at": u.posted_at.to_rfc3339(), "affects": u.affects,
    })
}

/// The other monitors an update names as affected: each a monitor of the caller's tenant,
/// the incident's own left out (it is always affected); none named: the newest update's.
async fn affects(
    s: &AppState,
    caller: &Caller,
    rec: &IncidentRecord,
    given: Option<Vec<String>>,
    latest: Option<&IncidentUpdate>,
) -> ApiResult<Vec<MonitorId>> {
    let Some(given) = given else { return Ok(latest.map(|u| u.affects.clone()).unwrap_or_default()) };
    if given.len() > MAX_AFFECTS {
        return Err(ApiError::invalid("affects", "name at most 50 monitors"));
    }
    let mut out: Vec<MonitorId> = Vec::with_capacity(given.len());
    for (i, id) in given.iter().enumerate() {
        let field = format!("affects[{i}]");
        let m = MonitorId::parse(id).map_err(|_| ApiError::invalid(field.clone(), "is not a monitor id"))?;
        if s.store.get_monitor(caller.tenant(), &m).await?.is_none() {
            return Err(ApiError::invalid(field, "names no monitor of this organisation"));
        }
        if m != rec.monitor_id && !out.contains(&m) {
            out.push(m);
        }
    }
    Ok(out)
}

/// This tenant's incident (another tenant's is a missing one, 404) and its updates, newest first.
async fn incident_of(s: &AppState, caller: &Caller, id: &str) -> ApiResult<(IncidentRecord, Vec<IncidentUpdate>)> {
    let id = path_id(id, IncidentId::parse, "incident")?;
    let (rec, _) = s.store.get_incident(caller.tenant(), &id).await?.ok_or_else(|| ApiError::not_found("incident"))?;
    let updates = s.store.incident_updates(caller.tenant(), std::slice::from_ref(&id)).await?;
    Ok((rec, updates))
}

/// Post a new update to incident `incident` (this tenant's) and clear the page cache.
async fn post(
    s: &AppState,
    caller: &Caller,
    incident: IncidentId,
    state: UpdateState,
    (impact, affects): (Impact, Vec<MonitorId>),
    message: String,
) -> ApiResult<IncidentUpdate> {
    let posted_at = clock::now();
    let u = IncidentUpdate { id: fresh(), incident_id: incident, state, impact, message, posted_at, affects };
    if !s.store.post_incident_update(caller.tenant(), &u).await? {
        return Err(ApiError::not_found("incident"));
    }
    s.status_cache.clear();
    Ok(u)
}

/// `POST /api/v1/incidents/{id}/updates`: 201 and the update.
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    caller.require_write()?;
    let (rec, updates) = incident_of(&s, &caller, &id).await?;
    let input: UpdateIn = parse_field("", Value::Object(body))?;
    let state = one_of("state", &input.state, &UpdateState::ALL, UpdateState::as_str)?;
    let impact = input.impact.as_deref().map(|i| one_of("impact", i, &Impact::ALL, Impact::as_str)).transpose()?;
    let message = text("message", &input.message, 1, MAX_MESSAGE)?;
    let affected = affects(&s, &caller, &rec, input.affects, updates.first()).await?;
    let said = (impact_or_latest(impact, updates.first()), affected);
    let u = post(&s, &caller, rec.id, state, said, message).await?;
    Ok((StatusCode::CREATED, Json(update_json(&u))))
}

/// `GET /api/v1/incidents/{id}/updates`: newest first.
pub async fn list(State(s): State<AppState>, caller: Caller, PathParam(id): PathParam) -> ApiResult<impl IntoResponse> {
    let (_, updates) = incident_of(&s, &caller, &id).await?;
    Ok(Json(json!({ "data": updates.iter().map(update_json).collect::<Vec<_>>() })))
}

/// `POST /api/v1/incidents/{id}/public-message`: one update with this message, in the state
/// the incident is in (resolved once it is, else the newest update's, else investigating).
pub async fn public_message(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    caller.require_write()?;
    let (rec, updates) = incident_of(&s, &caller, &id).await?;
    let input: PublicMessageIn = parse_field("", Value::Object(body))?;
    let message = text("message", &input.message, 1, MAX_MESSAGE)?;
    let state = match (rec.status, updates.first()) {
        (IncidentStatus::Resolved, _) => UpdateState::Resolved,
        (_, Some(latest)) => latest.state,
        (_, None) => UpdateState::Investigating,
    };
    let said =
        (impact_or_latest(None, updates.first()), updates.first().map(|u| u.affects.clone()).unwrap_or_default());
    let u = post(&s, &caller, rec.id.clone(), state, said, message).await?;
    let mut body = incident_json(&rec);
    body["public_message"] = json!(u.message);
    Ok(Json(body))
}

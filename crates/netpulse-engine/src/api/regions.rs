//! `GET /api/v1/regions`: every region checks run from — the engine's own and those served by
//! regional workers — with its status (`online` / `offline`) and each worker's health
//! (last seen, version, checks in flight, results/s). Regions and workers are the
//! engine's, shown to every tenant (a monitor may check from any served region); result
//! counts and rates are the caller's tenant's own.

use super::error::ApiResult;
use super::{AppState, Caller};
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "data": s.fleet.regions(caller.tenant(), crate::clock::now()) })))
}

//! `GET /api/v1/regions`: every region checks run from — the engine's own and those served by
//! regional workers — with its status (`online` / `offline`) and each worker's health
//! (last seen, version, checks in flight, results/s).

use super::error::ApiResult;
use super::{AppState, Caller};
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

pub async fn list(State(s): State<AppState>, _caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "data": s.fleet.regions(crate::clock::now()) })))
}

//! `GET /api/v1/regions`: every region checks run from — the engine's own and those served by
//! regional workers — with its status (`online` / `offline`) and each worker's health
//! (last seen, version, checks in flight, results/s). Regions and workers are the
//! engine's, shown to every tenant (a monitor may check from any served region); result
//! counts and rates are the caller's tenant's own. Viewers, read tokens and the demo see
//! no worker names or serials ([`audience::regions`](crate::base::audience::regions)).

use crate::base::ApiResult;
use crate::base::{AppState, Caller};
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let regions = s.fleet.regions(caller.tenant(), netpulse_store::clock::now());
    Ok(Json(json!({ "data": crate::base::audience::regions(regions, caller.audience()) })))
}

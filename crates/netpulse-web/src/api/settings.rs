//! `/api/v1/settings/alerting`: the organisation's alerting defaults — the policy fields its
//! monitors inherit and its storm control (see `store::settings`).
//!
//! `GET` (any role) answers the effective defaults and which of them the organisation left
//! to the built-in values:
//! `{"policy": {every policy field}, "policy_inherited": ["recovery_threshold", …],
//!   "storm_threshold": 5, "storm_window_s": 60, "storm_inherited": ["storm_window_s"]}`.
//! `PUT` (admins and owners) replaces them with the same shape, where only the fields given
//! are set: a policy field left out (or `"inherit"`) takes the built-in default, a storm value
//! left out (or `null`) the engine's `[alerts]` config; `policy` itself is an object (left out
//! or `{}`: every field inherited), never `null`. The answer is the new `GET`.

use super::monitors::INHERIT;
use crate::base::input::{parse_field, JsonBody};
use crate::base::{ApiError, ApiResult};
use crate::base::{AppState, Caller};
use axum::extract::State;
use axum::Json;
use netpulse_core::incident::{Policy, PolicyLayer};
use netpulse_store::clock;
use netpulse_store::AlertingDefaults;
use serde_json::{json, Map, Value};

/// The API shape of `d` (see the module comment).
pub fn settings_json(d: &AlertingDefaults, s: &AppState) -> Value {
    let storm = d.storm(&s.config.storm);
    let mut storm_inherited = Vec::new();
    if d.storm_threshold.is_none() {
        storm_inherited.push("storm_threshold");
    }
    if d.storm_window_s.is_none() {
        storm_inherited.push("storm_window_s");
    }
    json!({
        "policy": Policy::resolve(&PolicyLayer::default(), &d.policy),
        "policy_inherited": d.policy.unset_fields(),
        "storm_threshold": storm.threshold,
        "storm_window_s": storm.window_s,
        "storm_inherited": storm_inherited,
    })
}

pub async fn get(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let d = s.store.alerting_defaults(caller.tenant()).await?;
    Ok(Json(settings_json(&d, &s)))
}

pub async fn put(State(s): State<AppState>, caller: Caller, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    let d = replace_from(&s, &caller, body).await?;
    Ok(Json(settings_json(&d, &s)))
}

/// Validate `body` (the `PUT` shape) and store it as the caller's organisation's defaults:
/// the API's `PUT` and the dashboard's settings form.
pub(crate) async fn replace_from(
    s: &AppState,
    caller: &Caller,
    body: Map<String, Value>,
) -> ApiResult<AlertingDefaults> {
    caller.require_admin()?;
    let d = parse(body)?;
    for (i, ch) in d.policy.escalate_to.iter().flatten().enumerate() {
        if s.store.get_channel(caller.tenant(), ch).await?.is_none() {
            return Err(ApiError::invalid(
                format!("policy.escalate_to[{i}]"),
                format!("no channel {ch} in this account"),
            ));
        }
    }
    s.store.set_alerting_defaults(caller.tenant(), &d, clock::now()).await?;
    Ok(d)
}

fn parse(mut body: Map<String, Value>) -> ApiResult<AlertingDefaults> {
    const KNOWN: [&str; 3] = ["policy", "storm_threshold", "storm_window_s"];
    if let Some(k) = body.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::invalid(k.clone(), "unknown field; expected policy, storm_threshold, storm_window_s"));
    }
    let policy = match body.remove("policy") {
        None => Map::new(),
        Some(Value::Null) => {
            return Err(ApiError::invalid(
                "policy",
                "must be an object; leave it out (or send {}) to inherit every field",
            ))
        }
        Some(Value::Object(fields)) => fields.into_iter().filter(|(_, v)| v != INHERIT).collect(),
        Some(_) => return Err(ApiError::invalid("policy", "must be an object")),
    };
    let storm = |v: Option<Value>, field: &str| -> ApiResult<Option<u32>> {
        v.filter(|v| !v.is_null()).map(|v| parse_field(field, v)).transpose()
    };
    let d = AlertingDefaults {
        policy: parse_field("policy", Value::Object(policy))?,
        storm_threshold: storm(body.remove("storm_threshold"), "storm_threshold")?,
        storm_window_s: storm(body.remove("storm_window_s"), "storm_window_s")?,
    };
    d.validate()?;
    Ok(d)
}

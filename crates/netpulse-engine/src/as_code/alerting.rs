//! The organisation's alerting defaults in a file (`alerting:`): `policy` (the fields set
//! at the organisation's level), `storm_threshold`, `storm_window_s`. A file without the
//! section leaves them as they are; with it, `apply` replaces them whole (a field left out
//! returns to the built-in value, as the API's `PUT` does).

use super::model::{refuse_unknown, FileError, Kind, Refs};
use super::policy;
use serde_json::{json, Map, Value};

const FIELDS: [&str; 3] = ["policy", "storm_threshold", "storm_window_s"];

/// A file's `alerting` section, checked, with `policy` always present.
pub fn expand(v: &Value) -> Result<Map<String, Value>, FileError> {
    let Value::Object(m) = v else {
        return Err(FileError::new("alerting", "must be a table: policy, storm_threshold, storm_window_s"));
    };
    refuse_unknown(m, &FIELDS, "alerting", "`alerting`")?;
    let mut out = m.clone();
    let p = match m.get("policy") {
        Some(p) => policy::from_file(p, "alerting.policy")?,
        None => Map::new(),
    };
    out.insert("policy".into(), Value::Object(p));
    Ok(out)
}

/// What `export` writes: `None` when everything is built-in.
pub fn compact(expanded: &Map<String, Value>) -> Option<Map<String, Value>> {
    let mut out = expanded.clone();
    out.retain(|k, v| !(k == "policy" && v.as_object().is_some_and(Map::is_empty)));
    (!out.is_empty()).then_some(out)
}

/// The defaults as `GET /api/v1/settings/alerting` answered them, expanded.
pub fn from_api(v: &Value, refs: &Refs) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("policy".into(), Value::Object(policy::from_api(&v["policy"], &v["policy_inherited"], refs)));
    let inherited: Vec<&str> =
        v["storm_inherited"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    for k in ["storm_threshold", "storm_window_s"] {
        if !inherited.contains(&k) {
            out.insert(k.into(), v[k].clone());
        }
    }
    out
}

/// The `PUT` body.
pub fn to_api(expanded: &Map<String, Value>, refs: &Refs) -> Value {
    let mut out = expanded.clone();
    let p = expanded.get("policy").and_then(Value::as_object).map(|p| policy::to_api(p, refs)).unwrap_or_default();
    out.insert("policy".into(), Value::Object(p));
    json!(out)
}

/// The channel names the defaults refer to.
pub fn references(expanded: &Map<String, Value>) -> Vec<(String, Kind, Value)> {
    expanded
        .get("policy")
        .and_then(Value::as_object)
        .map(|p| policy::references(p, "alerting.policy"))
        .unwrap_or_default()
}

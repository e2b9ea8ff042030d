//! Alerting policy fields as a file writes them (a monitor's own `policy`, the
//! organisation's `alerting.policy`): only the fields set at that level, `"none"` where the
//! API's JSON has `null` (TOML has no null: no reminders, a majority quorum, no
//! escalation), `escalate_to` by channel name.

use super::model::{refuse_unknown, FileError, Kind, Refs};
use netpulse_core::incident::POLICY_FIELDS;
use serde_json::{Map, Value};

/// A file's `policy` at `path`, checked: an object of known fields.
pub fn from_file(v: &Value, path: &str) -> Result<Map<String, Value>, FileError> {
    let Value::Object(m) = v else {
        return Err(FileError::new(path, "must be a table of policy fields"));
    };
    refuse_unknown(m, &POLICY_FIELDS, path, "a policy")?;
    Ok(m.clone())
}

/// The fields set at this level, from the API's effective `policy` and its `policy_inherited`.
pub fn from_api(effective: &Value, inherited: &Value, refs: &Refs) -> Map<String, Value> {
    let inherited: Vec<&str> = inherited.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut out = Map::new();
    for (k, v) in effective.as_object().into_iter().flatten() {
        if inherited.contains(&k.as_str()) {
            continue;
        }
        let v = match (k.as_str(), v) {
            (_, Value::Null) => Value::from("none"),
            ("escalate_to", Value::Array(ids)) => Value::Array(ids.iter().map(|i| refs.to_name(i)).collect()),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    out
}

/// The API's shape of a file's policy fields (`"none"` → `null`, channel names → ids).
pub fn to_api(p: &Map<String, Value>, refs: &Refs) -> Map<String, Value> {
    p.iter()
        .map(|(k, v)| {
            let v = match (k.as_str(), v) {
                (_, Value::String(s)) if s == "none" => Value::Null,
                ("escalate_to", Value::Array(names)) => {
                    Value::Array(names.iter().map(|n| refs.to_id(Kind::Channel, n)).collect())
                }
                _ => v.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// The channel names `escalate_to` refers to, with their paths.
pub fn references(p: &Map<String, Value>, path: &str) -> Vec<(String, Kind, Value)> {
    let names = p.get("escalate_to").and_then(Value::as_array).into_iter().flatten();
    names.enumerate().map(|(i, n)| (format!("{path}.escalate_to[{i}]"), Kind::Channel, n.clone())).collect()
}

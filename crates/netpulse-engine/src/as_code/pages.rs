//! Status pages in a file, named by their `slug`: `title` (required), `message` (default
//! empty), `logo_url` and `domain` (default none), and `monitors`: `{monitor, display_name,
//! group}` with the monitor by name, `display_name` defaulting to that name and `group` to
//! none.

use super::model::{refuse_unknown, FileError, Item, Kind, Refs};
use serde_json::{json, Map, Value};

const FIELDS: [&str; 5] = ["title", "message", "logo_url", "domain", "monitors"];
const ENTRY_FIELDS: [&str; 3] = ["monitor", "display_name", "group"];

/// A page of a file (its `slug` taken out) at `path`, checked, defaults filled in.
pub fn expand(fields: &Map<String, Value>, path: &str) -> Result<Map<String, Value>, FileError> {
    refuse_unknown(fields, &FIELDS, path, "a status page (besides its slug)")?;
    if !fields.get("title").is_some_and(Value::is_string) {
        return Err(FileError::new(format!("{path}.title"), "is required: the page's title"));
    }
    let mut out = fields.clone();
    out.entry("message").or_insert(json!(""));
    out.entry("logo_url").or_insert(Value::Null);
    out.entry("domain").or_insert(Value::Null);
    let entries = match fields.get("monitors") {
        None => vec![],
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            return Err(FileError::new(format!("{path}.monitors"), "must be a list of {monitor, display_name, group}"))
        }
    };
    let mut monitors = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let at = format!("{path}.monitors[{i}]");
        let Value::Object(e) = e else {
            return Err(FileError::new(at, "must be a table: monitor, display_name, group"));
        };
        refuse_unknown(e, &ENTRY_FIELDS, &at, "a page's monitor")?;
        let Some(m) = e.get("monitor").filter(|m| m.is_string()) else {
            return Err(FileError::new(format!("{at}.monitor"), "is required: the name of a monitor in the file"));
        };
        let shown = e.get("display_name").cloned().unwrap_or_else(|| m.clone());
        monitors.push(
            json!({ "monitor": m, "display_name": shown, "group": e.get("group").cloned().unwrap_or(json!("")) }),
        );
    }
    out.insert("monitors".into(), Value::Array(monitors));
    Ok(out)
}

/// The fields that differ from their default: what `export` writes.
pub fn compact(expanded: &Map<String, Value>) -> Map<String, Value> {
    let mut out = expanded.clone();
    out.retain(|k, v| !(v.is_null() || k == "message" && *v == "" || k == "monitors" && *v == json!([])));
    if let Some(Value::Array(entries)) = out.get_mut("monitors") {
        for e in entries.iter_mut().filter_map(Value::as_object_mut) {
            let m = e.get("monitor").cloned();
            e.retain(|k, v| !(k == "group" && *v == "" || k == "display_name" && Some(&*v) == m.as_ref()));
        }
    }
    out
}

/// A page as the API answered it, expanded (monitors by name).
pub fn from_api(v: &Value, refs: &Refs) -> Item {
    let mut fields = Map::new();
    for k in ["title", "message", "logo_url", "domain"] {
        fields.insert(k.into(), v[k].clone());
    }
    let entries = v["monitors"].as_array().into_iter().flatten().map(|e| {
        json!({ "monitor": refs.to_name(&e["monitor_id"]), "display_name": e["display_name"], "group": e["group"] })
    });
    fields.insert("monitors".into(), Value::Array(entries.collect()));
    let slug = v["slug"].as_str().unwrap_or_default().to_owned();
    Item { name: slug, fields, ids: vec![v["id"].as_str().unwrap_or_default().to_owned()] }
}

/// The monitors a page refers to.
pub fn references(fields: &Map<String, Value>, path: &str) -> Vec<(String, Kind, Value)> {
    let entries = fields.get("monitors").and_then(Value::as_array).into_iter().flatten();
    entries
        .enumerate()
        .map(|(i, e)| (format!("{path}.monitors[{i}].monitor"), Kind::Monitor, e["monitor"].clone()))
        .collect()
}

/// The API's input (for `POST` and `PATCH` alike): every field, monitors by id.
pub fn to_api(slug: &str, fields: &Map<String, Value>, refs: &Refs) -> Map<String, Value> {
    let mut out = fields.clone();
    out.insert("slug".into(), json!(slug));
    let entries = fields.get("monitors").and_then(Value::as_array).into_iter().flatten().map(|e| {
        json!({ "monitor_id": refs.to_id(Kind::Monitor, &e["monitor"]), "display_name": e["display_name"], "group": e["group"] })
    });
    out.insert("monitors".into(), Value::Array(entries.collect()));
    out
}

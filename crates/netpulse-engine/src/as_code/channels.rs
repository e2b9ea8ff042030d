//! Channels in a file: the API's input shape (`kind`, `url`, `secret`, `enabled`,
//! `notify_degraded` and the kind's own fields such as `topic` or `headers`). The API never
//! shows secrets (nor templated-webhook header values) and masks chat webhook URLs, ntfy
//! topics and Pushover user keys: those are *opaque* here. The current state holds a
//! `${NAME_FIELD}` placeholder for each, which `export` writes; a plan does not compare
//! them (the file's value is sent whenever the channel is created or changed).

use super::model::{placeholder, refuse_unknown, FileError, Item};
use serde_json::{json, Map, Value};

/// The fields a channel takes besides its `name`.
const FIELDS: [&str; 14] = [
    "kind",
    "url",
    "secret",
    "enabled",
    "notify_degraded",
    "topic",
    "chat_id",
    "user_key",
    "region",
    "room_id",
    "method",
    "headers",
    "content_type",
    "body_template",
];

/// Kinds whose `url` is itself a credential (shown masked by the API).
const MASKED_URL_KINDS: [&str; 4] = ["slack", "discord", "teams", "google_chat"];

/// A channel of a file (its `name` taken out) at `path`, checked, with `enabled` (true) and
/// `notify_degraded` (false) filled in.
pub fn expand(fields: &Map<String, Value>, path: &str) -> Result<Map<String, Value>, FileError> {
    refuse_unknown(fields, &FIELDS, path, "a channel (besides its name)")?;
    if !fields.get("kind").is_some_and(Value::is_string) {
        return Err(FileError::new(
            format!("{path}.kind"),
            "is required: the channel's kind (webhook, slack, email, …)",
        ));
    }
    let mut out = fields.clone();
    out.entry("enabled").or_insert(json!(true));
    out.entry("notify_degraded").or_insert(json!(false));
    Ok(out)
}

/// The fields that differ from their default: what `export` writes.
pub fn compact(expanded: &Map<String, Value>) -> Map<String, Value> {
    let mut out = expanded.clone();
    out.retain(|k, v| !(k == "enabled" && *v == json!(true) || k == "notify_degraded" && *v == json!(false)));
    out
}

/// Whether the API shows `field` of a `kind` channel only masked, or not at all.
fn opaque(kind: &str, field: &str) -> bool {
    matches!(field, "secret" | "headers" | "topic" | "user_key") || field == "url" && MASKED_URL_KINDS.contains(&kind)
}

/// Whether a plan compares `path` of a channel: not an opaque field, nor one the file leaves
/// out (it keeps the engine's value, e.g. PagerDuty's events URL).
pub fn compared(kind: &str, desired: &Map<String, Value>, path: &str) -> bool {
    let top = path.split('.').next().unwrap_or(path);
    !opaque(kind, top) && desired.contains_key(top)
}

/// A channel as the API answered it, in the expanded form; opaque values are placeholders.
pub fn from_api(v: &Value) -> Item {
    let name = v["name"].as_str().unwrap_or_default().to_owned();
    let kind = v["kind"].as_str().unwrap_or_default();
    let mut fields = Map::new();
    for f in FIELDS {
        let Some(val) = v.get(f).filter(|x| !x.is_null() && *x != "") else { continue };
        let shown = match f {
            "headers" => {
                let names = val.as_object().into_iter().flatten();
                Value::Object(
                    names.map(|(h, _)| (h.clone(), json!(placeholder(&name, &format!("header_{h}"))))).collect(),
                )
            }
            _ if opaque(kind, f) => json!(placeholder(&name, f)),
            _ => val.clone(),
        };
        fields.insert(f.into(), shown);
    }
    if v["has_secret"] == json!(true) {
        fields.insert("secret".into(), json!(placeholder(&name, "secret")));
    }
    Item { name, fields, ids: vec![v["id"].as_str().unwrap_or_default().to_owned()] }
}

/// The API's input for a channel named `name` with these fields, marked as kept by a file.
pub fn to_api(name: &str, fields: &Map<String, Value>) -> Map<String, Value> {
    let mut out = fields.clone();
    out.insert("name".into(), json!(name));
    out.insert("managed_by".into(), json!("file"));
    out
}

/// The `PATCH` that makes a channel `desired`: the changed fields and every opaque value
/// the file gives (the engine cannot say whether those changed); and the file's mark.
pub fn patch(changed: &[String], desired: &Map<String, Value>) -> Map<String, Value> {
    let kind = desired["kind"].as_str().unwrap_or_default();
    let mut out = Map::new();
    out.insert("managed_by".into(), json!("file"));
    for (k, v) in desired {
        if k != "kind" && (changed.iter().any(|c| c.split('.').next() == Some(k)) || opaque(kind, k)) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

//! Monitors in a file: the API's flat input shape (`kind`, `url`, … beside `interval_s`,
//! `policy`, …), with `channels` and `depends_on` by name. Left out, a field takes the
//! file format's default (not the engine's configured one, so a file means the same on
//! every engine): `interval_s` 60, `timeout_ms` the smaller of 10 s and the interval,
//! `retries` 0, `regions` `["local"]`, no tags, not paused, `channels` all of the
//! organisation's (`[]`: none), no parent, the policy the organisation's defaults (a
//! heartbeat: confirmed and recovered at once), and the check kind's own defaults.

use super::model::{placeholder, FieldChange, FileError, Item, Kind, Refs};
use super::policy;
use netpulse_core::monitor::CheckSpec;
use netpulse_core::redact::looks_like_credential;
use serde_json::{json, Map, Value};

/// The fields of a monitor that are not its check's.
const MONITOR_FIELDS: [&str; 9] =
    ["interval_s", "timeout_ms", "retries", "regions", "tags", "paused", "policy", "channels", "depends_on"];

/// The API's answer fields that are no part of a monitor's definition.
const STATE_FIELDS: [&str; 9] = [
    "id",
    "name",
    "status",
    "uptime_24h",
    "created_at",
    "updated_at",
    "heartbeat_url",
    "policy_inherited",
    "managed_by",
];

/// The format's default of monitor field `k`, given the expanded check and interval.
fn default_of(k: &str, spec: &CheckSpec, interval_s: u64) -> Value {
    match k {
        "interval_s" => json!(60),
        "timeout_ms" => json!(10_000.min(interval_s * 1000)),
        "retries" => json!(0),
        "regions" => json!(["local"]),
        "tags" => json!([]),
        "paused" => json!(false),
        "policy" => Value::Object(default_policy(spec)),
        _ => Value::Null, // channels (all), depends_on (none)
    }
}

/// The policy a monitor sets when its input sets none (the API's rule for push checks).
fn default_policy(spec: &CheckSpec) -> Map<String, Value> {
    match spec.is_push() {
        true => json!({ "confirm_threshold": 1, "recovery_threshold": 1 }).as_object().cloned().unwrap_or_default(),
        false => Map::new(),
    }
}

/// A monitor of a file (its `name` taken out) at `path`, checked and with every default filled in.
pub fn expand(fields: &Map<String, Value>, path: &str) -> Result<Map<String, Value>, FileError> {
    let (mut own, check): (Map<String, Value>, Map<String, Value>) =
        fields.clone().into_iter().partition(|(k, _)| MONITOR_FIELDS.contains(&k.as_str()));
    let spec = parse_spec(check, path)?;
    let Value::Object(mut out) = serde_json::to_value(&spec).expect("a check serializes") else {
        unreachable!("a check is an object")
    };
    let interval_s = match own.get("interval_s") {
        None => 60,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| FileError::new(format!("{path}.interval_s"), "must be a whole number of seconds"))?,
    };
    let mut policy = default_policy(&spec);
    if let Some(p) = own.remove("policy") {
        policy.extend(policy::from_file(&p, &format!("{path}.policy"))?);
    }
    for k in MONITOR_FIELDS {
        let v = own.remove(k).unwrap_or_else(|| default_of(k, &spec, interval_s));
        out.insert(k.into(), v);
    }
    out.insert("policy".into(), Value::Object(policy));
    Ok(out)
}

/// The check's fields as the API stores them (defaults filled in); an unknown or mistyped
/// field is named by its path.
fn parse_spec(mut check: Map<String, Value>, path: &str) -> Result<CheckSpec, FileError> {
    const KINDS: &str = "http, tcp, dns, tls, websocket, ping or heartbeat";
    let Some(kind) = check.remove("kind") else {
        return Err(FileError::new(format!("{path}.kind"), format!("is required: {KINDS}")));
    };
    let fields = Value::Object(check);
    Ok(match kind.as_str() {
        Some("http") => CheckSpec::Http(fields_of(fields, path)?),
        Some("tcp") => CheckSpec::Tcp(fields_of(fields, path)?),
        Some("dns") => CheckSpec::Dns(fields_of(fields, path)?),
        Some("tls") => CheckSpec::Tls(fields_of(fields, path)?),
        Some("heartbeat") => CheckSpec::Heartbeat(fields_of(fields, path)?),
        Some("websocket") => CheckSpec::WebSocket(fields_of(fields, path)?),
        Some("ping") => CheckSpec::Ping(fields_of(fields, path)?),
        _ => return Err(FileError::new(format!("{path}.kind"), format!("{kind} is not a monitor kind; use {KINDS}"))),
    })
}

/// One check kind's fields, an error naming the field's path.
fn fields_of<T: serde::de::DeserializeOwned>(fields: Value, path: &str) -> Result<T, FileError> {
    serde_path_to_error::deserialize(fields).map_err(|e| {
        let inner = e.path().to_string();
        let message = e.inner().to_string();
        // serde names an unknown field only in its message: put it in the path.
        let field = message.strip_prefix("unknown field `").and_then(|r| r.split('`').next());
        match (field, inner.as_str()) {
            (Some(f), _) => FileError::new(format!("{path}.{f}"), message.clone()),
            (None, ".") => FileError::new(path, message),
            (None, p) => FileError::new(format!("{path}.{p}"), message),
        }
    })
}

/// The fields that differ from their default: what `export` writes.
pub fn compact(expanded: &Map<String, Value>) -> Map<String, Value> {
    let (own, check): (Map<String, Value>, Map<String, Value>) =
        expanded.clone().into_iter().partition(|(k, _)| MONITOR_FIELDS.contains(&k.as_str()));
    let Ok(spec) = serde_json::from_value::<CheckSpec>(Value::Object(check.clone())) else {
        return expanded.clone();
    };
    let mut out = Map::new();
    for (k, v) in &check {
        if k == "kind" || !is_check_default(&check, k) {
            out.insert(k.clone(), v.clone());
        }
    }
    let interval_s = own.get("interval_s").and_then(Value::as_u64).unwrap_or(60);
    for (k, v) in own {
        if k == "policy" {
            let defaults = default_policy(&spec);
            let p: Map<String, Value> = v
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(f, x)| defaults.get(*f) != Some(x))
                .map(|(f, x)| (f.clone(), x.clone()))
                .collect();
            if !p.is_empty() {
                out.insert(k, Value::Object(p));
            }
        } else if v != default_of(&k, &spec, interval_s) {
            out.insert(k, v);
        }
    }
    out
}

/// Put `${VAR}` placeholders where a compacted monitor `name` holds a credential, by the
/// rule the API hides them from viewers by: the value of a header whose name looks like one
/// (`Authorization`, `X-Api-Key`, …), and in its URL the user name, the password and query
/// values whose name looks like one. The API shows these to members; a file never holds them.
pub fn conceal(name: &str, m: &mut Map<String, Value>) {
    let headers = m.get_mut("headers").and_then(Value::as_array_mut).into_iter().flatten();
    for h in headers.filter_map(Value::as_object_mut) {
        let header = h.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
        if looks_like_credential(&header) {
            h.insert("value".into(), json!(placeholder(name, &format!("header_{header}"))));
        }
    }
    if let Some(url) = m.get("url").and_then(Value::as_str).and_then(|u| conceal_url(name, u)) {
        m.insert("url".into(), json!(url));
    }
}

/// `raw` with its credentials as placeholders (`None`: it has none). Each is first set to a
/// plain marker, as a URL would percent-encode `${…}`, then the marker is swapped.
fn conceal_url(name: &str, raw: &str) -> Option<String> {
    let mut u = url::Url::parse(raw).ok()?;
    let mut swaps: Vec<(String, String)> = Vec::new();
    let mut mark = |field: &str| {
        let marker = format!("npconcealed{}x", swaps.len());
        swaps.push((marker.clone(), placeholder(name, field)));
        marker
    };
    if !u.username().is_empty() {
        u.set_username(&mark("url_user")).ok()?;
    }
    if u.password().is_some() {
        u.set_password(Some(&mark("url_password"))).ok()?;
    }
    let pairs: Vec<(String, String)> = u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    if pairs.iter().any(|(k, _)| looks_like_credential(k)) {
        let pairs: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(k, v)| if looks_like_credential(&k) { (k.clone(), mark(&format!("url_{k}"))) } else { (k, v) })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    if swaps.is_empty() {
        return None;
    }
    Some(swaps.into_iter().fold(u.to_string(), |s, (marker, var)| s.replacen(&marker, &var, 1)))
}

/// Whether check field `k` holds the value the check would have without it.
fn is_check_default(check: &Map<String, Value>, k: &str) -> bool {
    let mut without = check.clone();
    without.remove(k);
    let Ok(spec) = serde_json::from_value::<CheckSpec>(Value::Object(without)) else { return false };
    serde_json::to_value(&spec).ok().and_then(|v| v.get(k).cloned()) == check.get(k).cloned()
}

/// A monitor as the API answered it, in the file's expanded form.
pub fn from_api(v: &Value, refs: &Refs) -> Item {
    let mut fields: Map<String, Value> = v.as_object().cloned().unwrap_or_default();
    fields.retain(|k, _| !STATE_FIELDS.contains(&k.as_str()));
    fields.insert("policy".into(), Value::Object(policy::from_api(&v["policy"], &v["policy_inherited"], refs)));
    if let Some(Value::Array(ids)) = fields.get_mut("channels") {
        ids.iter_mut().for_each(|id| *id = refs.to_name(id));
    }
    if let Some(p) = fields.get_mut("depends_on") {
        *p = refs.to_name(p);
    }
    let id = v["id"].as_str().unwrap_or_default().to_owned();
    Item { name: v["name"].as_str().unwrap_or_default().to_owned(), fields, ids: vec![id] }
}

/// The names a monitor refers to, with their paths.
pub fn references(fields: &Map<String, Value>, path: &str) -> Vec<(String, Kind, Value)> {
    let mut out: Vec<(String, Kind, Value)> = Vec::new();
    let channels = fields.get("channels").and_then(Value::as_array).into_iter().flatten();
    out.extend(channels.enumerate().map(|(i, n)| (format!("{path}.channels[{i}]"), Kind::Channel, n.clone())));
    if let Some(p) = fields.get("depends_on").filter(|p| !p.is_null()) {
        out.push((format!("{path}.depends_on"), Kind::Monitor, p.clone()));
    }
    if let Some(Value::Object(p)) = fields.get("policy") {
        out.extend(policy::references(p, &format!("{path}.policy")));
    }
    out
}

/// The API's input for a monitor named `name` with these expanded fields (names → ids),
/// marked as kept by a file.
pub fn to_api(name: &str, fields: &Map<String, Value>, refs: &Refs) -> Map<String, Value> {
    let mut out = fields.clone();
    out.insert("name".into(), json!(name));
    out.insert("managed_by".into(), json!("file"));
    if let Some(Value::Array(names)) = out.get_mut("channels") {
        names.iter_mut().for_each(|n| *n = refs.to_id(Kind::Channel, n));
    }
    if let Some(p) = out.get_mut("depends_on") {
        *p = refs.to_id(Kind::Monitor, p);
    }
    if let Some(Value::Object(p)) = out.get("policy") {
        let p = policy::to_api(p, refs);
        out.insert("policy".into(), Value::Object(p));
    }
    out
}

/// The merge patch that makes a monitor `desired` where `changes` differ: a check field
/// gone is `null` (removed), a policy field gone is `"inherit"`; and the file's mark.
pub fn patch(changes: &[FieldChange], name: &str, desired: &Map<String, Value>, refs: &Refs) -> Map<String, Value> {
    let api = to_api(name, desired, refs);
    let mut out = Map::new();
    out.insert("managed_by".into(), json!("file"));
    for c in changes {
        match c.path.split_once('.') {
            Some(("policy", f)) => {
                let v = api["policy"].get(f).cloned().unwrap_or_else(|| json!("inherit"));
                let p = out.entry("policy").or_insert_with(|| json!({}));
                p[f] = v;
            }
            _ => {
                let top = c.path.split('.').next().unwrap_or(&c.path);
                out.insert(top.into(), api.get(top).cloned().unwrap_or(Value::Null));
            }
        }
    }
    out
}

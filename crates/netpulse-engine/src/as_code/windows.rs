//! Maintenance windows in a file, named by their `name` (the API's `reason`): `monitors`
//! (names, at least one), `starts_at` and `ends_at` (RFC 3339), `repeat_every_s` (default
//! none) and `announce` (default false). The API keeps one window per monitor and cannot
//! edit one, so a file's window is as many API windows with the same reason and times, and
//! a change cancels them and schedules the new ones. Windows that are over, and windows
//! without a reason (scheduled in the dashboard), are no file's.

use super::model::{refuse_unknown, FileError, Item, Kind, Refs};
use netpulse_core::Timestamp;
use serde_json::{json, Map, Value};

const FIELDS: [&str; 5] = ["monitors", "starts_at", "ends_at", "repeat_every_s", "announce"];

/// A window of a file (its `name` taken out) at `path`, checked, times in the API's form.
pub fn expand(fields: &Map<String, Value>, path: &str) -> Result<Map<String, Value>, FileError> {
    refuse_unknown(fields, &FIELDS, path, "a window (besides its name)")?;
    let mut out = fields.clone();
    for k in ["starts_at", "ends_at"] {
        let t = fields.get(k).and_then(Value::as_str).and_then(rfc3339).ok_or_else(|| {
            FileError::new(format!("{path}.{k}"), "is required: a time in RFC 3339, e.g. 2026-12-24T22:00:00Z")
        })?;
        out.insert(k.into(), json!(t));
    }
    let Some(Value::Array(ms)) = fields.get("monitors").filter(|m| m.as_array().is_some_and(|a| !a.is_empty())) else {
        return Err(FileError::new(format!("{path}.monitors"), "is required: the names of the monitors it mutes"));
    };
    let mut ms = ms.clone();
    ms.sort_by_key(Value::to_string);
    out.insert("monitors".into(), Value::Array(ms));
    out.entry("repeat_every_s").or_insert(Value::Null);
    out.entry("announce").or_insert(json!(false));
    Ok(out)
}

/// `s` as the API writes times (`2026-12-24T22:00:00.000Z`), if it is RFC 3339.
fn rfc3339(s: &str) -> Option<String> {
    Some(Timestamp::from_millis(millis(s)?).to_rfc3339())
}

/// The fields that differ from their default: what `export` writes.
pub fn compact(expanded: &Map<String, Value>) -> Map<String, Value> {
    let mut out = expanded.clone();
    out.retain(|k, v| !(v.is_null() || k == "announce" && *v == json!(false)));
    out
}

/// The API's windows (each `{id, monitor_id, starts_at, ends_at, repeat_every_s, reason,
/// phase, announce}`) as a file's: grouped by reason; `Err` names a reason whose windows
/// differ in their times (the file could not say which).
pub fn from_api(rows: &[Value], refs: &Refs) -> Result<Vec<Item>, String> {
    let mut items: Vec<Item> = Vec::new();
    for r in rows.iter().filter(|r| r["phase"] != "over" && r["reason"].as_str().is_some_and(|s| !s.is_empty())) {
        let name = r["reason"].as_str().unwrap_or_default().to_owned();
        let mut fields = Map::new();
        for k in ["starts_at", "ends_at", "repeat_every_s", "announce"] {
            fields.insert(k.into(), r[k].clone());
        }
        let monitor = refs.to_name(&r["monitor_id"]);
        let id = r["id"].as_str().unwrap_or_default().to_owned();
        match items.iter_mut().find(|i| i.name == name) {
            Some(i) if i.fields.iter().all(|(k, v)| k == "monitors" || fields.get(k) == Some(v)) => {
                i.ids.push(id);
                if let Some(Value::Array(ms)) = i.fields.get_mut("monitors") {
                    ms.push(monitor);
                    ms.sort_by_key(Value::to_string);
                }
            }
            Some(_) => return Err(format!(
                "the organisation has maintenance windows named \"{name}\" at different times; a file names one window per name: cancel or rename one (reason) first"
            )),
            None => {
                fields.insert("monitors".into(), json!([monitor]));
                items.push(Item { name, fields, ids: vec![id] });
            }
        }
    }
    Ok(items)
}

/// `want`'s fields, with `have`'s times where both repeat alike and `want`'s times are
/// another occurrence of `have`'s (the engine moves a repeating window on after each
/// occurrence; the file keeps its first).
pub fn same_occurrences(have: &Item, want: &Item) -> Map<String, Value> {
    let mut out = want.fields.clone();
    let ms = |i: &Item, k: &str| i.fields.get(k).and_then(Value::as_str).and_then(millis);
    let (Some(hs), Some(he), Some(ws), Some(we)) =
        (ms(have, "starts_at"), ms(have, "ends_at"), ms(want, "starts_at"), ms(want, "ends_at"))
    else {
        return out;
    };
    let repeat = have.fields.get("repeat_every_s").and_then(Value::as_i64).filter(|r| *r > 0);
    if let Some(r) = repeat.filter(|_| have.fields.get("repeat_every_s") == want.fields.get("repeat_every_s")) {
        if he - hs == we - ws && (hs - ws).rem_euclid(r * 1000) == 0 {
            out.insert("starts_at".into(), have.fields["starts_at"].clone());
            out.insert("ends_at".into(), have.fields["ends_at"].clone());
        }
    }
    out
}

fn millis(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// The monitors a window refers to.
pub fn references(fields: &Map<String, Value>, path: &str) -> Vec<(String, Kind, Value)> {
    let ms = fields.get("monitors").and_then(Value::as_array).into_iter().flatten();
    ms.enumerate().map(|(i, m)| (format!("{path}.monitors[{i}]"), Kind::Monitor, m.clone())).collect()
}

/// The `POST /monitors/{id}/maintenance` body for each of the window's monitors.
pub fn to_api(name: &str, fields: &Map<String, Value>, refs: &Refs) -> Vec<(String, Value)> {
    let mut body = fields.clone();
    body.remove("monitors");
    body.insert("reason".into(), json!(name));
    body.retain(|_, v| !v.is_null());
    let ms = fields.get("monitors").and_then(Value::as_array).into_iter().flatten();
    ms.map(|m| (refs.to_id(Kind::Monitor, m).as_str().unwrap_or_default().to_owned(), Value::Object(body.clone())))
        .collect()
}

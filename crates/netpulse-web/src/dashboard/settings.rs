//! The organisation's alerting defaults in the dashboard (`/settings/alerting`): one form
//! over the policy fields every monitor inherits unless it sets them, and storm control.
//! Those who may not change them (below admin, read tokens, the demo) see the values as a
//! table instead. Yes/no fields and the quorum are selects (the quorum's "none" is
//! "majority", as in the monitor form), reminders and escalation take a number or `never`,
//! and the channels to escalate to are picked from the organisation's channels. It goes through [`crate::api::settings::replace_from`] (admins and owners; the same
//! checks and messages as `PUT /api/v1/settings/alerting`). An empty field is not set: the
//! built-in default (shown beside it) applies.

use super::forms::{submitted, Submitted};
use super::{page, signed_in, SignedIn};
use crate::api::settings::replace_from;
use crate::base::ApiError;
use crate::base::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use netpulse_core::incident::Policy;
use netpulse_store::{AlertingDefaults, ChannelRecord};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// (form field, label, hint) in the order the form shows them; `policy.*` fields are policy fields.
const FIELDS: [(&str, &str, &str); 10] = [
    ("policy.confirm_threshold", "Failed checks to open an incident", ""),
    ("policy.recovery_threshold", "Good checks to resolve it", ""),
    ("policy.reminder_interval_s", "Remind every (s)", "at least 60, or never"),
    ("policy.notify_on_resolve", "Notify on resolve", ""),
    ("policy.flap_window_s", "Flap window (s)", "0 turns flap detection off"),
    ("policy.quorum", "Regions that must be down", ""),
    ("policy.escalate_after_s", "Escalate after (s) unacknowledged", "needs channels to escalate to; or never"),
    ("policy.escalate_to", "Escalate to", "pick one or more channels (Ctrl/⌘-click)"),
    ("storm_threshold", "Storm: monitors paging at once", "0 turns storm control off"),
    ("storm_window_s", "Storm window (s)", ""),
];

/// The word a nullable field's `null` is written as (form and table), as the monitor form has it.
fn none_word(key: &str) -> &'static str {
    if key == "policy.quorum" {
        "majority"
    } else {
        "never"
    }
}

/// The quorum's choices besides "not set" and "majority": a count of regions.
const QUORUM_COUNTS: std::ops::RangeInclusive<u32> = 1..=9;

/// `GET /settings/alerting`.
pub async fn show(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let auth = match signed_in(&s, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    match s.store.alerting_defaults(auth.tenant()).await {
        Ok(d) => render(&s, &auth, &values_of(&d), None, false).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `POST /settings/alerting`: replace the defaults with what the form sets.
pub async fn save(State(s): State<AppState>, headers: HeaderMap, form: Submitted) -> Response {
    let (auth, values) = match submitted(&s, &headers, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match replace_from(&s, &auth.caller, to_input(&values)).await {
        Ok(d) => render(&s, &auth, &values_of(&d), None, true).await,
        Err(e) => render(&s, &auth, &values, Some(&e), false).await,
    }
}

/// The API's `PUT` shape from the form: empty fields are left out (not set).
fn to_input(values: &HashMap<String, String>) -> Map<String, Value> {
    let mut out = Map::new();
    let mut policy = Map::new();
    for (key, _, _) in FIELDS {
        let Some(text) = values.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) else { continue };
        let value = match key {
            "policy.escalate_to" => json!(text.split(',').map(str::trim).filter(|c| !c.is_empty()).collect::<Vec<_>>()),
            "policy.notify_on_resolve" => match text {
                "yes" => json!(true),
                "no" => json!(false),
                other => json!(other),
            },
            _ if text == none_word(key) && NULLABLE.contains(&key) => Value::Null,
            _ => text.parse::<i64>().map_or_else(|_| json!(text), Value::from),
        };
        match key.strip_prefix("policy.") {
            Some(k) => policy.insert(k.to_owned(), value),
            None => out.insert(key.to_owned(), value),
        };
    }
    out.insert("policy".into(), Value::Object(policy));
    out
}

/// The policy fields whose `null` means something (never, a majority).
const NULLABLE: [&str; 3] = ["policy.reminder_interval_s", "policy.quorum", "policy.escalate_after_s"];

/// Form text for the stored defaults: only what the organisation set.
fn values_of(d: &AlertingDefaults) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let Value::Object(policy) = json!(d.policy) else { return out };
    for (k, v) in policy {
        let text = match v {
            Value::Null => none_word(&format!("policy.{k}")).to_owned(),
            Value::Bool(b) => (if b { "yes" } else { "no" }).to_owned(),
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
            other => other.to_string(),
        };
        out.insert(format!("policy.{k}"), text);
    }
    for (k, v) in [("storm_threshold", d.storm_threshold), ("storm_window_s", d.storm_window_s)] {
        if let Some(v) = v {
            out.insert(k.to_owned(), v.to_string());
        }
    }
    out
}

/// The built-in value of a field, shown beside it.
fn built_in(s: &AppState, key: &str) -> String {
    let storm = s.config.storm;
    match key {
        "storm_threshold" => format!("engine default: {}", storm.threshold),
        "storm_window_s" => format!("engine default: {}", storm.window_s),
        _ => {
            let v = &json!(Policy::default())[key.trim_start_matches("policy.")];
            let shown = match v {
                Value::Null if key == "policy.quorum" => "a majority of live regions".to_owned(),
                Value::Null => "never".to_owned(),
                Value::Bool(b) => (if *b { "yes" } else { "no" }).to_owned(),
                Value::Array(a) if a.is_empty() => "none".to_owned(),
                other => other.to_string(),
            };
            format!("built-in: {shown}")
        }
    }
}

async fn render(
    s: &AppState,
    auth: &SignedIn,
    values: &HashMap<String, String>,
    error: Option<&ApiError>,
    saved: bool,
) -> Response {
    let channels = match s.store.list_channels(auth.tenant()).await {
        Ok(c) => c,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let status = error.map_or(StatusCode::OK, |e| e.status);
    let field_of = |e: &ApiError| e.field.as_deref().map(|f| f.split('[').next().unwrap_or(f).to_owned());
    let general = error.filter(|e| field_of(e).is_none_or(|f| !FIELDS.iter().any(|(k, _, _)| *k == f)));
    let body = html! {
        h1 { "Alerting defaults" }
        p.sub { "Every monitor uses these for the policy fields it does not set itself; an empty field here means the built-in default. Changing a value changes the policy of every monitor that inherits it. Admins and owners can change them." }
        @if saved { p.notice #notice role="status" { "Alerting defaults saved." } }
        @if let Some(e) = general { p.error #form-error role="alert" { (e.message) } }
        @if auth.may_admin() {
            form.monitor #alerting-defaults method="post" action="/settings/alerting" novalidate {
                input type="hidden" name="csrf" value=(auth.csrf);
                @for (key, label, hint) in FIELDS { (field(s, (key, label, hint), values, &channels, error.filter(|e| field_of(e).as_deref() == Some(key)))) }
                button type="submit" { "Save defaults" }
            }
        } @else {
            (read_only(s, values, &channels))
        }
    };
    (status, page("Alerting defaults", Some(auth), body)).into_response()
}

/// The defaults as a table, for those who may read but not change them.
fn read_only(s: &AppState, values: &HashMap<String, String>, channels: &[ChannelRecord]) -> Markup {
    html! {
        table #alerting-defaults.compact {
            tbody { @for (key, label, _) in FIELDS { tr {
                th { (label) }
                td { @match values.get(key).filter(|v| !v.is_empty()) {
                    Some(v) if key == "policy.escalate_to" => (channel_names(v, channels)),
                    Some(v) if key == "policy.quorum" && v == "majority" => "a majority of live regions",
                    Some(v) => (v),
                    None => span.sub { "not set (" (built_in(s, key)) ")" },
                } }
            } } }
        }
    }
}

/// Channel ids (comma-separated) as the channels' names.
fn channel_names(ids: &str, channels: &[ChannelRecord]) -> String {
    let name = |id: &str| channels.iter().find(|c| c.id.to_string() == id).map_or(id.to_owned(), |c| c.name.clone());
    ids.split(',').map(str::trim).filter(|i| !i.is_empty()).map(name).collect::<Vec<_>>().join(", ")
}

fn field(
    s: &AppState,
    (key, label, hint): (&str, &str, &str),
    values: &HashMap<String, String>,
    channels: &[ChannelRecord],
    error: Option<&ApiError>,
) -> Markup {
    let id = format!("f-{}", key.replace('.', "-"));
    let error_id = format!("{id}-error");
    let message = error.map(|e| e.message.strip_prefix(&format!("{key}: ")).unwrap_or(&e.message).to_owned());
    let value = values.get(key).map(String::as_str).unwrap_or("");
    let described = message.as_ref().map(|_| &error_id);
    html! {
        div.field {
            label for=(id) { (label) }
            @match key {
                "policy.notify_on_resolve" => select #(id) name=(key) aria-describedby=[described] {
                    option value="" { "not set" }
                    option value="yes" selected[value == "yes"] { "yes" }
                    option value="no" selected[value == "no"] { "no" }
                },
                "policy.quorum" => select #(id) name=(key) aria-describedby=[described] {
                    option value="" { "not set" }
                    option value="majority" selected[value == "majority"] { "a majority of live regions" }
                    @for n in QUORUM_COUNTS { option value=(n) selected[value == n.to_string()] { (n) " region" @if n != 1 { "s" } } }
                },
                "policy.escalate_to" => select #(id) name=(key) multiple size=(channels.len().clamp(2, 6)) aria-describedby=[described] {
                    @let chosen: Vec<&str> = value.split(',').map(str::trim).collect();
                    @for c in channels { option value=(c.id) selected[chosen.contains(&c.id.to_string().as_str())] { (c.name) " (" (c.kind.as_str()) ")" } }
                },
                _ => input #(id) type="text" name=(key) value=(value) aria-describedby=[described];,
            }
            span.sub { (built_in(s, key)) @if !hint.is_empty() { "; " (hint) } }
            @if let Some(m) = message { p.error #(error_id) role="alert" { (m) } }
        }
    }
}

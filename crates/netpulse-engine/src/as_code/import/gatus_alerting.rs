//! Gatus `alerting` providers as NetPulse channels (one per provider, named after it; secrets
//! as `${VAR}` placeholders), and an endpoint's `alerts[]` as the monitor's `channels` and
//! policy (`failure-threshold` → `confirm_threshold`, `success-threshold` →
//! `recovery_threshold`, `send-on-resolved` → `notify_on_resolve`,
//! `minimum-reminder-interval` → `reminder_interval_s`), each alert over its provider's
//! `default-alert`.
//!
//! Keys checked against Gatus v5's source (TwiN/gatus): the provider names are the YAML tags
//! of `alerting/config.go` (01131755), each provider's keys those of its
//! `alerting/provider/<name>/<name>.go` struct (e.g. telegram 037386ae, gotify and email
//! 08742e4a, opsgenie 168c1547, teamsworkflows, ntfy's `token`), an alert's those of
//! `alerting/alert/alert.go` (`minimum-reminder-interval` in v5.x).

use super::{channel_fields, go_duration_s, normal_url, Draft, Field, FieldMap, Report};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Gatus provider → NetPulse kind, and its fields → the channel's.
const PROVIDERS: [(&str, &str, &[FieldMap]); 14] = [
    ("slack", "slack", &[("webhook-url", "url", Field::Secret)]),
    ("mattermost", "slack", &[("webhook-url", "url", Field::Secret)]),
    ("discord", "discord", &[("webhook-url", "url", Field::Secret)]),
    ("teams", "teams", &[("webhook-url", "url", Field::Secret)]),
    ("teams-workflows", "teams", &[("webhook-url", "url", Field::Secret)]),
    ("googlechat", "google_chat", &[("webhook-url", "url", Field::Secret)]),
    ("pagerduty", "pagerduty", &[("integration-key", "secret", Field::Secret)]),
    (
        "telegram",
        "telegram",
        &[("token", "secret", Field::Secret), ("id", "chat_id", Field::Plain), ("api-url", "url", Field::Plain)],
    ),
    (
        "ntfy",
        "ntfy",
        &[("topic", "topic", Field::Secret), ("url", "url", Field::Plain), ("token", "secret", Field::Secret)],
    ),
    (
        "pushover",
        "pushover",
        &[("application-token", "secret", Field::Secret), ("user-key", "user_key", Field::Secret)],
    ),
    ("gotify", "gotify", &[("server-url", "url", Field::Plain), ("token", "secret", Field::Secret)]),
    (
        "matrix",
        "matrix",
        &[
            ("server-url", "url", Field::Plain),
            ("access-token", "secret", Field::Secret),
            ("internal-room-id", "room_id", Field::Plain),
        ],
    ),
    ("opsgenie", "opsgenie", &[("api-key", "secret", Field::Secret)]),
    ("email", "email", &[("to", "url", Field::Plain)]),
];

/// The providers that became channels: provider → (channel name, its `default-alert`).
#[derive(Debug, Default)]
pub struct Providers(BTreeMap<String, (String, Map<String, Value>)>);

/// The channels of `alerting`, added to `draft`.
pub fn channels(alerting: &Map<String, Value>, draft: &mut Draft, report: &mut Report) -> Providers {
    let mut out = Providers::default();
    for (provider, v) in alerting {
        let what = format!("alerting.{provider}");
        let Some(p) = v.as_object() else {
            report.skip(&what, "is not a table");
            continue;
        };
        let fields = match provider.as_str() {
            "custom" => Some(custom(p, &what, report)),
            _ => mapped(provider, p, &what, report),
        };
        let Some(fields) = fields else { continue };
        if let Some(o) = p.get("overrides") {
            let groups = o.as_array().map_or(0, Vec::len);
            report.skip(format!("{what}.overrides"), format!("{groups} per-group override(s) not imported: NetPulse has one channel per destination; add a channel per group by hand"));
        }
        let default_alert = p.get("default-alert").and_then(Value::as_object).cloned().unwrap_or_default();
        out.0.insert(provider.clone(), (provider.clone(), default_alert));
        draft.channels.push((provider.clone(), fields, format!("alerting provider `{provider}`")));
    }
    out
}

/// A provider of [`PROVIDERS`] as a channel; `None`, reported, for another.
fn mapped(provider: &str, p: &Map<String, Value>, what: &str, report: &mut Report) -> Option<Map<String, Value>> {
    let Some((_, kind, fields)) = PROVIDERS.iter().find(|(g, _, _)| *g == provider) else {
        report.skip(what, "NetPulse has no channel of this kind; use a templated_webhook by hand");
        return None;
    };
    if provider == "mattermost" {
        report.approximate(what, "a `slack` channel (Mattermost takes Slack's incoming-webhook messages)");
    }
    let mut out = Map::new();
    if provider == "matrix" {
        out.insert("url".into(), json!("https://matrix-client.matrix.org")); // Gatus's default
    }
    let rest = channel_fields(kind, fields, p, provider, what, &mut out, report);
    for key in rest.iter().filter(|k| !["default-alert", "overrides"].contains(&k.as_str())) {
        match provider {
            "email" => report.approximate(
                format!("{what}.{key}"),
                "not imported: NetPulse sends mail through the engine's [smtp] settings",
            ),
            _ => report.skip(format!("{what}.{key}"), "not imported (NetPulse has no such channel setting)"),
        }
    }
    Some(out)
}

/// Gatus's `custom` provider as a `templated_webhook`; its `[PLACEHOLDERS]` as `{{fields}}`.
fn custom(p: &Map<String, Value>, what: &str, report: &mut Report) -> Map<String, Value> {
    const PLACEHOLDERS: [(&str, &str); 5] = [
        ("[ENDPOINT_NAME]", "{{monitor.name}}"),
        ("[ENDPOINT_URL]", "{{monitor.target}}"),
        ("[ALERT_DESCRIPTION]", "{{summary}}"),
        ("[RESULT_ERRORS]", "{{error}}"),
        ("[ALERT_TRIGGERED_OR_RESOLVED]", "{{event}}"),
    ];
    let url = normal_url(p.get("url").and_then(Value::as_str).unwrap_or_default());
    let mut out = json!({ "kind": "templated_webhook", "url": url });
    if let Some(m) = p.get("method").and_then(Value::as_str) {
        out["method"] = json!(m.to_ascii_uppercase());
    }
    let mut body = p.get("body").and_then(Value::as_str).unwrap_or_default().to_owned();
    for (gatus, netpulse) in PLACEHOLDERS {
        body = body.replace(gatus, netpulse);
    }
    if body.contains("{{event}}") {
        report.approximate(
            format!("{what}.body"),
            "[ALERT_TRIGGERED_OR_RESOLVED] is {{event}}: `opened`/`resolved` instead of TRIGGERED/RESOLVED",
        );
    }
    if body.contains("[ENDPOINT_GROUP]") {
        body = body.replace("[ENDPOINT_GROUP]", "");
        report.approximate(format!("{what}.body"), "[ENDPOINT_GROUP] left empty: a notice carries no group");
    }
    if body.trim().is_empty() {
        body = r#"{"title": "{{title}}", "event": "{{event}}", "error": "{{error}}"}"#.into();
        report.approximate(format!("{what}.body"), "none given: a JSON body with the title, event and error");
    }
    let mut headers = Map::new();
    for (h, v) in p.get("headers").and_then(Value::as_object).into_iter().flatten() {
        let v = v.as_str().unwrap_or_default();
        if h.eq_ignore_ascii_case("content-type") {
            out["content_type"] = json!(v);
        } else {
            headers
                .insert(h.clone(), report.secret("custom", &format!("header_{h}"), &format!("{what}.headers.{h}"), v));
        }
    }
    if out.get("content_type").is_none() && !body.trim_start().starts_with(['{', '[']) {
        out["content_type"] = json!("text/plain");
    }
    out["body_template"] = json!(body);
    if !headers.is_empty() {
        out["headers"] = Value::Object(headers);
    }
    for k in
        p.keys().filter(|k| !["url", "method", "body", "headers", "default-alert", "overrides"].contains(&k.as_str()))
    {
        report.skip(format!("{what}.{k}"), "not imported (NetPulse has no such channel setting)");
    }
    out.as_object().cloned().unwrap_or_default()
}

impl Providers {
    /// An endpoint's `alerts` as its channels and policy fields.
    pub fn for_alerts(
        &self,
        alerts: Option<&Value>,
        what: &str,
        report: &mut Report,
    ) -> (Vec<String>, Map<String, Value>) {
        let mut channels: Vec<String> = Vec::new();
        let mut failure: Vec<u64> = Vec::new();
        let mut success: Vec<u64> = Vec::new();
        let mut resolved: Vec<bool> = Vec::new();
        let mut policy = Map::new();
        for a in alerts.and_then(Value::as_array).into_iter().flatten() {
            let kind = a["type"].as_str().unwrap_or_default();
            let Some((channel, defaults)) = self.0.get(kind) else {
                report.skip(format!("{what}: alert `{kind}`"), "its provider is not configured or not imported");
                continue;
            };
            let get = |k: &str| a.get(k).filter(|v| !v.is_null()).or_else(|| defaults.get(k)).cloned();
            if get("enabled") == Some(json!(false)) {
                report.skip(format!("{what}: alert `{kind}`"), "`enabled: false`");
                continue;
            }
            if !channels.contains(channel) {
                channels.push(channel.clone());
            }
            failure.push(get("failure-threshold").and_then(|v| v.as_u64()).unwrap_or(3));
            success.push(get("success-threshold").and_then(|v| v.as_u64()).unwrap_or(2));
            resolved.push(get("send-on-resolved").and_then(|v| v.as_bool()).unwrap_or(false));
            if let Some(s) = get("minimum-reminder-interval").and_then(|v| v.as_str().and_then(go_duration_s)) {
                policy.insert("reminder_interval_s".into(), json!(s.ceil() as u64));
            }
            if get("description").is_some() {
                report.approximate(
                    format!("{what}: alert `{kind}`.description"),
                    "not carried over: NetPulse's notices say what failed themselves",
                );
            }
        }
        if channels.is_empty() {
            return (channels, policy);
        }
        let first = |v: &[u64], field: &str, gatus: &str, report: &mut Report| {
            let min = v.iter().copied().min().unwrap_or(1).max(1);
            if v.iter().any(|&x| x != min) {
                report.approximate(
                    format!("{what}: {gatus}"),
                    format!("{field} {min}, the smallest of its alerts' (NetPulse has one per monitor)"),
                );
            }
            min
        };
        policy.insert(
            "confirm_threshold".into(),
            json!(first(&failure, "confirm_threshold", "failure-threshold", report)),
        );
        policy.insert(
            "recovery_threshold".into(),
            json!(first(&success, "recovery_threshold", "success-threshold", report)),
        );
        let any = resolved.iter().any(|r| *r);
        if any && resolved.iter().any(|r| !r) {
            report.approximate(
                format!("{what}: send-on-resolved"),
                "notify_on_resolve true for all its channels (some of its alerts had it)",
            );
        }
        policy.insert("notify_on_resolve".into(), json!(any));
        (channels, policy)
    }
}

//! Uptime Kuma's JSON backup as NetPulse objects: `notificationList[]` (each `config` a JSON
//! text) as channels named after the notification, `monitorList[]` by `type` (`http`,
//! `keyword`, `json-query` → `http`; `port` → `tcp`; `ping`; `dns`; `push` → `heartbeat`),
//! `maxretries` as the policy's `confirm_threshold`, `notificationIDList` as the channels,
//! a `group` monitor's name as a tag of its members. Other types are reported and skipped.
//!
//! Keys checked against Uptime Kuma's source (louislam/uptime-kuma): each notification's
//! `config` keys against the provider that reads them, `server/notification-providers/*.js`
//! (slack, mattermost, discord, teams, google-chat, telegram, pagerduty, ntfy, pushover,
//! gotify, matrix, opsgenie, smtp, webhook; e.g. discord.js 01749b79, teams.js 063d64ee,
//! opsgenie.js 0f7ba562, pagerduty.js 18a548e8, telegram.js 06ee68dc, webhook.js 0c35ce1a),
//! and the `type` names their `name` fields give; the monitor keys against `toJSON` in
//! `server/model/monitor.js` of the 1.23 line, whose shape Settings → Backup → Export writes
//! (2.0 has no backup export).

use super::{certificate_monitor, channel_fields, literal, normal_url, unique, Draft, Field, FieldMap, Report};
use crate::as_code::model::FileError;
use netpulse_core::assertion::Assertion;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Kuma notification type → NetPulse kind, and its `config` fields → the channel's.
const NOTIFICATIONS: [(&str, &str, &[FieldMap]); 14] = [
    ("slack", "slack", &[("slackwebhookURL", "url", Field::Secret)]),
    ("mattermost", "slack", &[("mattermostWebhookUrl", "url", Field::Secret)]),
    ("discord", "discord", &[("discordWebhookUrl", "url", Field::Secret)]),
    ("teams", "teams", &[("webhookUrl", "url", Field::Secret)]),
    ("GoogleChat", "google_chat", &[("googleChatWebhookURL", "url", Field::Secret)]),
    (
        "telegram",
        "telegram",
        &[("telegramBotToken", "secret", Field::Secret), ("telegramChatID", "chat_id", Field::Plain)],
    ),
    (
        "PagerDuty",
        "pagerduty",
        &[("pagerdutyIntegrationKey", "secret", Field::Secret), ("pagerdutyIntegrationUrl", "url", Field::Plain)],
    ),
    (
        "ntfy",
        "ntfy",
        &[
            ("ntfyserverurl", "url", Field::Plain),
            ("ntfytopic", "topic", Field::Secret),
            ("ntfyaccesstoken", "secret", Field::Secret),
        ],
    ),
    (
        "pushover",
        "pushover",
        &[("pushoverapptoken", "secret", Field::Secret), ("pushoveruserkey", "user_key", Field::Secret)],
    ),
    (
        "gotify",
        "gotify",
        &[("gotifyserverurl", "url", Field::Plain), ("gotifyapplicationToken", "secret", Field::Secret)],
    ),
    (
        "matrix",
        "matrix",
        &[
            ("homeserverUrl", "url", Field::Plain),
            ("accessToken", "secret", Field::Secret),
            ("internalRoomId", "room_id", Field::Plain),
        ],
    ),
    (
        "Opsgenie",
        "opsgenie",
        &[("opsgenieApiKey", "secret", Field::Secret), ("opsgenieRegion", "region", Field::Plain)],
    ),
    ("smtp", "email", &[("smtpTo", "url", Field::Plain)]),
    ("webhook", "webhook", &[("webhookURL", "url", Field::Plain)]),
];

/// Keys of every notification's `config` that say nothing about where it goes.
const BOOKKEEPING: [&str; 6] = ["name", "type", "isDefault", "applyExisting", "id", "active"];

/// Parse a backup into a draft; only a file that is not a Kuma backup at all is an error.
pub fn import(text: &str, report: &mut Report) -> Result<Draft, FileError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        FileError::new("(file)", format!("is not valid JSON: {e}; use the file Settings → Backup → Export wrote"))
    })?;
    let Some(top) = doc.as_object().filter(|t| t.contains_key("monitorList")) else {
        return Err(FileError::new(
            "monitorList",
            "is missing: this is not an Uptime Kuma backup (Settings → Backup → Export)",
        ));
    };
    let list = |key: &str| -> Result<Vec<Value>, FileError> {
        match top.get(key) {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::Array(a)) => Ok(a.clone()),
            Some(_) => Err(FileError::new(key, "must be a list")),
        }
    };
    let (notifications, monitors) = (list("notificationList")?, list("monitorList")?);
    let mut draft = Draft::default();
    let channels = notification_channels(&notifications, &mut draft, report);
    let groups: HashMap<i64, String> = monitors
        .iter()
        .filter(|m| m["type"] == "group")
        .filter_map(|m| Some((m["id"].as_i64()?, m["name"].as_str()?.to_owned())))
        .collect();
    for m in monitors.iter().filter(|m| m["type"] != "group") {
        monitor(m, &channels, &groups, &mut draft, report);
    }
    if !groups.is_empty() {
        report.approximate("group monitors", "their names are tags of their members (NetPulse has no group monitor)");
    }
    for k in ["statusPageList", "proxyList", "maintenanceList"] {
        if top.get(k).and_then(Value::as_array).is_some_and(|l| !l.is_empty()) {
            report.skip(format!("`{k}`"), "not imported");
        }
    }
    Ok(draft)
}

/// The notifications as channels; their ids → channel names.
fn notification_channels(list: &[Value], draft: &mut Draft, report: &mut Report) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for n in list {
        let name = n["name"].as_str().unwrap_or_default();
        let what = format!("notification `{name}`");
        let name = unique(name, &draft.channels.iter().map(|c| c.0.as_str()).collect::<Vec<_>>());
        if what != format!("notification `{name}`") {
            report.approximate(&what, format!("named `{name}`: another notification has the same name"));
        }
        let config: Map<String, Value> = match n["config"].as_str().map(serde_json::from_str) {
            Some(Ok(Value::Object(c))) => c,
            _ => {
                report.skip(&what, "its `config` is not a JSON object");
                continue;
            }
        };
        let kind = config.get("type").and_then(Value::as_str).unwrap_or_default();
        let Some((_, np_kind, table)) = NOTIFICATIONS.iter().find(|(t, _, _)| t.eq_ignore_ascii_case(kind)) else {
            report.skip(&what, format!("type {kind}: NetPulse has no channel of this kind"));
            continue;
        };
        let mut fields = Map::new();
        let rest = channel_fields(np_kind, table, &config, &name, &what, &mut fields, report);
        if *np_kind == "email" {
            email_copies(&config, &mut fields, &what, report);
        }
        let own_server = |k: &str| *np_kind == "email" && k.starts_with("smtp"); // reported once below
        for k in rest.iter().filter(|k| !BOOKKEEPING.contains(&k.as_str()) && !own_server(k)) {
            let v = &config[k.as_str()];
            if !(v.is_null() || v == "" || v == false) {
                report.skip(format!("{what}: {k}"), "not imported (NetPulse has no such channel setting)");
            }
        }
        match *np_kind {
            "webhook" => report.approximate(
                &what,
                "a `webhook` channel: NetPulse's own signed JSON body, not Kuma's {heartbeat, monitor, msg}",
            ),
            "email" => report
                .approximate(&what, "sent through the engine's [smtp] settings, not this notification's SMTP server"),
            _ => {}
        }
        if let Some(id) = n["id"].as_i64() {
            out.insert(id.to_string(), name.clone());
        }
        draft.channels.push((name, fields, what));
    }
    out
}

/// Kuma's `smtpCC` addresses join the recipients (NetPulse's mail has no Cc); its `smtpBCC`
/// ones are reported, not imported: every NetPulse recipient sees the others.
fn email_copies(config: &Map<String, Value>, fields: &mut Map<String, Value>, what: &str, report: &mut Report) {
    let listed = |k: &str| -> Vec<String> {
        let text = config.get(k).and_then(Value::as_str).unwrap_or_default();
        text.split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned).collect()
    };
    let cc = listed("smtpCC");
    if !cc.is_empty() {
        let to = fields.get("url").and_then(Value::as_str).unwrap_or_default();
        let all: Vec<String> = to.split(", ").filter(|a| !a.is_empty()).map(str::to_owned).chain(cc).collect();
        fields.insert("url".into(), json!(all.join(", ")));
        report.approximate(format!("{what}: smtpCC"), "its addresses are recipients like smtpTo's");
    }
    if !listed("smtpBCC").is_empty() {
        report.skip(
            format!("{what}: smtpBCC"),
            "not imported: NetPulse's recipients see one another; add a second e-mail channel for them",
        );
    }
}

fn monitor(
    m: &Value,
    channels: &HashMap<String, String>,
    groups: &HashMap<i64, String>,
    draft: &mut Draft,
    report: &mut Report,
) {
    let name = m["name"].as_str().unwrap_or_default().to_owned();
    let what = format!("monitor `{name}`");
    let kind = m["type"].as_str().unwrap_or_default();
    if m["upsideDown"] == true {
        report.skip(&what, "upside-down mode (up when unreachable) has no NetPulse equivalent");
        return;
    }
    let Some(mut fields) = check(kind, m, &what, report) else { return };
    let interval = m["interval"].as_u64().unwrap_or(60).max(1);
    if kind != "push" {
        fields.insert("interval_s".into(), json!(interval)); // a push monitor's is its grace
    }
    if let Some(t) = m["timeout"].as_f64().filter(|t| *t > 0.0 && kind != "push") {
        fields.insert("timeout_ms".into(), json!(((t * 1000.0) as u64).min(interval * 1000)));
    }
    if m["active"] == false || m["active"] == 0 {
        fields.insert("paused".into(), json!(true));
    }
    let mut tags: Vec<String> = m["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let tag = t["name"].as_str()?;
            Some(match t["value"].as_str().filter(|v| !v.is_empty()) {
                Some(v) => format!("{tag}:{v}"),
                None => tag.to_owned(),
            })
        })
        .collect();
    if let Some(g) = m["parent"].as_i64().and_then(|p| groups.get(&p)) {
        tags.insert(0, g.clone());
    }
    if !tags.is_empty() {
        fields.insert("tags".into(), json!(tags));
    }
    let ids = m["notificationIDList"].as_object().into_iter().flatten().filter(|(_, on)| **on == true);
    let names: Vec<String> = ids.filter_map(|(id, _)| channels.get(id).cloned()).collect();
    fields.insert("channels".into(), json!(names));
    let mut policy = Map::new();
    if kind != "push" {
        policy.insert("confirm_threshold".into(), json!(m["maxretries"].as_u64().unwrap_or(0) + 1));
        policy.insert("recovery_threshold".into(), json!(1));
    }
    if let Some(r) = m["resendInterval"].as_u64().filter(|r| *r > 0) {
        policy.insert("reminder_interval_s".into(), json!(r * interval));
    }
    if !policy.is_empty() {
        fields.insert("policy".into(), Value::Object(policy));
    }
    if m["expiryNotification"] == true {
        let url = m["url"].as_str().unwrap_or_default();
        certificate_monitor(&name, url, 21, &fields, &format!("{what}: expiryNotification"), draft, report);
    }
    draft.monitors.push((name, fields, what));
}

/// The check of a monitor of `kind`; `None`, reported, for a type NetPulse does not check.
fn check(kind: &str, m: &Value, what: &str, report: &mut Report) -> Option<Map<String, Value>> {
    let host = m["hostname"].as_str().unwrap_or_default();
    let out = match kind {
        "http" | "keyword" | "json-query" => http(kind, m, what, report)?,
        "port" => json!({ "kind": "tcp", "host": host, "port": m["port"] }),
        "ping" => json!({ "kind": "ping", "host": host }),
        "dns" => {
            let mut d =
                json!({ "kind": "dns", "query": host, "record_type": m["dns_resolve_type"].as_str().unwrap_or("A") });
            if let Some(ip) = m["dns_resolve_server"].as_str().and_then(|s| s.parse::<std::net::IpAddr>().ok()) {
                let port = m["port"].as_u64().filter(|p| *p > 0).unwrap_or(53) as u16;
                d["resolver"] = json!(std::net::SocketAddr::new(ip, port).to_string());
            }
            d
        }
        "push" => {
            report.approximate(
                what,
                "a heartbeat: push to the `heartbeat_url` NetPulse shows for it instead of Kuma's /api/push/TOKEN",
            );
            let interval = m["interval"].as_u64().unwrap_or(60);
            if interval > 86_400 {
                report.approximate(what, format!("interval {interval} s: grace_s 86400, NetPulse's longest"));
            }
            json!({ "kind": "heartbeat", "grace_s": interval.min(86_400) })
        }
        other => {
            report.skip(what, format!("type {other}: NetPulse has no such check"));
            return None;
        }
    };
    out.as_object().cloned()
}

fn http(kind: &str, m: &Value, what: &str, report: &mut Report) -> Option<Value> {
    let url = m["url"].as_str().unwrap_or_default();
    let mut h = json!({ "kind": "http", "url": normal_url(url) });
    if let Some(method) = m["method"].as_str().filter(|x| *x != "GET") {
        h["method"] = json!(method);
    }
    if let Some(body) = m["body"].as_str().filter(|b| !b.is_empty()) {
        h["body"] = json!(body);
    }
    match m["headers"].as_str().filter(|s| !s.trim().is_empty()).map(serde_json::from_str::<Map<String, Value>>) {
        None => {}
        Some(Ok(headers)) => {
            let list: Vec<Value> =
                headers.iter().map(|(k, v)| json!({ "name": k, "value": v.as_str().unwrap_or_default() })).collect();
            h["headers"] = json!(list);
        }
        Some(Err(_)) => report.skip(format!("{what}: headers"), "not a JSON object"),
    }
    let codes: Vec<&str> =
        m["accepted_statuscodes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if !codes.is_empty() && codes != ["200-399"] {
        h["expected_status"] = json!(codes.join(","));
    }
    if m["ignoreTls"] == true {
        h["verify_tls"] = json!(false);
    }
    if m["maxredirects"] == 0 {
        h["follow_redirects"] = json!(false);
    }
    if m["authMethod"].as_str().is_some_and(|a| !a.is_empty() && a != "null")
        || m["basic_auth_user"].as_str().is_some_and(|u| !u.is_empty())
    {
        report.skip(
            format!("{what}: authentication"),
            "not imported: add an `Authorization` header (its value from a ${VAR})",
        );
    }
    match kind {
        "keyword" => {
            let keyword = m["keyword"].as_str().unwrap_or_default();
            let field = if m["invertKeyword"] == true { "keyword_absent" } else { "keyword" };
            h[field] = json!(keyword);
        }
        "json-query" => {
            let path = m["jsonPath"].as_str().unwrap_or_default();
            let path = if path.starts_with('$') { path.to_owned() } else { format!("$.{path}") };
            let expected = m["expectedValue"].as_str().unwrap_or_default();
            let text = format!("{path} == {}", literal(expected));
            match Assertion::parse(&text) {
                Ok(_) => h["assertions"] = json!([text]),
                Err(e) => report.skip(format!("{what}: json query `{path}`"), format!("as `{text}` it {e}")),
            }
        }
        _ => {}
    }
    Some(h)
}

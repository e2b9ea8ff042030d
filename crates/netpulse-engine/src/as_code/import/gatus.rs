//! Gatus's `config.yaml` as NetPulse monitors: each of `endpoints[]` by its URL's scheme
//! (`http(s)://` → `http`, `tcp://` → `tcp`, `icmp://` → `ping`, `tls://` → `tls`,
//! `ws(s)://` → `websocket`, a `dns:` block → `dns`), its `conditions` through
//! [`super::gatus_conditions`], its `alerts[]` as the monitor's channels and policy; each of
//! `external-endpoints[]` as a `heartbeat`. The `alerting` providers are
//! [`super::gatus_alerting`]'s.
//!
//! Keys checked against Gatus v5's source (TwiN/gatus, module `github.com/TwiN/gatus/v5`):
//! the YAML tags of the endpoint (`config/endpoint`: its `dns` `query-name`/`query-type`, the
//! external endpoint's `heartbeat.interval`), of `client/config.go` (`insecure`,
//! `ignore-redirect`, `timeout`), of `alerting/alert/alert.go` and of the providers (see
//! [`super::gatus_alerting`]).

use super::gatus_conditions::{self, Target};
use super::{certificate_monitor, gatus_alerting, go_duration_s, normal_url, Draft, Report};
use crate::as_code::model::FileError;
use serde_json::{json, Map, Value};

/// Sections of a Gatus file this importer reads; any other is reported as not imported.
const READ: [&str; 3] = ["endpoints", "external-endpoints", "alerting"];

/// Fields of an endpoint this importer reads (`ui` is presentation only and left out silently).
const ENDPOINT_FIELDS: [&str; 13] = [
    "name",
    "group",
    "url",
    "method",
    "headers",
    "body",
    "interval",
    "conditions",
    "alerts",
    "dns",
    "client",
    "enabled",
    "ui",
];

/// Parse a Gatus file into a draft; only a file that is not a Gatus file at all is an error.
pub fn import(text: &str, report: &mut Report) -> Result<Draft, FileError> {
    let doc: Value = serde_norway::from_str(text).map_err(|e| {
        FileError::new("(file)", format!("is not valid YAML: {e}; fix the syntax there (Gatus reads the same YAML)"))
    })?;
    let top = match doc {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        _ => return Err(FileError::new("(file)", "must be a Gatus configuration: a table with `endpoints:`")),
    };
    for k in top.keys().filter(|k| !READ.contains(&k.as_str())) {
        report.skip(format!("`{k}`"), "configures the Gatus server itself, not monitors; not imported");
    }
    let endpoints = list(&top, "endpoints")?;
    let externals = list(&top, "external-endpoints")?;
    let mut draft = Draft::default();
    let alerting = match top.get("alerting") {
        None | Some(Value::Null) => gatus_alerting::Providers::default(),
        Some(Value::Object(a)) => gatus_alerting::channels(a, &mut draft, report),
        Some(_) => return Err(FileError::new("alerting", "must be a table of providers (slack:, pagerduty:, …)")),
    };
    let names = unique_names(&endpoints);
    for (i, (e, name)) in endpoints.iter().zip(&names).enumerate() {
        let Some((name, e)) = endpoint_ref(e, name.as_deref(), &format!("endpoints[{i}]"), report) else { continue };
        endpoint(&name, e, &alerting, &mut draft, report);
    }
    for (i, e) in externals.iter().enumerate() {
        let Some((name, e)) = endpoint_ref(e, None, &format!("external-endpoints[{i}]"), report) else { continue };
        external(&name, e, &alerting, &mut draft, report);
    }
    Ok(draft)
}

/// The list `key` of the file (absent: empty), refused when it is something else.
fn list(top: &Map<String, Value>, key: &str) -> Result<Vec<Value>, FileError> {
    match top.get(key) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) => Ok(a.clone()),
        Some(_) => Err(FileError::new(key, "must be a list of endpoints (`- name: …`)")),
    }
}

/// NetPulse names are unique in an organisation, Gatus names only within a group: a name used
/// twice becomes `group/name`.
fn unique_names(endpoints: &[Value]) -> Vec<Option<String>> {
    let plain = |e: &Value| e["name"].as_str().map(str::to_owned);
    let all: Vec<Option<String>> = endpoints.iter().map(plain).collect();
    endpoints
        .iter()
        .zip(&all)
        .map(|(e, n)| {
            let n = n.clone()?;
            let twice = all.iter().filter(|m| m.as_deref() == Some(n.as_str())).count() > 1;
            Some(match e["group"].as_str() {
                Some(g) if twice => format!("{g}/{n}"),
                _ => n,
            })
        })
        .collect()
}

/// An endpoint's name (`renamed`, when [`unique_names`] changed it) and table; `None`, reported, when it has none.
fn endpoint_ref<'a>(
    e: &'a Value,
    renamed: Option<&str>,
    path: &str,
    report: &mut Report,
) -> Option<(String, &'a Map<String, Value>)> {
    let Some(m) = e.as_object() else {
        report.skip(path, "is not a table");
        return None;
    };
    let Some(name) = m.get("name").and_then(Value::as_str) else {
        report.skip(path, "has no `name` (Gatus requires one)");
        return None;
    };
    let name = renamed.unwrap_or(name).to_owned();
    if name != m["name"].as_str().unwrap_or_default() {
        report.approximate(
            format!("endpoint `{}`", m["name"].as_str().unwrap_or_default()),
            format!("named `{name}`: another endpoint has the same name (NetPulse names are unique)"),
        );
    }
    Some((name, m))
}

/// One endpoint as a monitor (and a `tls` monitor beside it for a certificate condition).
fn endpoint(
    name: &str,
    e: &Map<String, Value>,
    alerting: &gatus_alerting::Providers,
    draft: &mut Draft,
    report: &mut Report,
) {
    let what = format!("endpoint `{name}`");
    for k in e.keys().filter(|k| !ENDPOINT_FIELDS.contains(&k.as_str())) {
        report.skip(format!("{what}: `{k}`"), "not imported (NetPulse has no such setting)");
    }
    if e.get("enabled") == Some(&json!(false)) {
        report.skip(&what, "`enabled: false`");
        return;
    }
    let mut fields = match target(e, &what, report) {
        Some(f) => f,
        None => return,
    };
    let kind = Target::of(fields["kind"].as_str().unwrap_or_default());
    let conditions: Vec<&str> =
        e.get("conditions").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let mapped = gatus_conditions::map(kind, &conditions, &what, report);
    fields.extend(mapped.fields);
    common(e, &mut fields, &what, alerting, report);
    if let (Some(days), Some(url)) = (mapped.warn_days, e.get("url").and_then(Value::as_str)) {
        certificate_monitor(name, url, days, &fields, &format!("{what}: [CERTIFICATE_EXPIRATION]"), draft, report);
    }
    draft.monitors.push((name.to_owned(), fields, what));
}

/// An external endpoint (pushed to) as a `heartbeat` monitor.
fn external(
    name: &str,
    e: &Map<String, Value>,
    alerting: &gatus_alerting::Providers,
    draft: &mut Draft,
    report: &mut Report,
) {
    let what = format!("external endpoint `{name}`");
    if e.get("enabled") == Some(&json!(false)) {
        report.skip(&what, "`enabled: false`");
        return;
    }
    let mut fields = Map::new();
    fields.insert("kind".into(), json!("heartbeat"));
    match e.get("heartbeat").and_then(|h| h["interval"].as_str()).and_then(go_duration_s) {
        Some(s) => {
            const MAX_GRACE_S: u64 = 86_400; // the API's bound
            let grace = s.ceil() as u64;
            if grace > MAX_GRACE_S {
                report.approximate(
                    &what,
                    format!("heartbeat.interval {grace} s: grace_s {MAX_GRACE_S}, NetPulse's longest"),
                );
            }
            fields.insert("grace_s".into(), json!(grace.min(MAX_GRACE_S)));
        }
        None => report.approximate(&what, "no `heartbeat.interval`: missed pushes alert after NetPulse's 60 s grace"),
    }
    report.approximate(&what, "a heartbeat: push to the `heartbeat_url` NetPulse shows for it instead of Gatus's /api/v1/endpoints/{key}/external");
    let mut e = e.clone();
    e.remove("interval"); // a heartbeat's own grace governs it
    common(&e, &mut fields, &what, alerting, report);
    draft.monitors.push((name.to_owned(), fields, what));
}

/// The fields every monitor kind takes: interval, timeout, TLS verification, group, alerts.
fn common(
    e: &Map<String, Value>,
    fields: &mut Map<String, Value>,
    what: &str,
    alerting: &gatus_alerting::Providers,
    report: &mut Report,
) {
    if let Some(iv) = e.get("interval").and_then(Value::as_str) {
        match go_duration_s(iv) {
            Some(s) if s.fract() == 0.0 && s >= 1.0 => {
                fields.insert("interval_s".into(), json!(s as u64));
            }
            Some(s) => {
                let whole = s.ceil().max(1.0) as u64;
                report.approximate(format!("{what}: interval {iv}"), format!("{whole} s (whole seconds)"));
                fields.insert("interval_s".into(), json!(whole));
            }
            None => report.skip(format!("{what}: interval {iv}"), "not a duration (30s, 5m); NetPulse's 60 s is used"),
        }
    }
    if let Some(group) = e.get("group").and_then(Value::as_str) {
        fields.insert("tags".into(), json!([group]));
    }
    client(e, fields, what, report);
    let (channels, policy) = alerting.for_alerts(e.get("alerts"), what, report);
    fields.insert("channels".into(), json!(channels));
    if !policy.is_empty() {
        fields.insert("policy".into(), Value::Object(policy));
    }
}

/// `client:` settings: `insecure` → `verify_tls: false`, `timeout` → `timeout_ms`,
/// `ignore-redirect` → `follow_redirects: false`; others reported.
fn client(e: &Map<String, Value>, fields: &mut Map<String, Value>, what: &str, report: &mut Report) {
    let Some(c) = e.get("client").and_then(Value::as_object) else { return };
    for (k, v) in c {
        match (k.as_str(), v) {
            ("insecure", Value::Bool(true)) if has_tls(fields) => {
                fields.insert("verify_tls".into(), json!(false));
            }
            ("insecure", _) => {}
            ("ignore-redirect", Value::Bool(b)) if fields["kind"] == "http" => {
                fields.insert("follow_redirects".into(), json!(!b));
            }
            ("timeout", Value::String(t)) if go_duration_s(t).is_some() => {
                let ms = (go_duration_s(t).unwrap_or_default() * 1000.0).ceil() as u64;
                fields.insert("timeout_ms".into(), json!(ms));
            }
            _ => report.skip(format!("{what}: client.{k}"), "not imported (NetPulse has no such client setting)"),
        }
    }
}

fn has_tls(fields: &Map<String, Value>) -> bool {
    matches!(fields["kind"].as_str(), Some("http" | "tls" | "websocket"))
}

/// The check an endpoint's `url` (and `dns:`) describes: `kind` and its target fields;
/// `None`, reported, for a scheme NetPulse does not check.
fn target(e: &Map<String, Value>, what: &str, report: &mut Report) -> Option<Map<String, Value>> {
    let url = e.get("url").and_then(Value::as_str).unwrap_or_default();
    if let Some(dns) = e.get("dns").and_then(Value::as_object) {
        return dns_target(url, dns, what, report);
    }
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let out = match scheme {
        "http" | "https" => http_target(url, e, what, report),
        "ws" | "wss" => {
            let mut m = json!({ "kind": "websocket", "url": normal_url(url) });
            if let Some(b) = e.get("body").and_then(Value::as_str) {
                m["send"] = json!(b);
            }
            m
        }
        "tcp" | "tls" => {
            let Some((host, port)) = rest.rsplit_once(':') else {
                report.skip(what, format!("`{url}` has no port; write {scheme}://host:port"));
                return None;
            };
            let Ok(port) = port.parse::<u16>() else {
                report.skip(what, format!("`{url}`: the port is not a number"));
                return None;
            };
            let kind = if scheme == "tcp" { "tcp" } else { "tls" };
            json!({ "kind": kind, "host": host, "port": port })
        }
        "icmp" => json!({ "kind": "ping", "host": rest }),
        "" => {
            report.skip(what, format!("`{url}` has no scheme (http://, tcp://, icmp://, …)"));
            return None;
        }
        other => {
            report.skip(what, format!("{other}:// checks are not supported by NetPulse"));
            return None;
        }
    };
    out.as_object().cloned()
}

fn http_target(url: &str, e: &Map<String, Value>, what: &str, report: &mut Report) -> Value {
    let mut m = json!({ "kind": "http", "url": normal_url(url) });
    if let Some(method) = e.get("method").and_then(Value::as_str) {
        m["method"] = json!(method.to_ascii_uppercase());
    }
    if let Some(b) = e.get("body").and_then(Value::as_str) {
        m["body"] = json!(b);
    }
    if let Some(h) = e.get("headers").and_then(Value::as_object) {
        let headers: Vec<Value> = h
            .iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some(json!({ "name": k, "value": s })),
                other => {
                    report.skip(format!("{what}: header {k}"), format!("{other} is not text"));
                    None
                }
            })
            .collect();
        m["headers"] = json!(headers);
    }
    m
}

fn dns_target(url: &str, dns: &Map<String, Value>, what: &str, report: &mut Report) -> Option<Map<String, Value>> {
    const TYPES: [&str; 6] = ["A", "AAAA", "CNAME", "MX", "TXT", "NS"];
    let query = dns.get("query-name").and_then(Value::as_str).unwrap_or_default();
    let qtype = dns.get("query-type").and_then(Value::as_str).unwrap_or("A").to_ascii_uppercase();
    if !TYPES.contains(&qtype.as_str()) {
        report.skip(what, format!("DNS query type {qtype} is not supported (NetPulse resolves {})", TYPES.join(", ")));
        return None;
    }
    let mut m = json!({ "kind": "dns", "query": query.trim_end_matches('.'), "record_type": qtype });
    let server = url.strip_prefix("udp://").or_else(|| url.strip_prefix("tcp://")).unwrap_or(url);
    let resolver = match server.parse::<std::net::SocketAddr>() {
        Ok(a) => Some(a.to_string()),
        Err(_) => server.parse::<std::net::IpAddr>().ok().map(|ip| std::net::SocketAddr::new(ip, 53).to_string()),
    };
    match resolver {
        Some(r) => m["resolver"] = json!(r),
        None if server.is_empty() => {}
        None => {
            report.approximate(format!("{what}: resolver `{url}`"), "not an IP address: the system resolver is used")
        }
    }
    m.as_object().cloned()
}

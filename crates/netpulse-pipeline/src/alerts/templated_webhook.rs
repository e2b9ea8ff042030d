//! The templated webhook: any HTTP API, with the request written by the user.
//!
//! The channel's `settings` hold the `method` (`POST`, `PUT` or `PATCH`), extra `headers`
//! (name → value, sent as given), the `content_type` (default `application/json`) and a
//! `body_template`: text with `{{field}}` placeholders over the notice's fields ([`FIELDS`]:
//! `monitor.name`, `incident.url`, `event`, …; spaces inside the braces are allowed). That is
//! the whole syntax — no code, loops or filters — so a template cannot do anything but fill
//! in values. When the content type is JSON, every value is inserted JSON-escaped (write
//! `"{{monitor.name}}"` with the quotes), so a monitor name cannot break out of its string;
//! a template that does not render to valid JSON is refused when the channel is saved. A
//! field the notice does not have (no incident, no error) is empty.

use super::message::{compose, link, urgency, Message, Urgency};
use super::post::Outbound;
use netpulse_core::alert::AlertEvent;
use netpulse_store::ChannelRecord;

/// The fields a template can use.
pub const FIELDS: &[&str] = &[
    "event",
    "title",
    "headline",
    "summary",
    "text",
    "severity",
    "link",
    "dedup_key",
    "at",
    "since",
    "error",
    "regions",
    "affected_regions",
    "monitor.id",
    "monitor.name",
    "monitor.target",
    "incident.id",
    "incident.url",
];

/// One piece of a parsed template.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Field(&'a str),
}

/// `template` as text and fields, or what is wrong with it (an unknown field, an unclosed `{{`).
pub fn parse(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or_else(|| {
            format!("has a `{{{{` without `}}}}` at character {}", template.len() - rest.len() + open)
        })?;
        let name = after[..close].trim();
        if !FIELDS.contains(&name) {
            return Err(format!("uses the unknown field `{name}`; the fields are {}", FIELDS.join(", ")));
        }
        pieces.push(Piece::Field(name));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// Whether a content type is JSON (`application/json`, `application/vnd.x+json; charset=…`).
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// The value of `field` for `event`.
fn value(field: &str, event: &AlertEvent, m: &Message, base_url: &str) -> String {
    let incident = event.incident_id.as_ref();
    match field {
        "event" => event.kind.as_str().to_owned(),
        "title" => m.title.clone(),
        "headline" => m.headline.clone(),
        "summary" => event.summary(),
        "text" => super::message::plain_text(m),
        "severity" => match urgency(event.kind) {
            Urgency::Critical => "critical",
            Urgency::High => "warning",
            Urgency::Normal => "info",
        }
        .to_owned(),
        "link" => link(event, base_url),
        "dedup_key" => event.dedup_key.clone(),
        "at" => event.at.to_rfc3339(),
        "since" => event.since.map(|t| t.to_rfc3339()).unwrap_or_default(),
        "error" => event.error.clone().unwrap_or_default(),
        "regions" => event.regions.join(", "),
        "affected_regions" => event.affected_regions.join(", "),
        "monitor.id" => event.monitor_id.as_ref().map(|i| i.to_string()).unwrap_or_default(),
        "monitor.name" => event.monitor_name.clone(),
        "monitor.target" => event.target.clone(),
        "incident.id" => incident.map(|i| i.to_string()).unwrap_or_default(),
        "incident.url" => incident.map(|i| format!("{base_url}/incidents/{i}")).unwrap_or_default(),
        _ => String::new(),
    }
}

/// `template` filled in for `event`; values JSON-escaped when `json`.
pub fn render(template: &str, event: &AlertEvent, base_url: &str, json: bool) -> Result<String, String> {
    let m = compose(event, base_url);
    let mut out = String::with_capacity(template.len() + 256);
    for piece in parse(template)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Field(f) if json => {
                let quoted = serde_json::Value::String(value(f, event, &m, base_url)).to_string();
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
            Piece::Field(f) => out.push_str(&value(f, event, &m, base_url)),
        }
    }
    Ok(out)
}

/// The request the channel's template describes for `event`.
pub fn request(channel: &ChannelRecord, event: &AlertEvent, base_url: &str) -> Result<Outbound, String> {
    let s = &channel.settings;
    let text = |k: &str| s.get(k).and_then(serde_json::Value::as_str).unwrap_or("");
    let content_type = Some(text("content_type")).filter(|c| !c.is_empty()).unwrap_or("application/json");
    let method = http::Method::from_bytes(text("method").as_bytes()).unwrap_or(http::Method::POST);
    let body = render(text("body_template"), event, base_url, is_json(content_type))?;
    let mut headers = vec![("content-type".to_owned(), content_type.to_owned())];
    if let Some(h) = s.get("headers").and_then(serde_json::Value::as_object) {
        headers.extend(h.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))));
    }
    Ok(Outbound { method, url: channel.url.clone(), headers, body })
}

/// A notice to try a template on when it is saved: a monitor down, with an incident.
pub fn sample_event() -> AlertEvent {
    use netpulse_core::{IncidentId, MonitorId, TenantId, Timestamp};
    AlertEvent {
        kind: netpulse_core::alert::AlertKind::Opened,
        dedup_key: "sample:opened".into(),
        tenant_id: TenantId::from_parts(1, 1),
        incident_id: Some(IncidentId::from_parts(1, 1)),
        monitor_id: Some(MonitorId::from_parts(1, 1)),
        monitor_name: "Sample \"API\" \\ {{monitor.name}}".into(),
        target: "GET https://api.example.com/health".into(),
        at: Timestamp::from_secs(1_700_000_600),
        since: Some(Timestamp::from_secs(1_700_000_000)),
        error: Some("expected status 200-399, got 503\n(multi-line)".into()),
        regions: vec!["eu".into(), "us".into()],
        affected_regions: vec!["eu".into()],
        storm: vec![],
        visitors: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_names_an_unknown_one() {
        assert_eq!(parse("a {{ event }}b").unwrap(), vec![Piece::Text("a "), Piece::Field("event"), Piece::Text("b")]);
        let e = parse("{{monitor.nmae}}").unwrap_err();
        assert!(e.contains("`monitor.nmae`") && e.contains("monitor.name"), "{e}");
        assert!(parse("x {{event").unwrap_err().contains("at character 2"));
    }

    #[test]
    fn json_values_are_escaped_and_text_values_are_not() {
        let e = sample_event();
        let body = render(r#"{"m":"{{monitor.name}}","e":"{{error}}"}"#, &e, "https://np", true).unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["m"], e.monitor_name, "a value is data, never template or JSON syntax");
        assert_eq!(v["e"], "expected status 200-399, got 503\n(multi-line)");
        assert_eq!(
            render("{{event}} {{incident.url}}", &e, "https://np", false).unwrap(),
            format!("opened https://np/incidents/{}", e.incident_id.unwrap())
        );
        assert!(is_json("application/vnd.api+json; charset=utf-8") && !is_json("text/plain"));
    }
}

//! The PagerDuty channel: Events API v2 (`POST /v2/enqueue`, answered with 202).
//!
//! The channel's `secret` is the integration's routing key; its `url` defaults to
//! [`EVENTS_URL`] and can point elsewhere (an EU service region, a proxy, a test receiver).
//!
//! The `dedup_key` is the **incident id**, the same for every transition of one outage, so
//! PagerDuty keeps one alert: `opened`, `flapping` and `reminder` trigger it (a repeated
//! trigger with the same key is folded into the open alert), `acknowledged` acknowledges it
//! and `resolved` resolves it. A test notification triggers an alert with a `test:` key. The
//! outbox's own per-transition dedup key still guarantees each transition is queued once.

use super::message::{alert_key, compose, lifecycle, one_line, truncate, Lifecycle};
use netpulse_core::alert::{AlertEvent, AlertKind};
use serde_json::json;

/// The public Events API v2 endpoint.
pub const EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// `trigger`, `acknowledge` or `resolve` for a notice kind.
pub fn event_action(kind: AlertKind) -> &'static str {
    match lifecycle(kind) {
        Lifecycle::Open => "trigger",
        Lifecycle::Acknowledge => "acknowledge",
        Lifecycle::Resolve => "resolve",
    }
}

/// The PagerDuty dedup key: [`alert_key`] (the incident id for an outage).
pub fn dedup_key(event: &AlertEvent) -> String {
    alert_key(event)
}

/// The JSON body for `event`, with `routing_key`.
pub fn render(event: &AlertEvent, routing_key: &str, base_url: &str) -> String {
    let action = event_action(event.kind);
    let key = dedup_key(event);
    if action != "trigger" {
        return json!({ "routing_key": routing_key, "event_action": action, "dedup_key": key }).to_string();
    }
    let m = compose(event, base_url);
    let severity = match event.kind {
        AlertKind::Test => "info",
        AlertKind::Flapping | AlertKind::Degraded | AlertKind::DegradedFlapping => "warning",
        _ => "critical",
    };
    let details: serde_json::Map<String, serde_json::Value> =
        m.facts.iter().map(|(k, v)| (k.to_lowercase().replace(' ', "_"), json!(v))).collect();
    let summary = match &event.error {
        Some(e) if event.kind != AlertKind::Test => format!("{} — {e}", m.title),
        _ => m.title.clone(),
    };
    json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": key,
        "payload": {
            "summary": truncate(&summary, 1024),
            "source": truncate(&one_line(&event.target), 255),
            "severity": severity,
            "timestamp": event.at.to_rfc3339(),
            "component": truncate(&one_line(&event.monitor_name), 255),
            "class": event.kind.as_str(),
            "custom_details": details,
        },
        "links": [{ "href": m.link, "text": "Incident in NetPulse" }],
        "client": "NetPulse",
        "client_url": m.link,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_actions() {
        assert_eq!(event_action(AlertKind::Opened), "trigger");
        assert_eq!(event_action(AlertKind::Reminder), "trigger");
        assert_eq!(event_action(AlertKind::Flapping), "trigger");
        assert_eq!(event_action(AlertKind::Escalated), "trigger", "an escalation pages its own service");
        assert_eq!(event_action(AlertKind::Acknowledged), "acknowledge");
        assert_eq!(event_action(AlertKind::Resolved), "resolve");
        assert_eq!(event_action(AlertKind::Test), "trigger");
        assert_eq!(event_action(AlertKind::Degraded), "trigger");
        assert_eq!(event_action(AlertKind::DegradedEnded), "resolve");
        assert_eq!(event_action(AlertKind::DegradedFlapping), "trigger");
        assert_eq!((event_action(AlertKind::Storm), event_action(AlertKind::StormOver)), ("trigger", "resolve"));
    }

    #[test]
    fn a_storm_and_a_degraded_episode_resolve_the_key_they_triggered() {
        let key = |k: &str| {
            let e: AlertEvent = serde_json::from_value(json!({
                "kind": "storm", "dedup_key": k, "tenant_id": netpulse_core::TenantId::from_parts(1, 1),
                "incident_id": null, "monitor_id": null, "monitor_name": "", "target": "", "at": 0,
                "since": null, "error": null, "regions": []
            }))
            .unwrap();
            dedup_key(&e)
        };
        assert_eq!(key("storm:chn_1:5000"), "storm:chn_1:5000");
        assert_eq!(key("storm:chn_1:5000:7"), "storm:chn_1:5000", "an update re-triggers the same alert");
        assert_eq!(key("storm:chn_1:5000:over"), "storm:chn_1:5000");
        assert_eq!(key("mon_1:degraded:2:ended"), "mon_1:degraded:2");
        assert_eq!(key("mon_1:degraded:2:flapping"), "mon_1:degraded:2", "flapping re-triggers the episode");
        assert_eq!(key("mon_1:degraded:2:settled"), "mon_1:degraded:2");
    }
}

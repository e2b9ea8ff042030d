//! The Opsgenie channel: the Alert API v2, one Opsgenie alert per incident.
//!
//! Every request carries `Authorization: GenieKey {key}` (the channel's `secret`, an API
//! integration's key) and goes to the channel's `url`, the regional API base
//! ([`US_API`] or [`EU_API`], from `settings.region`). The alert's `alias` is
//! [`alert_key`]: the incident id, so the steps of one outage act on one alert:
//! - opened, reminder, flapping, escalated, degraded, storm, test → **create**
//!   (`POST /v2/alerts` with `message` ≤ 130 characters, `alias`, `description`, `source`,
//!   `entity`, `priority` P1 down / P3 still down, flapping or slow / P5 test, `tags`,
//!   `details`); Opsgenie folds a create with the alias of an open alert into it;
//! - acknowledged → **acknowledge** (`POST /v2/alerts/{alias}/acknowledge?identifierType=alias`);
//! - resolved, fast again, storm over → **close** (`POST /v2/alerts/{alias}/close?identifierType=alias`),
//!   each with `user`, `source` and `note`. Opsgenie answers 202 Accepted.

use super::message::{alert_key, compose, lifecycle, one_line, truncate, urgency, Lifecycle, Urgency};
use super::post::Outbound;
use netpulse_core::alert::{AlertEvent, AlertKind};
use netpulse_store::ChannelRecord;
use serde_json::{json, Map, Value};

/// The API of Opsgenie's US instance (the default region).
pub const US_API: &str = "https://api.opsgenie.com";
/// The API of Opsgenie's EU instance.
pub const EU_API: &str = "https://api.eu.opsgenie.com";

/// The API base of a region (`us` or `eu`).
pub fn region_url(region: &str) -> Option<&'static str> {
    match region {
        "us" => Some(US_API),
        "eu" => Some(EU_API),
        _ => None,
    }
}

/// Opsgenie's priority for a notice that creates an alert.
pub fn priority(kind: AlertKind) -> &'static str {
    match (kind, urgency(kind)) {
        (AlertKind::Test, _) => "P5",
        (_, Urgency::Critical) => "P1",
        _ => "P3",
    }
}

/// The request for `event`: create, acknowledge or close the incident's alert.
pub fn request(channel: &ChannelRecord, event: &AlertEvent, base_url: &str) -> Result<Outbound, String> {
    let alias = truncate(&alert_key(event), 512);
    let m = compose(event, base_url);
    let mut url = url::Url::parse(&channel.url).map_err(|_| "the channel's URL is not valid".to_owned())?;
    let action = match lifecycle(event.kind) {
        Lifecycle::Open => None,
        Lifecycle::Acknowledge => Some("acknowledge"),
        Lifecycle::Resolve => Some("close"),
    };
    {
        let mut path = url.path_segments_mut().map_err(|_| "the channel's URL cannot take a path".to_owned())?;
        path.pop_if_empty().extend(["v2", "alerts"]);
        if let Some(action) = action {
            path.extend([alias.as_str(), action]);
        }
    }
    let body = match action {
        Some(_) => {
            url.set_query(Some("identifierType=alias"));
            json!({ "user": "NetPulse", "source": "NetPulse", "note": truncate(&format!("{} {}", m.headline, m.link), 25_000) })
        }
        None => create_body(event, &alias, &m),
    };
    let headers = vec![("authorization".into(), format!("GenieKey {}", channel.secret.expose()))];
    Ok(Outbound::json(url.to_string(), headers, body.to_string()))
}

fn create_body(event: &AlertEvent, alias: &str, m: &super::message::Message) -> Value {
    let details: Map<String, Value> = m
        .facts
        .iter()
        .map(|(k, v)| (k.to_lowercase().replace(' ', "_"), json!(truncate(v, 8000))))
        .chain([("link".to_owned(), json!(m.link))])
        .collect();
    let description = format!("{}\n\n{}", super::message::plain_text(m), m.link);
    json!({
        "message": truncate(&m.title, 130),
        "alias": alias,
        "description": truncate(&description, 15_000),
        "source": "NetPulse",
        "entity": truncate(&one_line(&event.monitor_name), 512),
        "priority": priority(event.kind),
        "tags": ["netpulse", event.kind.as_str()],
        "details": details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_and_priorities() {
        assert_eq!((region_url("eu"), region_url("us"), region_url("ap")), (Some(EU_API), Some(US_API), None));
        assert_eq!(
            (priority(AlertKind::Opened), priority(AlertKind::Flapping), priority(AlertKind::Test)),
            ("P1", "P3", "P5")
        );
    }
}

//! The Discord channel: a `POST` to a channel webhook URL.
//!
//! The body has a short `content` line and one embed (title linking to the incident, colour
//! by kind, the facts as inline fields, the event time as its timestamp). Mentions are
//! switched off (`allowed_mentions.parse = []`), so a monitor name containing `@everyone`
//! pings nobody. Texts are cut to Discord's limits (content 2000, title 256, description
//! 4096, field value 1024 characters). Discord answers 204 No Content on success.

use super::message::{compose, truncate};
use netpulse_core::alert::AlertEvent;
use serde_json::{json, Value};

/// The JSON body for `event`.
pub fn render(event: &AlertEvent, base_url: &str) -> String {
    let m = compose(event, base_url);
    let fields: Vec<Value> = m
        .facts
        .iter()
        .map(|(k, v)| json!({ "name": k, "value": truncate(v, 1024), "inline": v.chars().count() <= 40 }))
        .collect();
    json!({
        "username": "NetPulse",
        "content": truncate(&format!("**{}** {}", m.title, m.link), 2000),
        "allowed_mentions": { "parse": [] },
        "embeds": [{
            "title": truncate(&m.title, 256),
            "url": m.link,
            "description": truncate(&m.headline, 4096),
            "color": m.color,
            "fields": fields,
            "timestamp": event.at.to_rfc3339(),
            "footer": { "text": "NetPulse" },
        }],
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use netpulse_core::alert::AlertKind;
    use netpulse_core::{TenantId, Timestamp};

    #[test]
    fn mentions_are_off_and_texts_fit_discord_limits() {
        let event = AlertEvent {
            kind: AlertKind::Opened,
            dedup_key: "k".into(),
            tenant_id: TenantId::from_trusted("ten_1".into()),
            incident_id: None,
            monitor_id: None,
            monitor_name: format!("@everyone {}", "x".repeat(400)),
            target: "tcp db:5432".into(),
            at: Timestamp::from_secs(1_700_000_000),
            since: None,
            error: Some("e".repeat(5000)),
            regions: vec![],
            affected_regions: vec![],
            storm: vec![],
            visitors: None,
        };
        let body: Value = serde_json::from_str(&render(&event, "https://np.example")).unwrap();
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));
        assert_eq!(body["embeds"][0]["title"].as_str().unwrap().chars().count(), 256);
        assert!(body["embeds"][0]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["value"].as_str().unwrap().len() <= 1024));
    }
}

//! The Microsoft Teams channel: a `POST` to a Workflows ("When a Teams webhook request is
//! received") or incoming-webhook URL.
//!
//! The body is a `message` with one Adaptive Card (schema 1.4): a coloured title
//! (`attention` down, `warning` acknowledged or flapping, `good` resolved), the headline, the
//! facts as a `FactSet` and an "Open incident" button. Adaptive Card text is Markdown-ish, so
//! tenant text is shown in `TextBlock`s and facts, never interpolated into a URL. Workflows
//! answer 202 Accepted.

use super::message::{compose, truncate, AMBER, GREEN, RED};
use netpulse_core::alert::AlertEvent;
use serde_json::{json, Value};

/// The JSON body for `event`.
pub fn render(event: &AlertEvent, base_url: &str) -> String {
    let m = compose(event, base_url);
    let color = match m.color {
        RED => "attention",
        AMBER => "warning",
        GREEN => "good",
        _ => "accent",
    };
    let facts: Vec<Value> = m.facts.iter().map(|(k, v)| json!({ "title": k, "value": truncate(v, 1000) })).collect();
    let card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": { "width": "Full" },
        "body": [
            { "type": "TextBlock", "text": m.title, "weight": "Bolder", "size": "Medium", "color": color, "wrap": true },
            { "type": "TextBlock", "text": m.headline, "wrap": true },
            { "type": "FactSet", "facts": facts },
        ],
        "actions": [{ "type": "Action.OpenUrl", "title": "Open incident", "url": m.link }],
    });
    json!({
        "type": "message",
        "summary": m.title,
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
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
    fn the_card_is_coloured_by_kind_and_links_the_incident() {
        let mut event = AlertEvent {
            kind: AlertKind::Acknowledged,
            dedup_key: "k".into(),
            tenant_id: TenantId::from_trusted("ten_1".into()),
            incident_id: Some(netpulse_core::IncidentId::from_trusted("inc_9".into())),
            monitor_id: None,
            monitor_name: "API".into(),
            target: "GET https://api.example.com".into(),
            at: Timestamp::from_secs(1_700_000_000),
            since: None,
            error: None,
            regions: vec![],
            affected_regions: vec![],
            storm: vec![],
            visitors: None,
        };
        let card = |e: &AlertEvent| serde_json::from_str::<Value>(&render(e, "https://np")).unwrap();
        let body = card(&event);
        assert_eq!(body["attachments"][0]["content"]["body"][0]["color"], "warning");
        assert_eq!(body["attachments"][0]["content"]["actions"][0]["url"], "https://np/incidents/inc_9");
        event.kind = AlertKind::Test;
        assert_eq!(card(&event)["attachments"][0]["content"]["body"][0]["color"], "accent");
    }
}

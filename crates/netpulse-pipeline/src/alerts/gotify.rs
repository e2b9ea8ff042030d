//! The Gotify channel: a message pushed to a self-hosted Gotify server.
//!
//! `POST {url}/message` with the application token in the `X-Gotify-Key` header (the
//! channel's `secret`; kept out of the URL, so no access log records it) and a JSON body:
//! `title`, `message` (plain text, the facts one per line), `priority` by the notice's
//! urgency (8 when something goes down — Gotify's Android client pops those up —, 5 while
//! still down, flapping or slow, 3 for recoveries, acknowledgements and tests) and `extras`:
//! `client::display.contentType` `text/plain` and `client::notification.click.url`, the
//! incident in the dashboard. Gotify answers 200 with the stored message.

use super::message::{compose, plain_text, truncate, urgency, Urgency};
use super::post::Outbound;
use netpulse_core::alert::{AlertEvent, AlertKind};
use netpulse_store::ChannelRecord;
use serde_json::json;

/// Gotify's priority (0–10) for a notice kind.
pub fn priority(kind: AlertKind) -> u8 {
    match urgency(kind) {
        Urgency::Critical => 8,
        Urgency::High => 5,
        Urgency::Normal => 3,
    }
}

/// The request pushing `event` to the channel's Gotify application.
pub fn request(channel: &ChannelRecord, event: &AlertEvent, base_url: &str) -> Result<Outbound, String> {
    let m = compose(event, base_url);
    let body = json!({
        "title": truncate(&m.title, 250),
        "message": truncate(&plain_text(&m), 4000),
        "priority": priority(event.kind),
        "extras": {
            "client::display": { "contentType": "text/plain" },
            "client::notification": { "click": { "url": m.link } },
        },
    });
    let headers = vec![("x-gotify-key".into(), channel.secret.expose().to_owned())];
    let url = format!("{}/message", channel.url.trim_end_matches('/'));
    Ok(Outbound::json(url, headers, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_pop_up_and_recoveries_do_not() {
        assert_eq!(priority(AlertKind::Opened), 8);
        assert_eq!(priority(AlertKind::Flapping), 5);
        assert_eq!(priority(AlertKind::Resolved), 3);
    }
}

//! The ntfy channel: a message published as JSON to an ntfy server (ntfy.sh or self-hosted).
//!
//! The channel's `url` is the server (default [`PUBLIC_SERVER`]), `settings.topic` the topic
//! and `secret` an optional access token, sent as `Authorization: Bearer`. ntfy takes a JSON
//! publish at the server's root URL: `topic`, `title`, `message` (plain text, the facts one per
//! line), `priority` by the notice's urgency (5 "urgent" when something goes down, 4 "high"
//! while still down, flapping or slow, 3 "default" for recoveries, acknowledgements and tests),
//! `tags` (an emoji shortcode and the notice kind) and `click` (the incident in the
//! dashboard). ntfy answers 200 with the stored message; 429 when the visitor limit is hit.

use super::message::{compose, plain_text, truncate, urgency, Urgency};
use super::post::Outbound;
use netpulse_core::alert::{AlertEvent, AlertKind};
use netpulse_store::ChannelRecord;
use serde_json::json;

/// The public ntfy server, the default `url`.
pub const PUBLIC_SERVER: &str = "https://ntfy.sh";

/// ntfy's priority (1 min … 5 max/urgent) for a notice kind.
pub fn priority(kind: AlertKind) -> u8 {
    match urgency(kind) {
        Urgency::Critical => 5,
        Urgency::High => 4,
        Urgency::Normal => 3,
    }
}

/// The emoji shortcode ntfy shows before the title.
fn emoji(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Resolved | AlertKind::DegradedEnded | AlertKind::StormOver => "white_check_mark",
        AlertKind::Acknowledged => "eyes",
        AlertKind::Test => "test_tube",
        _ if urgency(kind) == Urgency::Critical => "rotating_light",
        _ => "warning",
    }
}

/// A topic as ntfy accepts it: 1 to 64 letters, digits, `-` and `_`.
pub fn valid_topic(topic: &str) -> bool {
    (1..=64).contains(&topic.len()) && topic.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The request publishing `event` to the channel's topic.
pub fn request(channel: &ChannelRecord, event: &AlertEvent, base_url: &str) -> Result<Outbound, String> {
    let topic = super::setting(channel, "topic")?;
    let m = compose(event, base_url);
    let body = json!({
        "topic": topic,
        "title": truncate(&m.title, 250),
        "message": truncate(&plain_text(&m), 4000),
        "priority": priority(event.kind),
        "tags": [emoji(event.kind), event.kind.as_str()],
        "click": m.link,
    });
    let token = channel.secret.expose();
    let headers = if token.is_empty() { vec![] } else { vec![("authorization".into(), format!("Bearer {token}"))] };
    let root = format!("{}/", channel.url.trim_end_matches('/'));
    Ok(Outbound::json(root, headers, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_follows_urgency() {
        assert_eq!(priority(AlertKind::Opened), 5);
        assert_eq!(priority(AlertKind::Reminder), 4);
        assert_eq!(priority(AlertKind::Resolved), 3);
        assert_eq!((emoji(AlertKind::Opened), emoji(AlertKind::Resolved)), ("rotating_light", "white_check_mark"));
    }

    #[test]
    fn topics_are_plain_names() {
        assert!(valid_topic("netpulse-ops_1"));
        assert!(!valid_topic("a/b") && !valid_topic("") && !valid_topic(&"x".repeat(65)));
    }
}

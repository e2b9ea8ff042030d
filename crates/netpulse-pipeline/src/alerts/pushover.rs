//! The Pushover channel: the Message API (`POST https://api.pushover.net/1/messages.json`).
//!
//! The body is a form (`application/x-www-form-urlencoded`, as Pushover documents it):
//! `token` (the application's API token, the channel's `secret`), `user` (the user or group
//! key, `settings.user_key`), `title`, `message` (plain text, the facts one per line, at most
//! 1024 characters), `priority` (1 "high", which bypasses quiet hours, when something goes
//! down; 0 otherwise), `url` and `url_title` (the incident in the dashboard) and `timestamp`
//! (when it happened, Unix seconds). `url` defaults to [`MESSAGES_URL`]. Pushover answers 200
//! with `{"status":1}`, 4xx naming the invalid parameter, 429 when the monthly quota is used.

use super::message::{compose, plain_text, truncate, urgency, Urgency};
use super::post::Outbound;
use netpulse_core::alert::{AlertEvent, AlertKind};
use netpulse_store::ChannelRecord;

/// The public Message API endpoint, the default `url`.
pub const MESSAGES_URL: &str = "https://api.pushover.net/1/messages.json";

/// Pushover's priority (-2 … 2) for a notice kind; 2 (emergency) is never used: it repeats
/// until acknowledged in Pushover, which NetPulse's own reminders and escalation already do.
pub fn priority(kind: AlertKind) -> i8 {
    match urgency(kind) {
        Urgency::Critical => 1,
        Urgency::High | Urgency::Normal => 0,
    }
}

/// A user, group or application key: 30 letters and digits.
pub fn valid_key(key: &str) -> bool {
    key.len() == 30 && key.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The form posting `event` to the channel's user or group.
pub fn request(channel: &ChannelRecord, event: &AlertEvent, base_url: &str) -> Result<Outbound, String> {
    let user = super::setting(channel, "user_key")?;
    let m = compose(event, base_url);
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", channel.secret.expose())
        .append_pair("user", user)
        .append_pair("title", &truncate(&m.title, 250))
        .append_pair("message", &truncate(&plain_text(&m), 1024))
        .append_pair("priority", &priority(event.kind).to_string())
        .append_pair("url", &m.link)
        .append_pair("url_title", "Open in NetPulse")
        .append_pair("timestamp", &(event.at.millis() / 1000).to_string())
        .finish();
    Ok(Outbound::form(channel.url.clone(), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_outages_are_high_priority() {
        assert_eq!(priority(AlertKind::Opened), 1);
        assert_eq!(priority(AlertKind::Reminder), 0);
        assert_eq!(priority(AlertKind::Resolved), 0);
        assert!(valid_key("uQiRzpo4DXghDmr9QzzfQu27cmVRsG") && !valid_key("short"));
    }
}

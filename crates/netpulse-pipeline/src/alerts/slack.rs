//! The Slack channel: a `POST` to an incoming-webhook URL.
//!
//! The body has a plain `text` (what shows in notifications and on clients without
//! attachments) and one legacy attachment whose `color` follows the kind (red down, amber
//! acknowledged or flapping, green resolved), with the facts as fields and the title linking
//! to the incident. Slack-compatible receivers (Mattermost, Rocket.Chat) accept the same body.
//! Tenant text is escaped (`&`, `<`, `>`), so a monitor name cannot mention `<!channel>` or
//! forge a link.

use super::message::{compose, truncate};
use netpulse_core::alert::AlertEvent;
use serde_json::{json, Value};

/// The JSON body for `event`.
pub fn render(event: &AlertEvent, base_url: &str) -> String {
    let m = compose(event, base_url);
    let fields: Vec<Value> = m
        .facts
        .iter()
        .map(|(k, v)| json!({ "title": k, "value": escape(&truncate(v, 1000)), "short": v.chars().count() <= 40 }))
        .collect();
    json!({
        "text": format!("{} — <{}|open incident>", escape(&m.title), m.link),
        "attachments": [{
            "color": format!("#{:06X}", m.color),
            "fallback": escape(&format!("{}: {}", m.title, m.headline)),
            "title": escape(&m.title),
            "title_link": m.link,
            "text": escape(&m.headline),
            "fields": fields,
            "footer": "NetPulse",
            "ts": event.at.millis() / 1000,
        }],
    })
    .to_string()
}

/// Slack's three control characters in message text.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_slack_markup() {
        assert_eq!(escape("<!channel> & <http://x|y>"), "&lt;!channel&gt; &amp; &lt;http://x|y&gt;");
    }
}

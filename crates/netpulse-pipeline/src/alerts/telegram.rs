//! The Telegram channel: the Bot API's `sendMessage`.
//!
//! `POST {url}/bot{token}/sendMessage` with a JSON body: `chat_id` (a number for a user, group
//! or channel id, or `@channelusername`), `text` in Telegram's HTML subset (the title bold, the
//! headline, the facts one per line, a link to the incident), `parse_mode: "HTML"` and link
//! previews off. The channel's `secret` is the bot token (`123456:ABC…`, from @BotFather),
//! `settings.chat_id` the chat, and `url` the API base (default [`API_URL`]; a local Bot API
//! server or a test receiver otherwise). Tenant text is HTML-escaped, so a monitor name
//! cannot add markup. Telegram answers 429 with `parameters.retry_after`, which
//! [`super::post`] honours.

use super::message::{compose, truncate};
use super::post::Outbound;
use netpulse_core::alert::AlertEvent;
use netpulse_store::ChannelRecord;
use serde_json::{json, Value};

/// The public Bot API, the default `url`.
pub const API_URL: &str = "https://api.telegram.org";

/// `&`, `<` and `>` as entities: the three characters Telegram's HTML mode needs escaped.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A chat as Telegram takes it: a (possibly negative) number or `@username` (5–32 characters).
pub fn valid_chat_id(chat: &str) -> bool {
    match chat.strip_prefix('@') {
        Some(name) => (5..=32).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        None => chat.strip_prefix('-').unwrap_or(chat).parse::<u64>().is_ok(),
    }
}

/// A bot token as @BotFather issues it: `<bot id>:<secret>`.
pub fn valid_token(token: &str) -> bool {
    let Some((id, rest)) = token.split_once(':') else { return false };
    id.parse::<u64>().is_ok()
        && (20..=100).contains(&rest.len())
        && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The `sendMessage` request for `event`.
pub fn request(channel: &ChannelRecord, event: &AlertEvent, base_url: &str) -> Result<Outbound, String> {
    let chat = super::setting(channel, "chat_id")?;
    let m = compose(event, base_url);
    let head = format!("<b>{}</b>\n{}", escape(&truncate(&m.title, 200)), escape(&truncate(&m.headline, 400)));
    let link = format!("\n<a href=\"{}\">Open in NetPulse</a>", escape(&m.link));
    let mut facts = String::new();
    for (k, v) in &m.facts {
        facts.push_str(&format!("\n<b>{k}:</b> {}", escape(&truncate(v, 500))));
    }
    // At most 2400 characters escaped (4 per `<`), so the head and link always fit in 4096;
    // cutting HTML could split a tag or an entity, which Telegram refuses: drop the facts instead.
    let text = if (head.chars().count() + facts.chars().count() + link.chars().count()) <= 4096 {
        format!("{head}{facts}{link}")
    } else {
        format!("{head}{link}")
    };
    let chat_id: Value = chat.parse::<i64>().map_or_else(|_| json!(chat), |n| json!(n));
    let body = json!({
        "chat_id": chat_id,
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": { "is_disabled": true },
    });
    let url = format!("{}/bot{}/sendMessage", channel.url.trim_end_matches('/'), channel.secret.expose());
    Ok(Outbound::json(url, vec![], body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chats_and_tokens_have_telegram_shapes() {
        assert!(valid_chat_id("-1001234567890") && valid_chat_id("42") && valid_chat_id("@netpulse_ops"));
        assert!(!valid_chat_id("@abc") && !valid_chat_id("ops") && !valid_chat_id(""));
        assert!(valid_token("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"));
        assert!(!valid_token("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw") && !valid_token("1:short"));
    }

    #[test]
    fn a_message_too_long_for_telegram_drops_its_facts_rather_than_cut_html() {
        let event: AlertEvent = serde_json::from_value(json!({
            "kind": "opened", "dedup_key": "k", "tenant_id": netpulse_core::TenantId::from_parts(1, 1),
            "incident_id": null, "monitor_id": null, "monitor_name": "<".repeat(1000), "target": "<".repeat(5000),
            "at": 0, "since": null, "error": "<".repeat(2000), "regions": ["eu"]
        }))
        .unwrap();
        let channel = ChannelRecord {
            id: netpulse_core::ChannelId::from_parts(1, 1),
            tenant_id: event.tenant_id.clone(),
            name: "tg".into(),
            kind: netpulse_store::ChannelKind::Telegram,
            url: API_URL.into(),
            secret: netpulse_store::Secret::new(String::from("1:x")),
            settings: json!({ "chat_id": "42" }),
            enabled: true,
            created_at: netpulse_core::Timestamp::from_secs(0),
            updated_at: netpulse_core::Timestamp::from_secs(0),
        };
        let body: Value = serde_json::from_str(&request(&channel, &event, "https://np").unwrap().body).unwrap();
        let text = body["text"].as_str().unwrap();
        assert!(text.chars().count() <= 4096 && text.ends_with("Open in NetPulse</a>"), "{text}");
    }

    #[test]
    fn escapes_html() {
        assert_eq!(escape("<b>&"), "&lt;b&gt;&amp;");
    }
}

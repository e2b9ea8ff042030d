//! The Google Chat channel: a `POST` to a space's incoming-webhook URL.
//!
//! The body (`application/json; charset=UTF-8`) is a message with a one-line `text` (what
//! shows in notifications, with a link to the incident) and one card in `cardsV2`: a header
//! (`title` the notice's title, `subtitle` its headline), then a section with the facts as
//! `decoratedText` widgets (`topLabel` + `text`) and an "Open in NetPulse" button
//! (`onClick.openLink.url`). The webhook URL carries its key and token in the query, so it is
//! shown masked. Card text takes an HTML subset and is escaped; in `text`, Google Chat reads
//! `<…>` as links and mentions (`<users/all>`), so tenant text has its angle brackets
//! replaced by `‹ ›` there.

use super::message::{compose, truncate};
use super::post::Outbound;
use netpulse_core::alert::AlertEvent;
use netpulse_store::ChannelRecord;
use serde_json::{json, Value};

/// `&`, `<` and `>` as entities, for card text.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Angle brackets out of tenant text in a message's `text`, so it cannot mention or link.
fn defuse(s: &str) -> String {
    s.replace('<', "‹").replace('>', "›")
}

/// The JSON body for `event`.
pub fn render(event: &AlertEvent, base_url: &str) -> String {
    let m = compose(event, base_url);
    let mut widgets: Vec<Value> = m
        .facts
        .iter()
        .map(|(k, v)| json!({ "decoratedText": { "topLabel": k, "text": escape(&truncate(v, 1000)), "wrapText": true } }))
        .collect();
    widgets.push(json!({ "buttonList": { "buttons": [
        { "text": "Open in NetPulse", "onClick": { "openLink": { "url": m.link } } }
    ] } }));
    json!({
        "text": format!("*{}* <{}|open>", defuse(&m.title), m.link),
        "cardsV2": [{
            "cardId": format!("netpulse-{}", event.kind.as_str()),
            "card": {
                "header": { "title": truncate(&m.title, 200), "subtitle": truncate(&m.headline, 400) },
                "sections": [{ "widgets": widgets }],
            },
        }],
    })
    .to_string()
}

/// The request posting `event` to the channel's space.
pub fn request(channel: &ChannelRecord, event: &AlertEvent, base_url: &str) -> Outbound {
    let headers = vec![("content-type".into(), "application/json; charset=UTF-8".into())];
    Outbound::json(channel.url.clone(), headers, render(event, base_url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_text_cannot_mention_or_add_markup() {
        assert_eq!(defuse("<users/all> down"), "‹users/all› down");
        assert_eq!(escape("<b>&"), "&lt;b&gt;&amp;");
    }
}

//! The Matrix channel: a room message through the client-server API of the bot's homeserver.
//!
//! `PUT {url}/_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}` with
//! `Authorization: Bearer {access token}` (the channel's `secret`); `settings.room_id` is the
//! room (`!…`, the bot must have joined it). The transaction id derives from the channel and
//! the notice's dedup key ([`txn_id`]), so a retried delivery repeats the same transaction
//! and the homeserver stores the message once. The body is an `m.notice` (the message type
//! for bots: clients do not answer it automatically) with a plain `body` and an HTML
//! `formatted_body` (`org.matrix.custom.html`, tenant text escaped). A rate-limited answer
//! (429 `M_LIMIT_EXCEEDED`) carries `retry_after_ms`, which [`super::post`] honours.

use super::message::{compose, plain_text, truncate};
use super::post::Outbound;
use netpulse_core::alert::AlertEvent;
use netpulse_store::ChannelRecord;
use serde_json::json;
use sha2::{Digest, Sha256};

/// A room id: `!` and an opaque id (`!abc:example.org`), no spaces or slashes.
pub fn valid_room_id(room: &str) -> bool {
    room.len() > 1
        && room.len() <= 255
        && room.starts_with('!')
        && room.chars().all(|c| c.is_ascii_graphic() && c != '/')
}

/// The transaction id of one notice on one channel: the same for every retry of it.
pub fn txn_id(channel: &ChannelRecord, event: &AlertEvent) -> String {
    let digest = Sha256::digest(format!("{}:{}", channel.id, event.dedup_key).as_bytes());
    format!("netpulse-{}", hex::encode(&digest[..16]))
}

/// `&`, `<`, `>` and `"` as entities.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The request sending `event` to the channel's room.
pub fn request(channel: &ChannelRecord, event: &AlertEvent, base_url: &str) -> Result<Outbound, String> {
    let room = super::setting(channel, "room_id")?;
    let m = compose(event, base_url);
    let mut html = format!("<strong>{}</strong><br>{}", escape(&m.title), escape(&m.headline));
    for (k, v) in &m.facts {
        html.push_str(&format!("<br><b>{k}:</b> {}", escape(&truncate(v, 1000))));
    }
    html.push_str(&format!("<br><a href=\"{}\">Open in NetPulse</a>", escape(&m.link)));
    let body = json!({
        "msgtype": "m.notice",
        "body": format!("{}\n{}\n{}", m.title, plain_text(&m), m.link),
        "format": "org.matrix.custom.html",
        "formatted_body": html,
    });
    let mut url = url::Url::parse(&channel.url).map_err(|_| "the channel's URL is not valid".to_owned())?;
    url.path_segments_mut().map_err(|_| "the channel's URL cannot take a path".to_owned())?.pop_if_empty().extend([
        "_matrix",
        "client",
        "v3",
        "rooms",
        room,
        "send",
        "m.room.message",
        &txn_id(channel, event),
    ]);
    let headers = vec![("authorization".into(), format!("Bearer {}", channel.secret.expose()))];
    let mut out = Outbound::json(url.to_string(), headers, body.to_string());
    out.method = http::Method::PUT;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_start_with_a_bang() {
        assert!(valid_room_id("!abcdef:example.org") && valid_room_id("!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM"));
        assert!(!valid_room_id("#ops:example.org") && !valid_room_id("!a/b") && !valid_room_id("!"));
    }
}

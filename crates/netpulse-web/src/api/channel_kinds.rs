//! The channel kinds that need more than a `url` and a `secret`: their extra fields, how each
//! is checked, and how they are shown.
//!
//! Fields beyond `name`/`kind`/`url`/`secret` ([`FIELDS`]) are stored in the channel's
//! `settings` and given in the API flat, next to `url` (`topic`, `chat_id`, …). A field the kind does
//! not use is refused, naming it. Values that work like a password (an ntfy topic on a public
//! server) are shown masked, like chat webhook URLs; tokens go in `secret`, which is never shown.
//! URLs follow the chat rule ([`super::channels::web_url`]): `https://` only while
//! `ssrf.block_private` is on.

use super::channels::{web_url, ChannelIn, Validated};
use crate::base::audience::{Audience, HIDDEN};
use crate::base::{ApiError, ApiResult};
use crate::config::WebConfig;
use netpulse_pipeline::alerts::matrix;
use netpulse_pipeline::alerts::ntfy;
use netpulse_pipeline::alerts::opsgenie;
use netpulse_pipeline::alerts::pushover;
use netpulse_pipeline::alerts::telegram;
use netpulse_pipeline::alerts::templated_webhook;
use netpulse_store::{ChannelKind, ChannelRecord};
use serde_json::{json, Map, Value};

/// Each kind-specific field and the kinds that take it.
pub(crate) const FIELDS: &[(&str, &[ChannelKind])] = &[
    ("topic", &[ChannelKind::Ntfy]),
    ("chat_id", &[ChannelKind::Telegram]),
    ("user_key", &[ChannelKind::Pushover]),
    ("region", &[ChannelKind::Opsgenie]),
    ("room_id", &[ChannelKind::Matrix]),
    ("method", &[ChannelKind::TemplatedWebhook]),
    ("headers", &[ChannelKind::TemplatedWebhook]),
    ("content_type", &[ChannelKind::TemplatedWebhook]),
    ("body_template", &[ChannelKind::TemplatedWebhook]),
];

/// The kind-specific fields `kind` takes (the dashboard's form shows these).
pub(crate) fn fields_of(kind: ChannelKind) -> Vec<&'static str> {
    FIELDS.iter().filter(|(_, kinds)| kinds.contains(&kind)).map(|(f, _)| *f).collect()
}

/// Refuse a kind-specific field given (non-null) for a kind that does not use it.
pub(crate) fn refuse_unused(kind: ChannelKind, input: &Map<String, Value>) -> ApiResult<()> {
    for (field, kinds) in FIELDS {
        if input.get(*field).is_some_and(|v| !v.is_null()) && !kinds.contains(&kind) {
            return Err(ApiError::invalid(*field, format!("is not used by {} channels; omit it", kind.as_str())));
        }
    }
    Ok(())
}

/// The stored kind-specific settings of `rec`, as input fields (a `PATCH` merges over them).
pub(crate) fn stored_into(rec: &ChannelRecord, merged: &mut Map<String, Value>) {
    for field in fields_of(rec.kind) {
        if let Some(v) = rec.settings.get(field) {
            merged.insert(field.into(), v.clone());
        }
    }
}

/// The kind-specific fields of `c` as `a` may see them: masked where they work like a
/// password, header values never, and nothing of them for a restricted audience (viewers,
/// read tokens, the demo), which sees no channel's `url` either.
pub(crate) fn show(c: &ChannelRecord, out: &mut Map<String, Value>, a: Audience) {
    let text = |k: &str| json!(c.settings.get(k).and_then(Value::as_str).unwrap_or(""));
    let masked_text = |k: &str| json!(masked(c.settings.get(k).and_then(Value::as_str).unwrap_or("")));
    for field in fields_of(c.kind) {
        let shown = match field {
            _ if a.restricted() => json!(HIDDEN),
            "topic" | "user_key" => masked_text(field),
            "headers" => {
                let names = c.settings.get("headers").and_then(Value::as_object).into_iter().flatten();
                Value::Object(names.map(|(k, _)| (k.clone(), json!("…"))).collect())
            }
            _ => text(field),
        };
        out.insert(field.into(), shown);
    }
}

/// `…` and the last four characters (all of a short value is hidden).
pub(crate) fn masked(v: &str) -> String {
    let n = v.chars().count();
    if n <= 8 {
        return "…".into();
    }
    format!("…{}", v.chars().skip(n - 4).collect::<String>())
}

/// `Some` for the kinds checked here, with what to store; `None` for the others.
pub(crate) fn validate(c: &ChannelIn, config: &WebConfig, stored_secret: Option<&str>) -> ApiResult<Option<Validated>> {
    let url = c.url.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let secret = c.secret.as_deref().or(stored_secret).filter(|s| !s.is_empty());
    let v = match c.kind {
        ChannelKind::Ntfy => ntfy(c, url, secret, config)?,
        ChannelKind::Telegram => telegram(c, url, secret, config)?,
        ChannelKind::Gotify => gotify(url, secret, config)?,
        ChannelKind::Pushover => pushover(c, url, secret, config)?,
        ChannelKind::Opsgenie => opsgenie(c, url, secret, config)?,
        ChannelKind::Matrix => matrix(c, url, secret, config)?,
        ChannelKind::GoogleChat => google_chat(c, url, config)?,
        ChannelKind::TemplatedWebhook => templated(c, url, config)?,
        _ => return Ok(None),
    };
    Ok(Some(v))
}

/// A `ntfy` channel.
fn ntfy(c: &ChannelIn, url: Option<&str>, secret: Option<&str>, config: &WebConfig) -> ApiResult<Validated> {
    let topic = required(c.topic.as_deref(), "topic", "the ntfy topic to publish to")?;
    if !ntfy::valid_topic(topic) {
        return Err(ApiError::invalid("topic", "must be 1 to 64 letters, digits, `-` or `_`"));
    }
    let token = secret.map(|t| token("secret", t, "an ntfy access token (tk_…)")).transpose()?;
    Ok(Validated {
        url: web_url(url.unwrap_or(ntfy::PUBLIC_SERVER), config)?,
        secret: token.unwrap_or_default(),
        settings: settings(&[("topic", topic)]),
    })
}

/// A `telegram` channel.
fn telegram(c: &ChannelIn, url: Option<&str>, secret: Option<&str>, config: &WebConfig) -> ApiResult<Validated> {
    let token = required(secret, "secret", "the bot token from @BotFather (123456:ABC…)")?;
    if !telegram::valid_token(token) {
        return Err(ApiError::invalid(
            "secret",
            "must be a bot token as @BotFather gives it: digits, `:`, then 20 or more letters, digits, `_` or `-`",
        ));
    }
    let chat = required(c.chat_id.as_deref(), "chat_id", "the chat to send to: a numeric id or @channelusername")?;
    if !telegram::valid_chat_id(chat) {
        return Err(ApiError::invalid(
            "chat_id",
            "must be a numeric chat id (e.g. -1001234567890) or @channelusername",
        ));
    }
    Ok(Validated {
        url: web_url(url.unwrap_or(telegram::API_URL), config)?,
        secret: token.to_owned(),
        settings: settings(&[("chat_id", chat)]),
    })
}

/// A `gotify` channel.
fn gotify(url: Option<&str>, secret: Option<&str>, config: &WebConfig) -> ApiResult<Validated> {
    let url = required(url, "url", "the Gotify server, e.g. https://gotify.example.com")?;
    let app = required(secret, "secret", "the token of a Gotify application (Apps → Create Application)")?;
    Ok(Validated {
        url: web_url(url, config)?,
        secret: token("secret", app, "a Gotify application token")?,
        settings: Map::new(),
    })
}

/// A `pushover` channel.
fn pushover(c: &ChannelIn, url: Option<&str>, secret: Option<&str>, config: &WebConfig) -> ApiResult<Validated> {
    let app = required(secret, "secret", "the API token of your Pushover application")?;
    if !pushover::valid_key(app) {
        return Err(ApiError::invalid("secret", "must be a Pushover API token: 30 letters and digits"));
    }
    let user = required(c.user_key.as_deref(), "user_key", "your Pushover user key or a group key")?;
    if !pushover::valid_key(user) {
        return Err(ApiError::invalid("user_key", "must be a Pushover user or group key: 30 letters and digits"));
    }
    Ok(Validated {
        url: web_url(url.unwrap_or(pushover::MESSAGES_URL), config)?,
        secret: app.to_owned(),
        settings: settings(&[("user_key", user)]),
    })
}

/// A `opsgenie` channel.
fn opsgenie(c: &ChannelIn, url: Option<&str>, secret: Option<&str>, config: &WebConfig) -> ApiResult<Validated> {
    let key = required(secret, "secret", "the API key of an Opsgenie API integration")?;
    let region = c.region.as_deref().map(str::trim).unwrap_or("us");
    let base = opsgenie::region_url(region).ok_or_else(|| ApiError::invalid("region", "must be `us` or `eu`"))?;
    // A stored regional URL follows the region (a PATCH of `region` alone moves the channel).
    let regional = |u: &str| [opsgenie::US_API, opsgenie::EU_API].contains(&u.trim_end_matches('/'));
    let url = url.filter(|u| !regional(u)).unwrap_or(base);
    Ok(Validated {
        url: web_url(url, config)?,
        secret: token("secret", key, "an Opsgenie API key")?,
        settings: settings(&[("region", region)]),
    })
}

/// A `matrix` channel.
fn matrix(c: &ChannelIn, url: Option<&str>, secret: Option<&str>, config: &WebConfig) -> ApiResult<Validated> {
    let url = required(url, "url", "the homeserver, e.g. https://matrix.example.org")?;
    let access = required(secret, "secret", "an access token of the bot account")?;
    let room = required(c.room_id.as_deref(), "room_id", "the room id (!…:example.org; Room settings → Advanced)")?;
    if !matrix::valid_room_id(room) {
        return Err(ApiError::invalid(
            "room_id",
            "must be a room id starting with `!` (an alias like #ops:example.org does not work here)",
        ));
    }
    Ok(Validated {
        url: web_url(url, config)?,
        secret: token("secret", access, "a Matrix access token")?,
        settings: settings(&[("room_id", room)]),
    })
}

/// A `google_chat` channel.
fn google_chat(c: &ChannelIn, url: Option<&str>, config: &WebConfig) -> ApiResult<Validated> {
    let url = required(url, "url", "the space's incoming-webhook URL")?;
    if c.secret.is_some() {
        return Err(ApiError::invalid(
            "secret",
            "is not used by google_chat channels; the key and token are in the webhook URL",
        ));
    }
    Ok(Validated { url: web_url(url, config)?, secret: String::new(), settings: Map::new() })
}

/// A required text field, trimmed.
fn required<'a>(v: Option<&'a str>, field: &str, what: &str) -> ApiResult<&'a str> {
    v.map(str::trim).filter(|v| !v.is_empty()).ok_or_else(|| ApiError::invalid(field, format!("is required: {what}")))
}

/// A token: 1 to 512 printable ASCII characters without spaces.
fn token(field: &str, t: &str, what: &str) -> ApiResult<String> {
    if t.is_empty() || t.len() > 512 || !t.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::invalid(field, format!("must be {what}: printable characters without spaces")));
    }
    Ok(t.to_owned())
}

fn settings(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect()
}

/// A templated webhook's request: method, content type, body template (checked by rendering
/// it for a sample notice), headers.
fn templated(c: &ChannelIn, url: Option<&str>, config: &WebConfig) -> ApiResult<Validated> {
    if c.secret.is_some() {
        return Err(ApiError::invalid("secret", "is not used by templated_webhook channels; put a token in `headers`"));
    }
    let url = web_url(required(url, "url", "the URL to send notices to")?, config)?;
    let method = c.method.as_deref().map(str::trim).unwrap_or("POST").to_ascii_uppercase();
    if !["POST", "PUT", "PATCH"].contains(&method.as_str()) {
        return Err(ApiError::invalid("method", "must be POST, PUT or PATCH"));
    }
    let content_type = c.content_type.as_deref().map(str::trim).filter(|t| !t.is_empty()).unwrap_or("application/json");
    if !content_type.contains('/') || axum::http::HeaderValue::from_str(content_type).is_err() {
        return Err(ApiError::invalid("content_type", "must be a media type such as application/json or text/plain"));
    }
    let template = c.body_template.as_deref().filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        ApiError::invalid(
            "body_template",
            "is required: the body to send, with {{field}} placeholders such as {{monitor.name}}",
        )
    })?;
    if template.len() > 16_000 {
        return Err(ApiError::invalid("body_template", "must be at most 16000 bytes"));
    }
    templated_webhook::parse(template).map_err(|m| ApiError::invalid("body_template", m))?;
    if templated_webhook::is_json(content_type) {
        let sample =
            templated_webhook::render(template, &templated_webhook::sample_event(), "https://netpulse.example", true)
                .map_err(|m| ApiError::invalid("body_template", m))?;
        serde_json::from_str::<Value>(&sample).map_err(|e| {
            let msg = format!(
                "does not render to valid JSON ({e}); write string fields in quotes, like \"{{{{monitor.name}}}}\""
            );
            ApiError::invalid("body_template", msg)
        })?;
    }
    let mut s = settings(&[("method", &method), ("content_type", content_type), ("body_template", template)]);
    s.insert("headers".into(), Value::Object(headers(c.headers.as_ref())?));
    Ok(Validated { url, secret: String::new(), settings: s })
}

/// Extra request headers: at most 20, valid names and values, none NetPulse sets itself.
fn headers(given: Option<&Map<String, Value>>) -> ApiResult<Map<String, Value>> {
    let given = given.cloned().unwrap_or_default();
    if given.len() > 20 {
        return Err(ApiError::invalid("headers", "must list at most 20 headers"));
    }
    for (name, value) in &given {
        let field = format!("headers.{name}");
        let lower = name.to_ascii_lowercase();
        if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(ApiError::invalid(field, "is not a valid header name"));
        }
        if ["content-type", "content-length", "host", "transfer-encoding", "connection"].contains(&lower.as_str()) {
            return Err(ApiError::invalid(field, "is set by NetPulse (the content type goes in `content_type`)"));
        }
        let ok = value.as_str().is_some_and(|v| axum::http::HeaderValue::from_str(v).is_ok());
        if !ok {
            return Err(ApiError::invalid(field, "must be a string of visible characters"));
        }
    }
    Ok(given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_all_but_the_last_four_characters() {
        assert_eq!(masked("netpulse-alerts-7f3a"), "…7f3a");
        assert_eq!(masked("short"), "…");
    }
}

//! Alert channels in the dashboard (`/channels`): the list with each channel's delivery health
//! (ok, or failing since when with the last error; [`super::deliveries`]) and, for admins and owners, a form
//! to add one and a *Send test* button per channel. Everything goes through the API's own functions
//! ([`crate::api::channels`]), so the same admin rule and the same checks apply. Secrets are
//! never shown: the list says only whether a channel has one, chat webhook URLs are masked,
//! and a webhook's signing secret appears once, on the page right after it was created. A
//! refused form keeps what was typed except the secret.

use super::deliveries::health_cell;
use super::forms::{submitted, Submitted};
use super::{badge, page, signed_in, SignedIn};
use crate::api::channel_kinds::fields_of;
use crate::api::channels::{create_from, managed_by, send_test, visible_url};
use crate::base::ApiError;
use crate::base::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use netpulse_core::Timestamp;
use netpulse_store::{ChannelHealth, ChannelKind, ChannelRecord};
use serde_json::{Map, Value};
use std::collections::HashMap;

const KINDS: [&str; 14] = [
    "webhook",
    "slack",
    "discord",
    "teams",
    "pagerduty",
    "email",
    "ntfy",
    "telegram",
    "gotify",
    "pushover",
    "opsgenie",
    "matrix",
    "google_chat",
    "templated_webhook",
];

/// The kind-specific inputs: field, label, hint, and whether it is a multi-line text. The form
/// sends only those the chosen kind takes ([`fields_of`]).
const KIND_INPUTS: &[(&str, &str, &str, bool)] = &[
    ("topic", "Topic", "ntfy: the topic to publish to", false),
    ("chat_id", "Chat id", "Telegram: numeric chat id or @channelusername", false),
    ("user_key", "User key", "Pushover: your user key or a group key", false),
    ("region", "Region", "Opsgenie: us or eu", false),
    ("room_id", "Room id", "Matrix: the room id, !…:example.org", false),
    ("method", "Method", "templated webhook: POST, PUT or PATCH", false),
    ("headers", "Headers", "templated webhook: one Name: value per line (values are never shown again)", true),
    ("content_type", "Content type", "templated webhook: default application/json", false),
    ("body_template", "Body template", "templated webhook: the body with {{field}} placeholders, e.g. {\"text\": \"{{title}}\", \"url\": \"{{incident.url}}\"}", true),
];

/// What the page says above the list after an action.
enum Notice {
    None,
    Created { name: String, webhook_secret: Option<String> },
    Tested { name: String, outcome: Value },
}

/// `GET /channels`.
pub async fn list(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let auth = match signed_in(&s, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    render(&s, &auth, Notice::None, &HashMap::new(), None).await
}

/// `POST /channels`: add a channel.
pub async fn create(State(s): State<AppState>, headers: HeaderMap, form: Submitted) -> Response {
    let (auth, values) = match submitted(&s, &headers, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut input = Map::new();
    for k in ["name", "kind", "url", "secret"] {
        if let Some(v) = values.get(k).map(|v| v.trim()).filter(|v| !v.is_empty() || k == "name") {
            input.insert(k.into(), Value::String(v.to_owned()));
        }
    }
    let kind = values.get("kind").and_then(|k| ChannelKind::parse(k));
    for field in kind.map(fields_of).unwrap_or_default() {
        if let Some(v) = values.get(field).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            let v = if field == "headers" { header_lines(v) } else { Value::String(v.to_owned()) };
            input.insert(field.into(), v);
        }
    }
    input.insert("enabled".into(), Value::Bool(values.contains_key("enabled")));
    match create_from(&s, &auth.caller, input).await {
        Ok((rec, secret)) => {
            let webhook_secret = (rec.kind == ChannelKind::Webhook).then_some(secret);
            render(&s, &auth, Notice::Created { name: rec.name, webhook_secret }, &HashMap::new(), None).await
        }
        Err(e) => render(&s, &auth, Notice::None, &values, Some(e)).await,
    }
}

/// The form's `Name: value` lines as the API's `headers` object (a line without `:` becomes a
/// name with an empty value, which the API refuses naming it).
fn header_lines(text: &str) -> Value {
    let pairs = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| match l.split_once(':') {
        Some((k, v)) => (k.trim().to_owned(), Value::String(v.trim().to_owned())),
        None => (l.to_owned(), Value::String(String::new())),
    });
    Value::Object(pairs.collect())
}

/// `POST /channels/{id}/test`: send a test notification and say how it went.
pub async fn test(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>, form: Submitted) -> Response {
    let (auth, _) = match submitted(&s, &headers, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let name = match s.store.list_channels(auth.tenant()).await {
        Ok(rows) => rows.into_iter().find(|c| c.id.as_str() == id).map(|c| c.name),
        Err(e) => return ApiError::from(e).into_response(),
    };
    match send_test(&s, &auth.caller, &id).await {
        Ok(outcome) => {
            let name = name.unwrap_or_default();
            render(&s, &auth, Notice::Tested { name, outcome }, &HashMap::new(), None).await
        }
        Err(e) => render(&s, &auth, Notice::None, &HashMap::new(), Some(e)).await,
    }
}

async fn render(
    s: &AppState,
    auth: &SignedIn,
    notice: Notice,
    typed: &HashMap<String, String>,
    error: Option<ApiError>,
) -> Response {
    let (rows, health) =
        match tokio::try_join!(s.store.list_channels(auth.tenant()), s.store.channel_health(auth.tenant())) {
            Ok(x) => x,
            Err(e) => return ApiError::from(e).into_response(),
        };
    let now = netpulse_store::clock::now();
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let body = html! {
        h1 { "Channels" }
        (notice_markup(&notice))
        @if rows.is_empty() { p.empty #no-channels { "No channels yet: incidents notify nobody." } }
        table #channels hidden[rows.is_empty()] {
            thead { tr { th { "Name" } th { "Kind" } th { "Sends to" } th { "Secret" } th { "Enabled" } th { "Delivery" } @if auth.may_admin() { th { "" } } } }
            tbody { @for c in &rows { (row(c, health.iter().find(|h| h.channel_id == c.id), now, auth)) } }
        }
        @if let (Some(e), false) = (&error, auth.may_admin()) { p.error #form-error role="alert" { (e.message) } }
        @if auth.may_admin() {
            h2 { "Add a channel" }
            (create_form(&auth.csrf, typed, error.as_ref()))
        } @else {
            p.sub { "Admins and owners add channels and send tests." }
        }
    };
    (status, page("Channels", Some(auth), body)).into_response()
}

fn notice_markup(notice: &Notice) -> Markup {
    html! {
        @match notice {
            Notice::None => {},
            Notice::Created { name, webhook_secret } => p.notice #notice role="status" {
                "Channel " strong { (name) } " added."
                @if let Some(secret) = webhook_secret {
                    " Its signing secret, shown only now (receivers verify signatures with it): "
                    code #webhook-secret { (secret) }
                }
            },
            Notice::Tested { name, outcome } => p.notice #notice role="status" {
                @if outcome["delivered"] == Value::Bool(true) {
                    "Test notification to " strong { (name) } " delivered (HTTP " (outcome["status"]) ")."
                } @else {
                    "Test notification to " strong { (name) } " failed: " (outcome["error"].as_str().unwrap_or("unknown error"))
                }
            },
        }
    }
}

fn row(c: &ChannelRecord, health: Option<&ChannelHealth>, now: Timestamp, auth: &SignedIn) -> Markup {
    html! {
        tr data-channel=(c.id) data-health=(health.map_or("unknown", |h| if h.is_failing() { "failing" } else { "ok" })) {
            td { (c.name) @if !managed_by(&c.settings).is_null() { " " span.tag.managed title="netpulse apply keeps this channel: change the file" { "managed by a file" } } }
            td { (c.kind.as_str()) }
            td.sub { (visible_url(c, auth.caller.audience())) }
            td { @if c.secret.expose().is_empty() { "–" } @else { "set (hidden)" } }
            td { @if c.enabled { "yes" } @else { (badge("paused")) } }
            td.health { (health_cell(health, now, auth.caller.audience()))
                " " a.sub href={ "/deliveries?channel=" (c.id) } { "log" } }
            @if auth.may_admin() { td { form.inline method="post" action={ "/channels/" (c.id) "/test" } {
                input type="hidden" name="csrf" value=(auth.csrf);
                button type="submit" data-action="test" { "Send test" }
            } } }
        }
    }
}

fn create_form(csrf: &str, typed: &HashMap<String, String>, error: Option<&ApiError>) -> Markup {
    let value = |k: &str| typed.get(k).map(String::as_str).unwrap_or("");
    let error_at = |k: &str| {
        let e = error.filter(|e| e.field.as_deref() == Some(k))?;
        Some(e.message.strip_prefix(&format!("{k}: ")).unwrap_or(&e.message).to_owned())
    };
    let shown_at = |f: &str| ["name", "kind", "url", "secret"].contains(&f) || KIND_INPUTS.iter().any(|i| i.0 == f);
    let general = error.filter(|e| !e.field.as_deref().is_some_and(shown_at));
    html! {
        @if let Some(e) = general { p.error #form-error role="alert" { (e.message) } }
        form.monitor #new-channel method="post" action="/channels" novalidate {
            input type="hidden" name="csrf" value=(csrf);
            div.field { label for="c-name" { "Name" } input #c-name type="text" name="name" value=(value("name"));
                @if let Some(m) = error_at("name") { p.error #c-name-error role="alert" { (m) } } }
            div.field { label for="c-kind" { "Kind" } select #c-kind name="kind" {
                @for k in KINDS { option value=(k) selected[k == value("kind")] { (k) } } }
                @if let Some(m) = error_at("kind") { p.error #c-kind-error role="alert" { (m) } } }
            div.field { label for="c-url" { "URL or recipients" } input #c-url type="text" name="url" value=(value("url"));
                span.sub { "webhook/chat URL; e-mail: comma-separated addresses; PagerDuty: optional; ntfy: server (default https://ntfy.sh); Telegram: API base (default https://api.telegram.org); Gotify: the server; Pushover: optional; Opsgenie: optional (from the region); Matrix: the homeserver; Google Chat: the space's webhook URL; templated webhook: the URL to send to" }
                @if let Some(m) = error_at("url") { p.error #c-url-error role="alert" { (m) } } }
            div.field { label for="c-secret" { "Secret" } input #c-secret type="password" name="secret" autocomplete="off";
                span.sub { "webhook: optional (generated); PagerDuty: routing key; ntfy: optional access token; Telegram: bot token; Gotify: application token; Pushover: application API token; Opsgenie: API integration key; Matrix: access token. Never shown again." }
                @if let Some(m) = error_at("secret") { p.error #c-secret-error role="alert" { (m) } } }
            @for (field, label, hint, multiline) in KIND_INPUTS {
                div.field { label for={ "c-" (field) } { (label) }
                    @if *multiline { textarea id={ "c-" (field) } name=(field) rows="4" { (value(field)) } }
                    @else { input id={ "c-" (field) } type="text" name=(field) value=(value(field)); }
                    span.sub { (hint) }
                    @if let Some(m) = error_at(field) { p.error id={ "c-" (field) "-error" } role="alert" { (m) } } }
            }
            div.field { label for="c-enabled" { "Enabled" } input #c-enabled type="checkbox" name="enabled" checked[typed.is_empty() || typed.contains_key("enabled")]; }
            button type="submit" { "Add channel" }
        }
    }
}

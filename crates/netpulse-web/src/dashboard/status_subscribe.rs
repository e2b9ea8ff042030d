//! Subscribing to a status page by e-mail, without an account (double opt-in), and leaving:
//!
//! - `POST /status/{slug}/subscribe` (the page's form, `email=…`, or JSON `{"email": …}`):
//!   stores a pending sign-up and mails a one-time confirmation link (its token stored as
//!   SHA-256, valid 24 h). The answer is the same `202` whether or not the address was
//!   subscribed already, so nobody learns who is. Refused with `429` beyond
//!   `accounts.subscribe_per_hour_ip` per client, `accounts.subscribe_per_hour_page` per page,
//!   or while the page holds `accounts.pending_subscribers_per_page` unconfirmed sign-ups
//!   (nothing stored). One confirmation mail per address and minute at most: a sign-up within
//!   the minute after one changes nothing (the link mailed stays the valid one).
//! - `GET /status/{slug}/confirm?token=…`: the link, a page with one button; its `POST` makes
//!   the subscription active (a mail scanner that fetches every link confirms nothing).
//! - `GET /status/{slug}/unsubscribe?token=…`: a page with one button; the button and a mail
//!   client's RFC 8058 one-click `POST` to the same URL remove the subscriber. The token is
//!   the subscriber's own, in every notice's `List-Unsubscribe`.
//!
//! The links' and form's pages are throttled per client too. No page here shows an address.
//! A sign-up or confirmation posted from another site (a browser's `Origin` that is neither
//! this server's public URL nor the request's own host) is refused: a page elsewhere cannot
//! make its visitors' browsers sign strangers up.

use super::page;
use crate::accounts::{mail, parse_email, ClientIp};
use crate::base::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, Markup};
use netpulse_store::clock;
use netpulse_store::{SignUp, SignUpOutcome, StatusPage, Subscriber, SubscriberKind};
use serde::Deserialize;
use serde_json::json;
use std::time::Instant;

/// How long a confirmation link works.
const CONFIRM_TTL_MS: i64 = 24 * 3600 * 1000;

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// A small page saying one thing: its title as heading, and a sentence.
fn message_page(status: StatusCode, title: &str, text: &str) -> Response {
    (status, page(title, None, html! { h1 { (title) } p { (text) } })).into_response()
}

/// A link's page (confirm, unsubscribe): a question and one button that posts the link's token
/// back to the same URL (a link that is merely fetched changes nothing).
fn button_page(title: &str, question: Markup, token: &str, button: &str) -> Response {
    let body = html! {
        h1 { (title) }
        p { (question) }
        form method="post" {
            input type="hidden" name="token" value=(token);
            button type="submit" { (button) }
        }
    };
    page(title, None, body).into_response()
}

/// An answer in the asker's format: JSON for a JSON request, else a small page.
struct Answer {
    json: bool,
}

impl Answer {
    fn ok(&self, status: StatusCode, title: &str, message: &str) -> Response {
        if self.json {
            return (status, Json(json!({ "status": "accepted", "message": message }))).into_response();
        }
        message_page(status, title, message)
    }

    fn error(&self, e: ApiError) -> Response {
        if self.json {
            return e.into_response();
        }
        let retry = e.retry_after;
        let mut r = message_page(e.status, "Not subscribed", &e.message);
        if let Some(s) = retry {
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(s));
        }
        r
    }
}

/// The e-mail field of a form or JSON body.
fn email_field(json: bool, body: &[u8]) -> Result<String, ApiError> {
    let given = if json {
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
        v.get("email").and_then(|e| e.as_str()).map(str::to_owned)
    } else {
        url::form_urlencoded::parse(body).find(|(k, _)| k == "email").map(|(_, v)| v.into_owned())
    };
    let given = given.ok_or_else(|| ApiError::invalid("email", "is required (e.g. ops@example.com)"))?;
    parse_email(&given)
}

/// A published page by its slug, or 404.
async fn page_of(s: &AppState, slug: &str) -> Result<StatusPage, ApiError> {
    let missing = || ApiError::not_found("status page");
    if !crate::api::status_pages::valid_slug(slug) {
        return Err(missing());
    }
    s.store.status_page_by_slug(slug).await?.ok_or_else(missing)
}

/// `POST /status/{slug}/subscribe`.
pub async fn subscribe(
    State(s): State<AppState>,
    Path(slug): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
    let answer = Answer { json };
    if !same_origin(&headers, &s.base_url) {
        return answer.error(cross_origin());
    }
    match sign_up(&s, &slug, &ip, json, &body).await {
        Ok(()) => answer.ok(
            StatusCode::ACCEPTED,
            "Check your e-mail",
            "If the address can be subscribed, a message with a confirmation link is on its way; the subscription starts when the link is followed (it works once, for 24 hours).",
        ),
        Err(e) => answer.error(e),
    }
}

async fn sign_up(s: &AppState, slug: &str, ip: &str, json: bool, body: &[u8]) -> Result<(), ApiError> {
    let (t, now) = (&s.throttles, Instant::now());
    if !t.subscribe_ip.allow(ip, now) {
        return Err(ApiError::rate_limited("sign-ups from this address", t.subscribe_ip.retry_after_s()));
    }
    let page = page_of(s, slug).await?;
    let address = email_field(json, body)?;
    if !t.subscribe_page.allow(&page.id, now) {
        return Err(ApiError::rate_limited("sign-ups to this page", t.subscribe_page.retry_after_s()));
    }
    if !t.subscribe_mail.allow(&address, now) {
        // A link was mailed to this address within the minute: it stays the valid one.
        return Ok(());
    }
    let token = clock::secret_token("npc_");
    let at = clock::now();
    let subscriber = Subscriber {
        id: format!("sub_{:032x}", clock::random_u128()),
        page_id: page.id.clone(),
        kind: SubscriberKind::Email,
        address: address.clone(),
        secret: netpulse_store::Secret::new(clock::secret_token("npu_")),
        created_at: at,
        confirmed_at: None,
    };
    let up = SignUp { subscriber, confirm_hash: clock::token_hash(&token), expires_at: at.plus_ms(CONFIRM_TTL_MS) };
    let max = s.config.accounts.pending_subscribers_per_page as usize;
    match s.store.sign_up(&page.tenant_id, &up, max, at).await? {
        SignUpOutcome::Pending => {
            let base = s.base_url.trim_end_matches('/');
            let link = format!("{base}/status/{}/confirm?token={token}", page.slug);
            let text = format!(
                "Someone (we hope you) asked to get status updates of {title} by e-mail.\n\n\
                 To confirm, open this link (it works once, for 24 hours):\n{link}\n\n\
                 If you did not ask for this, ignore this message: nothing is sent to you unless the link is opened.\n",
                title = page.title
            );
            mail::send_link(&s.config.smtp, &address, &format!("Confirm your subscription to {}", page.title), text);
            Ok(())
        }
        SignUpOutcome::AlreadyConfirmed => Ok(()),
        SignUpOutcome::PageFull => Err(ApiError::rate_limited("sign-ups waiting for confirmation on this page", 3600)),
    }
}

/// Whether a browser's `Origin` (when it sends one) is this server's public URL or the
/// request's own host; requests without one (mail clients, scripts) pass.
fn same_origin(headers: &HeaderMap, base_url: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let ours = base_url.trim_end_matches('/');
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    origin == ours
        || (!host.is_empty() && [format!("http://{host}"), format!("https://{host}")].contains(&origin.to_owned()))
}

fn cross_origin() -> ApiError {
    ApiError::forbidden(
        "sign-ups and confirmations are taken from this server's own pages only (the request came from another site)",
    )
}

/// `GET /status/{slug}/confirm?token=…`: the page with the button (a link that is merely
/// fetched confirms nothing).
pub async fn confirm_page(
    State(s): State<AppState>,
    Path(slug): Path<String>,
    ClientIp(ip): ClientIp,
    Query(q): Query<TokenQuery>,
) -> Response {
    if let Err(e) = link_budget(&s, &ip) {
        return Answer { json: false }.error(e);
    }
    let title = match page_of(&s, &slug).await {
        Ok(p) => p.title,
        Err(e) => return Answer { json: false }.error(e),
    };
    let question = html! { "Get an e-mail with each update of " strong { (title) } "'s status page?" };
    button_page("Confirm your subscription", question, &q.token, "Confirm")
}

/// `POST /status/{slug}/confirm` (the page's button; the token in the body or the query).
pub async fn confirm(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
    body: Bytes,
) -> Response {
    if !same_origin(&headers, &s.base_url) {
        return Answer { json: false }.error(cross_origin());
    }
    if let Err(e) = link_budget(&s, &ip) {
        return Answer { json: false }.error(e);
    }
    let token = token_of(q, &body);
    let (status, title, text) = match s.store.confirm_subscriber(&clock::token_hash(&token), clock::now()).await {
        Ok(Some(_)) => (StatusCode::OK, "Subscribed", "You will get an e-mail with each update of this status page. Each one carries a link to unsubscribe."),
        Ok(None) => (StatusCode::NOT_FOUND, "Link not valid", "This confirmation link is not valid: it was used already, it expired (after 24 hours), or it was not copied whole. Sign up again on the status page."),
        Err(e) => return Answer { json: false }.error(e.into()),
    };
    message_page(status, title, text)
}

/// The token of a link's form: in the query (a link, a one-click POST) or the form's body.
fn token_of(q: TokenQuery, body: &[u8]) -> String {
    match q.token.is_empty() {
        false => q.token,
        true => url::form_urlencoded::parse(body)
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default(),
    }
}

/// `GET /status/{slug}/unsubscribe?token=…`: the page with the button.
pub async fn unsubscribe_page(
    ClientIp(ip): ClientIp,
    State(s): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> Response {
    if let Err(e) = link_budget(&s, &ip) {
        return Answer { json: false }.error(e);
    }
    let question = html! { "Stop getting e-mail about this status page's updates?" };
    button_page("Unsubscribe", question, &q.token, "Unsubscribe")
}

/// `POST /status/{slug}/unsubscribe?token=…` (RFC 8058 one-click, or the page's button, whose
/// form carries the token in its body).
pub async fn unsubscribe(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    Query(q): Query<TokenQuery>,
    body: Bytes,
) -> Response {
    if let Err(e) = link_budget(&s, &ip) {
        return Answer { json: false }.error(e);
    }
    let token = token_of(q, &body);
    match s.store.unsubscribe(&token).await {
        Ok(true) => message_page(StatusCode::OK, "Unsubscribed", "You will get no more e-mail about this status page."),
        Ok(false) => message_page(
            StatusCode::NOT_FOUND,
            "Link not valid",
            "This unsubscribe link is not (or no longer) valid: no subscription belongs to it, so the \
             address it was mailed to gets nothing from this page through it.",
        ),
        Err(e) => Answer { json: false }.error(e.into()),
    }
}

/// The per-client budget of the links' pages (confirm, unsubscribe).
fn link_budget(s: &AppState, ip: &str) -> Result<(), ApiError> {
    let t = &s.throttles.subscriber_links;
    match t.allow(ip, Instant::now()) {
        true => Ok(()),
        false => Err(ApiError::rate_limited("subscription links from this address", t.retry_after_s())),
    }
}

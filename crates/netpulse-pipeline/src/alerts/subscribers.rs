//! Notices to status-page subscribers: one per subscriber and incident update or announced
//! maintenance window, queued by the store when the update is posted (the window created)
//! and delivered by the [`super::Dispatcher`] beside the alert outbox, with the same retries
//! and backoff.
//!
//! - E-mail: a [`Letter`](super::email::Letter) with the update, a link to the page and a
//!   visible unsubscribe link; `List-Unsubscribe: <…/status/{slug}/unsubscribe?token=…>` and
//!   `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), so a mail client can
//!   unsubscribe with one `POST`.
//! - Webhook: a JSON `POST` signed like the webhook channel ([`super::webhook::signed_headers`],
//!   event `incident_update` or `maintenance_scheduled`, the subscriber's own secret), sent
//!   through the SSRF-guarded client.

use super::email::{self, Letter};
use super::{post, webhook, Attempt, Sender};
use netpulse_store::clock;
use netpulse_store::{NoticeSubject, SubscriberKind, SubscriberNotice};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The event names in a webhook subscriber's `X-NetPulse-Event`: an incident update, and an
/// announced maintenance window.
pub const EVENT: &str = "incident_update";
pub const MAINTENANCE_EVENT: &str = "maintenance_scheduled";

fn event(n: &SubscriberNotice) -> &'static str {
    match n.subject {
        NoticeSubject::Update(_) => EVENT,
        NoticeSubject::Maintenance(_) => MAINTENANCE_EVENT,
    }
}

/// Where the notice's page is read (on its own domain when it has one).
pub fn page_url(n: &SubscriberNotice, base_url: &str) -> String {
    netpulse_store::status_pages::page_url(base_url, &n.page_slug, n.page_domain.as_deref())
}

/// Where an e-mail subscriber leaves (on this server's public URL): the page asking to
/// confirm (`GET`) and the one-click `POST` of RFC 8058.
pub fn unsubscribe_url(n: &SubscriberNotice, base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    format!("{base}/status/{}/unsubscribe?token={}", n.page_slug, n.subscriber.secret.expose())
}

/// The key a receiver can deduplicate on: one per subscriber and subject.
pub fn dedup_key(n: &SubscriberNotice) -> String {
    format!("{}:{}", n.subscriber.id, n.subject.id())
}

/// The JSON body a webhook subscriber gets.
pub fn render_webhook(n: &SubscriberNotice, base_url: &str) -> String {
    let mut body = json!({
        "version": 1,
        "event": event(n),
        "page": { "slug": n.page_slug, "title": n.page_title, "url": page_url(n, base_url) },
        "component": n.component,
    });
    match &n.subject {
        NoticeSubject::Update(u) => {
            body["incident"] = json!({ "id": u.incident_id });
            body["update"] = json!({
                "id": u.id, "state": u.state, "impact": u.impact, "message": u.message,
                "posted_at": u.posted_at.to_rfc3339(),
            });
        }
        NoticeSubject::Maintenance(w) => {
            body["maintenance"] = json!({
                "id": w.id, "starts_at": w.starts_at.to_rfc3339(), "ends_at": w.ends_at.to_rfc3339(),
                "reason": w.reason,
            });
        }
    }
    body.to_string()
}

/// A mail's title and what it says above the links.
fn told(n: &SubscriberNotice) -> (String, String) {
    match &n.subject {
        NoticeSubject::Update(u) => {
            (u.title(&n.component), format!("{}\n\nPosted {}.", u.message, u.posted_at.to_rfc3339()))
        }
        NoticeSubject::Maintenance(w) => {
            let when = format!("From {} to {} (UTC).", w.starts_at.to_rfc3339(), w.ends_at.to_rfc3339());
            let reason = if w.reason.is_empty() { String::new() } else { format!("\n\n{}", w.reason) };
            (format!("{}: maintenance scheduled", n.component), format!("{when}{reason}"))
        }
    }
}

/// The whole mail to an e-mail subscriber (headers and body, CRLF line ends). Its
/// `Message-ID` derives from the subscriber and subject, so a retried delivery carries the same.
pub fn render_mail(n: &SubscriberNotice, from: &str, base_url: &str, date: time::OffsetDateTime) -> String {
    let (title, text) = told(n);
    let subject = super::message::truncate(&format!("[{}] {title}", n.page_title), 200);
    let unsubscribe = unsubscribe_url(n, base_url);
    let body = format!(
        "{title}\n\n{text}\nThe status page: {}\n\n-- \nYou get this because you subscribed to {}.\nUnsubscribe: {}\n",
        page_url(n, base_url),
        n.page_title,
        unsubscribe,
    );
    let id = hex::encode(&Sha256::digest(dedup_key(n).as_bytes())[..16]);
    let extra = [
        ("List-Unsubscribe", format!("<{unsubscribe}>")),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".to_owned()),
        ("X-NetPulse-Event", event(n).to_owned()),
    ];
    let to = [n.subscriber.address.clone()];
    Letter { from, to: &to, subject: &subject, date, id: &id, extra: &extra, body: &body }.render()
}

impl Sender {
    /// One delivery attempt of notice `n` to its subscriber.
    pub async fn notify_subscriber(&self, n: &SubscriberNotice) -> Attempt {
        match n.subscriber.kind {
            SubscriberKind::Email => {
                let to = [n.subscriber.address.clone()];
                let message = render_mail(n, &self.smtp.from, &self.base_url, email::date_now());
                self.mail(&to, &message).await
            }
            SubscriberKind::Webhook => {
                let body = render_webhook(n, &self.base_url);
                let secret = n.subscriber.secret.expose();
                let headers =
                    webhook::signed_headers(event(n), &dedup_key(n), secret, clock::now().millis() / 1000, &body);
                post::send(&self.http, post::Outbound::json(&n.subscriber.address, headers, body), self.timeout).await
            }
        }
    }
}

//! Subscribers of a status page and the notices they are owed.
//!
//! An e-mail subscriber signs up on the public page and is *pending* until the one-time
//! confirmation link is followed (its token is stored as SHA-256 and expires); a webhook
//! subscriber is added by the page's owner and confirmed at once. Each subscriber has a
//! `secret`: a webhook's signing secret, an e-mail subscriber's unsubscribe token — both go
//! into every notice, so they are kept like a channel's secret (never shown after creation).
//!
//! Posting an incident update queues one notice per confirmed subscriber of every page that
//! shows the incident's monitor, in the update's own transaction
//! ([`crate::StatusPageStore::post_incident_update`]); so does creating an announced
//! maintenance window ([`crate::MaintenanceStore::create_maintenance`]).
//! `UNIQUE (subscriber, subject)` makes it once, whatever retries or nodes do. The alert
//! dispatcher claims due notices (leased like the outbox) and records each attempt.

use crate::channels::Delivery;
use crate::error::StoreResult;
use crate::maintenance::MaintenanceWindow;
use crate::secret::Secret;
use crate::status_pages::IncidentUpdate;
use async_trait::async_trait;
use netpulse_core::{TenantId, Timestamp};
use std::collections::HashMap;

/// How a subscriber hears of updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriberKind {
    Email,
    Webhook,
}

impl SubscriberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriberKind::Email => "email",
            SubscriberKind::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [SubscriberKind::Email, SubscriberKind::Webhook].into_iter().find(|k| k.as_str() == s)
    }
}

/// A subscriber of one status page. `address` is the e-mail address or the webhook URL;
/// `confirmed_at` is `None` while an e-mail sign-up waits for its link to be followed.
#[derive(Clone, Debug)]
pub struct Subscriber {
    pub id: String,
    pub page_id: String,
    pub kind: SubscriberKind,
    pub address: String,
    pub secret: Secret,
    pub created_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
}

/// A pending e-mail sign-up: the hash of its one-time confirmation token and when it expires.
#[derive(Clone, Debug)]
pub struct SignUp {
    pub subscriber: Subscriber,
    pub confirm_hash: String,
    pub expires_at: Timestamp,
}

/// What became of a sign-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignUpOutcome {
    /// Stored (or, for an address already pending, given the new token): send the link.
    Pending,
    /// The address is subscribed already: nothing changed, nothing to send.
    AlreadyConfirmed,
    /// The page holds as many pending sign-ups as it may: nothing stored.
    PageFull,
}

/// What a notice tells of.
#[derive(Clone, Debug)]
pub enum NoticeSubject {
    /// An update posted to an incident of a monitor on the page.
    Update(IncidentUpdate),
    /// A maintenance window announced for a monitor on the page.
    Maintenance(MaintenanceWindow),
}

impl NoticeSubject {
    /// The update's or the window's id: one notice per subscriber and subject.
    pub fn id(&self) -> &str {
        match self {
            NoticeSubject::Update(u) => u.id.as_str(),
            NoticeSubject::Maintenance(w) => &w.id,
        }
    }
}

/// One notice due to a subscriber: an incident update or an announced maintenance window of
/// a monitor shown on its page.
#[derive(Clone, Debug)]
pub struct SubscriberNotice {
    pub id: i64,
    pub tenant_id: TenantId,
    pub subscriber: Subscriber,
    pub page_slug: String,
    pub page_title: String,
    /// The page's own host name, if it has one ([`crate::status_pages::page_url`]).
    pub page_domain: Option<String>,
    /// The monitor as the page names it (for an update of another monitor's incident, the
    /// page's first component it affects).
    pub component: String,
    pub subject: NoticeSubject,
    pub attempts: u32,
}

/// A subscriber's columns, as both backends read them (`s`: `page_subscribers`).
pub(crate) const COLS: &str = "s.id, s.page_id, s.kind, s.address, s.secret, s.created_at, s.confirmed_at";

/// Both backends' claim of due notices: `now` and `limit` are the placeholders of the time
/// and the row limit. The component is named as the subscriber's page names the incident's
/// monitor or, on a page showing only components it affects, the first of those. Columns: the notice (0–2), the page (3–5), the update (6–11, `NULL` for
/// a window), the subscriber ([`COLS`], 12–18), the window (19–26, `NULL` for an update) and
/// the page's domain (27); a row whose update or window is gone has `NULL` in both.
pub(crate) fn claim_query(now: &str, limit: &str) -> String {
    format!(
        "SELECT n.id, n.tenant_id, n.attempts, p.slug, p.title, coalesce(m.display_name, \
           (SELECT a.display_name FROM status_page_monitors a WHERE a.page_id = p.id \
             AND (' ' || u.affects || ' ') LIKE ('% ' || a.monitor_id || ' %') ORDER BY a.position LIMIT 1), p.title), \
         u.id, u.incident_id, u.state, u.impact, u.message, u.posted_at, {COLS}, \
         w.id, w.monitor_id, w.starts_at, w.ends_at, w.repeat_every_s, w.reason, w.phase, w.announce, w.updated_at, p.domain \
         FROM subscriber_notices n JOIN page_subscribers s ON s.id = n.subscriber_id \
         JOIN status_pages p ON p.id = s.page_id \
         LEFT JOIN incident_updates u ON u.id = n.subject_id AND u.tenant_id = n.tenant_id \
         LEFT JOIN incidents i ON i.id = u.incident_id AND i.tenant_id = n.tenant_id \
         LEFT JOIN maintenance_windows w ON w.id = n.subject_id AND w.tenant_id = n.tenant_id \
         LEFT JOIN status_page_monitors m ON m.page_id = p.id \
           AND m.monitor_id = coalesce(i.monitor_id, w.monitor_id) \
         WHERE n.status = 'pending' AND n.next_attempt_at <= {now} ORDER BY n.id LIMIT {limit}"
    )
}

/// Subscribers of a tenant's status pages and the notices queued for them.
#[async_trait]
pub trait SubscriberStore: Send + Sync {
    /// Sign up an e-mail address on page `s.subscriber.page_id` (of `t`), pending until
    /// confirmed. Expired pending sign-ups of the page are dropped first; a new address is
    /// refused ([`SignUpOutcome::PageFull`]) while `max_pending` others are pending.
    async fn sign_up(&self, t: &TenantId, s: &SignUp, max_pending: usize, now: Timestamp)
        -> StoreResult<SignUpOutcome>;
    /// Confirm the pending sign-up whose token hashes to `confirm_hash`, if it has not
    /// expired; the token works once. The page's slug when it did (system path).
    async fn confirm_subscriber(&self, confirm_hash: &str, now: Timestamp) -> StoreResult<Option<String>>;
    /// Remove the e-mail subscriber whose unsubscribe token is `token` (system path); `false`
    /// when there is none (already gone).
    async fn unsubscribe(&self, token: &str) -> StoreResult<bool>;
    /// Add a confirmed subscriber (a webhook, added by the page's owner); `false` when `t`
    /// has no such page.
    async fn add_subscriber(&self, t: &TenantId, s: &Subscriber) -> StoreResult<bool>;
    /// The subscribers of page `page_id` of `t`, newest first.
    async fn list_subscribers(&self, t: &TenantId, page_id: &str) -> StoreResult<Vec<Subscriber>>;
    /// Remove a subscriber and its pending notices; `false` if `t`'s page has no such one.
    async fn delete_subscriber(&self, t: &TenantId, page_id: &str, id: &str) -> StoreResult<bool>;
    /// Confirmed subscribers per page of `t`.
    async fn subscriber_counts(&self, t: &TenantId) -> StoreResult<HashMap<String, usize>>;
    /// Take up to `limit` notices due at `now` (of every tenant), leased for `lease_ms`.
    async fn claim_subscriber_notices(
        &self,
        now: Timestamp,
        limit: usize,
        lease_ms: i64,
    ) -> StoreResult<Vec<SubscriberNotice>>;
    /// Record an attempt at notice `id`: sent, retry at a time, or failed for good.
    async fn record_subscriber_notice(&self, id: i64, delivery: &Delivery) -> StoreResult<()>;
}

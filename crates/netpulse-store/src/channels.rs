//! Alert channels and what goes through them: the channels a tenant notifies, the outbox of
//! notifications the dispatcher claims and delivers, each channel's delivery log, and storm
//! control (see `core::storm`), which groups a burst of pages on a channel into one notice.
//! Every attempt is also kept in the delivery log ([`crate::deliveries`]).

use crate::error::StoreResult;
use crate::secret::Secret;
use crate::Conditional;
use async_trait::async_trait;
use netpulse_core::alert::AlertEvent;
use netpulse_core::storm::Storm;
use netpulse_core::{ChannelId, TenantId, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::Notify;

/// Kinds of alert channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// Signed JSON `POST` (HMAC-SHA256); `secret` signs.
    Webhook,
    /// Slack incoming webhook; `url` is the webhook URL.
    Slack,
    /// Discord channel webhook; `url` is the webhook URL.
    Discord,
    /// Microsoft Teams (Workflows or incoming webhook); `url` is the webhook URL.
    Teams,
    /// PagerDuty Events API v2; `secret` is the routing key, `url` the events endpoint.
    Pagerduty,
    /// E-mail through the configured SMTP server; `url` lists the recipients.
    Email,
    /// ntfy: `url` is the server, `settings.topic` the topic, `secret` an optional access token.
    Ntfy,
    /// Telegram Bot API: `secret` is the bot token, `settings.chat_id` the chat, `url` the API base.
    Telegram,
    /// Gotify: `url` is the server, `secret` the application token.
    Gotify,
    /// Pushover: `secret` is the application token, `settings.user_key` the user or group key.
    Pushover,
    /// Opsgenie Alert API: `secret` is the API key, `settings.region` `us`/`eu`, `url` the API base.
    Opsgenie,
    /// Matrix: `url` is the homeserver, `secret` an access token, `settings.room_id` the room.
    Matrix,
    /// Google Chat incoming webhook; `url` is the webhook URL.
    GoogleChat,
    /// Any HTTP API: `url`, and in `settings` the method, headers, content type and body template.
    TemplatedWebhook,
}

impl ChannelKind {
    /// The stored and API name (`webhook`, `slack`, …, `email`, `ntfy`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Teams => "teams",
            ChannelKind::Pagerduty => "pagerduty",
            ChannelKind::Email => "email",
            ChannelKind::Ntfy => "ntfy",
            ChannelKind::Telegram => "telegram",
            ChannelKind::Gotify => "gotify",
            ChannelKind::Pushover => "pushover",
            ChannelKind::Opsgenie => "opsgenie",
            ChannelKind::Matrix => "matrix",
            ChannelKind::GoogleChat => "google_chat",
            ChannelKind::TemplatedWebhook => "templated_webhook",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

/// A stored channel. `url` is where it delivers (a webhook URL; for e-mail, the recipients);
/// `secret` signs or authenticates deliveries and is never shown after creation; `settings`
/// holds kind-specific options as JSON. `updated_at` is its version, which every update moves on.
#[derive(Clone, Debug)]
pub struct ChannelRecord {
    pub id: ChannelId,
    pub tenant_id: TenantId,
    pub name: String,
    pub kind: ChannelKind,
    pub url: String,
    pub secret: Secret,
    pub settings: serde_json::Value,
    pub enabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A notification due for delivery.
#[derive(Clone, Debug)]
pub struct OutboxItem {
    pub id: i64,
    pub channel: ChannelRecord,
    pub event: AlertEvent,
    pub attempts: u32,
}

/// What happened to one delivery attempt made at `at`: the receiver's status when it
/// answered, and whether the notice is sent, to be retried, or failed for good.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub at: Timestamp,
    pub status: Option<u16>,
    pub result: DeliveryResult,
}

/// Where an outbox row stands after an attempt.
#[derive(Clone, Debug)]
pub enum DeliveryResult {
    Sent,
    Retry { next_at: Timestamp, error: String },
    Failed { error: String },
}

/// A row of a channel's delivery log.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryRecord {
    pub dedup_key: String,
    pub kind: String,
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

/// Channels of a tenant, the outbox and its deliveries, and storm control.
#[async_trait]
pub trait ChannelStore: Send + Sync {
    async fn create_channel(&self, t: &TenantId, ch: &ChannelRecord) -> StoreResult<()>;
    async fn list_channels(&self, t: &TenantId) -> StoreResult<Vec<ChannelRecord>>;
    async fn get_channel(&self, t: &TenantId, id: &ChannelId) -> StoreResult<Option<ChannelRecord>>;
    /// Replace channel `ch.id`'s fields. Its version becomes `ch.updated_at`, or one ms past
    /// the old version if that is not earlier, so every update changes it. With `expected`,
    /// only while the version is still that one, checked and written in one statement (see
    /// [`crate::MonitorStore::update_monitor_if`]).
    async fn update_channel_if(
        &self,
        t: &TenantId,
        ch: &ChannelRecord,
        expected: Option<Timestamp>,
    ) -> StoreResult<Conditional>;
    /// [`Self::update_channel_if`] whatever the version; `false` when there is no such channel.
    async fn update_channel(&self, t: &TenantId, ch: &ChannelRecord) -> StoreResult<bool> {
        Ok(self.update_channel_if(t, ch, None).await? == Conditional::Updated)
    }
    async fn delete_channel(&self, t: &TenantId, id: &ChannelId) -> StoreResult<bool>;
    /// The newest `limit` rows of channel `id`'s delivery log, newest first.
    async fn list_deliveries(&self, t: &TenantId, id: &ChannelId, limit: usize) -> StoreResult<Vec<DeliveryRecord>>;

    /// Take up to `limit` notifications due at `now` (of every tenant) and lease them for
    /// `lease_ms`, so no other dispatcher takes them while they are in flight.
    async fn claim_outbox(&self, now: Timestamp, limit: usize, lease_ms: i64) -> StoreResult<Vec<OutboxItem>>;
    /// Record an attempt at `item`: the outbox row moves on (sent, retry later, failed) and
    /// the attempt joins the delivery log ([`crate::deliveries`]), in one transaction.
    async fn record_delivery(&self, item: &OutboxItem, delivery: Delivery) -> StoreResult<()>;
    /// When the alert dispatcher next has work: the earliest next attempt of a pending
    /// notice or reminder/escalation timer, or the epoch while a storm is in progress (its
    /// settling is due every pass). `None`: nothing pending.
    async fn next_alert_work(&self) -> StoreResult<Option<Timestamp>>;
    /// Notified (`notify_one`) after this store committed a notice, a storm or a timer —
    /// when it is the only writer of its database (SQLite), so that an idle dispatcher can
    /// sleep until [`ChannelStore::next_alert_work`] instead of polling. `None` for a store
    /// other processes write too (PostgreSQL): the dispatcher polls.
    fn alert_work_written(&self) -> Option<Arc<Notify>> {
        None
    }

    /// The storm in progress on channel `ch`, if any.
    async fn storm(&self, t: &TenantId, ch: &ChannelId) -> StoreResult<Option<Storm>>;
    /// The pages (`opened`/`flapping`/`escalated` rows, sent or still pending) queued on `ch` since `since`.
    async fn recent_pages(&self, t: &TenantId, ch: &ChannelId, since: Timestamp)
        -> StoreResult<Vec<(i64, AlertEvent)>>;
    /// In one transaction: mark the pending rows `grouped` as grouped into the storm, save
    /// `storm` (or clear it: `None`), and queue `announce` on `ch` (once per dedup key).
    async fn save_storm(
        &self,
        t: &TenantId,
        ch: &ChannelId,
        storm: Option<&Storm>,
        grouped: &[i64],
        announce: Option<&AlertEvent>,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Every channel with a storm in progress.
    async fn active_storms(&self) -> StoreResult<Vec<(TenantId, ChannelId)>>;
}

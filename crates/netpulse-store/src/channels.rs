//! Alert channels and what goes through them: the channels a tenant notifies, the outbox of
//! notifications the dispatcher claims and delivers, each channel's delivery log, and storm
//! control (see `core::storm`), which groups a burst of pages on a channel into one notice.

use crate::secret::Secret;
use netpulse_core::alert::AlertEvent;
use netpulse_core::{ChannelId, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

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
}

impl ChannelKind {
    /// The stored and API name (`webhook`, `slack`, `discord`, `teams`, `pagerduty`, `email`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Teams => "teams",
            ChannelKind::Pagerduty => "pagerduty",
            ChannelKind::Email => "email",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

/// A stored channel. `url` is where it delivers (a webhook URL; for e-mail, the recipients);
/// `secret` signs or authenticates deliveries and is never shown after creation; `settings`
/// holds kind-specific options as JSON.
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
}

/// A notification due for delivery.
#[derive(Clone, Debug)]
pub struct OutboxItem {
    pub id: i64,
    pub channel: ChannelRecord,
    pub event: AlertEvent,
    pub attempts: u32,
}

/// What happened to one delivery attempt.
#[derive(Clone, Debug)]
pub enum Delivery {
    Sent { at: Timestamp },
    Retry { at: Timestamp, error: String },
    Failed { at: Timestamp, error: String },
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

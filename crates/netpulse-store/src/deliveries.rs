//! The delivery log: one row per attempt to deliver a notice to a channel (an outbox row's
//! every try, retries included, and each "send test"), with what came back. It answers who
//! was notified about an incident, when, through which channel and with what answer; each
//! channel's health (its last delivery, and since when it has been failing); and the
//! account's log, newest first. Rows are written by the dispatcher in the same transaction
//! that updates the outbox row ([`crate::ChannelStore::record_delivery`]) and age out with
//! the outbox at the raw-results horizon.

use crate::channels::{ChannelRecord, Delivery, DeliveryResult};
use crate::error::StoreResult;
use async_trait::async_trait;
use netpulse_core::alert::AlertEvent;
use netpulse_core::{ChannelId, IncidentId, MonitorId, TenantId, Timestamp};
use serde::Serialize;

/// What one attempt came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The receiver took it (2xx; SMTP accepted it).
    Delivered,
    /// It failed and will be tried again at `next_attempt_at`.
    Retrying,
    /// It failed for good: a permanent refusal, or the last attempt.
    Failed,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Retrying => "retrying",
            AttemptOutcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "delivered" => AttemptOutcome::Delivered,
            "retrying" => AttemptOutcome::Retrying,
            _ => AttemptOutcome::Failed,
        }
    }
}

/// One attempt to deliver a notice to a channel.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryAttempt {
    /// Increasing in time: the log's cursor.
    pub id: i64,
    pub at: Timestamp,
    pub channel_id: ChannelId,
    /// The channel's name when the attempt was made.
    pub channel_name: String,
    pub channel_kind: String,
    pub monitor_id: Option<MonitorId>,
    pub monitor_name: String,
    pub incident_id: Option<IncidentId>,
    /// The notice kind: `opened`, `resolved`, `reminder`, `test`, …
    pub event: String,
    pub dedup_key: String,
    /// 1 for the first try of a notice, 2 for its first retry, …
    pub attempt: u32,
    pub outcome: AttemptOutcome,
    /// The receiver's HTTP status (250 for an accepted mail), when it answered.
    pub http_status: Option<u16>,
    pub error: Option<String>,
    /// When a `retrying` attempt's next try is due.
    pub next_attempt_at: Option<Timestamp>,
}

impl DeliveryAttempt {
    /// The row for attempt number `attempt` of `event` on channel `ch` (id assigned on insert).
    pub fn of(ch: &ChannelRecord, event: &AlertEvent, attempt: u32, d: &Delivery) -> Self {
        let (outcome, error, next_attempt_at) = match &d.result {
            DeliveryResult::Sent => (AttemptOutcome::Delivered, None, None),
            DeliveryResult::Retry { next_at, error } => (AttemptOutcome::Retrying, Some(error.clone()), Some(*next_at)),
            DeliveryResult::Failed { error } => (AttemptOutcome::Failed, Some(error.clone()), None),
        };
        DeliveryAttempt {
            id: 0,
            at: d.at,
            channel_id: ch.id.clone(),
            channel_name: ch.name.clone(),
            channel_kind: ch.kind.as_str().to_owned(),
            monitor_id: event.monitor_id.clone(),
            monitor_name: event.monitor_name.clone(),
            incident_id: event.incident_id.clone(),
            event: event.kind.as_str().to_owned(),
            dedup_key: event.dedup_key.clone(),
            attempt,
            outcome,
            http_status: d.status,
            error,
            next_attempt_at,
        }
    }
}

/// Which attempts to list: all of the account's, or one channel's or one incident's; newest
/// first, older than `before` (an attempt id) when paging on.
#[derive(Clone, Debug, Default)]
pub struct AttemptQuery {
    pub channel: Option<ChannelId>,
    pub incident: Option<IncidentId>,
    pub before: Option<i64>,
    pub limit: usize,
}

/// A channel's health, from its delivery log.
#[derive(Clone, Debug, Serialize)]
pub struct ChannelHealth {
    pub channel_id: ChannelId,
    /// The newest attempt (of any notice, tests included).
    pub last: DeliveryAttempt,
    /// The newest delivered attempt.
    pub last_delivered_at: Option<Timestamp>,
    /// When the failures since the last delivered attempt began; `None` when the newest
    /// attempt was delivered.
    pub failing_since: Option<Timestamp>,
}

impl ChannelHealth {
    pub fn is_failing(&self) -> bool {
        self.last.outcome != AttemptOutcome::Delivered
    }
}

/// A notice about an incident that storm control folded into a channel's storm notice
/// instead of sending it on its own (its outbox row is `grouped`).
#[derive(Clone, Debug, Serialize)]
pub struct GroupedNotice {
    pub channel_id: ChannelId,
    /// The channel's name now (`None` once the channel is deleted).
    pub channel_name: Option<String>,
    pub event: String,
    /// When it was folded into the storm.
    pub at: Timestamp,
}

/// The delivery log of an account.
#[async_trait]
pub trait DeliveryLogStore: Send + Sync {
    /// Append one attempt that has no outbox row (a "send test").
    async fn record_test_delivery(&self, t: &TenantId, attempt: &DeliveryAttempt) -> StoreResult<()>;
    /// Attempts of tenant `t` matching `q`, newest first, at most `q.limit`.
    async fn delivery_attempts(&self, t: &TenantId, q: &AttemptQuery) -> StoreResult<Vec<DeliveryAttempt>>;
    /// The health of every channel of `t` that has made an attempt (channels without one are
    /// absent). Index lookups per channel, not a scan of the log: pages read it on every load.
    async fn channel_health(&self, t: &TenantId) -> StoreResult<Vec<ChannelHealth>>;
    /// The notices about incident `i` that went out inside a storm notice, oldest first.
    async fn grouped_notices(&self, t: &TenantId, i: &IncidentId) -> StoreResult<Vec<GroupedNotice>>;
}

//! What a notification says, independent of the channel that carries it.
//!
//! An [`AlertEvent`] is written to the outbox in the same transaction as the incident
//! transition that caused it; channels render it (webhook JSON, Slack text, …) when sending.

use crate::ids::{IncidentId, MonitorId, TenantId};
use crate::incident::NoticeKind;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// One notification about one incident transition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// `opened`, `reminder`, `acknowledged`, `flapping`, `resolved`, `escalated`, `degraded`,
    /// `degraded_ended` or `test`.
    pub kind: AlertKind,
    /// Unique per incident transition (and, with the channel, per outbox row).
    pub dedup_key: String,
    pub tenant_id: TenantId,
    pub incident_id: Option<IncidentId>,
    pub monitor_id: Option<MonitorId>,
    pub monitor_name: String,
    /// What is checked (`GET https://…`, host:port), with a URL's user name, password and
    /// credential-looking query values hidden as for viewers ([`crate::redact::described`]):
    /// channels deliver outside the account, to chat rooms, pagers and mailboxes.
    pub target: String,
    pub at: Timestamp,
    /// When the outage began (first confirmed failure).
    pub since: Option<Timestamp>,
    pub error: Option<String>,
    /// The monitor's regions.
    pub regions: Vec<String>,
    /// The regions whose verdict was down (slow, for degraded notices) when it was made.
    #[serde(default)]
    pub affected_regions: Vec<String>,
    /// For `storm` / `storm_over`: the monitors caught in it (their incidents still exist).
    #[serde(default)]
    pub storm: Vec<crate::storm::Member>,
    /// What the monitor's real visitors saw, added when the notice is sent, for a monitor
    /// whose real-visitor sources are opted in to alerts ([`VisitorsSaw`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitors: Option<VisitorsSaw>,
}

/// Real visitors' page views from `since` to the notice: `since` is ten minutes before the
/// outage began ([`VISITORS_LEAD_MS`]) for a notice of an ongoing outage, its start for a
/// resolved one. Evidence beside the probes: it never opens, holds or resolves an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitorsSaw {
    pub since: Timestamp,
    pub loads: u64,
    pub failed: u64,
}

/// How long before an outage began its notices count real visitors' page views from.
pub const VISITORS_LEAD_MS: i64 = 10 * 60_000;

impl AlertEvent {
    /// Where the real visitors this notice tells of start counting, if it tells of them:
    /// notices of an outage (opened, reminder, escalated, resolved) with a start.
    pub fn visitors_since(&self) -> Option<Timestamp> {
        let since = self.since?;
        match self.kind {
            AlertKind::Opened | AlertKind::Reminder | AlertKind::Escalated => Some(since.minus_ms(VISITORS_LEAD_MS)),
            AlertKind::Resolved => Some(since),
            _ => None,
        }
    }
}

/// The kind of notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Opened,
    Reminder,
    Acknowledged,
    Flapping,
    Resolved,
    /// Unacknowledged too long: sent to the policy's escalation channels.
    Escalated,
    /// Slow from a quorum of regions (no incident); only to channels with `notify_degraded`.
    Degraded,
    /// Fast again after `degraded` (or a flapping episode settled).
    DegradedEnded,
    /// Slow again soon after `degraded_ended`: flapping, one notice until it settles.
    DegradedFlapping,
    /// Many monitors went down at once: one notice lists them ([`crate::storm`]).
    Storm,
    /// The storm is over: how many went down and recovered.
    StormOver,
    /// A "send test" from the channel settings.
    Test,
}

impl From<NoticeKind> for AlertKind {
    fn from(k: NoticeKind) -> Self {
        match k {
            NoticeKind::Opened => AlertKind::Opened,
            NoticeKind::Reminder => AlertKind::Reminder,
            NoticeKind::Acknowledged => AlertKind::Acknowledged,
            NoticeKind::Flapping => AlertKind::Flapping,
            NoticeKind::Resolved => AlertKind::Resolved,
            NoticeKind::Escalated => AlertKind::Escalated,
            NoticeKind::Degraded => AlertKind::Degraded,
            NoticeKind::DegradedEnded => AlertKind::DegradedEnded,
            NoticeKind::DegradedFlapping => AlertKind::DegradedFlapping,
        }
    }
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Opened => "opened",
            AlertKind::Reminder => "reminder",
            AlertKind::Acknowledged => "acknowledged",
            AlertKind::Flapping => "flapping",
            AlertKind::Resolved => "resolved",
            AlertKind::Escalated => "escalated",
            AlertKind::Degraded => "degraded",
            AlertKind::DegradedEnded => "degraded_ended",
            AlertKind::DegradedFlapping => "degraded_flapping",
            AlertKind::Storm => "storm",
            AlertKind::StormOver => "storm_over",
            AlertKind::Test => "test",
        }
    }
}

impl AlertEvent {
    /// A one-line summary, e.g. `DOWN: API (GET https://…) — expected status 200-399, got 503`.
    pub fn summary(&self) -> String {
        let head = match self.kind {
            AlertKind::Opened => "DOWN",
            AlertKind::Reminder => "STILL DOWN",
            AlertKind::Acknowledged => "ACKNOWLEDGED",
            AlertKind::Flapping => "FLAPPING",
            AlertKind::Resolved => "RESOLVED",
            AlertKind::Escalated => "ESCALATED",
            AlertKind::Degraded => "DEGRADED",
            AlertKind::DegradedEnded => "FAST AGAIN",
            AlertKind::DegradedFlapping => "SLOW ON AND OFF",
            AlertKind::Storm => "STORM",
            AlertKind::StormOver => "STORM OVER",
            AlertKind::Test => "TEST",
        };
        match &self.error {
            Some(e) if !matches!(self.kind, AlertKind::Resolved | AlertKind::DegradedEnded) => {
                format!("{head}: {} ({}) — {e}", self.monitor_name, self.target)
            }
            _ => format!("{head}: {} ({})", self.monitor_name, self.target),
        }
    }
}

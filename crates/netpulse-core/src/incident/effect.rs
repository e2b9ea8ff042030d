//! What a step asks the engine to do ([`Effect`]): incident rows and timeline entries to
//! write, notices to queue ([`Notice`], each with its kind, audience and dedup key), re-checks
//! to run.

use crate::ids::IncidentId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Why a notice is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Opened,
    Reminder,
    Acknowledged,
    Flapping,
    Resolved,
    /// Still unacknowledged after `escalate_after_s`: sent to the escalation channels.
    Escalated,
    /// Confirmed slow (degraded) from a quorum of live regions; no incident.
    Degraded,
    /// Fast again after a `degraded` notice (or, for a flapping episode, settled).
    DegradedEnded,
    /// Slow again within the flap window of a `degraded_ended`: the episode is flapping.
    DegradedFlapping,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Opened => "opened",
            NoticeKind::Reminder => "reminder",
            NoticeKind::Acknowledged => "acknowledged",
            NoticeKind::Flapping => "flapping",
            NoticeKind::Resolved => "resolved",
            NoticeKind::Escalated => "escalated",
            NoticeKind::Degraded => "degraded",
            NoticeKind::DegradedEnded => "degraded_ended",
            NoticeKind::DegradedFlapping => "degraded_flapping",
        }
    }
}

/// Which channels a notice is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The monitor's channels.
    #[default]
    Monitor,
    /// Only the policy's `escalate_to` channels: the escalation itself.
    Escalation,
    /// The monitor's channels and the escalation channels (the incident was escalated).
    MonitorAndEscalation,
    /// The monitor's channels that opted in to degraded notices (`notify_degraded`).
    DegradedOptIn,
}

impl Audience {
    pub(super) fn after(escalated: bool) -> Self {
        if escalated {
            Audience::MonitorAndEscalation
        } else {
            Audience::Monitor
        }
    }
}

/// A notification to send to each channel of its audience, once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The incident it is about; `None` for degraded notices (no incident).
    pub incident: Option<IncidentId>,
    pub kind: NoticeKind,
    pub at: Timestamp,
    /// Unique per incident transition; with the channel id it names one outbox row.
    pub dedup_key: String,
    #[serde(default)]
    pub audience: Audience,
}

/// What the engine must do after a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    OpenIncident {
        incident: IncidentId,
        at: Timestamp,
        cause: String,
    },
    ReopenIncident {
        incident: IncidentId,
        at: Timestamp,
    },
    AcknowledgeIncident {
        incident: IncidentId,
        at: Timestamp,
        by: String,
    },
    ResolveIncident {
        incident: IncidentId,
        at: Timestamp,
        by: Option<String>,
    },
    Timeline {
        incident: IncidentId,
        at: Timestamp,
        message: String,
    },
    Notify(Notice),
    /// Check the monitor again now, from every region, to confirm or clear a first failure.
    Recheck {
        at: Timestamp,
    },
    /// Check the monitor this one depends on again now: this one confirmed an outage and
    /// holds its page until the parent's verdict is fresh.
    RecheckParent {
        at: Timestamp,
    },
}

pub(super) fn notice(incident: &IncidentId, kind: NoticeKind, at: Timestamp, suffix: String) -> Effect {
    notice_to(incident, kind, at, suffix, Audience::Monitor)
}

pub(super) fn notice_to(
    incident: &IncidentId,
    kind: NoticeKind,
    at: Timestamp,
    suffix: String,
    audience: Audience,
) -> Effect {
    Effect::Notify(Notice {
        incident: Some(incident.clone()),
        kind,
        at,
        dedup_key: format!("{incident}:{}{suffix}", kind.as_str()),
        audience,
    })
}

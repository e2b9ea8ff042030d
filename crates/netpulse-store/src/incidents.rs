//! Incidents: what the state machine opened, their timelines, a person's commands on them,
//! and the observations that are not check results (maintenance, regions, due timers) fed
//! through the same state machine.

use netpulse_core::{IncidentId, MonitorId, Timestamp};
use serde::{Deserialize, Serialize};

/// An incident row.
#[derive(Clone, Debug, Serialize)]
pub struct IncidentRecord {
    pub id: IncidentId,
    pub monitor_id: MonitorId,
    pub monitor_name: String,
    pub status: IncidentStatus,
    pub cause: String,
    pub flapping: bool,
    pub opened_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl IncidentStatus {
    /// From the stored text (`open`, `acknowledged`, `resolved`).
    pub fn parse(s: &str) -> Self {
        match s {
            "open" => IncidentStatus::Open,
            "acknowledged" => IncidentStatus::Acknowledged,
            _ => IncidentStatus::Resolved,
        }
    }
}

/// One line of an incident's timeline.
#[derive(Clone, Debug, Serialize)]
pub struct TimelineEntry {
    pub at: Timestamp,
    pub message: String,
}

/// A person's command on an incident.
#[derive(Clone, Debug)]
pub enum IncidentCommand {
    Acknowledge { by: String },
    Resolve { by: String },
}

#[derive(Clone, Debug, Default)]
pub struct IncidentFilter {
    pub monitor: Option<MonitorId>,
    pub open_only: bool,
}

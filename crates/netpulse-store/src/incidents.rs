//! Incidents: what the state machine opened, their timelines, a person's commands on them,
//! and the observations that are not check results (maintenance, regions, due timers) fed
//! through the same state machine.

use crate::error::StoreResult;
use async_trait::async_trait;
use netpulse_core::incident::Observation;
use netpulse_core::{IncidentId, MonitorId, TenantId, Timestamp};
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

/// A tenant's incidents, and stepping a monitor through the state machine outside ingest.
#[async_trait]
pub trait IncidentStore: Send + Sync {
    async fn list_incidents(&self, t: &TenantId, f: &IncidentFilter, limit: usize) -> StoreResult<Vec<IncidentRecord>>;
    async fn get_incident(
        &self,
        t: &TenantId,
        id: &IncidentId,
    ) -> StoreResult<Option<(IncidentRecord, Vec<TimelineEntry>)>>;
    /// Apply a person's command through the state machine; `Ok(None)` when no such incident.
    async fn incident_command(
        &self,
        t: &TenantId,
        id: &IncidentId,
        cmd: IncidentCommand,
        now: Timestamp,
    ) -> StoreResult<Option<IncidentRecord>>;
    /// Feed a monitor an observation that is not a check result (maintenance starting or
    /// ending, a region going offline) through the state machine, in one transaction.
    /// Returns how many row changes it made (0: nothing changed); `Ok(None)` when no such monitor.
    async fn observe(
        &self,
        t: &TenantId,
        m: &MonitorId,
        obs: Observation,
        now: Timestamp,
    ) -> StoreResult<Option<usize>>;
    /// Monitors whose next reminder or escalation (`core::incident::next_timer`, stored with
    /// each state) is due at `now`, soonest first; the dispatcher's timer sweep steps each
    /// with `Observation::Tick` through [`IncidentStore::observe`].
    async fn due_timers(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<(TenantId, MonitorId)>>;
}

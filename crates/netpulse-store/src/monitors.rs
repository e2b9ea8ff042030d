//! Monitors: the stored monitor with the status ingest keeps for it, what the scheduler
//! needs of it, and the lookups that find a monitor without its tenant (heartbeat pushes,
//! public badges).

use netpulse_core::incident::Health;
use netpulse_core::monitor::MonitorDraft;
use netpulse_core::{CheckResult, IncidentId, MonitorId, Outcome, TenantId, Timestamp};

/// A stored monitor.
#[derive(Clone, Debug)]
pub struct MonitorRecord {
    pub id: MonitorId,
    pub tenant_id: TenantId,
    pub draft: MonitorDraft,
    /// The secret path segment of a heartbeat monitor's push URL.
    pub heartbeat_token: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A monitor's current status, kept up to date by ingest.
#[derive(Clone, Debug, Default)]
pub struct MonitorStatus {
    pub health: Health,
    pub last_checked_at: Option<Timestamp>,
    pub last_outcome: Option<Outcome>,
    pub last_latency_ms: Option<u32>,
    pub last_error: Option<String>,
    pub last_success_at: Option<Timestamp>,
    pub open_incident: Option<IncidentId>,
}

impl MonitorStatus {
    /// Fold one stored result into the displayed status: the latest result wins, a late one
    /// only moves `last_success_at`.
    pub fn observe(&mut self, r: &CheckResult) {
        if !r.outcome.is_failure() && self.last_success_at.is_none_or(|t| r.started_at > t) {
            self.last_success_at = Some(r.started_at);
        }
        if self.last_checked_at.is_some_and(|t| r.started_at < t) {
            return;
        }
        self.last_checked_at = Some(r.started_at);
        self.last_outcome = Some(r.outcome);
        self.last_latency_ms = r.timings.total_ms;
        self.last_error = r.error.clone();
    }
}

/// A monitor with its status.
#[derive(Clone, Debug)]
pub struct MonitorView {
    pub record: MonitorRecord,
    pub status: MonitorStatus,
}

/// A monitor as the scheduler needs it.
#[derive(Clone, Debug)]
pub struct ScheduledMonitor {
    pub tenant_id: TenantId,
    pub record: MonitorRecord,
    pub last_success_at: Option<Timestamp>,
}

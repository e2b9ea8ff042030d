//! Turning state-machine effects into store writes, the same for every backend.
//!
//! A backend loads a monitor's [`MonitorState`], calls [`plan`] with the observations of one
//! transaction, then executes the returned [`Write`]s and saves the new state, all before
//! commit. The decision of *what* to write lives here once; backends only say *how*.

use netpulse_core::alert::AlertEvent;
use netpulse_core::incident::{step, Effect, Health, MonitorState, Observation, Policy};
use netpulse_core::{ChannelId, IncidentId, MonitorId, TenantId, Timestamp};

/// The facts about a monitor that notices need.
#[derive(Clone, Debug)]
pub struct MonitorFacts {
    pub tenant_id: TenantId,
    pub id: MonitorId,
    pub name: String,
    pub target: String,
    pub regions: Vec<String>,
    pub policy: Policy,
    /// The channels this monitor notifies (already resolved, enabled ones).
    pub channels: Vec<ChannelId>,
    /// The open incident of the monitor this one depends on, if any.
    pub parent_incident: Option<IncidentId>,
    /// Whether that monitor is failing (suspect or down) now.
    pub parent_failing: bool,
}

impl MonitorFacts {
    /// The facts from a stored draft, the tenant's enabled channels (oldest first) and the
    /// parent monitor's stored state (its open incident and health text), the same for every
    /// backend: `channels: None` means every enabled channel; a parent is failing while its
    /// health is `suspect` or `down`.
    pub fn from_draft(
        tenant_id: TenantId,
        id: MonitorId,
        draft: &netpulse_core::monitor::MonitorDraft,
        enabled: Vec<ChannelId>,
        parent: Option<(Option<IncidentId>, Option<String>)>,
    ) -> Self {
        let channels = match &draft.channels {
            // The demo organisation's notices never reach a channel (its outbox stays empty).
            _ if crate::demo::is_demo(&tenant_id) => Vec::new(),
            None => enabled,
            Some(chosen) => enabled.into_iter().filter(|c| chosen.contains(c)).collect(),
        };
        let (parent_incident, parent_health) = parent.unwrap_or_default();
        Self {
            tenant_id,
            id,
            name: draft.name.clone(),
            target: draft.spec.target(),
            regions: draft.regions.clone(),
            policy: draft.policy.clone(),
            channels,
            parent_incident,
            parent_failing: matches!(parent_health.as_deref(), Some("suspect" | "down")),
        }
    }
}

/// One row-level change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    OpenIncident { id: IncidentId, at: Timestamp, cause: String },
    ReopenIncident { id: IncidentId },
    AcknowledgeIncident { id: IncidentId, at: Timestamp, by: String },
    ResolveIncident { id: IncidentId, at: Timestamp, by: Option<String> },
    Timeline { id: IncidentId, at: Timestamp, message: String },
    Outbox { channel: ChannelId, event: Box<AlertEvent> },
}

/// The result of planning: the state to save and the writes to make.
#[derive(Clone, Debug)]
pub struct Plan {
    pub state: MonitorState,
    pub writes: Vec<Write>,
    pub notices: usize,
    /// The state machine asked for an immediate re-check of this monitor.
    pub recheck: bool,
}

/// Step `state` through `observations` (in order) and collect the writes.
pub fn plan(facts: &MonitorFacts, state: MonitorState, observations: &[Observation]) -> Plan {
    let mut state = state;
    state.parent_incident = facts.parent_incident.clone();
    state.parent_failing = facts.parent_failing;
    let mut writes = Vec::new();
    let mut notices = 0;
    let mut recheck = false;
    for obs in observations {
        let (next, effects) = step(&facts.id, &state, obs, &facts.policy);
        for effect in effects {
            match effect {
                Effect::OpenIncident { incident, at, cause } => {
                    writes.push(Write::OpenIncident { id: incident, at, cause })
                }
                Effect::ReopenIncident { incident, .. } => writes.push(Write::ReopenIncident { id: incident }),
                Effect::Recheck { .. } => recheck = true,
                Effect::AcknowledgeIncident { incident, at, by } => {
                    writes.push(Write::AcknowledgeIncident { id: incident, at, by })
                }
                Effect::ResolveIncident { incident, at, by } => {
                    writes.push(Write::ResolveIncident { id: incident, at, by })
                }
                Effect::Timeline { incident, at, message } => {
                    writes.push(Write::Timeline { id: incident, at, message })
                }
                Effect::Notify(n) => {
                    notices += 1;
                    let since = next.open.as_ref().or(state.open.as_ref()).map(|o| o.opened_at);
                    let event = AlertEvent {
                        kind: n.kind.into(),
                        dedup_key: n.dedup_key,
                        tenant_id: facts.tenant_id.clone(),
                        incident_id: Some(n.incident),
                        monitor_id: Some(facts.id.clone()),
                        monitor_name: facts.name.clone(),
                        target: facts.target.clone(),
                        at: n.at,
                        since: since.or_else(|| next.last_resolved.as_ref().map(|r| r.opened_at)),
                        error: next.last_error.clone().or_else(|| state.last_error.clone()),
                        regions: facts.regions.clone(),
                    };
                    for ch in &facts.channels {
                        writes.push(Write::Outbox { channel: ch.clone(), event: Box::new(event.clone()) });
                    }
                }
            }
        }
        state = next;
    }
    Plan { state, writes, notices, recheck }
}

/// What the live feed (dashboard over SSE) hears about a monitor after a committed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveChange {
    /// The monitor's displayed health changed.
    Health { tenant_id: TenantId, monitor_id: MonitorId, health: Health },
    /// An incident was opened, reopened or resolved.
    Incident {
        tenant_id: TenantId,
        monitor_id: MonitorId,
        incident_id: IncidentId,
        change: &'static str,
        at: Timestamp,
    },
}

/// The live changes of one planned transaction: `before` is the health it started from.
pub fn live_changes(facts: &MonitorFacts, before: Health, p: &Plan) -> Vec<LiveChange> {
    let mut out = Vec::new();
    let (tenant_id, monitor_id) = (&facts.tenant_id, &facts.id);
    for w in &p.writes {
        let (incident_id, change, at) = match w {
            Write::OpenIncident { id, at, .. } => (id, "opened", *at),
            Write::ReopenIncident { id } => (id, "reopened", p.state.last_observed_at.unwrap_or(Timestamp(0))),
            Write::ResolveIncident { id, at, .. } => (id, "resolved", *at),
            _ => continue,
        };
        out.push(LiveChange::Incident {
            tenant_id: tenant_id.clone(),
            monitor_id: monitor_id.clone(),
            incident_id: incident_id.clone(),
            change,
            at,
        });
    }
    if p.state.health != before {
        out.push(LiveChange::Health {
            tenant_id: tenant_id.clone(),
            monitor_id: monitor_id.clone(),
            health: p.state.health,
        });
    }
    out
}

//! Turning state-machine effects into store writes, the same for every backend.
//!
//! A backend loads a monitor's [`MonitorState`], calls [`plan`] with the observations of one
//! transaction, then executes the returned [`Write`]s and saves the new state, all before
//! commit. The decision of *what* to write lives here once; backends only say *how*.

use netpulse_core::alert::AlertEvent;
use netpulse_core::incident::{step, Audience, Effect, Health, MonitorState, Observation, Policy, PolicyLayer};
use netpulse_core::{ChannelId, IncidentId, MonitorId, TenantId, Timestamp};

/// An enabled channel of the tenant, as monitors choose among them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnabledChannel {
    pub id: ChannelId,
    /// The channel's `notify_degraded` setting (off unless set).
    pub notify_degraded: bool,
}

impl EnabledChannel {
    /// From a stored channel row: its id and its settings JSON text.
    pub fn from_row(id: String, settings: &str) -> Self {
        let settings: serde_json::Value = serde_json::from_str(settings).unwrap_or_default();
        Self { id: ChannelId::from_trusted(id), notify_degraded: notify_degraded(&settings) }
    }
}

/// A channel's `notify_degraded` setting: degraded notices are off unless it is `true`.
pub fn notify_degraded(settings: &serde_json::Value) -> bool {
    settings.get("notify_degraded").and_then(serde_json::Value::as_bool).unwrap_or(false)
}

/// Whether a parent whose stored health is `health` counts as failing for its children:
/// while it is `suspect` or `down`.
pub fn parent_failing(health: &str) -> bool {
    matches!(health, "suspect" | "down")
}

/// The facts about a monitor that notices need.
#[derive(Clone, Debug)]
pub struct MonitorFacts {
    pub tenant_id: TenantId,
    pub id: MonitorId,
    pub name: String,
    /// What notices say is checked, credentials already hidden ([`netpulse_core::redact::described`]).
    pub target: String,
    pub regions: Vec<String>,
    pub policy: Policy,
    /// The channels this monitor notifies (already resolved, enabled ones).
    pub channels: Vec<ChannelId>,
    /// The enabled channels of `policy.escalate_to`.
    pub escalation: Vec<ChannelId>,
    /// Those of `channels` that opted in to degraded notices (`notify_degraded`).
    pub degraded: Vec<ChannelId>,
    /// The monitor this one depends on (`depends_on`), if any.
    pub parent: Option<MonitorId>,
    /// The open incident of the monitor this one depends on, if any.
    pub parent_incident: Option<IncidentId>,
    /// Whether that monitor is failing (suspect or down) now.
    pub parent_failing: bool,
}

impl MonitorFacts {
    /// The facts from a stored draft, its tenant's policy defaults (the effective policy is
    /// [`Policy::resolve`] of the two), the tenant's enabled channels (oldest first) and the
    /// parent monitor's stored state (its open incident and health text), the same for every
    /// backend: `channels: None` means every enabled channel; a parent is failing while its
    /// health is `suspect` or `down`.
    pub fn from_draft(
        tenant_id: TenantId,
        id: MonitorId,
        draft: &netpulse_core::monitor::MonitorDraft,
        defaults: &PolicyLayer,
        enabled: Vec<EnabledChannel>,
        parent: Option<(Option<IncidentId>, Option<String>)>,
    ) -> Self {
        // The demo organisation's notices never reach a channel (its outbox stays empty).
        let enabled = if crate::demo::is_demo(&tenant_id) { Vec::new() } else { enabled };
        let policy = Policy::resolve(&draft.policy, defaults);
        let escalation: Vec<ChannelId> =
            enabled.iter().filter(|c| policy.escalate_to.contains(&c.id)).map(|c| c.id.clone()).collect();
        let chosen: Vec<EnabledChannel> = match &draft.channels {
            None => enabled.clone(),
            Some(chosen) => enabled.iter().filter(|c| chosen.contains(&c.id)).cloned().collect(),
        };
        let degraded = chosen.iter().filter(|c| c.notify_degraded).map(|c| c.id.clone()).collect();
        let (parent_incident, parent_health) = parent.unwrap_or_default();
        Self {
            tenant_id,
            id,
            name: draft.name.clone(),
            target: netpulse_core::redact::described(&draft.spec),
            regions: draft.regions.clone(),
            policy,
            channels: chosen.into_iter().map(|c| c.id).collect(),
            escalation,
            degraded,
            parent: draft.depends_on.clone(),
            parent_incident,
            parent_failing: parent_health.as_deref().is_some_and(parent_failing),
        }
    }
}

impl MonitorFacts {
    /// The channels of `audience`, each once (a channel in both lists gets one outbox row).
    fn audience(&self, audience: Audience) -> Vec<&ChannelId> {
        let (monitor, escalation): (&[ChannelId], &[ChannelId]) = match audience {
            Audience::Monitor => (&self.channels, &[]),
            Audience::Escalation => (&[], &self.escalation),
            Audience::MonitorAndEscalation => (&self.channels, &self.escalation),
            Audience::DegradedOptIn => (&self.degraded, &[]),
        };
        let mut out: Vec<&ChannelId> = monitor.iter().collect();
        out.extend(escalation.iter().filter(|c| !monitor.contains(c)));
        out
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
    /// It asked for an immediate re-check of the monitor this one depends on.
    pub recheck_parent: Option<MonitorId>,
}

/// A re-check the state machine asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recheck {
    pub monitor: MonitorId,
    /// Now, not after the re-check delay: the parent of a monitor holding its page.
    pub at_once: bool,
}

impl Plan {
    /// The re-checks asked for: this monitor's next round, its parent's at once, or both.
    pub fn rechecks(&self, monitor: &MonitorId) -> impl Iterator<Item = Recheck> + '_ {
        let own = self.recheck.then(|| Recheck { monitor: monitor.clone(), at_once: false });
        let parent = self.recheck_parent.clone().map(|monitor| Recheck { monitor, at_once: true });
        own.into_iter().chain(parent)
    }
}

/// Step `state` through `observations` (in order) and collect the writes.
pub fn plan(facts: &MonitorFacts, state: MonitorState, observations: &[Observation]) -> Plan {
    let mut state = state;
    state.parent_incident = facts.parent_incident.clone();
    state.parent_failing = facts.parent_failing;
    state.has_parent = facts.parent.is_some();
    let mut writes = Vec::new();
    let mut notices = 0;
    let mut recheck = false;
    let mut recheck_parent = None;
    for obs in observations {
        let (next, effects) = step(&facts.id, &state, obs, &facts.policy);
        for effect in effects {
            match effect {
                Effect::OpenIncident { incident, at, cause } => {
                    writes.push(Write::OpenIncident { id: incident, at, cause })
                }
                Effect::ReopenIncident { incident, .. } => writes.push(Write::ReopenIncident { id: incident }),
                Effect::Recheck { .. } => recheck = true,
                Effect::RecheckParent { .. } => recheck_parent = facts.parent.clone(),
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
                    let degraded = n.incident.is_none();
                    let since = match n.incident {
                        None => next.degraded_since.or(state.degraded_since),
                        Some(_) => next.open.as_ref().or(state.open.as_ref()).map(|o| o.opened_at),
                    }
                    .or_else(|| n.incident.as_ref().and(next.last_resolved.as_ref()).map(|r| r.opened_at));
                    let event = AlertEvent {
                        kind: n.kind.into(),
                        dedup_key: n.dedup_key,
                        tenant_id: facts.tenant_id.clone(),
                        incident_id: n.incident,
                        monitor_id: Some(facts.id.clone()),
                        monitor_name: facts.name.clone(),
                        target: facts.target.clone(),
                        at: n.at,
                        since,
                        error: next.last_error.clone().or_else(|| state.last_error.clone()),
                        regions: facts.regions.clone(),
                        affected_regions: affected_regions(&next, degraded),
                        storm: vec![],
                        visitors: None,
                    };
                    for ch in facts.audience(n.audience) {
                        writes.push(Write::Outbox { channel: ch.clone(), event: Box::new(event.clone()) });
                    }
                }
            }
        }
        state = next;
    }
    Plan { state, writes, notices, recheck, recheck_parent }
}

/// The live regions whose verdict is down now (slow, for a degraded notice), in name order.
fn affected_regions(s: &MonitorState, degraded: bool) -> Vec<String> {
    let hit = |r: &netpulse_core::incident::RegionState| if degraded { r.slow_confirmed } else { r.down };
    s.regions.iter().filter(|(_, r)| r.online && hit(r)).map(|(name, _)| name.clone()).collect()
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

//! The incident state machine: `step(state, observation, policy) -> (state, effects)`.
//!
//! Pure: the engine loads a monitor's [`MonitorState`], feeds it one [`Observation`] (a check
//! result, or a person acknowledging/resolving), persists the new state and carries out the
//! [`Effect`]s (incident rows, timeline entries, outbox notices) in the same transaction.
//!
//! Rules (defaults in [`Policy::default`]):
//! - `confirm_threshold` consecutive failures open an incident; fewer leave the monitor
//!   `suspect` and send nothing. One incident per outage, whatever happens during it.
//! - `recovery_threshold` consecutive successes resolve it (`degraded` counts as a success).
//! - A confirmed failure within `flap_window_s` of the last automatic resolve reopens that
//!   incident as *flapping* (one `flapping` notice); a flapping incident resolves only once the
//!   monitor has stayed up for `flap_window_s`. So a target bouncing at the threshold yields
//!   opened → resolved → flapping → resolved, never a storm.
//! - Reminders every `reminder_interval_s` while down and unacknowledged.
//! - Results older than the last one seen are late: recorded by ingest, ignored here.
//!
//! Every notice carries a dedup key unique per incident transition
//! (`inc_…:opened`, `inc_…:reminder:2`, `inc_…:resolved:1`); the outbox stores one row per
//! (channel, dedup key), so replays and retries never send twice.

use crate::check::Outcome;
use crate::ids::{IncidentId, MonitorId};
use crate::monitor::FieldError;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Alerting policy of one monitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Consecutive failed checks that confirm an outage.
    pub confirm_threshold: u32,
    /// Consecutive successful checks that confirm recovery.
    pub recovery_threshold: u32,
    /// Re-notify while down and unacknowledged; `None` = never.
    pub reminder_interval_s: Option<u32>,
    /// Send a notice when an incident resolves.
    pub notify_on_resolve: bool,
    /// Flapping window: a relapse this soon after a resolve reopens the incident, and a
    /// flapping incident resolves after this long up. `0` disables flap detection.
    pub flap_window_s: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            confirm_threshold: 2,
            recovery_threshold: 2,
            reminder_interval_s: None,
            notify_on_resolve: true,
            flap_window_s: 900,
        }
    }
}

impl Policy {
    pub fn validate(&self) -> Result<(), FieldError> {
        if !(1..=20).contains(&self.confirm_threshold) {
            return Err(FieldError::new("policy.confirm_threshold", "must be between 1 and 20"));
        }
        if !(1..=20).contains(&self.recovery_threshold) {
            return Err(FieldError::new("policy.recovery_threshold", "must be between 1 and 20"));
        }
        if matches!(self.reminder_interval_s, Some(s) if s < 60) {
            return Err(FieldError::new(
                "policy.reminder_interval_s",
                "must be at least 60 seconds, or null for no reminders",
            ));
        }
        if self.flap_window_s > 86_400 {
            return Err(FieldError::new(
                "policy.flap_window_s",
                "must be at most 86400 (one day); 0 disables flap detection",
            ));
        }
        Ok(())
    }
}

/// What a monitor looks like right now, as shown to users.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// No result yet.
    #[default]
    Unknown,
    Up,
    Degraded,
    /// Failing, not yet confirmed: no incident, no alert.
    Suspect,
    /// Confirmed down: an incident is open.
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Degraded => "degraded",
            Health::Suspect => "suspect",
            Health::Down => "down",
        }
    }
}

/// The incident currently open for a monitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIncident {
    pub id: IncidentId,
    pub opened_at: Timestamp,
    pub acknowledged: bool,
    pub flapping: bool,
    pub last_notice_at: Timestamp,
    pub reminders_sent: u32,
    /// How many times this incident has been resolved before (flapping relapses).
    pub resolves: u32,
    /// For a flapping incident: since when the monitor has been confirmed up again.
    pub up_since: Option<Timestamp>,
}

/// The last incident resolved automatically, kept to recognise a flapping relapse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedIncident {
    pub id: IncidentId,
    pub opened_at: Timestamp,
    pub resolved_at: Timestamp,
    pub resolves: u32,
    pub flapping: bool,
}

/// Everything the state machine remembers about one monitor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorState {
    pub health: Health,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    pub last_observed_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub incident_seq: u64,
    pub open: Option<OpenIncident>,
    pub last_resolved: Option<ResolvedIncident>,
}

/// One input to the state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// A check result (the time is when the check started).
    Check { at: Timestamp, outcome: Outcome, error: Option<String> },
    /// A person acknowledged the incident: reminders stop.
    Acknowledge { incident: IncidentId, at: Timestamp, by: String },
    /// A person resolved the incident by hand.
    Resolve { incident: IncidentId, at: Timestamp, by: String },
}

/// Why a notice is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Opened,
    Reminder,
    Acknowledged,
    Flapping,
    Resolved,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Opened => "opened",
            NoticeKind::Reminder => "reminder",
            NoticeKind::Acknowledged => "acknowledged",
            NoticeKind::Flapping => "flapping",
            NoticeKind::Resolved => "resolved",
        }
    }
}

/// A notification to send to every channel of the monitor, once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub incident: IncidentId,
    pub kind: NoticeKind,
    pub at: Timestamp,
    /// Unique per incident transition; with the channel id it names one outbox row.
    pub dedup_key: String,
}

/// What the engine must do after a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    OpenIncident { incident: IncidentId, at: Timestamp, cause: String },
    ReopenIncident { incident: IncidentId, at: Timestamp },
    AcknowledgeIncident { incident: IncidentId, at: Timestamp, by: String },
    ResolveIncident { incident: IncidentId, at: Timestamp, by: Option<String> },
    Timeline { incident: IncidentId, at: Timestamp, message: String },
    Notify(Notice),
}

/// Advance one monitor's state by one observation.
pub fn step(
    monitor: &MonitorId,
    state: &MonitorState,
    obs: &Observation,
    policy: &Policy,
) -> (MonitorState, Vec<Effect>) {
    let mut next = state.clone();
    let mut fx = Vec::new();
    match obs {
        Observation::Check { at, outcome, error } => {
            if state.last_observed_at.is_some_and(|last| *at < last) {
                return (next, fx);
            }
            next.last_observed_at = Some(*at);
            if outcome.is_failure() {
                on_failure(monitor, &mut next, *at, error.clone(), policy, &mut fx);
            } else {
                on_success(&mut next, *at, *outcome, policy, &mut fx);
            }
        }
        Observation::Acknowledge { incident, at, by } => acknowledge(&mut next, incident, *at, by, &mut fx),
        Observation::Resolve { incident, at, by } => resolve_by_hand(&mut next, incident, *at, by, policy, &mut fx),
    }
    (next, fx)
}

fn on_failure(
    monitor: &MonitorId,
    s: &mut MonitorState,
    at: Timestamp,
    error: Option<String>,
    p: &Policy,
    fx: &mut Vec<Effect>,
) {
    s.consecutive_failures += 1;
    s.consecutive_successes = 0;
    s.last_error = error;
    if let Some(open) = s.open.as_mut() {
        open.up_since = None;
        s.health = Health::Down;
        remind_if_due(open, at, p, fx);
        return;
    }
    if s.consecutive_failures < p.confirm_threshold {
        s.health = Health::Suspect;
        return;
    }
    s.health = Health::Down;
    let cause = s.last_error.clone().unwrap_or_else(|| "check failed".into());
    let relapse = s
        .last_resolved
        .take()
        .filter(|r| p.flap_window_s > 0 && at.since(r.resolved_at) <= i64::from(p.flap_window_s) * 1000);
    match relapse {
        Some(prev) => reopen_flapping(s, prev, at, &cause, fx),
        None => open_new(monitor, s, at, cause, p, fx),
    }
}

fn open_new(monitor: &MonitorId, s: &mut MonitorState, at: Timestamp, cause: String, p: &Policy, fx: &mut Vec<Effect>) {
    s.incident_seq += 1;
    let id = IncidentId::for_outage(monitor, s.incident_seq);
    let msg = format!("confirmed down after {} consecutive failed checks: {cause}", p.confirm_threshold);
    fx.push(Effect::OpenIncident { incident: id.clone(), at, cause });
    fx.push(Effect::Timeline { incident: id.clone(), at, message: msg });
    fx.push(notice(&id, NoticeKind::Opened, at, String::new()));
    s.open = Some(OpenIncident {
        id,
        opened_at: at,
        acknowledged: false,
        flapping: false,
        last_notice_at: at,
        reminders_sent: 0,
        resolves: 0,
        up_since: None,
    });
}

fn reopen_flapping(s: &mut MonitorState, prev: ResolvedIncident, at: Timestamp, cause: &str, fx: &mut Vec<Effect>) {
    let id = prev.id;
    fx.push(Effect::ReopenIncident { incident: id.clone(), at });
    fx.push(Effect::Timeline {
        incident: id.clone(),
        at,
        message: format!("down again shortly after recovering, flapping: {cause}"),
    });
    if !prev.flapping {
        fx.push(notice(&id, NoticeKind::Flapping, at, String::new()));
    }
    s.open = Some(OpenIncident {
        id,
        opened_at: prev.opened_at,
        acknowledged: false,
        flapping: true,
        last_notice_at: at,
        reminders_sent: 0,
        resolves: prev.resolves,
        up_since: None,
    });
}

fn on_success(s: &mut MonitorState, at: Timestamp, outcome: Outcome, p: &Policy, fx: &mut Vec<Effect>) {
    s.consecutive_successes += 1;
    s.consecutive_failures = 0;
    let healthy = if outcome == Outcome::Degraded { Health::Degraded } else { Health::Up };
    let Some(open) = s.open.as_mut() else {
        s.health = healthy;
        s.last_error = None;
        return;
    };
    if s.consecutive_successes < p.recovery_threshold {
        return;
    }
    s.health = healthy;
    s.last_error = None;
    if open.flapping {
        let since = *open.up_since.get_or_insert(at);
        if at.since(since) < i64::from(p.flap_window_s) * 1000 {
            return;
        }
    }
    let open = s.open.take().expect("checked above");
    let resolves = open.resolves + 1;
    let msg = if open.flapping { "stable again, flapping over: resolved" } else { "recovered: resolved" };
    fx.push(Effect::ResolveIncident { incident: open.id.clone(), at, by: None });
    fx.push(Effect::Timeline {
        incident: open.id.clone(),
        at,
        message: format!("{msg} after {} successful checks", p.recovery_threshold),
    });
    if p.notify_on_resolve {
        fx.push(notice(&open.id, NoticeKind::Resolved, at, format!(":{resolves}")));
    }
    s.last_resolved = Some(ResolvedIncident {
        id: open.id,
        opened_at: open.opened_at,
        resolved_at: at,
        resolves,
        flapping: open.flapping,
    });
}

fn remind_if_due(open: &mut OpenIncident, at: Timestamp, p: &Policy, fx: &mut Vec<Effect>) {
    let Some(every) = p.reminder_interval_s else {
        return;
    };
    if open.acknowledged || at.since(open.last_notice_at) < i64::from(every) * 1000 {
        return;
    }
    open.reminders_sent += 1;
    open.last_notice_at = at;
    fx.push(notice(&open.id, NoticeKind::Reminder, at, format!(":{}", open.reminders_sent)));
}

fn acknowledge(s: &mut MonitorState, incident: &IncidentId, at: Timestamp, by: &str, fx: &mut Vec<Effect>) {
    let Some(open) = s.open.as_mut().filter(|o| &o.id == incident && !o.acknowledged) else {
        return;
    };
    open.acknowledged = true;
    fx.push(Effect::AcknowledgeIncident { incident: incident.clone(), at, by: by.to_owned() });
    fx.push(Effect::Timeline { incident: incident.clone(), at, message: format!("acknowledged by {by}") });
    fx.push(notice(incident, NoticeKind::Acknowledged, at, String::new()));
}

fn resolve_by_hand(
    s: &mut MonitorState,
    incident: &IncidentId,
    at: Timestamp,
    by: &str,
    p: &Policy,
    fx: &mut Vec<Effect>,
) {
    let Some(open) = s.open.take_if(|o| &o.id == incident) else {
        return;
    };
    // A person decided the outage is over: the next failures must be confirmed afresh and
    // open a new incident, not reopen this one.
    s.consecutive_failures = 0;
    s.last_resolved = None;
    if s.health == Health::Down {
        s.health = Health::Unknown;
    }
    fx.push(Effect::ResolveIncident { incident: incident.clone(), at, by: Some(by.to_owned()) });
    fx.push(Effect::Timeline { incident: incident.clone(), at, message: format!("resolved by {by}") });
    if p.notify_on_resolve {
        fx.push(notice(incident, NoticeKind::Resolved, at, format!(":{}", open.resolves + 1)));
    }
}

fn notice(incident: &IncidentId, kind: NoticeKind, at: Timestamp, suffix: String) -> Effect {
    Effect::Notify(Notice {
        incident: incident.clone(),
        kind,
        at,
        dedup_key: format!("{incident}:{}{suffix}", kind.as_str()),
    })
}

#[cfg(test)]
mod tests;

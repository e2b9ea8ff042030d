//! The incident state machine: `step(state, observation, policy) -> (state, effects)`.
//!
//! Pure: the engine loads a monitor's [`MonitorState`], feeds it one [`Observation`] (a check
//! result, or a person acknowledging/resolving), persists the new state and carries out the
//! [`Effect`]s (incident rows, timeline entries, outbox notices) in the same transaction.
//!
//! Rules (defaults in [`Policy::default`]):
//! - Each region has its own verdict with hysteresis: `confirm_threshold` consecutive failed
//!   checks make it *down*, `recovery_threshold` consecutive successes (`degraded` counts as
//!   a success) make it *up* again.
//! - The monitor is confirmed down when a quorum of its live regions (default: a majority;
//!   `quorum` sets a count) failed *together*: in the same round, and in the rounds before
//!   ([`rounds`]: `2 × confirm_threshold` rounds when the quorum needs two or more regions).
//!   Failures that only add up across different rounds never page. An offline region leaves
//!   the quorum; an empty set decides nothing. Until then the monitor is `suspect` and
//!   nothing is sent. One incident per outage, whatever happens during it; the regions'
//!   verdicts keep it open. Only a successful check resolves an incident (a region going
//!   offline never does).
//! - Every round in which a region fails asks for the next synchronized re-check from every
//!   region ([`Effect::Recheck`], once per round), so a noisy sample is cleared within
//!   seconds and a real outage runs through its confirming rounds back to back.
//! - A region back from offline starts with no counters: it never joins a quorum on what it
//!   saw before it went offline ([`rounds::start_fresh`]).
//! - Maintenance mutes: a monitor that goes down inside a window opens no incident and sends
//!   nothing. When the window ends every region starts fresh, so a target still down pages
//!   from the checks after the window (once), and one back up inside it pages nobody.
//! - Dependencies ([`depends`]): while the monitor's parent has an open incident
//!   ([`MonitorState::parent_incident`], refreshed by the engine before each step), an outage
//!   of this monitor opens an incident *linked* to the parent's and pages nobody. While the
//!   parent is failing but not yet confirmed ([`MonitorState::parent_failing`]), the page is
//!   held. While the parent looks fine, the page is held too, the parent is re-checked at
//!   once ([`Effect::RecheckParent`]) and this monitor pages only after its next two re-check
//!   rounds, if the parent is still fine. An incident that never paged resolves silently.
//! - A confirmed failure within `flap_window_s` of the last automatic resolve reopens that
//!   incident as *flapping* (one `flapping` notice); a flapping incident resolves only once the
//!   monitor has stayed up for `flap_window_s`. So a target bouncing at the threshold yields
//!   opened → resolved → flapping → resolved, never a storm.
//! - Reminders every `reminder_interval_s` while down and unacknowledged.
//! - Escalation: `escalate_after_s` after an incident paged, still open and unacknowledged,
//!   one `escalated` notice goes to the `escalate_to` channels ([`Audience::Escalation`]);
//!   from then on its `acknowledged`/`resolved` notices reach them too. Acknowledging or
//!   resolving first cancels it. Reminders and escalation are decided on the first
//!   observation at or after their due time: a check, or the engine's timer sweep feeding
//!   [`Observation::Tick`] at [`next_timer`], so a long check interval does not delay them.
//!   Both are decided from stored state, so a restart neither loses nor repeats them.
//! - Degraded (slow but up) is its own notice class ([`degraded`]): confirmed and cleared
//!   over the same thresholds and quorum as down, one `degraded` notice when it starts and
//!   one `degraded_ended` when it ends, for the channels that opted in
//!   ([`Audience::DegradedOptIn`]); never an incident, never a down alert. It flaps like
//!   down: slow again within `flap_window_s` of the end reopens the episode with one
//!   `degraded_flapping` notice, and it ends (one `degraded_ended`, "settled") only once fast
//!   for `flap_window_s`; a monitor oscillating slow/fast sends four notices, not two per swing.
//! - Results older than the last one seen are late: recorded by ingest, ignored here.
//!
//! Every notice carries a dedup key unique per incident transition
//! (`inc_…:opened`, `inc_…:reminder:2`, `inc_…:resolved:1`); the outbox stores one row per
//! (channel, dedup key), so replays and retries never send twice.

use crate::check::Outcome;
use crate::ids::{IncidentId, MonitorId};
use crate::time::Timestamp;

pub use effect::{Audience, Effect, Notice, NoticeKind};
pub use policy::{Policy, PolicyLayer, POLICY_FIELDS};
pub use state::{Health, MonitorState, Observation, OpenIncident, RegionState, ResolvedIncident};

use effect::notice_to;
pub use timers::next_timer;
use timers::{armed, escalate_if_due, remind_if_due};

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
        Observation::Check { at, region, outcome, error } => {
            let Some(trigger) = observe(&mut next, *at, region, *outcome, error, policy) else {
                return (next, fx); // late
            };
            evaluate(monitor, &mut next, *at, trigger, policy, &mut fx);
            if outcome.is_failure() && wants_round(&next, policy) && rounds::ask_recheck(&mut next, *at, &mut fx) {
                depends::count_round(&mut next);
            }
        }
        Observation::RegionAvailability { at, region, online } => {
            let open = next.open.is_some();
            let r = next.regions.entry(region.clone()).or_default();
            if *online && !r.online {
                rounds::start_fresh(r, *at, open); // what it saw before it went offline is stale
            }
            r.online = *online;
            evaluate(monitor, &mut next, *at, Trigger::Other, policy, &mut fx);
        }
        Observation::Maintenance { at, active } => {
            if next.maintenance && !*active && next.open.is_none() {
                end_window_fresh(&mut next, *at);
            }
            next.maintenance = *active;
            evaluate(monitor, &mut next, *at, Trigger::Other, policy, &mut fx);
        }
        Observation::Acknowledge { incident, at, by } => acknowledge(&mut next, incident, *at, by, &mut fx),
        Observation::Resolve { incident, at, by } => resolve_by_hand(&mut next, incident, *at, by, policy, &mut fx),
        Observation::Tick { at } => {
            if let Some(open) = armed(&mut next, policy) {
                remind_if_due(open, *at, policy, &mut fx);
                escalate_if_due(open, *at, policy, &mut fx);
            }
        }
    }
    (next, fx)
}

/// Whether a failure of this monitor should start the next synchronized round: nothing is
/// open yet (or only held, waiting on the parent), the monitor is not in maintenance, and
/// the policy confirms over more than one check.
fn wants_round(s: &MonitorState, p: &Policy) -> bool {
    let waiting = s.open.as_ref().is_none_or(|o| !o.notified && o.linked_to.is_none());
    waiting && !s.maintenance && p.confirm_threshold > 1
}

/// A maintenance window ended with no incident open: every region starts afresh, so the
/// verdict comes from checks taken after the window, never from one taken inside it.
fn end_window_fresh(s: &mut MonitorState, at: Timestamp) {
    for r in s.regions.values_mut() {
        rounds::start_fresh(r, at, false);
    }
    s.recheck_round = None;
    if s.health == Health::Down {
        s.health = Health::Unknown;
    }
}

/// What moved the monitor's evaluation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Failure,
    /// A successful check; `recovered` when it confirmed its region's recovery.
    Success {
        recovered: bool,
    },
    /// Region availability or maintenance changed.
    Other,
}

/// Fold a check into its region; `None` when the result is late (older than the region's last).
fn observe(
    s: &mut MonitorState,
    at: Timestamp,
    region: &str,
    outcome: Outcome,
    error: &Option<String>,
    p: &Policy,
) -> Option<Trigger> {
    let open = s.open.is_some();
    let r = s.regions.entry(region.to_owned()).or_default();
    if r.last_at.is_some_and(|last| at < last) {
        return None;
    }
    if !r.online {
        rounds::start_fresh(r, at, open); // a result from a region marked offline: it is back
    }
    let was_down = r.down;
    r.last_at = Some(at);
    r.online = true;
    if outcome.is_failure() {
        r.failures += 1;
        r.successes = 0;
        r.down |= r.failures >= p.confirm_threshold;
        s.last_error = error.clone();
    } else {
        r.successes += 1;
        r.failures = 0;
        r.degraded = outcome == Outcome::Degraded;
        r.down &= r.successes < p.recovery_threshold;
    }
    degraded::observe(r, outcome, p);
    let trigger =
        if outcome.is_failure() { Trigger::Failure } else { Trigger::Success { recovered: was_down && !r.down } };
    s.last_observed_at = s.last_observed_at.max(Some(at));
    Some(trigger)
}

/// Decide the monitor's state from its regions. Only a region's confirmed recovery resolves
/// an incident (a flapping one also needs time up); a region going offline never does.
fn evaluate(
    monitor: &MonitorId,
    s: &mut MonitorState,
    at: Timestamp,
    trigger: Trigger,
    p: &Policy,
    fx: &mut Vec<Effect>,
) {
    let (live, down, failing) = s.census();
    if live == 0 {
        return; // no live region: nothing to decide on
    }
    let is_down = down >= p.needed(live);
    let confirmed = trigger == Trigger::Failure && rounds::confirmed(s, at, p, p.needed(live));
    match (s.open.is_some(), is_down) {
        (false, _) if confirmed && s.maintenance => s.health = Health::Down,
        (false, _) if confirmed => {
            s.health = Health::Down;
            open_or_relapse(monitor, s, at, p, fx);
        }
        (false, _) => s.health = healthy(s, failing + down),
        (true, true) => {
            s.health = Health::Down;
            let parent = (s.parent_incident.clone(), s.parent_failing);
            let open = s.open.as_mut().expect("open");
            open.up_since = None;
            if !open.notified {
                depends::settle_held(open, parent, at, trigger == Trigger::Failure && !s.maintenance, fx);
            } else if !s.maintenance && trigger != (Trigger::Success { recovered: false }) {
                remind_if_due(open, at, p, fx);
                escalate_if_due(open, at, p, fx);
            }
        }
        (true, false) => match trigger {
            Trigger::Success { recovered: true } => recover(s, at, p, fx),
            Trigger::Success { recovered: false } if s.open.as_ref().is_some_and(|o| o.flapping) => {
                recover(s, at, p, fx)
            }
            _ => {}
        },
    }
    if s.open.is_none() && !is_down {
        degraded::evaluate(monitor, s, at, trigger != Trigger::Other, p, fx);
    }
}

fn healthy(s: &MonitorState, failing: usize) -> Health {
    if failing > 0 {
        Health::Suspect
    } else if s.regions.values().any(|r| r.online && r.degraded) {
        Health::Degraded
    } else {
        Health::Up
    }
}

fn open_or_relapse(monitor: &MonitorId, s: &mut MonitorState, at: Timestamp, p: &Policy, fx: &mut Vec<Effect>) {
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
    let (live, down, _) = s.census();
    let msg = format!(
        "confirmed down ({down} of {live} live regions, {} consecutive failed checks each): {cause}",
        p.confirm_threshold
    );
    fx.push(Effect::OpenIncident { incident: id.clone(), at, cause });
    fx.push(Effect::Timeline { incident: id.clone(), at, message: msg });
    let (linked_to, held, awaiting_parent) = depends::on_open(s, &id, at, fx);
    s.open = Some(OpenIncident {
        id,
        opened_at: at,
        acknowledged: false,
        flapping: false,
        last_notice_at: at,
        reminders_sent: 0,
        resolves: 0,
        up_since: None,
        notified: linked_to.is_none() && !held,
        linked_to,
        escalated: false,
        paged_at: None,
        awaiting_parent,
    });
}

fn reopen_flapping(s: &mut MonitorState, prev: ResolvedIncident, at: Timestamp, cause: &str, fx: &mut Vec<Effect>) {
    let id = prev.id;
    fx.push(Effect::ReopenIncident { incident: id.clone(), at });
    let message = format!("down again shortly after recovering, flapping: {cause}");
    fx.push(Effect::Timeline { incident: id.clone(), at, message });
    if !prev.flapping && prev.notified {
        fx.push(notice_to(&id, NoticeKind::Flapping, at, String::new(), Audience::after(prev.escalated)));
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
        linked_to: None,
        notified: prev.notified,
        escalated: prev.escalated,
        paged_at: None,
        awaiting_parent: None,
    });
}

fn recover(s: &mut MonitorState, at: Timestamp, p: &Policy, fx: &mut Vec<Effect>) {
    s.health = healthy(s, 0);
    s.last_error = None;
    let open = s.open.as_mut().expect("open");
    if open.flapping {
        let since = *open.up_since.get_or_insert(at);
        if at.since(since) < i64::from(p.flap_window_s) * 1000 {
            return;
        }
    }
    let open = s.open.take().expect("open");
    let resolves = open.resolves + 1;
    let msg = if open.flapping { "stable again, flapping over: resolved" } else { "recovered: resolved" };
    fx.push(Effect::ResolveIncident { incident: open.id.clone(), at, by: None });
    let message = format!("{msg} after {} successful checks", p.recovery_threshold);
    fx.push(Effect::Timeline { incident: open.id.clone(), at, message });
    if p.notify_on_resolve && open.notified {
        let to = Audience::after(open.escalated);
        fx.push(notice_to(&open.id, NoticeKind::Resolved, at, format!(":{resolves}"), to));
    }
    s.last_resolved = Some(ResolvedIncident {
        id: open.id,
        opened_at: open.opened_at,
        resolved_at: at,
        resolves,
        flapping: open.flapping,
        notified: open.notified,
        escalated: open.escalated,
    });
}

fn acknowledge(s: &mut MonitorState, incident: &IncidentId, at: Timestamp, by: &str, fx: &mut Vec<Effect>) {
    let Some(open) = s.open.as_mut().filter(|o| &o.id == incident && !o.acknowledged) else { return };
    open.acknowledged = true;
    fx.push(Effect::AcknowledgeIncident { incident: incident.clone(), at, by: by.to_owned() });
    fx.push(Effect::Timeline { incident: incident.clone(), at, message: format!("acknowledged by {by}") });
    let to = Audience::after(open.escalated);
    fx.push(notice_to(incident, NoticeKind::Acknowledged, at, String::new(), to));
}

fn resolve_by_hand(
    s: &mut MonitorState,
    incident: &IncidentId,
    at: Timestamp,
    by: &str,
    p: &Policy,
    fx: &mut Vec<Effect>,
) {
    let Some(open) = s.open.take_if(|o| &o.id == incident) else { return };
    // A person decided the outage is over: the next failures must be confirmed afresh and
    // open a new incident, not reopen this one.
    for r in s.regions.values_mut() {
        r.failures = 0;
        r.down = false;
    }
    s.last_resolved = None;
    if s.health == Health::Down {
        s.health = Health::Unknown;
    }
    fx.push(Effect::ResolveIncident { incident: incident.clone(), at, by: Some(by.to_owned()) });
    fx.push(Effect::Timeline { incident: incident.clone(), at, message: format!("resolved by {by}") });
    if p.notify_on_resolve && open.notified {
        let to = Audience::after(open.escalated);
        fx.push(notice_to(incident, NoticeKind::Resolved, at, format!(":{}", open.resolves + 1), to));
    }
}

mod degraded;
mod depends;
mod effect;
#[cfg(test)]
mod noise_tests;
mod policy;
pub mod rounds;
mod state;
#[cfg(test)]
mod tests;
mod timers;

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
//! - The monitor is down when a quorum of its live regions is down (default: a majority;
//!   `quorum` sets a count). An offline region leaves the quorum; an empty set decides
//!   nothing. Until then the monitor is `suspect` and nothing is sent. One incident per
//!   outage, whatever happens during it. Only a successful check resolves an incident (a
//!   region going offline never does).
//! - A region's first failure asks for an immediate re-check from every region
//!   ([`Effect::Recheck`]), so a single noisy sample is cleared or confirmed within seconds.
//! - Maintenance mutes: a monitor that goes down inside a window opens no incident and sends
//!   nothing; if it is still down when the window ends, the incident opens then, once.
//! - Dependencies: while the monitor's parent has an open incident
//!   ([`MonitorState::parent_incident`], refreshed by the engine before each step), an outage
//!   of this monitor opens an incident *linked* to the parent's and pages nobody. While the
//!   parent is failing but not yet confirmed ([`MonitorState::parent_failing`]), the page is
//!   held, so a child whose checks happen to run first does not page ahead of its parent. If
//!   this monitor is still down once the parent is fine, it pages then, once. An incident
//!   that never paged resolves silently.
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
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use policy::{Policy, PolicyLayer, POLICY_FIELDS};

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
    /// The parent's incident this one is linked to (no page while linked).
    #[serde(default)]
    pub linked_to: Option<IncidentId>,
    /// Whether an `opened` (or `flapping`) notice went out for this incident.
    #[serde(default = "yes")]
    pub notified: bool,
    /// Whether the `escalated` notice went out (its later notices reach the escalation too).
    #[serde(default)]
    pub escalated: bool,
    /// When a held incident paged after all (escalation counts from then, else `opened_at`).
    #[serde(default)]
    pub paged_at: Option<Timestamp>,
}

fn yes() -> bool {
    true
}

/// The last incident resolved automatically, kept to recognise a flapping relapse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedIncident {
    pub id: IncidentId,
    pub opened_at: Timestamp,
    pub resolved_at: Timestamp,
    pub resolves: u32,
    pub flapping: bool,
    #[serde(default = "yes")]
    pub notified: bool,
    #[serde(default)]
    pub escalated: bool,
}

/// One region's view of a monitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegionState {
    pub failures: u32,
    pub successes: u32,
    /// The region's verdict: down after `confirm_threshold` failures, up again after
    /// `recovery_threshold` successes.
    pub down: bool,
    pub degraded: bool,
    pub online: bool,
    pub last_at: Option<Timestamp>,
    /// Consecutive degraded checks, and consecutive fast (`up`) ones.
    pub slow: u32,
    pub fast: u32,
    /// The region's degraded verdict: after `confirm_threshold` degraded checks, cleared by
    /// `recovery_threshold` fast ones.
    pub slow_confirmed: bool,
}

impl Default for RegionState {
    fn default() -> Self {
        Self {
            failures: 0,
            successes: 0,
            down: false,
            degraded: false,
            online: true,
            last_at: None,
            slow: 0,
            fast: 0,
            slow_confirmed: false,
        }
    }
}

/// Everything the state machine remembers about one monitor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MonitorState {
    pub health: Health,
    pub regions: BTreeMap<String, RegionState>,
    pub last_observed_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub incident_seq: u64,
    pub open: Option<OpenIncident>,
    pub last_resolved: Option<ResolvedIncident>,
    pub maintenance: bool,
    /// The open incident of the monitor this one depends on, if any (set by the engine).
    pub parent_incident: Option<IncidentId>,
    /// Whether the parent is failing (suspect or down) right now (set by the engine).
    pub parent_failing: bool,
    /// Degraded episodes so far (names their notices' dedup keys).
    pub degraded_seq: u64,
    /// Since when the current degraded episode was notified; `None` while not degraded.
    pub degraded_since: Option<Timestamp>,
    /// The current degraded episode relapsed within the flap window: it is flapping.
    pub degraded_flapping: bool,
    /// When the last (not flapping) degraded episode ended, to recognise a relapse.
    pub degraded_ended_at: Option<Timestamp>,
    /// For a flapping degraded episode: since when the monitor has been fast again.
    pub degraded_fast_since: Option<Timestamp>,
}

impl MonitorState {
    /// (live regions, live regions down, live regions failing at all).
    fn census(&self) -> (usize, usize, usize) {
        let live = self.regions.values().filter(|r| r.online);
        live.fold((0, 0, 0), |(n, d, f), r| (n + 1, d + usize::from(r.down), f + usize::from(r.failures > 0)))
    }

    /// Whether the two states behave the same from here on: for any later observations in
    /// time order, [`step`] from either gives the same effects and states that again behave
    /// the same. They may differ only in what no later step reads: when each region last
    /// reported and the monitor was last observed (`last_at`, `last_observed_at`, used to
    /// drop a result older than the region's newest), and counters past the point where they
    /// matter — a region's successes while it is not down, its failures beyond "some" while
    /// it is down, its slow count once slowness is confirmed and its fast count while it is
    /// not. The PostgreSQL store writes a state back only when it does not behave the same
    /// as the stored one, so a steady monitor's results write no state row.
    pub fn behaves_like(&self, other: &MonitorState) -> bool {
        // Destructured, so that a field added to the state must be placed here.
        let MonitorState {
            health,
            regions,
            last_observed_at: _,
            last_error,
            incident_seq,
            open,
            last_resolved,
            maintenance,
            parent_incident,
            parent_failing,
            degraded_seq,
            degraded_since,
            degraded_flapping,
            degraded_ended_at,
            degraded_fast_since,
        } = self;
        *health == other.health
            && regions.len() == other.regions.len()
            && regions.iter().zip(&other.regions).all(|((a, ra), (b, rb))| a == b && ra.behaviour() == rb.behaviour())
            && *last_error == other.last_error
            && *incident_seq == other.incident_seq
            && *open == other.open
            && *last_resolved == other.last_resolved
            && *maintenance == other.maintenance
            && *parent_incident == other.parent_incident
            && *parent_failing == other.parent_failing
            && *degraded_seq == other.degraded_seq
            && *degraded_since == other.degraded_since
            && *degraded_flapping == other.degraded_flapping
            && *degraded_ended_at == other.degraded_ended_at
            && *degraded_fast_since == other.degraded_fast_since
    }
}

impl RegionState {
    /// What [`MonitorState::behaves_like`] compares of a region: everything but `last_at`,
    /// with each counter only where it still matters.
    fn behaviour(&self) -> (u32, u32, bool, bool, bool, u32, u32, bool) {
        let RegionState { failures, successes, down, degraded, online, last_at: _, slow, fast, slow_confirmed } = *self;
        let (failures, successes) = if down { (failures.min(1), successes) } else { (failures, 0) };
        let (slow, fast) = if slow_confirmed { (0, fast) } else { (slow, 0) };
        (failures, successes, down, degraded, online, slow, fast, slow_confirmed)
    }
}

/// One input to the state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// A check result from `region` (the time is when the check started).
    Check { at: Timestamp, region: String, outcome: Outcome, error: Option<String> },
    /// A region gained or lost its last live checker.
    RegionAvailability { at: Timestamp, region: String, online: bool },
    /// A maintenance window began (`active`) or ended.
    Maintenance { at: Timestamp, active: bool },
    /// A person acknowledged the incident: reminders stop.
    Acknowledge { incident: IncidentId, at: Timestamp, by: String },
    /// A person resolved the incident by hand.
    Resolve { incident: IncidentId, at: Timestamp, by: String },
    /// Time passed: the engine's timer sweep, at or after [`next_timer`], so reminders and
    /// escalation go out on time however long the monitor's interval is.
    Tick { at: Timestamp },
}

impl Observation {
    /// The observation a stored check result makes.
    pub fn of_result(r: &crate::check::CheckResult) -> Self {
        Observation::Check { at: r.started_at, region: r.region.clone(), outcome: r.outcome, error: r.error.clone() }
    }
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
    fn after(escalated: bool) -> Self {
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
        Observation::Check { at, region, outcome, error } => {
            let Some(trigger) = observe(&mut next, *at, region, *outcome, error, policy) else {
                return (next, fx); // late
            };
            let first_failure = outcome.is_failure() && next.regions[region].failures == 1;
            if first_failure && next.open.is_none() && !next.maintenance && policy.confirm_threshold > 1 {
                fx.push(Effect::Recheck { at: *at });
            }
            evaluate(monitor, &mut next, *at, trigger, policy, &mut fx);
        }
        Observation::RegionAvailability { at, region, online } => {
            next.regions.entry(region.clone()).or_default().online = *online;
            evaluate(monitor, &mut next, *at, Trigger::Other, policy, &mut fx);
        }
        Observation::Maintenance { at, active } => {
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

/// The open incident whose reminders and escalation are running: it paged, nobody
/// acknowledged it, the monitor is down by quorum and not in maintenance (the same
/// conditions under which a check result sends them).
fn armed<'a>(s: &'a mut MonitorState, p: &Policy) -> Option<&'a mut OpenIncident> {
    let (live, down, _) = s.census();
    let is_down = live > 0 && down >= p.needed(live);
    if s.maintenance || !is_down {
        return None;
    }
    s.open.as_mut().filter(|o| o.notified && !o.acknowledged)
}

/// When the next reminder or escalation of this state falls due, if any: the engine feeds
/// [`Observation::Tick`] at that time (a stored, indexed column), so neither waits for the
/// next check. Pure, from the stored state and the policy, so a restart loses nothing.
pub fn next_timer(state: &MonitorState, policy: &Policy) -> Option<Timestamp> {
    let mut s = state.clone();
    let open = armed(&mut s, policy)?;
    let reminder = policy.reminder_interval_s.map(|every| open.last_notice_at.plus_ms(i64::from(every) * 1000));
    let escalation = match policy.escalate_after_s {
        Some(after) if !open.escalated => {
            Some(open.paged_at.unwrap_or(open.opened_at).plus_ms(i64::from(after) * 1000))
        }
        _ => None,
    };
    reminder.into_iter().chain(escalation).min()
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
    let r = s.regions.entry(region.to_owned()).or_default();
    if r.last_at.is_some_and(|last| at < last) {
        return None;
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
    match (s.open.is_some(), is_down) {
        (_, true) if s.open.is_none() && s.maintenance => s.health = Health::Down,
        (false, true) => {
            s.health = Health::Down;
            open_or_relapse(monitor, s, at, p, fx);
        }
        (true, true) => {
            s.health = Health::Down;
            let parent = (s.parent_incident.clone(), s.parent_failing);
            let open = s.open.as_mut().expect("open");
            open.up_since = None;
            if !open.notified {
                settle_held(open, parent, at, trigger == Trigger::Failure && !s.maintenance, fx);
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
        (false, false) => s.health = healthy(s, failing),
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
    let linked_to = s.parent_incident.clone();
    let held = linked_to.is_none() && s.parent_failing;
    match &linked_to {
        Some(parent) => {
            let message = format!("linked to {parent}: the monitor this one depends on is down; no separate page");
            fx.push(Effect::Timeline { incident: id.clone(), at, message });
        }
        None if held => {
            let message = "held: the monitor this one depends on is failing too; paging only if it turns out fine";
            fx.push(Effect::Timeline { incident: id.clone(), at, message: message.into() });
        }
        None => fx.push(notice(&id, NoticeKind::Opened, at, String::new())),
    }
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
    });
}

/// An incident that has not paged (linked to, or held for, a failing parent): link it when
/// the parent's incident exists; page once when the parent is fine and this one still fails.
fn settle_held(
    open: &mut OpenIncident,
    parent: (Option<IncidentId>, bool),
    at: Timestamp,
    failing_now: bool,
    fx: &mut Vec<Effect>,
) {
    match parent {
        (Some(p), _) if open.linked_to.as_ref() != Some(&p) => {
            let message = format!("linked to {p}: the monitor this one depends on is down; no separate page");
            fx.push(Effect::Timeline { incident: open.id.clone(), at, message });
            open.linked_to = Some(p);
        }
        (None, false) if failing_now => {
            let message = "the monitor this one depends on is fine but this one is still down: paging on its own";
            fx.push(Effect::Timeline { incident: open.id.clone(), at, message: message.into() });
            open.linked_to = None;
            open.notified = true;
            open.paged_at = Some(at);
            open.last_notice_at = at;
            fx.push(notice(&open.id, NoticeKind::Opened, at, String::new()));
        }
        _ => {}
    }
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

fn remind_if_due(open: &mut OpenIncident, at: Timestamp, p: &Policy, fx: &mut Vec<Effect>) {
    let Some(every) = p.reminder_interval_s else { return };
    if open.acknowledged || at.since(open.last_notice_at) < i64::from(every) * 1000 {
        return;
    }
    open.reminders_sent += 1;
    open.last_notice_at = at;
    fx.push(notice(&open.id, NoticeKind::Reminder, at, format!(":{}", open.reminders_sent)));
}

/// Escalate once when the incident paged `escalate_after_s` ago and nobody acknowledged it.
fn escalate_if_due(open: &mut OpenIncident, at: Timestamp, p: &Policy, fx: &mut Vec<Effect>) {
    let Some(after) = p.escalate_after_s else { return };
    let paged = open.paged_at.unwrap_or(open.opened_at);
    if open.escalated || open.acknowledged || at.since(paged) < i64::from(after) * 1000 {
        return;
    }
    open.escalated = true;
    let message = format!("unacknowledged for {after} s: escalated to {} more channel(s)", p.escalate_to.len());
    fx.push(Effect::Timeline { incident: open.id.clone(), at, message });
    fx.push(notice_to(&open.id, NoticeKind::Escalated, at, String::new(), Audience::Escalation));
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

fn notice(incident: &IncidentId, kind: NoticeKind, at: Timestamp, suffix: String) -> Effect {
    notice_to(incident, kind, at, suffix, Audience::Monitor)
}

fn notice_to(incident: &IncidentId, kind: NoticeKind, at: Timestamp, suffix: String, audience: Audience) -> Effect {
    Effect::Notify(Notice {
        incident: Some(incident.clone()),
        kind,
        at,
        dedup_key: format!("{incident}:{}{suffix}", kind.as_str()),
        audience,
    })
}

mod degraded;
mod policy;
#[cfg(test)]
mod tests;

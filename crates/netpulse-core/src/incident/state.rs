//! What the incident machine remembers about a monitor ([`MonitorState`], per region
//! [`RegionState`], the open and the last resolved incident), what users see of it
//! ([`Health`]), and what it is fed ([`Observation`]).

use crate::check::Outcome;
use crate::ids::IncidentId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// Held until the parent's fresh verdict: own re-check rounds since the parent's re-check
    /// was asked for (`None`: not waiting on a parent re-check).
    #[serde(default)]
    pub awaiting_parent: Option<u32>,
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
    /// Whether the monitor depends on another one (set by the engine).
    pub has_parent: bool,
    /// The round for which a synchronized re-check was last asked ([`super::rounds`]).
    pub recheck_round: Option<Timestamp>,
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
    pub(super) fn census(&self) -> (usize, usize, usize) {
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
            has_parent,
            recheck_round,
            degraded_seq,
            degraded_since,
            degraded_flapping,
            degraded_ended_at,
            degraded_fast_since,
        } = self;
        *health == other.health
            && regions.len() == other.regions.len()
            && regions
                .iter()
                .zip(&other.regions)
                .all(|((a, ra), (b, rb))| a == b && ra.behaviour(open.is_none()) == rb.behaviour(other.open.is_none()))
            && *last_error == other.last_error
            && *incident_seq == other.incident_seq
            && *open == other.open
            && *last_resolved == other.last_resolved
            && *maintenance == other.maintenance
            && *parent_incident == other.parent_incident
            && *parent_failing == other.parent_failing
            && *has_parent == other.has_parent
            && *recheck_round == other.recheck_round
            && *degraded_seq == other.degraded_seq
            && *degraded_since == other.degraded_since
            && *degraded_flapping == other.degraded_flapping
            && *degraded_ended_at == other.degraded_ended_at
            && *degraded_fast_since == other.degraded_fast_since
    }
}

impl RegionState {
    /// What [`MonitorState::behaves_like`] compares of a region: everything but `last_at`,
    /// with each counter only where it still matters (a down region's failures count toward
    /// confirming rounds while no incident is open: `counting`).
    fn behaviour(&self, counting: bool) -> (u32, u32, bool, bool, bool, u32, u32, bool) {
        let RegionState { failures, successes, down, degraded, online, last_at: _, slow, fast, slow_confirmed } = *self;
        let (failures, successes) = match (down, counting) {
            (true, true) => (failures.min(40), successes), // 2 × the highest threshold
            (true, false) => (failures.min(1), successes),
            (false, _) => (failures, 0),
        };
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

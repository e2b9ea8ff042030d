//! Rounds: when a quorum of regions counts as confirming an outage together.
//!
//! A *round* is one dispatch of a monitor's check to every region at once: a scheduled check,
//! or a synchronized re-check ([`Effect::Recheck`]). Its results start within [`ROUND_MS`] of
//! each other (checkers run a job at its due time), and two rounds of one monitor are further
//! apart than that (a re-check waits half an interval, at most 10 s; intervals are ≥ 10 s).
//!
//! The rule against noise: when the quorum needs two or more regions, it is met only by
//! regions that failed *together*: each failed in the same round, and in each of the
//! [`rounds_needed`] rounds before (`2 × confirm_threshold`: its own confirmation, then
//! `confirm_threshold` synchronized re-checks). Every round in which a region fails asks for
//! the next re-check at once, so a real outage runs through them back to back, within one
//! interval plus three re-check delays with the defaults. Failures that only add up across
//! different rounds never meet it: independent failures at rate `p` in three regions reach
//! it with probability about `3·p⁸` per round (10⁻⁸ at 10 %), against `3·p⁴` for a quorum of
//! regions that merely confirmed in the same round, and `p²` for verdicts that add up over
//! time. A quorum of one region (one live region, or `quorum = 1`) has nothing to coincide
//! with: its region confirms after `confirm_threshold` failures as before.

use super::{Effect, MonitorState, Policy};
use crate::time::Timestamp;

/// Results of one round start within this much of each other.
pub const ROUND_MS: i64 = 3_000;

/// Whether two check start times belong to the same round.
pub fn same_round(a: Timestamp, b: Timestamp) -> bool {
    (a.millis() - b.millis()).abs() <= ROUND_MS
}

/// Consecutive failed rounds each region of a quorum of `needed` regions must have.
pub fn rounds_needed(p: &Policy, needed: usize) -> u32 {
    if needed >= 2 && p.confirm_threshold > 1 {
        2 * p.confirm_threshold
    } else {
        p.confirm_threshold
    }
}

/// Whether a quorum of `needed` live regions confirms an outage in the round of `at`: each
/// failed in it and in the rounds before it ([`rounds_needed`]).
pub(super) fn confirmed(s: &MonitorState, at: Timestamp, p: &Policy, needed: usize) -> bool {
    let rounds = rounds_needed(p, needed);
    let together = s
        .regions
        .values()
        .filter(|r| r.online && r.failures >= rounds && r.last_at.is_some_and(|last| same_round(last, at)));
    together.count() >= needed
}

/// Ask for a synchronized re-check from every region, once per round: `true` when this is
/// the first ask for the round of `at`.
pub(super) fn ask_recheck(s: &mut MonitorState, at: Timestamp, fx: &mut Vec<Effect>) -> bool {
    if s.recheck_round.is_some_and(|r| same_round(r, at) || at < r) {
        return false;
    }
    s.recheck_round = Some(at);
    fx.push(Effect::Recheck { at });
    true
}

/// A region back from offline, or the end of a maintenance window: forget what was seen
/// before `at`. The region keeps no counters, so it joins no confirming round on old
/// failures, and results taken before `at` arrive late for it (ignored). Its down verdict
/// is kept only while an incident is open (`incident_open`), so that the incident still
/// resolves by the region's confirmed recovery; it never opens one.
pub(super) fn start_fresh(r: &mut super::RegionState, at: Timestamp, incident_open: bool) {
    let last_at = r.last_at.max(Some(at));
    let down = r.down && incident_open;
    *r = super::RegionState { online: r.online, last_at, down, ..super::RegionState::default() };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_needed_doubles_only_for_a_quorum_of_several_regions() {
        let p = Policy::default();
        assert_eq!(rounds_needed(&p, 2), 4);
        assert_eq!(rounds_needed(&p, 1), 2, "one region: its own confirmation");
        let one = Policy { confirm_threshold: 1, ..Policy::default() };
        assert_eq!(rounds_needed(&one, 2), 1, "threshold one: the first failure pages");
    }

    #[test]
    fn a_round_is_a_few_seconds_wide() {
        let t = Timestamp::from_millis(100_000);
        assert!(same_round(t, t.plus_ms(ROUND_MS)));
        assert!(!same_round(t, t.plus_ms(ROUND_MS + 1)));
        assert!(same_round(t.plus_ms(2_000), t));
    }
}

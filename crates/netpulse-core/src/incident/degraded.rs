//! Degraded (slow) as its own notice class, beside the down/incident machine.
//!
//! A check that answers but slower than the monitor's threshold is `degraded`: a success for
//! the down verdict, never an outage. Each region also keeps a degraded verdict with the same
//! hysteresis as down (`confirm_threshold` degraded checks in a row set it,
//! `recovery_threshold` fast ones clear it), and the monitor is degraded when a quorum of its
//! live regions is. That opens a degraded *episode* (no incident): one `degraded` notice, and
//! one `degraded_ended` when a fast check brings the count below quorum. Both go only to the
//! channels that opted in ([`Audience::DegradedOptIn`]), carry no incident, and have dedup keys
//! `{monitor}:degraded:{n}` and `{monitor}:degraded:{n}:ended`. No episode starts during
//! maintenance or while an incident is open; an episode open when the monitor goes down stays
//! open and ends, with its notice, once the monitor is fast again.

use super::{Audience, Effect, MonitorState, Notice, NoticeKind, Policy, RegionState};
use crate::check::Outcome;
use crate::ids::MonitorId;
use crate::time::Timestamp;

/// Fold one check outcome into the region's degraded verdict.
pub(super) fn observe(r: &mut RegionState, outcome: Outcome, p: &Policy) {
    match outcome {
        Outcome::Degraded => {
            r.slow += 1;
            r.fast = 0;
            r.slow_confirmed |= r.slow >= p.confirm_threshold;
        }
        Outcome::Up => {
            r.fast += 1;
            r.slow = 0;
            r.slow_confirmed &= r.fast < p.recovery_threshold;
        }
        _ => {
            r.slow = 0;
            r.fast = 0;
        }
    }
}

/// Start or end the degraded episode of a monitor that is not down. `checked`: a check
/// result moved it (a region going offline never ends an episode, like it never resolves).
pub(super) fn evaluate(
    monitor: &MonitorId,
    s: &mut MonitorState,
    at: Timestamp,
    checked: bool,
    p: &Policy,
    fx: &mut Vec<Effect>,
) {
    let live: Vec<&RegionState> = s.regions.values().filter(|r| r.online).collect();
    let slow = live.iter().filter(|r| r.slow_confirmed).count();
    let is_slow = !live.is_empty() && slow >= p.needed(live.len());
    match (s.degraded_since, is_slow) {
        (None, true) if checked && !s.maintenance => {
            s.degraded_seq += 1;
            s.degraded_since = Some(at);
            fx.push(notice(monitor, s.degraded_seq, NoticeKind::Degraded, at, ""));
        }
        (Some(_), false) if checked => {
            s.degraded_since = None;
            fx.push(notice(monitor, s.degraded_seq, NoticeKind::DegradedEnded, at, ":ended"));
        }
        _ => {}
    }
}

fn notice(monitor: &MonitorId, seq: u64, kind: NoticeKind, at: Timestamp, suffix: &str) -> Effect {
    Effect::Notify(Notice {
        incident: None,
        kind,
        at,
        dedup_key: format!("{monitor}:degraded:{seq}{suffix}"),
        audience: Audience::DegradedOptIn,
    })
}

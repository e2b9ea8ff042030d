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
//!
//! Flapping, as for down: slow again (confirmed by quorum) within `flap_window_s` of an end
//! reopens that episode as *flapping* with one `degraded_flapping` notice
//! (`…:degraded:{n}:flapping`); while flapping, further ends and relapses send nothing, and the
//! episode ends only once the monitor has been fast for `flap_window_s`, with one
//! `degraded_ended` (`…:degraded:{n}:settled`). A slow spell after that is a new episode. So
//! a latency oscillating around the threshold sends degraded → degraded_ended →
//! degraded_flapping → degraded_ended, however many swings it makes.

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
        (None, true) if checked && !s.maintenance => start(monitor, s, at, p, fx),
        (Some(_), true) => s.degraded_fast_since = None,
        (Some(_), false) if checked => end(monitor, s, at, p, fx),
        _ => {}
    }
}

/// A new episode (one `degraded`), or a relapse within the flap window of the last end
/// (the same episode, flapping: one `degraded_flapping`).
fn start(monitor: &MonitorId, s: &mut MonitorState, at: Timestamp, p: &Policy, fx: &mut Vec<Effect>) {
    let window = i64::from(p.flap_window_s) * 1000;
    let relapse = p.flap_window_s > 0 && s.degraded_ended_at.take().is_some_and(|end| at.since(end) <= window);
    s.degraded_since = Some(at);
    s.degraded_fast_since = None;
    if relapse {
        s.degraded_flapping = true;
        fx.push(notice(monitor, s.degraded_seq, NoticeKind::DegradedFlapping, at, ":flapping"));
    } else {
        s.degraded_seq += 1;
        s.degraded_flapping = false;
        fx.push(notice(monitor, s.degraded_seq, NoticeKind::Degraded, at, ""));
    }
}

/// End the episode: at once (one `degraded_ended`), or, flapping, once fast for the flap
/// window (one `degraded_ended` that says it settled; a later slow spell is a new episode).
fn end(monitor: &MonitorId, s: &mut MonitorState, at: Timestamp, p: &Policy, fx: &mut Vec<Effect>) {
    if s.degraded_flapping {
        let since = *s.degraded_fast_since.get_or_insert(at);
        if at.since(since) < i64::from(p.flap_window_s) * 1000 {
            return;
        }
        fx.push(notice(monitor, s.degraded_seq, NoticeKind::DegradedEnded, at, ":settled"));
        s.degraded_ended_at = None;
    } else {
        fx.push(notice(monitor, s.degraded_seq, NoticeKind::DegradedEnded, at, ":ended"));
        s.degraded_ended_at = Some(at);
    }
    s.degraded_since = None;
    s.degraded_flapping = false;
    s.degraded_fast_since = None;
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

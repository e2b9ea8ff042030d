//! Reminders and escalation: when they fall due ([`next_timer`]) and sending them once due.
//! Both are decided from the stored state, so a restart neither loses nor repeats them.

use super::effect::{notice, notice_to};
use super::{Audience, Effect, MonitorState, NoticeKind, OpenIncident, Policy};
use crate::time::Timestamp;

/// The open incident whose reminders and escalation are running: it paged, nobody
/// acknowledged it, the monitor is down by quorum and not in maintenance (the same
/// conditions under which a check result sends them).
pub(super) fn armed<'a>(s: &'a mut MonitorState, p: &Policy) -> Option<&'a mut OpenIncident> {
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

pub(super) fn remind_if_due(open: &mut OpenIncident, at: Timestamp, p: &Policy, fx: &mut Vec<Effect>) {
    let Some(every) = p.reminder_interval_s else { return };
    if open.acknowledged || at.since(open.last_notice_at) < i64::from(every) * 1000 {
        return;
    }
    open.reminders_sent += 1;
    open.last_notice_at = at;
    fx.push(notice(&open.id, NoticeKind::Reminder, at, format!(":{}", open.reminders_sent)));
}

/// Escalate once when the incident paged `escalate_after_s` ago and nobody acknowledged it.
pub(super) fn escalate_if_due(open: &mut OpenIncident, at: Timestamp, p: &Policy, fx: &mut Vec<Effect>) {
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

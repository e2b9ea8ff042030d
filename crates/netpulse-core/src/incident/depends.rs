//! Dependencies: a monitor with a parent (`depends_on`) never pages ahead of it.
//!
//! The engine sets [`MonitorState::has_parent`], [`MonitorState::parent_incident`] and
//! [`MonitorState::parent_failing`] from the parent's stored state before each step. When
//! this monitor confirms an outage:
//! - the parent has an open incident: this one is *linked* to it and pages nobody;
//! - the parent is failing but not confirmed: the page is *held* until it is decided;
//! - the parent looked fine, but that verdict may predate this outage: the page is held,
//!   the parent is re-checked at once ([`Effect::RecheckParent`]) and this monitor keeps
//!   running synchronized re-check rounds; only after [`PARENT_ROUNDS`] of them, with the
//!   parent's fresh verdict still fine, does it page.
//!
//! An incident that never paged resolves silently.

use super::effect::notice;
use super::{Effect, MonitorState, NoticeKind, OpenIncident};
use crate::ids::IncidentId;
use crate::time::Timestamp;

/// Own re-check rounds a held monitor waits after asking for its parent's re-check: the
/// parent's re-check runs at once (before the first of them), so by the second its result is in.
pub const PARENT_ROUNDS: u32 = 2;

/// How a new incident starts: `(linked_to, held, awaiting_parent)`, with its timeline and
/// the `opened` notice or the parent re-check.
pub(super) fn on_open(
    s: &MonitorState,
    id: &IncidentId,
    at: Timestamp,
    fx: &mut Vec<Effect>,
) -> (Option<IncidentId>, bool, Option<u32>) {
    let timeline =
        |fx: &mut Vec<Effect>, message: String| fx.push(Effect::Timeline { incident: id.clone(), at, message });
    if let Some(parent) = s.parent_incident.clone() {
        timeline(fx, format!("linked to {parent}: the monitor this one depends on is down; no separate page"));
        return (Some(parent), true, None);
    }
    if s.parent_failing {
        let message = "held: the monitor this one depends on is failing too; paging only if it turns out fine";
        timeline(fx, message.into());
        return (None, true, None);
    }
    if s.has_parent {
        let message = "held: re-checking the monitor this one depends on before paging";
        timeline(fx, message.into());
        fx.push(Effect::RecheckParent { at });
        return (None, true, Some(0));
    }
    fx.push(notice(id, NoticeKind::Opened, at, String::new()));
    (None, false, None)
}

/// A new re-check round of a held monitor began: one more round of waiting on the parent.
pub(super) fn count_round(s: &mut MonitorState) {
    if let Some(n) = s.open.as_mut().and_then(|o| o.awaiting_parent.as_mut()) {
        *n += 1;
    }
}

/// An incident that has not paged (linked to, or held for, a parent): link it when the
/// parent's incident exists; page once when the parent is fine (and its re-check is in) and
/// this one still fails.
pub(super) fn settle_held(
    open: &mut OpenIncident,
    parent: (Option<IncidentId>, bool),
    at: Timestamp,
    failing_now: bool,
    fx: &mut Vec<Effect>,
) {
    let parent_known = open.awaiting_parent.is_none_or(|n| n >= PARENT_ROUNDS);
    match parent {
        (Some(p), _) if open.linked_to.as_ref() != Some(&p) => {
            let message = format!("linked to {p}: the monitor this one depends on is down; no separate page");
            fx.push(Effect::Timeline { incident: open.id.clone(), at, message });
            open.linked_to = Some(p);
        }
        (None, false) if failing_now && parent_known => {
            let message = "the monitor this one depends on is fine but this one is still down: paging on its own";
            fx.push(Effect::Timeline { incident: open.id.clone(), at, message: message.into() });
            open.linked_to = None;
            open.notified = true;
            open.awaiting_parent = None;
            open.paged_at = Some(at);
            open.last_notice_at = at;
            fx.push(notice(&open.id, NoticeKind::Opened, at, String::new()));
        }
        _ => {}
    }
}

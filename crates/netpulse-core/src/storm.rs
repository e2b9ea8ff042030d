//! Storm control: many monitors of one account going down together page once, not once each.
//!
//! The per-monitor [`step`](crate::incident::step) cannot see other monitors, so this is a
//! second pure decision, taken by the alert dispatcher per channel just before it sends:
//! [`screen`] looks at the channel's current [`Storm`] (if any), the pages it sent on its own
//! within the window, the notices it is about to send, and `now`. When `threshold` distinct
//! monitors page within `window_s`, a storm starts: the notices waiting now are *grouped*
//! (not sent on their own; their outbox rows say so) and one `storm` notice lists every
//! monitor involved. While pages keep coming (each within `window_s` of the last), newcomers
//! join it, and one more `storm` notice listing them all goes out at most every
//! [`UPDATE_MS`] while it grows (so a member is announced at most 10 s after it would have
//! paged on its own, and a storm of fifty monitors is a handful of notices, not fifty).
//! Only the incident a member joined with is folded: its opened / flapping notices while the
//! storm is hot, and its reminder / resolved notices unless that member's own page was sent
//! before the storm began (then its incident was opened at the receiver on its own, so it
//! must be resolved on its own too). A member's *new* incident, or a page after the storm
//! went quiet, goes out on its own. Once no monitor has joined for `window_s`, one
//! `storm_over` notice sums it up (how many went down, recovered, are still down), even if
//! members are still down: a down member never holds a storm open.
//! Every member's incident still exists; nothing is dropped, only folded into those two
//! notices.
//! An escalation counts as a page on the channel it escalates to (that channel's own storm:
//! fifty unacknowledged monitors escalate as one storm, not fifty pages). Acknowledgements
//! and degraded notices always go out on their own.

use crate::alert::AlertKind;
use crate::ids::{IncidentId, MonitorId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// How often a growing storm announces its newcomers, at most.
pub const UPDATE_MS: i64 = 10_000;

/// When a burst of pages becomes a storm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StormPolicy {
    /// Distinct monitors paging within the window that make a storm; `0` turns storm control off.
    pub threshold: u32,
    /// The window, and how long without a new failing monitor ends a storm.
    pub window_s: u32,
}

impl Default for StormPolicy {
    fn default() -> Self {
        Self { threshold: 5, window_s: 60 }
    }
}

/// One monitor caught in a storm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub monitor: MonitorId,
    pub name: String,
    pub incident: Option<IncidentId>,
    pub recovered: bool,
    /// Its page went out on its own before the storm began: its incident's later notices do too.
    #[serde(default)]
    pub paged: bool,
}

/// A channel's storm in progress (stored between dispatcher passes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storm {
    /// Names the storm's two notices (`…` and `…:over`).
    pub key: String,
    pub started_at: Timestamp,
    /// The last time a monitor started failing (or relapsed) during the storm.
    pub last_page_at: Timestamp,
    pub members: Vec<Member>,
    /// How many members the last `storm` notice listed, and when it was made.
    pub announced: usize,
    pub announced_at: Timestamp,
}

impl Storm {
    fn member(&mut self, monitor: &MonitorId) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| &m.monitor == monitor)
    }

    /// The member for `n`'s monitor, if `n` belongs to the incident it joined with.
    fn member_of(&mut self, n: &Notice) -> Option<&mut Member> {
        let monitor = n.monitor.as_ref()?;
        self.member(monitor).filter(|m| m.incident == n.incident)
    }

    fn join(&mut self, n: &Notice, paged: bool) {
        let Some(monitor) = &n.monitor else { return };
        match self.member(monitor) {
            Some(m) => m.recovered = false,
            None => self.members.push(Member {
                monitor: monitor.clone(),
                name: n.name.clone(),
                incident: n.incident.clone(),
                recovered: false,
                paged,
            }),
        }
    }

    /// (went down, recovered since).
    pub fn tally(&self) -> (usize, usize) {
        (self.members.len(), self.members.iter().filter(|m| m.recovered).count())
    }
}

/// A notice of one channel: waiting to be sent (with its outbox row) or a page sent recently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub row: i64,
    pub kind: AlertKind,
    pub monitor: Option<MonitorId>,
    pub name: String,
    pub incident: Option<IncidentId>,
}

impl Notice {
    fn is_page(&self) -> bool {
        matches!(self.kind, AlertKind::Opened | AlertKind::Flapping | AlertKind::Escalated) && self.monitor.is_some()
    }
}

/// A storm's announcement to enqueue (a new notice on the channel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Announcement {
    /// A storm began: the members so far.
    Started(Storm),
    /// More monitors joined it in this pass: all members, with how many there were before.
    Grew(Storm, usize),
    /// It ended: the final tally.
    Over(Storm),
}

/// What to do with one channel's waiting notices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Screening {
    /// The channel's storm after this pass (`None`: no storm).
    pub storm: Option<Storm>,
    /// Outbox rows folded into the storm instead of being sent.
    pub grouped: Vec<i64>,
    pub announcement: Option<Announcement>,
}

/// Decide, for one channel, which of `waiting` are sent and which are grouped into a storm.
/// `recent` are the pages this channel sent (or is sending) on their own within the window;
/// `channel` names the storm. Pure: the dispatcher persists the result in one transaction.
pub fn screen(
    channel: &str,
    storm: Option<&Storm>,
    recent: &[Notice],
    waiting: &[Notice],
    now: Timestamp,
    p: &StormPolicy,
) -> Screening {
    let mut storm = storm.cloned();
    let mut out = Screening::default();
    if storm.is_none() && p.threshold > 0 && distinct_pages(recent, waiting) >= p.threshold as usize {
        let key = format!("storm:{channel}:{}", now.millis());
        let mut s = Storm { key, started_at: now, last_page_at: now, members: vec![], announced: 0, announced_at: now };
        recent.iter().filter(|n| n.is_page()).for_each(|n| s.join(n, true));
        waiting.iter().filter(|n| n.is_page()).for_each(|n| s.join(n, false));
        s.announced = s.members.len();
        out.announcement = Some(Announcement::Started(s.clone()));
        storm = Some(s);
    }
    let Some(mut s) = storm else { return out };
    let window_ms = i64::from(p.window_s) * 1000;
    for n in waiting {
        let hot = now.since(s.last_page_at) < window_ms;
        if fold(&mut s, n, now, hot) {
            out.grouped.push(n.row);
        }
    }
    let quiet = now.since(s.last_page_at) >= window_ms;
    let unannounced = s.members.len() > s.announced;
    let fresh = out.announcement.is_none();
    if fresh && unannounced && now.since(s.announced_at) >= UPDATE_MS {
        let before = std::mem::replace(&mut s.announced, s.members.len());
        s.announced_at = now;
        out.announcement = Some(Announcement::Grew(s.clone(), before));
    } else if fresh && !unannounced && quiet {
        out.announcement = Some(Announcement::Over(s));
        return out;
    }
    out.storm = Some(s);
    out
}

/// Fold one waiting notice into the storm; `true` when it is grouped (not sent on its own).
/// Pages are folded only while the storm is `hot`: a newcomer's, or a member's for the
/// incident it joined with (a member's new incident pages on its own). A member's reminder
/// and resolve are folded only if its page was folded too.
fn fold(s: &mut Storm, n: &Notice, now: Timestamp, hot: bool) -> bool {
    let Some(monitor) = &n.monitor else { return false };
    let known = s.member(monitor).is_some();
    match n.kind {
        AlertKind::Opened | AlertKind::Flapping | AlertKind::Escalated
            if hot && (!known || s.member_of(n).is_some()) =>
        {
            s.join(n, false);
            s.last_page_at = now;
            true
        }
        AlertKind::Reminder => s.member_of(n).is_some_and(|m| !m.paged),
        AlertKind::Resolved => s.member_of(n).is_some_and(|m| {
            m.recovered = true;
            !m.paged
        }),
        _ => false,
    }
}

fn distinct_pages(recent: &[Notice], waiting: &[Notice]) -> usize {
    let mut monitors: Vec<&MonitorId> =
        recent.iter().chain(waiting).filter(|n| n.is_page()).flat_map(|n| &n.monitor).collect();
    monitors.sort();
    monitors.dedup();
    monitors.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(row: i64, kind: AlertKind, monitor: u128) -> Notice {
        let m = MonitorId::from_parts(1, monitor);
        Notice { row, kind, name: format!("svc-{monitor}"), incident: None, monitor: Some(m) }
    }
    fn opened(rows: std::ops::Range<i64>) -> Vec<Notice> {
        rows.map(|r| n(r, AlertKind::Opened, r as u128)).collect()
    }
    fn at(s: i64) -> Timestamp {
        Timestamp::from_secs(s)
    }
    const P: StormPolicy = StormPolicy { threshold: 5, window_s: 60 };

    #[test]
    fn below_the_threshold_everything_is_sent() {
        let s = screen("chn", None, &opened(1..4), &opened(4..5), at(10), &P);
        assert_eq!(s, Screening::default(), "4 monitors: no storm");
        let off = StormPolicy { threshold: 0, ..P };
        assert_eq!(screen("chn", None, &[], &opened(1..20), at(10), &off), Screening::default(), "0 = off");
    }

    #[test]
    fn the_fifth_page_in_the_window_starts_a_storm_that_lists_all_five() {
        let s = screen("chn", None, &opened(1..5), &opened(5..8), at(10), &P);
        assert_eq!(s.grouped, [5, 6, 7], "waiting pages are grouped; the 4 sent before stay sent");
        let Some(Announcement::Started(st)) = &s.announcement else { panic!("{s:?}") };
        assert_eq!(st.members.len(), 7);
        assert_eq!(st.key, format!("storm:chn:{}", at(10).millis()));
        assert_eq!(s.storm.as_ref(), Some(st));
    }

    #[test]
    fn during_a_storm_members_are_grouped_and_the_end_sums_up() {
        let start = screen("chn", None, &[], &opened(1..6), at(0), &P);
        let storm = start.storm.clone();
        // A newcomer, a member's reminder and resolve are grouped; an ack and a degraded notice are not.
        let waiting = vec![
            n(10, AlertKind::Opened, 9),
            n(11, AlertKind::Reminder, 1),
            n(12, AlertKind::Resolved, 2),
            n(13, AlertKind::Acknowledged, 3),
            n(14, AlertKind::Degraded, 4),
            n(15, AlertKind::Resolved, 77),
        ];
        let mid = screen("chn", storm.as_ref(), &[], &waiting, at(30), &P);
        assert_eq!(mid.grouped, [10, 11, 12]);
        let st = mid.storm.clone().unwrap();
        assert_eq!(mid.announcement, Some(Announcement::Grew(st.clone(), 5)), "a newcomer is announced in the pass");
        let same = screen("chn", Some(&st), &[], &[n(40, AlertKind::Reminder, 9)], at(31), &P);
        assert_eq!((same.grouped.as_slice(), same.announcement), (&[40][..], None), "nothing new: nothing sent");
        let soon = screen("chn", Some(&st), &[], &[n(41, AlertKind::Opened, 60)], at(35), &P);
        assert_eq!(
            (soon.grouped.as_slice(), &soon.announcement),
            (&[41][..], &None),
            "5 s after the last update: wait"
        );
        let later = screen("chn", soon.storm.as_ref(), &[], &[], at(40), &P);
        assert!(matches!(later.announcement, Some(Announcement::Grew(ref g, 6)) if g.members.len() == 7), "{later:?}");
        assert_eq!((st.tally(), st.last_page_at), ((6, 1), at(30)));
        let quiet = screen("chn", Some(&st), &[], &[], at(200), &P);
        let Some(Announcement::Over(end)) = &quiet.announcement else { panic!("{quiet:?}") };
        assert_eq!((end.tally(), quiet.storm.as_ref()), ((6, 1), None), "quiet ends it, 5 still down");
        let late = screen("chn", Some(&st), &[], &[n(16, AlertKind::Opened, 50)], at(200), &P);
        assert!(late.grouped.is_empty(), "after it went quiet, a newcomer pages on its own");
        let rest: Vec<Notice> = [1, 3, 4, 5, 9].iter().map(|m| n(30 + m, AlertKind::Resolved, *m as u128)).collect();
        let all_up = screen("chn", Some(&st), &[], &rest, at(80), &P);
        assert_eq!(all_up.grouped.len(), 5, "members' resolves are grouped");
        assert_eq!(all_up.storm.as_ref().map(Storm::tally), Some((6, 6)), "59 s after the last page: not over yet");
        let over = screen("chn", all_up.storm.as_ref(), &[], &[], at(90), &P);
        let Some(Announcement::Over(end)) = &over.announcement else { panic!("{over:?}") };
        assert_eq!((end.tally(), over.storm.as_ref()), ((6, 6), None));
    }

    /// A notice of monitor `monitor`'s incident `incident`.
    fn of(row: i64, kind: AlertKind, monitor: u128, incident: u128) -> Notice {
        Notice { incident: Some(IncidentId::from_parts(1, incident)), ..n(row, kind, monitor) }
    }

    #[test]
    fn a_relapse_of_the_same_incident_while_hot_counts_the_member_down_again() {
        let first: Vec<Notice> = (1..6).map(|m| of(m, AlertKind::Opened, m as u128, m as u128)).collect();
        let mut st = screen("chn", None, &[], &first, at(0), &P).storm.unwrap();
        st = screen("chn", Some(&st), &[], &[of(20, AlertKind::Resolved, 1, 1)], at(5), &P).storm.unwrap();
        assert_eq!(st.tally(), (5, 1));
        let s = screen("chn", Some(&st), &[], &[of(21, AlertKind::Flapping, 1, 1)], at(10), &P);
        assert_eq!((s.grouped.as_slice(), s.storm.unwrap().tally()), (&[21][..], (5, 0)));
        let new = screen("chn", Some(&st), &[], &[of(22, AlertKind::Opened, 1, 99)], at(10), &P);
        assert!(new.grouped.is_empty(), "a member's new incident pages on its own, even while hot");
    }

    #[test]
    fn a_members_new_outage_hours_later_pages_and_the_next_burst_is_a_new_storm() {
        // 09:00: five monitors page together; four recover, the fifth stays down all day.
        let first: Vec<Notice> = (1..6).map(|m| of(m, AlertKind::Opened, m as u128, m as u128)).collect();
        let nine = 9 * 3600;
        let mut st = screen("chn", None, &[], &first, at(nine), &P).storm.unwrap();
        let up: Vec<Notice> = (1..5).map(|m| of(10 + m, AlertKind::Resolved, m as u128, m as u128)).collect();
        st = screen("chn", Some(&st), &[], &up, at(nine + 30), &P).storm.unwrap();
        let Some(Announcement::Over(end)) = screen("chn", Some(&st), &[], &[], at(nine + 90), &P).announcement else {
            panic!("a quiet storm ends although one member is still down")
        };
        assert_eq!(end.tally(), (5, 4), "the summary says 1 still down");
        // Had the dispatcher kept the old storm (it ends above), 15:00's new outage still pages.
        let three = 15 * 3600;
        let again = screen("chn", Some(&st), &[], &[of(30, AlertKind::Opened, 1, 100)], at(three), &P);
        assert!(again.grouped.is_empty(), "monitor 1's new outage is sent: {again:?}");
        // After the storm ended, a new burst of five is a new storm, not five pages.
        let burst: Vec<Notice> = (1..6).map(|m| of(40 + m, AlertKind::Opened, m as u128, 200 + m as u128)).collect();
        let next = screen("chn", None, &[], &burst, at(three), &P);
        assert!(matches!(next.announcement, Some(Announcement::Started(_))), "{next:?}");
        assert_eq!(next.grouped.len(), 5);
    }

    #[test]
    fn pages_sent_before_the_storm_resolve_on_their_own() {
        // Four pages went out on their own; the fifth starts the storm.
        let sent: Vec<Notice> = (1..5).map(|m| of(m, AlertKind::Opened, m as u128, m as u128)).collect();
        let st = screen("chn", None, &sent, &[of(5, AlertKind::Opened, 5, 5)], at(0), &P).storm.unwrap();
        assert_eq!(st.members.iter().filter(|m| m.paged).count(), 4);
        let waiting = vec![
            of(10, AlertKind::Resolved, 1, 1),
            of(11, AlertKind::Reminder, 2, 2),
            of(12, AlertKind::Resolved, 5, 5),
            of(13, AlertKind::Reminder, 5, 5),
        ];
        let s = screen("chn", Some(&st), &[], &waiting, at(20), &P);
        assert_eq!(s.grouped, [12, 13], "only the folded page's resolve and reminder are grouped");
        assert_eq!(s.storm.map(|st| st.tally()), Some((5, 2)), "both resolves count for the summary");
    }

    #[test]
    fn escalations_storm_on_the_channel_they_escalate_to() {
        let esc: Vec<Notice> = (1..8).map(|m| of(m, AlertKind::Escalated, m as u128, m as u128)).collect();
        let s = screen("oncall", None, &esc[..4], &esc[4..], at(0), &P);
        assert!(matches!(s.announcement, Some(Announcement::Started(ref st)) if st.members.len() == 7), "{s:?}");
        assert_eq!(s.grouped, [5, 6, 7], "the fifth escalation on: one storm, not a page each");
    }
}

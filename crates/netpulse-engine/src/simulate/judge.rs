//! Judging one monitor's notices against the scenario's ground truth ([`super::truth`]):
//! which real outages were detected or missed, and what each notice was — a page matched to
//! an outage, a follow-up of one, or why it is false, a duplicate or inside maintenance.
//!
//! Maintenance windows are judged merged (overlapping windows are one quiet span, as the
//! engine keeps a monitor in maintenance while any of its windows is active). A child's own
//! page while its parent (`depends_on`) is down from a majority is false: it should have been
//! linked to the parent's incident.

use super::report::{incident_windows, NoticeDetail, Received, Report, Verdict};
use super::scenario::{Scenario, SimMonitor};
use super::truth::{self, Span};
use std::collections::HashMap;

/// Pages: the notices that wake someone.
fn is_page(kind: &str) -> bool {
    matches!(kind, "opened" | "flapping" | "escalated")
}

/// The monitor's maintenance windows, overlapping and touching ones merged.
pub fn merged_maintenance(m: &SimMonitor) -> Vec<Span> {
    let mut spans: Vec<Span> = m.maintenance().into_iter().map(|(start, end)| Span { start, end }).collect();
    spans.sort_by_key(|s| s.start);
    let mut out: Vec<Span> = Vec::new();
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

/// The verdict of monitor `m`, its notices (`notices`), its parent's scenario monitor and
/// notices, and the detail of each of its notices.
pub fn judge_monitor(
    s: &Scenario,
    m: &SimMonitor,
    notices: &[&Received],
    parent: Option<(&SimMonitor, &[&Received])>,
) -> (Verdict, Vec<NoticeDetail>) {
    let mut v = Verdict { notifications: notices.len(), ..Verdict::default() };
    let slack = s.faults.reorder_max_s + u64::from(s.interval_s);
    let maintenance = merged_maintenance(m);
    let mut windows = incident_windows(notices, s.duration_s);
    windows.extend(parent.map(|(_, n)| incident_windows(n, s.duration_s)).unwrap_or_default());
    let outages = truth::real_outages(s, m);
    for o in &outages {
        detect(s, &maintenance, &windows, o, slack, &mut v);
    }
    let down = truth::majority_down(s, m);
    let parent_down = parent.map(|(p, _)| truth::majority_down(s, p)).unwrap_or_default();
    let mut details = Vec::with_capacity(notices.len());
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    for n in notices {
        let copies = seen.entry((&n.channel, &n.dedup_key)).or_default();
        *copies += 1;
        let judged = if *copies > 1 {
            v.duplicates += 1;
            "duplicate: this transition already reached this channel".to_owned()
        } else {
            classify(n, &down, &parent_down, &maintenance, &outages, slack, &mut v)
        };
        details.push(NoticeDetail::of(n, judged));
    }
    v.escalations = notices.iter().filter(|n| n.kind == "escalated").count();
    v.escalation_delay = escalation_delays(notices);
    v.degraded_notices = notices.iter().filter(|n| n.kind.starts_with("degraded")).count();
    v.detected_in_storm = notices.iter().filter(|n| n.via_storm && n.kind == "opened").count();
    (v, details)
}

/// Count one real outage as in maintenance, detected (with its time to detect and to the
/// recovery notice) or missed.
fn detect(s: &Scenario, maintenance: &[Span], windows: &[Span], o: &Span, slack: u64, v: &mut Verdict) {
    if maintenance.iter().any(|w| w.start <= o.start && o.end <= w.end) {
        v.in_maintenance += 1;
        return;
    }
    v.real_outages += 1;
    let reach = Span { start: o.start, end: o.end + slack };
    let Some(w) = windows.iter().filter(|w| w.overlaps(&reach)).min_by_key(|w| w.start) else {
        v.missed += 1;
        return;
    };
    v.detected += 1;
    // Detection could not start before a maintenance window covering the outage's start ended.
    let from = maintenance.iter().filter(|w| w.start <= o.start && o.start < w.end).map(|w| w.end).max();
    v.ttd.push(w.start.saturating_sub(from.unwrap_or(o.start)));
    if w.end <= s.duration_s {
        v.ttr.push(w.end.saturating_sub(o.end));
    }
}

/// What one (first-copy) notice was, counting false pages and alerts in maintenance.
fn classify(
    n: &Received,
    down: &[Span],
    parent_down: &[Span],
    maintenance: &[Span],
    outages: &[Span],
    slack: u64,
    v: &mut Verdict,
) -> String {
    let in_window = maintenance.iter().find(|w| (w.start..w.end).contains(&n.at_s));
    if matches!(n.kind.as_str(), "opened" | "flapping" | "reminder" | "escalated") && in_window.is_some() {
        v.alerts_in_maintenance += 1;
        return "in maintenance: sent inside a window".into();
    }
    if !is_page(&n.kind) {
        return format!("follow-up ({})", n.kind);
    }
    let Some(sp) = down.iter().find(|sp| sp.start <= n.at_s && n.at_s <= sp.end + slack) else {
        v.false_alerts += 1;
        return "false: the target was not down from a majority of live regions".into();
    };
    if let Some(p) = parent_down.iter().find(|p| p.start <= n.at_s && n.at_s < p.end) {
        v.false_alerts += 1;
        return format!("false: paged on its own while its parent was down ({}-{} s)", p.start, p.end);
    }
    if let Some(w) = maintenance.iter().find(|w| w.start <= sp.start && sp.end <= w.end && sp.end < n.at_s) {
        v.alerts_in_maintenance += 1;
        return format!(
            "in maintenance: the outage {}-{} s began and ended inside {}-{} s",
            sp.start, sp.end, w.start, w.end
        );
    }
    match outages.iter().find(|o| o.start <= sp.start && sp.end <= o.end) {
        Some(o) => format!("matched the outage {}-{} s", o.start, o.end),
        None => format!("matched a short majority outage {}-{} s (confirmed in one round)", sp.start, sp.end),
    }
}

/// From each escalated incident's first page to its escalation.
fn escalation_delays(notices: &[&Received]) -> Vec<u64> {
    let escalated = notices.iter().filter(|n| n.kind == "escalated");
    escalated
        .filter_map(|e| {
            let page =
                notices.iter().filter(|n| n.incident == e.incident && n.kind == "opened").map(|n| n.at_s).min()?;
            Some(e.at_s.saturating_sub(page))
        })
        .collect()
}

impl super::Sim<'_> {
    /// The run's report: every monitor's verdict, the total, and each notice's detail.
    pub(super) fn judge(&self) -> Report {
        let mut total = Verdict::default();
        let mut monitors = Vec::new();
        let mut details = Vec::new();
        let mut by_monitor: HashMap<&str, Vec<&Received>> = HashMap::new();
        for r in &self.received {
            by_monitor.entry(r.monitor.as_str()).or_default().push(r);
        }
        let of = |id: &str| -> Vec<&Received> { by_monitor.get(id).cloned().unwrap_or_default() };
        for m in &self.s.monitors {
            let notices = of(&m.id);
            // A child's outage during its parent's incident is detected there (PRODUCT.md).
            let parent = m.depends_on.as_ref().and_then(|p| self.s.monitors.iter().find(|x| &x.id == p));
            let parent_notices = parent.map(|p| of(&p.id)).unwrap_or_default();
            let (mut v, d) = judge_monitor(self.s, m, &notices, parent.map(|p| (p, parent_notices.as_slice())));
            v.finish();
            total.add(&v);
            monitors.push((m.id.clone(), v));
            details.extend(d);
        }
        total.finish();
        details.sort_by_key(|d| d.at_s);
        Report {
            scenario: self.s.name.clone(),
            storm_notices: self.storm_notices,
            simulated_s: self.s.duration_s,
            checks: self.checks,
            failed_checks: self.failed_checks,
            results_redelivered: self.redelivered,
            engine_restarts: self.restarts,
            trustworthy: total.trustworthy(),
            monitors,
            total,
            notices: details,
        }
    }
}

//! The simulation report: what the engine's notifications did against the ground truth.

use super::truth::Span;
use serde::Serialize;

/// One notification a simulated channel received.
#[derive(Clone, Debug)]
pub struct Received {
    pub monitor: String,
    pub channel: String,
    pub kind: String,
    pub dedup_key: String,
    pub incident: String,
    /// Scenario seconds of the transition the notice reports.
    pub at_s: u64,
    /// Made from a storm notice for one of its members (`opened`) or its summary (`resolved`).
    pub via_storm: bool,
}

/// One notice in the report: what it was, when, for what, and how the judge counted it.
#[derive(Clone, Debug, Serialize)]
pub struct NoticeDetail {
    pub kind: String,
    pub at_s: u64,
    pub incident: String,
    pub monitor: String,
    pub channel: String,
    /// Told through a storm notice (or its summary) rather than on its own.
    pub in_storm: bool,
    /// The ground-truth outage it was matched to, or why it is false, a duplicate or a
    /// follow-up (reminder, acknowledgement, resolve).
    pub judged: String,
}

impl NoticeDetail {
    pub fn of(n: &Received, judged: String) -> Self {
        Self {
            kind: n.kind.clone(),
            at_s: n.at_s,
            incident: n.incident.clone(),
            monitor: n.monitor.clone(),
            channel: n.channel.clone(),
            in_storm: n.via_storm,
            judged,
        }
    }
}

/// min / median / max seconds.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Spread {
    pub min: Option<u64>,
    pub median: Option<u64>,
    pub max: Option<u64>,
}

impl Spread {
    pub fn of(mut v: Vec<u64>) -> Self {
        v.sort_unstable();
        Self { min: v.first().copied(), median: v.get(v.len() / 2).copied(), max: v.last().copied() }
    }
}

/// The verdict for one monitor (or the total).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Verdict {
    pub real_outages: usize,
    pub detected: usize,
    pub missed: usize,
    /// Real outages wholly inside maintenance: recorded, not alerted, not missed.
    pub in_maintenance: usize,
    pub false_alerts: usize,
    pub duplicates: usize,
    pub alerts_in_maintenance: usize,
    pub notifications: usize,
    /// `escalated` notices (one per unacknowledged incident, to the escalation channel).
    pub escalations: usize,
    /// `degraded` / `degraded_ended` notices (slow, not down: never counted as alerts).
    pub degraded_notices: usize,
    /// Outages detected by a storm notice listing the monitor rather than a page of its own.
    pub detected_in_storm: usize,
    pub time_to_detect_s: Spread,
    pub time_to_recovery_notice_s: Spread,
    /// From an incident's page to its `escalated` notice (the policy's `escalate_after_s`,
    /// plus at most one dispatcher poll).
    pub time_to_escalate_s: Spread,
    #[serde(skip)]
    pub escalation_delay: Vec<u64>,
    #[serde(skip)]
    pub ttd: Vec<u64>,
    #[serde(skip)]
    pub ttr: Vec<u64>,
}

impl Verdict {
    pub fn add(&mut self, o: &Verdict) {
        self.real_outages += o.real_outages;
        self.detected += o.detected;
        self.missed += o.missed;
        self.in_maintenance += o.in_maintenance;
        self.false_alerts += o.false_alerts;
        self.duplicates += o.duplicates;
        self.alerts_in_maintenance += o.alerts_in_maintenance;
        self.notifications += o.notifications;
        self.escalations += o.escalations;
        self.degraded_notices += o.degraded_notices;
        self.detected_in_storm += o.detected_in_storm;
        self.ttd.extend(&o.ttd);
        self.ttr.extend(&o.ttr);
        self.escalation_delay.extend(&o.escalation_delay);
    }
    pub fn finish(&mut self) {
        self.time_to_detect_s = Spread::of(self.ttd.clone());
        self.time_to_recovery_notice_s = Spread::of(self.ttr.clone());
        self.time_to_escalate_s = Spread::of(self.escalation_delay.clone());
    }
    /// What the product promises: nothing missed, nothing false, nothing twice, silence in
    /// maintenance.
    pub fn trustworthy(&self) -> bool {
        self.missed == 0 && self.false_alerts == 0 && self.duplicates == 0 && self.alerts_in_maintenance == 0
    }
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    /// `storm` and `storm_over` notices the channels received.
    pub storm_notices: usize,
    pub simulated_s: u64,
    pub checks: u64,
    /// Checks that came back down (including re-checks).
    pub failed_checks: u64,
    pub results_redelivered: u64,
    pub engine_restarts: usize,
    pub monitors: Vec<(String, Verdict)>,
    pub total: Verdict,
    pub trustworthy: bool,
    /// Every notice the channels received, in order, with how it was judged.
    pub notices: Vec<NoticeDetail>,
}

/// Incident windows as the receiver sees them: from an `opened`/`flapping` notice to the next
/// `resolved` of the same incident (or the end).
pub fn incident_windows(notices: &[&Received], end: u64) -> Vec<Span> {
    let mut windows = Vec::new();
    let mut open: std::collections::HashMap<&str, u64> = Default::default();
    for n in notices {
        match n.kind.as_str() {
            "opened" | "flapping" => {
                open.entry(&n.incident).or_insert(n.at_s);
            }
            "resolved" => {
                if let Some(s) = open.remove(n.incident.as_str()) {
                    windows.push(Span { start: s, end: n.at_s.max(s + 1) });
                }
            }
            _ => {}
        }
    }
    windows.extend(open.into_values().map(|s| Span { start: s, end: end.max(s + 1) }));
    windows
}

fn spread(s: &Spread) -> String {
    match (s.min, s.median, s.max) {
        (Some(a), Some(b), Some(c)) => format!("{a}/{b}/{c}"),
        _ => "-".into(),
    }
}

/// The report as a table for people.
pub fn render(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {:?}: {} s simulated, {} checks ({} failed), {} results redelivered, {} engine restarts, {} storm notices",
        r.scenario, r.simulated_s, r.checks, r.failed_checks, r.results_redelivered, r.engine_restarts, r.storm_notices
    );
    let _ = writeln!(
        out,
        "{:<16} {:>5} {:>8} {:>6} {:>6} {:>6} {:>5} {:>6} {:>7} {:>5} {:>5} {:>5} {:>16} {:>16}",
        "monitor",
        "real",
        "detected",
        "missed",
        "maint",
        "false",
        "dupes",
        "in-mw",
        "notices",
        "escal",
        "slow",
        "storm",
        "detect s min/med/max",
        "resolve s"
    );
    let rows = r.monitors.iter().map(|(n, v)| (n.as_str(), v)).chain([("TOTAL", &r.total)]);
    for (name, v) in rows {
        let _ = writeln!(
            out,
            "{:<16} {:>5} {:>8} {:>6} {:>6} {:>6} {:>5} {:>6} {:>7} {:>5} {:>5} {:>5} {:>16} {:>16}",
            name,
            v.real_outages,
            v.detected,
            v.missed,
            v.in_maintenance,
            v.false_alerts,
            v.duplicates,
            v.alerts_in_maintenance,
            v.notifications,
            v.escalations,
            v.degraded_notices,
            v.detected_in_storm,
            spread(&v.time_to_detect_s),
            spread(&v.time_to_recovery_notice_s)
        );
    }
    let _ = writeln!(
        out,
        "{}",
        if r.trustworthy {
            "verdict: trustworthy (0 missed, 0 false, 0 duplicate, 0 in maintenance)"
        } else {
            "verdict: NOT trustworthy"
        }
    );
    out
}

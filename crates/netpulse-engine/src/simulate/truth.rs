//! Ground truth of a scenario, computed from its timeline alone (never from what the engine
//! did): when was the target down from a majority of its live regions, and which of those
//! spans are real outages (at least `confirm_threshold + 1` intervals long).

use super::scenario::{Condition, Scenario, SimMonitor};

/// A half-open span of scenario seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

impl Span {
    pub fn seconds(&self) -> u64 {
        self.end - self.start
    }
    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// Seconds at which anything in the monitor's timeline changes.
pub fn change_points(s: &Scenario, m: &SimMonitor) -> Vec<u64> {
    let mut pts: Vec<u64> = m
        .timeline
        .iter()
        .flat_map(|e| [Some(e.at_s), e.until_s, e.maintenance_until_s])
        .flatten()
        .chain([0, s.duration_s])
        .filter(|t| *t <= s.duration_s)
        .collect();
    pts.sort_unstable();
    pts.dedup();
    pts
}

/// Spans in which a majority of the live regions see the target down (flaky is not down).
pub fn majority_down(s: &Scenario, m: &SimMonitor) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    let pts = change_points(s, m);
    for w in pts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let live: Vec<&String> = s.regions.iter().filter(|r| m.region_online(r, a)).collect();
        let down = live.iter().filter(|r| m.condition(r, a) == Condition::Down).count();
        if live.is_empty() || down < live.len() / 2 + 1 {
            continue;
        }
        match spans.last_mut() {
            Some(last) if last.end == a => last.end = b,
            _ => spans.push(Span { start: a, end: b }),
        }
    }
    spans
}

/// Real outages: majority-down spans lasting at least (confirmation threshold + 1) intervals.
pub fn real_outages(s: &Scenario, m: &SimMonitor) -> Vec<Span> {
    let min_len = u64::from(s.confirm_threshold + 1) * u64::from(s.interval_s);
    majority_down(s, m).into_iter().filter(|sp| sp.seconds() >= min_len).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(timeline: &str) -> Scenario {
        Scenario::parse(&format!(
            r#"{{"interval_s": 30, "duration_s": 10000, "regions": ["eu","us","ap"],
                "monitors": [{{"id": "api", "timeline": {timeline}}}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn majority_and_length_make_a_real_outage() {
        let s = scenario(
            r#"[{"at_s": 0, "state": "up"},
                {"at_s": 1000, "state": "down"}, {"at_s": 1200, "state": "up"},
                {"at_s": 2000, "state": "down"}, {"at_s": 2060, "state": "up"},
                {"at_s": 3000, "state": "down", "regions": ["eu"]}, {"at_s": 4000, "state": "up"},
                {"at_s": 5000, "state": "down", "regions": ["eu", "us"]}, {"at_s": 5300, "state": "up"}]"#,
        );
        let m = &s.monitors[0];
        let spans = majority_down(&s, m);
        assert_eq!(
            spans,
            [Span { start: 1000, end: 1200 }, Span { start: 2000, end: 2060 }, Span { start: 5000, end: 5300 }]
        );
        assert_eq!(
            real_outages(&s, m),
            [Span { start: 1000, end: 1200 }, Span { start: 5000, end: 5300 }],
            "60 s < 3 intervals"
        );
    }

    #[test]
    fn offline_regions_leave_the_majority() {
        let s = scenario(
            r#"[{"at_s": 0, "state": "down", "regions": ["eu"]},
                {"at_s": 100, "region_offline": "us", "until_s": 400},
                {"at_s": 200, "region_offline": "ap", "until_s": 300}]"#,
        );
        // eu down alone: 1 of 3, then 1 of 2 (us offline), then 1 of 1 (us and ap offline).
        assert_eq!(majority_down(&s, &s.monitors[0]), [Span { start: 200, end: 300 }]);
    }
}

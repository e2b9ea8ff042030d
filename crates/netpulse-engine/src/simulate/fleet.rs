//! Fleets in scenarios: a monitor with `copies: N` stands for N monitors `{id}-1` … `{id}-N`,
//! the k-th with every time of its timeline `(k-1) × shift_s` later. A copy that depends on
//! a monitor that is itself copied depends on that monitor's copy of the same number.

use super::scenario::{Event, SimMonitor};

/// The scenario's monitors with every fleet written out.
pub fn expand(monitors: &[SimMonitor]) -> Vec<SimMonitor> {
    let copied = |id: &str| monitors.iter().any(|m| m.id == id && m.copies.is_some());
    let mut out = Vec::new();
    for m in monitors {
        let Some(n) = m.copies else {
            out.push(m.clone());
            continue;
        };
        for k in 1..=n {
            let shift = u64::from(k - 1) * m.shift_s;
            let depends_on = m.depends_on.as_ref().map(|p| if copied(p) { format!("{p}-{k}") } else { p.clone() });
            out.push(SimMonitor {
                id: format!("{}-{k}", m.id),
                depends_on,
                timeline: m.timeline.iter().map(|e| shifted(e, shift)).collect(),
                copies: None,
                shift_s: 0,
            });
        }
    }
    out
}

fn shifted(e: &Event, by: u64) -> Event {
    Event {
        at_s: e.at_s + by,
        until_s: e.until_s.map(|u| u + by),
        maintenance_until_s: e.maintenance_until_s.map(|u| u + by),
        ..e.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::super::scenario::Scenario;

    #[test]
    fn a_fleet_is_written_out_with_shifted_timelines_and_paired_parents() {
        let s = Scenario::parse(
            r#"{"interval_s": 30, "duration_s": 1000, "regions": ["eu"], "monitors": [
                {"id": "router", "copies": 2, "shift_s": 100, "timeline": [{"at_s": 10, "state": "down"}]},
                {"id": "app", "depends_on": "router", "copies": 2, "shift_s": 100,
                 "timeline": [{"at_s": 20, "maintenance_until_s": 50}]}]}"#,
        )
        .unwrap();
        let ids: Vec<&str> = s.monitors.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["router-1", "router-2", "app-1", "app-2"]);
        assert_eq!(s.monitors[1].timeline[0].at_s, 110);
        assert_eq!(s.monitors[3].maintenance(), [(120, 150)]);
        assert_eq!(s.monitors[3].depends_on.as_deref(), Some("router-2"));
    }
}

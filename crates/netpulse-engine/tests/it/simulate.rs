//! Every shipped scenario under `scenarios/` is run through the engine's own decision code
//! (ingest's plan, the incident machine, timers, windows, storm control) under a virtual
//! clock, and must show 0 missed real outages, 0 false alerts,
//! 0 duplicates, 0 alerts in maintenance, and detection within the documented bound:
//! one interval (until the next scheduled check) + three synchronized re-check rounds
//! (each half an interval, at most 10 s, plus 1 s of ingest batching, plus the scenario's
//! reordering delay: each round is asked for when a failure of the one before reaches
//! ingest) + 2 s, + 10 s (the storm update cadence) for a monitor detected through a storm
//! notice.

use netpulse_engine::simulate::{report::Report, run, scenario::Scenario};
use std::path::PathBuf;

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

async fn judge(name: &str) -> (Scenario, Report) {
    let text = std::fs::read_to_string(scenarios_dir().join(name)).expect("scenario file");
    let scenario = Scenario::parse(&text).expect("valid scenario");
    let report = run(&scenario).await.expect("simulation runs");
    let t = &report.total;
    assert_eq!((t.missed, t.false_alerts, t.duplicates, t.alerts_in_maintenance), (0, 0, 0, 0), "{name}: {t:?}");
    assert!(report.trustworthy);
    let storm_update = if t.detected_in_storm > 0 { netpulse_core::storm::UPDATE_MS as u64 / 1000 } else { 0 };
    let bound = u64::from(scenario.interval_s)
        + 3 * ((u64::from(scenario.interval_s) / 2).min(10) + 1 + scenario.faults.reorder_max_s)
        + 2
        + storm_update;
    if let Some(max) = t.time_to_detect_s.max {
        assert!(max <= bound, "{name}: detected after {max} s, bound {bound} s");
    }
    (scenario, report)
}

macro_rules! scenario_tests {
    ($($test:ident => $file:literal),* $(,)?) => {
        const LISTED: &[&str] = &[$($file),*];
        $(
            #[tokio::test]
            async fn $test() {
                judge($file).await;
            }
        )*
    };
}

scenario_tests! {
    full_day => "full-day.json",
    single_sample_noise => "single-sample-noise.json",
    retry_window => "retry-window.json",
    flapping => "flapping.json",
    partial_region => "partial-region.json",
    region_offline => "region-offline.json",
    redelivery => "redelivery.json",
    engine_restart => "engine-restart.json",
    maintenance => "maintenance.json",
    dependency => "dependency.json",
    storm => "storm.json",
    escalation => "escalation.json",
    slow => "slow.json",
    oscillating_latency => "oscillating-latency.json",
    random_noise => "random-noise.json",
    returning_region => "returning-region.json",
    dependency_race => "dependency-race.json",
    maintenance_end => "maintenance-end.json",
}

#[test]
fn every_shipped_scenario_is_tested() {
    let mut files: Vec<String> = std::fs::read_dir(scenarios_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".json"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = LISTED.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed, "add new scenarios to scenario_tests!");
}

#[tokio::test]
async fn noise_sends_nothing_and_flapping_sends_four_notices() {
    let (_, noise) = judge("single-sample-noise.json").await;
    assert!(noise.failed_checks > 0, "the scenario does produce failed samples");
    assert_eq!(noise.total.notifications, 0, "single failed samples page nobody");

    let (_, flapping) = judge("flapping.json").await;
    assert!(flapping.total.real_outages >= 10);
    assert_eq!(flapping.total.notifications, 4, "opened, resolved, flapping, resolved");

    let (_, partial) = judge("partial-region.json").await;
    assert_eq!((partial.total.real_outages, partial.total.notifications), (1, 2), "one region alone never pages");

    let (_, dep) = judge("dependency.json").await;
    let child = &dep.monitors.iter().find(|(n, _)| n == "app-behind-router").expect("child").1;
    assert_eq!(
        (child.real_outages, child.detected, child.notifications),
        (1, 1, 0),
        "the child is covered by the parent's page"
    );

    let (_, esc) = judge("escalation.json").await;
    let escalations: Vec<(&str, usize)> = esc.monitors.iter().map(|(n, v)| (n.as_str(), v.escalations)).collect();
    assert_eq!(
        escalations,
        [("checkout", 1), ("search", 0), ("cdn", 0)],
        "only the outage nobody acknowledged for 10 min escalates, once"
    );
    // The timer sweep escalates on time, not on the next check (30 s later at worst before).
    let delay = &esc.total.time_to_escalate_s;
    assert!(delay.min >= Some(600) && delay.max <= Some(601), "escalated 600 s after the page: {delay:?}");

    let (_, slow) = judge("slow.json").await;
    let notices: Vec<(&str, usize, usize)> =
        slow.monitors.iter().map(|(n, v)| (n.as_str(), v.notifications, v.degraded_notices)).collect();
    assert_eq!(
        notices,
        [("api", 2, 2), ("search", 0, 0), ("cdn", 0, 0)],
        "slow from a majority: degraded + degraded_ended, never a down alert; one slow region or under the threshold: nothing"
    );
    let (_, swing) = judge("oscillating-latency.json").await;
    let notices: Vec<(&str, usize)> = swing.monitors.iter().map(|(n, v)| (n.as_str(), v.degraded_notices)).collect();
    assert_eq!(
        notices,
        [("api", 4), ("search", 2), ("cdn", 0)],
        "twelve slow swings: degraded, degraded_ended, degraded_flapping, settled; one slow spell: two"
    );
    let (_, day) = judge("full-day.json").await;
    assert_eq!(day.total.degraded_notices, 2, "the full day's slow spell is noticed as degraded, not down");

    let (_, storm) = judge("storm.json").await;
    assert_eq!((storm.total.real_outages, storm.total.detected), (12, 12), "every outage of the storm is detected");
    assert!(storm.total.detected_in_storm >= 8, "most are detected by the grouped notice: {:?}", storm.total);
    assert!(
        (2..12).contains(&storm.storm_notices),
        "a storm notice per dispatcher pass that adds monitors, and one summary, not a page each: {}",
        storm.storm_notices
    );

    let (_, maint) = judge("maintenance.json").await;
    assert_eq!(maint.total.in_maintenance, 1, "the outage inside the window is recorded, not alerted");
    assert_eq!(maint.total.detected, 2, "the one outliving its window pages once the window ends");
}

#[tokio::test]
async fn the_four_trust_defects_stay_fixed() {
    let (_, noise) = judge("random-noise.json").await;
    assert!(noise.failed_checks > 1_000, "plenty of random failures in every region");
    let pages: Vec<&str> = noise.notices.iter().filter(|n| n.kind == "opened").map(|n| n.monitor.as_str()).collect();
    assert_eq!(pages, ["noisy-1"], "only the real outage pages, never noise adding up across rounds");

    let (_, back) = judge("returning-region.json").await;
    assert_eq!(back.total.notifications, 2, "the real outage only: {:?}", back.notices);

    let (_, race) = judge("dependency-race.json").await;
    for (name, v) in race.monitors.iter().filter(|(n, _)| n.starts_with("app-behind-")) {
        assert_eq!((v.detected, v.notifications), (1, 0), "{name} is covered by its parent's incident");
    }

    let (_, ends) = judge("maintenance-end.json").await;
    let notices: Vec<(&str, usize)> = ends.monitors.iter().map(|(n, v)| (n.as_str(), v.notifications)).collect();
    assert_eq!(
        notices,
        [("db", 2), ("cache", 2), ("queue", 2), ("search", 2), ("overlap", 0)],
        "back up inside the window: nothing at its end; inside overlapping windows: nothing"
    );
    assert_eq!(ends.total.in_maintenance, 5);
}

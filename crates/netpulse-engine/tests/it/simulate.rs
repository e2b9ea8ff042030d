//! Every shipped scenario under `scenarios/` is run through the real ingest, incident and
//! outbox code under a virtual clock, and must show 0 missed real outages, 0 false alerts,
//! 0 duplicates, 0 alerts in maintenance, and detection within the documented bound:
//! one interval (until the next scheduled check) + the re-check delay (half an interval,
//! at most 10 s) + the scenario's reordering delay + 2 s of ingest batching, + 10 s (the
//! storm update cadence) for a monitor detected through a storm notice.

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
        + (u64::from(scenario.interval_s) / 2).min(10)
        + scenario.faults.reorder_max_s
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

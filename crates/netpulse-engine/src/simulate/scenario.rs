//! The scenario format of `netpulse simulate`: monitors with timelines of target states per
//! region, region outages, maintenance windows and injected faults.
//!
//! ```json
//! {"name": "…", "interval_s": 30, "duration_s": 86400, "regions": ["eu","us","ap"], "seed": 7,
//!  "faults": {"redeliver_ratio": 0.05, "reorder_max_s": 20, "engine_restarts_s": [3600]},
//!  "monitors": [{"id": "api", "depends_on": null, "timeline": [
//!     {"at_s": 0, "state": "up"},
//!     {"at_s": 3600, "state": "down", "regions": ["eu","us","ap"]},
//!     {"at_s": 5000, "state": "flaky", "fail_ratio": 0.1},
//!     {"at_s": 9000, "state": "slow", "latency_ms": 4000},
//!     {"at_s": 20000, "region_offline": "ap", "until_s": 21000},
//!     {"at_s": 30000, "maintenance_until_s": 31000}]}]}
//! ```
//! A state without `regions` applies to all regions; a state with `regions` applies to those
//! and leaves the others up. Unknown fields are allowed. Extensions: `escalate_after_s` at
//! the top adds an escalation channel to the policy, and `{"at_s": …, "acknowledge": true}`
//! acknowledges the monitor's open incident then, as a person would; `storm` sets storm
//! control (`{"threshold": 5, "window_s": 60}`, the engine's default). A monitor with
//! `"copies": N` (and `"shift_s"`) stands for a fleet of N monitors built from it
//! (`scenarios/bench/fleet-week.json`: 1,000 monitors for a week).

use super::fleet;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct Scenario {
    #[serde(default)]
    pub name: String,
    pub interval_s: u32,
    pub duration_s: u64,
    pub regions: Vec<String>,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub faults: Faults,
    /// Consecutive failures that confirm an outage (the policy under test).
    #[serde(default = "two")]
    pub confirm_threshold: u32,
    #[serde(default = "two")]
    pub recovery_threshold: u32,
    /// Slower than this is degraded, never down.
    #[serde(default = "degraded_ms")]
    pub degraded_after_ms: u32,
    /// Escalate unacknowledged incidents to a second simulated channel after this long.
    #[serde(default)]
    pub escalate_after_s: Option<u32>,
    /// Storm control as the engine does it (`alerts.storm_threshold` / `storm_window_s`).
    #[serde(default)]
    pub storm: Option<netpulse_core::storm::StormPolicy>,
    pub monitors: Vec<SimMonitor>,
}

fn two() -> u32 {
    2
}
fn degraded_ms() -> u32 {
    2000
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Faults {
    #[serde(default)]
    pub redeliver_ratio: f64,
    #[serde(default)]
    pub reorder_max_s: u64,
    #[serde(default)]
    pub engine_restarts_s: Vec<u64>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SimMonitor {
    pub id: String,
    #[serde(default)]
    pub depends_on: Option<String>,
    pub timeline: Vec<Event>,
    /// Stand for this many monitors `{id}-1` … `{id}-N`, the k-th with its timeline
    /// `(k-1) × shift_s` later (a fleet from one template).
    #[serde(default)]
    pub copies: Option<u32>,
    #[serde(default)]
    pub shift_s: u64,
}

/// One timeline entry: a target state change, a region outage or a maintenance window.
#[derive(Clone, Debug, Deserialize)]
pub struct Event {
    pub at_s: u64,
    #[serde(default)]
    pub state: Option<TargetState>,
    #[serde(default)]
    pub regions: Option<Vec<String>>,
    #[serde(default)]
    pub fail_ratio: Option<f64>,
    #[serde(default)]
    pub latency_ms: Option<u32>,
    #[serde(default)]
    pub region_offline: Option<String>,
    #[serde(default)]
    pub until_s: Option<u64>,
    #[serde(default)]
    pub maintenance_until_s: Option<u64>,
    /// A person acknowledges the open incident (if any) at `at_s`.
    #[serde(default)]
    pub acknowledge: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    Up,
    Down,
    Flaky,
    Slow,
}

/// What the target looks like from one region at one time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Condition {
    Up,
    Down,
    Flaky(f64),
    Slow(u32),
}

impl Scenario {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut s: Scenario = serde_json::from_str(text).map_err(|e| format!("scenario is not valid: {e}"))?;
        s.monitors = fleet::expand(&s.monitors);
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<(), String> {
        if self.interval_s == 0 || self.duration_s == 0 || self.regions.is_empty() || self.monitors.is_empty() {
            return Err("interval_s, duration_s, regions and monitors must be non-empty/positive".into());
        }
        for m in &self.monitors {
            for e in &m.timeline {
                if e.state.is_none() && e.region_offline.is_none() && e.maintenance_until_s.is_none() && !e.acknowledge
                {
                    return Err(format!(
                        "monitor {}: event at {} s has no state, region_offline, maintenance_until_s or acknowledge",
                        m.id, e.at_s
                    ));
                }
                if let Some(r) = e.regions.iter().flatten().chain(&e.region_offline).find(|r| !self.regions.contains(r))
                {
                    return Err(format!("monitor {}: event at {} s names unknown region `{r}`", m.id, e.at_s));
                }
            }
            if let Some(p) = &m.depends_on {
                if !self.monitors.iter().any(|o| &o.id == p) {
                    return Err(format!("monitor {}: depends_on `{p}` is not a monitor of this scenario", m.id));
                }
            }
        }
        Ok(())
    }
}

impl SimMonitor {
    /// The target's condition from `region` at second `t` (the latest state event at or before `t`).
    pub fn condition(&self, region: &str, t: u64) -> Condition {
        let mut c = Condition::Up;
        for e in self.timeline.iter().filter(|e| e.at_s <= t) {
            let Some(state) = e.state else { continue };
            let applies = e.regions.as_ref().is_none_or(|rs| rs.iter().any(|r| r == region));
            c = match (state, applies) {
                (_, false) => Condition::Up,
                (TargetState::Up, true) => Condition::Up,
                (TargetState::Down, true) => Condition::Down,
                (TargetState::Flaky, true) => Condition::Flaky(e.fail_ratio.unwrap_or(0.1)),
                (TargetState::Slow, true) => Condition::Slow(e.latency_ms.unwrap_or(5000)),
            };
        }
        c
    }

    /// Whether `region` has a live checker at second `t`.
    pub fn region_online(&self, region: &str, t: u64) -> bool {
        !self
            .timeline
            .iter()
            .any(|e| e.region_offline.as_deref() == Some(region) && e.at_s <= t && e.until_s.is_none_or(|u| t < u))
    }

    /// Maintenance windows as `[start, end)` seconds.
    pub fn maintenance(&self) -> Vec<(u64, u64)> {
        self.timeline.iter().filter_map(|e| e.maintenance_until_s.map(|u| (e.at_s, u))).collect()
    }

    /// Seconds at which a person acknowledges the open incident.
    pub fn acknowledgements(&self) -> Vec<u64> {
        self.timeline.iter().filter(|e| e.acknowledge).map(|e| e.at_s).collect()
    }

    /// Region outages as `(region, start, end)`.
    pub fn offline_spans(&self, duration: u64) -> Vec<(String, u64, u64)> {
        let spans = self
            .timeline
            .iter()
            .filter_map(|e| e.region_offline.clone().map(|r| (r, e.at_s, e.until_s.unwrap_or(duration))));
        spans.collect()
    }
}

/// A monitor's timeline as constant stretches, for looking conditions up per check: from
/// each change point on, every region's condition and whether it has a live checker (the
/// answers of [`SimMonitor::condition`] and [`SimMonitor::region_online`] there).
pub struct Stretches {
    starts: Vec<u64>,
    /// Per stretch, per region: `None` offline, else the condition.
    regions: Vec<Vec<Option<Condition>>>,
}

impl Stretches {
    pub fn of(s: &Scenario, m: &SimMonitor) -> Self {
        let starts = super::truth::change_points(s, m);
        let at = |t: u64| s.regions.iter().map(|r| m.region_online(r, t).then(|| m.condition(r, t))).collect();
        let regions = starts.iter().map(|t| at(*t)).collect();
        Self { starts, regions }
    }

    /// What region `region` (its index) sees at second `t`: `None` when it is offline.
    pub fn at(&self, region: usize, t: u64) -> Option<Condition> {
        let i = self.starts.partition_point(|s| *s <= t).saturating_sub(1);
        self.regions[i][region]
    }
}

//! `netpulse simulate`: runs the engine's own decisions — scheduling (`next_due`, the
//! scheduler's re-check rounds), ingest's planning and the incident state machine
//! (`store::plan`, `core::incident::step`), the timer sweep, maintenance windows and storm
//! control — on simulated targets, regions and channel receivers, under a virtual clock
//! driven by a priority queue of due events, then judges the notifications against the
//! scenario's ground truth ([`truth`], [`judge`]). Monitor state lives in memory
//! ([`engine`]), not in a database: results are planned as they arrive and dropped, and only
//! the notices the channels received are kept for the judge. Faults: results redelivered,
//! delivered out of order, and engine restarts (every saved state read back).

pub mod engine;
pub mod fleet;
pub mod judge;
pub mod outbox;
pub mod report;
pub mod scenario;
pub mod setup;
pub mod truth;

use engine::SimEngine;
use netpulse_core::alert::{AlertEvent, AlertKind};
use netpulse_core::incident::Observation;
use netpulse_core::monitor::Interval;
use netpulse_core::rng::SplitMix64;
use netpulse_core::schedule::next_due;
use netpulse_core::{
    ChannelId, CheckResult, IncidentId, MonitorId, Outcome, Provenance, ResultId, TenantId, Timestamp, Timings,
};
use report::{Received, Report};
use scenario::{Condition, Scenario, Stretches};
use std::collections::BinaryHeap;

/// Scenario second 0, as wall time (fixed, so runs are reproducible).
const EPOCH_MS: i64 = 1_800_000_000_000;
/// Results reaching ingest within this much simulated time are stored in one batch.
const LINGER_MS: u64 = 1_000;

fn ts(ms: u64) -> Timestamp {
    Timestamp::from_millis(EPOCH_MS + ms as i64)
}
fn scenario_ms(t: Timestamp) -> u64 {
    (t.millis() - EPOCH_MS).max(0) as u64
}

#[derive(Clone, Debug)]
enum SimEvent {
    Restart,
    /// One of the monitor's maintenance windows starts or ends: the maintenance clock runs.
    Maintenance {
        monitor: usize,
    },
    Acknowledge {
        monitor: usize,
    },
    Region {
        monitor: usize,
        region: usize,
        online: bool,
    },
    /// A round of the monitor's checks, one per live region: on its grid, or a re-check.
    Round {
        monitor: usize,
        grid: bool,
    },
    /// A result late (or again) on its way to ingest.
    Deliver(Box<CheckResult>),
    /// Ingest's linger ran out: ingest what has arrived.
    Flush,
    /// The dispatcher's poll (a timer due, a storm in progress).
    Tick,
}

/// An event due at `at` (ms); `seq` keeps events of one time in the order they were queued.
struct Due {
    at: u64,
    seq: u64,
    event: SimEvent,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    /// Reversed: the heap pops the earliest first.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

struct Sim<'a> {
    s: &'a Scenario,
    engine: SimEngine,
    tenant: TenantId,
    ids: Vec<MonitorId>,
    workers: Vec<String>,
    /// Each monitor's timeline, looked up per check.
    stretches: Vec<Stretches>,
    queue: BinaryHeap<Due>,
    seq: u64,
    pending: Vec<CheckResult>,
    /// When the first result of the pending batch arrived.
    pending_since: Option<u64>,
    /// When the dispatcher's next poll is queued.
    tick_at: Option<u64>,
    rng: SplitMix64,
    received: Vec<Received>,
    storm_notices: usize,
    checks: u64,
    failed_checks: u64,
    redelivered: u64,
    restarts: usize,
}

/// Run a scenario and judge it.
pub async fn run(s: &Scenario) -> anyhow::Result<Report> {
    let built = setup::build(s, EPOCH_MS)?;
    let mut sim = Sim {
        s,
        engine: built.engine,
        tenant: built.tenant,
        ids: built.ids,
        workers: s.regions.iter().map(|r| format!("sim/{r}")).collect(),
        stretches: s.monitors.iter().map(|m| Stretches::of(s, m)).collect(),
        queue: BinaryHeap::new(),
        seq: 0,
        pending: Vec::new(),
        pending_since: None,
        tick_at: None,
        rng: SplitMix64::new(s.seed),
        received: Vec::new(),
        storm_notices: 0,
        checks: 0,
        failed_checks: 0,
        redelivered: 0,
        restarts: 0,
    };
    sim.queue_timeline();
    sim.run_events().await?;
    Ok(sim.judge())
}

impl Sim<'_> {
    fn push(&mut self, at: u64, event: SimEvent) {
        self.seq += 1;
        self.queue.push(Due { at, seq: self.seq, event });
    }

    fn interval(&self) -> Interval {
        Interval::from_trusted(self.s.interval_s)
    }

    /// Queue each monitor's first round and everything its timeline schedules.
    fn queue_timeline(&mut self) {
        for (i, m) in self.s.monitors.iter().enumerate() {
            let first = scenario_ms(next_due(&self.ids[i], self.interval(), ts(0)));
            self.push(first, SimEvent::Round { monitor: i, grid: true });
            for (a, b) in m.maintenance() {
                self.push(a * 1000, SimEvent::Maintenance { monitor: i });
                self.push(b * 1000, SimEvent::Maintenance { monitor: i });
            }
            for a in m.acknowledgements() {
                self.push(a * 1000, SimEvent::Acknowledge { monitor: i });
            }
            for (region, a, b) in m.offline_spans(self.s.duration_s) {
                let r = self.s.regions.iter().position(|x| *x == region).expect("validated");
                self.push(a * 1000, SimEvent::Region { monitor: i, region: r, online: false });
                self.push(b * 1000, SimEvent::Region { monitor: i, region: r, online: true });
            }
        }
        for r in self.s.faults.engine_restarts_s.clone() {
            self.push(r * 1000, SimEvent::Restart);
        }
    }

    async fn run_events(&mut self) -> anyhow::Result<()> {
        let end_ms = self.s.duration_s * 1000;
        while let Some(Due { at, event, .. }) = self.queue.pop() {
            if at > end_ms {
                break;
            }
            // Results arriving together form one batch; anything else happens after it.
            let joins = matches!(event, SimEvent::Deliver(_))
                || (matches!(event, SimEvent::Round { .. }) && self.pending_since == Some(at));
            if !joins {
                self.flush(at).await?;
            }
            match event {
                SimEvent::Round { monitor, grid } => self.round(at, monitor, grid),
                SimEvent::Deliver(result) => self.arrive(at, *result),
                SimEvent::Flush => {}
                SimEvent::Tick => {
                    if self.tick_at == Some(at) {
                        self.tick_at = None;
                        self.dispatch(at).await?;
                    }
                }
                SimEvent::Maintenance { monitor } => {
                    self.engine.advance_maintenance(monitor, ts(at));
                    self.dispatch(at).await?;
                }
                SimEvent::Acknowledge { monitor } => {
                    self.engine.acknowledge(monitor, ts(at));
                    self.dispatch(at).await?;
                }
                SimEvent::Region { monitor, region, online } => {
                    let region = self.s.regions[region].clone();
                    let obs = Observation::RegionAvailability { at: ts(at), region, online };
                    let (rechecks, _) = self.engine.observe(monitor, obs, ts(at));
                    self.queue_rechecks(rechecks);
                    self.dispatch(at).await?;
                }
                SimEvent::Restart => {
                    self.restarts += 1;
                    self.engine.restart()?;
                }
            }
        }
        self.flush(end_ms).await
    }

    /// A result reaches ingest: it joins the pending batch (which lingers a second).
    fn arrive(&mut self, at: u64, result: CheckResult) {
        self.pending.push(result);
        if self.pending_since.is_none() {
            self.pending_since = Some(at);
            self.push(at + LINGER_MS, SimEvent::Flush);
        }
    }

    /// Run one round of simulated checks and send each result toward ingest (late, or
    /// twice, as faults say).
    fn round(&mut self, at: u64, monitor: usize, grid: bool) {
        if grid {
            let next = scenario_ms(next_due(&self.ids[monitor], self.interval(), ts(at)));
            self.push(next, SimEvent::Round { monitor, grid: true });
        } else {
            self.engine.recheck_ran(monitor, ts(at));
        }
        for region in 0..self.s.regions.len() {
            if let Some(result) = self.check(at, monitor, region) {
                self.send(at, result);
            }
        }
    }

    /// One simulated check from one region; `None` when no checker is live there.
    fn check(&mut self, at: u64, monitor: usize, region: usize) -> Option<CheckResult> {
        let region_name = &self.s.regions[region];
        let (outcome, error) = match self.stretches[monitor].at(region, at / 1000)? {
            Condition::Up => (Outcome::Up, None),
            Condition::Down => (Outcome::Down, Some("connection refused".to_owned())),
            Condition::Flaky(p) if self.rng.chance(p) => (Outcome::Down, Some("timed out".to_owned())),
            Condition::Flaky(_) => (Outcome::Up, None),
            Condition::Slow(ms) if ms > self.s.degraded_after_ms => (Outcome::Degraded, Some(format!("slow: {ms} ms"))),
            Condition::Slow(_) => (Outcome::Up, None),
        };
        self.checks += 1;
        self.failed_checks += u64::from(outcome.is_failure());
        Some(CheckResult {
            id: ResultId::from_parts(EPOCH_MS + at as i64, u128::from(self.rng.next_u64())),
            tenant_id: self.tenant.clone(),
            monitor_id: self.ids[monitor].clone(),
            region: region_name.clone(),
            worker: self.workers[region].clone(),
            started_at: ts(at),
            finished_at: ts(at),
            outcome,
            timings: Timings::default(),
            status_code: None,
            error,
            cert_expires_at: None,
            cert_issuer: None,
            provenance: Provenance::Synthetic,
        })
    }

    /// Send a result toward ingest: now, late, or twice, as the scenario's faults say.
    fn send(&mut self, at: u64, result: CheckResult) {
        let faults = &self.s.faults;
        let delay = self.rng.below(faults.reorder_max_s * 1000 + 1);
        if self.rng.chance(faults.redeliver_ratio) {
            self.redelivered += 1;
            let later = self.rng.below((faults.reorder_max_s + u64::from(self.s.interval_s)) * 1000 + 1);
            self.push(at + later, SimEvent::Deliver(Box::new(result.clone())));
        }
        match delay {
            0 => self.arrive(at, result),
            _ => self.push(at + delay, SimEvent::Deliver(Box::new(result))),
        }
    }

    /// Ingest what arrived, queue the re-check rounds it asks for, deliver notices.
    async fn flush(&mut self, now: u64) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut batch = std::mem::take(&mut self.pending);
        self.pending_since = None;
        let (rechecks, notices) = self.engine.ingest(&mut batch, ts(now));
        self.queue_rechecks(rechecks);
        // Timers and storms in progress are the dispatcher's own polls; a batch that queued
        // no notice has nothing for it.
        if notices == 0 {
            return Ok(());
        }
        self.dispatch(now).await
    }

    fn queue_rechecks(&mut self, rechecks: Vec<engine::Recheck>) {
        for r in rechecks {
            self.push(scenario_ms(r.at), SimEvent::Round { monitor: r.monitor, grid: false });
        }
    }

    /// The dispatcher's pass: timers, storms, and the queued notices to the receivers; then
    /// its next poll, if a timer is armed or a storm runs (at most once a second).
    async fn dispatch(&mut self, now: u64) -> anyhow::Result<()> {
        let storm = self.s.storm.unwrap_or_default();
        let sent = self.engine.dispatch(ts(now), &storm).await?;
        for (channel, event) in &sent {
            self.receive(channel, event);
        }
        let Some(poll) = self.engine.next_poll(ts(now)) else { return Ok(()) };
        let poll = scenario_ms(poll).max(now + 1000);
        if self.tick_at.is_none_or(|t| poll < t) {
            self.tick_at = Some(poll);
            self.push(poll, SimEvent::Tick);
        }
        Ok(())
    }

    /// Record what a channel received. A storm notice counts, for each monitor it lists, as
    /// that monitor's `opened` (and its summary as `resolved` for those that recovered).
    fn receive(&mut self, channel: &ChannelId, e: &AlertEvent) {
        let at_s = scenario_ms(e.at) / 1000;
        let one = |monitor: &str, kind: &str, key: String, incident: Option<&IncidentId>, via_storm| Received {
            monitor: monitor.to_owned(),
            channel: channel.to_string(),
            kind: kind.to_owned(),
            dedup_key: key,
            incident: incident.map(ToString::to_string).unwrap_or_default(),
            at_s,
            via_storm,
        };
        let members = e.storm.iter().filter(|m| e.kind == AlertKind::Storm || m.recovered);
        let kind = if e.kind == AlertKind::Storm { "opened" } else { "resolved" };
        let from_storm: Vec<Received> = members
            .map(|m| one(&m.name, kind, format!("{}:{}", e.dedup_key, m.monitor), m.incident.as_ref(), true))
            .collect();
        if matches!(e.kind, AlertKind::Storm | AlertKind::StormOver) {
            self.storm_notices += 1;
            self.received.extend(from_storm);
        } else {
            self.received.push(one(
                &e.monitor_name,
                e.kind.as_str(),
                e.dedup_key.clone(),
                e.incident_id.as_ref(),
                false,
            ));
        }
    }
}

//! `netpulse simulate`: runs the real scheduling (`next_due`), ingest, incident state machine
//! and alert outbox — the SQLite store, `store::plan`, `core::incident::step`, outbox claims —
//! under a virtual clock, with simulated targets, regions and channel receivers, then judges
//! the notifications against the scenario's ground truth ([`truth`], [`judge`]). Results
//! travel in their delivery events and are dropped once stored; the dispatcher runs when a
//! batch queued notices, and once a second while timers or a storm are running. Faults:
//! results redelivered, delivered out of order, and engine restarts (the store is closed and
//! reopened from disk).

pub mod judge;
pub mod report;
pub mod scenario;
pub mod truth;

use netpulse_core::alert::{AlertEvent, AlertKind};
use netpulse_core::ids::fnv1a;
use netpulse_core::incident::{Observation, Policy, PolicyLayer};
use netpulse_core::monitor::{CheckSpec, Interval, MonitorDraft, TcpSpec};
use netpulse_core::rng::SplitMix64;
use netpulse_core::schedule::next_due;
use netpulse_core::{
    ChannelId, CheckResult, IncidentId, MonitorId, Outcome, Provenance, ResultId, TenantId, Timestamp, Timings,
};
use netpulse_store::clock;
use netpulse_store::prelude::*;
use netpulse_store::sqlite::SqliteStore;
use netpulse_store::Secret;
use netpulse_store::{
    AlertingDefaults, ChannelKind, ChannelRecord, Delivery, DeliveryResult, IncidentCommand, MaintenanceWindow,
    MonitorRecord,
};
use report::{Received, Report, Verdict};
use scenario::{Condition, Scenario};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;

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

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SimEvent {
    Restart,
    /// A maintenance window starts or ends: the engine's maintenance clock runs.
    MaintenanceClock,
    Acknowledge {
        monitor: usize,
    },
    Region {
        monitor: usize,
        region: usize,
        online: bool,
    },
    Check {
        monitor: usize,
        region: usize,
        grid: bool,
    },
    Deliver(InFlight),
    /// Ingest's linger ran out: store what has arrived.
    Flush,
    /// The dispatcher's poll, simulated once a second while a storm is in progress or a
    /// reminder/escalation timer is armed.
    Tick,
}

/// A result on its way to ingest, carried by its event (nothing keeps it once delivered).
/// Events are ordered by time and sequence number alone, so every `InFlight` compares equal.
#[derive(Clone, Debug)]
struct InFlight(Box<CheckResult>);

impl PartialEq for InFlight {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

struct Sim<'a> {
    s: &'a Scenario,
    path: PathBuf,
    store: SqliteStore,
    tenant: TenantId,
    /// The channel every monitor pages.
    primary: ChannelId,
    /// The escalation channel, when the scenario escalates.
    escalation: Option<ChannelId>,
    ids: Vec<MonitorId>,
    queue: BinaryHeap<Reverse<(u64, u64, SimEvent)>>,
    seq: u64,
    pending: Vec<CheckResult>,
    pending_since: Option<u64>,
    rng: SplitMix64,
    received: Vec<Received>,
    storm_notices: usize,
    /// A `Tick` is queued.
    ticking: bool,
    checks: u64,
    failed_checks: u64,
    redelivered: u64,
    restarts: usize,
}

/// Run a scenario and judge it.
pub async fn run(s: &Scenario) -> anyhow::Result<Report> {
    let path =
        std::env::temp_dir().join(format!("netpulse-sim-{}-{:x}.db", std::process::id(), clock::random_u128() as u64));
    let result = simulate(s, path.clone()).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    result
}

async fn simulate(s: &Scenario, path: PathBuf) -> anyhow::Result<Report> {
    let store = SqliteStore::open(&path)?;
    let (tenant, _) = store.bootstrap(&clock::token_hash("simulation"), ts(0)).await?;
    let mut primary = sim_channel(&tenant, 1, "simulated receiver");
    primary.settings = serde_json::json!({ "notify_degraded": true });
    store.create_channel(&tenant, &primary).await?;
    let escalation = match s.escalate_after_s {
        Some(_) => {
            let ch = sim_channel(&tenant, 2, "simulated on-call receiver");
            store.create_channel(&tenant, &ch).await?;
            Some(ch.id)
        }
        None => None,
    };
    let mut sim = Sim {
        s,
        path,
        store,
        tenant,
        primary: primary.id,
        escalation,
        ids: Vec::new(),
        queue: BinaryHeap::new(),
        seq: 0,
        pending: Vec::new(),
        pending_since: None,
        rng: SplitMix64::new(s.seed),
        received: Vec::new(),
        storm_notices: 0,
        ticking: false,
        checks: 0,
        failed_checks: 0,
        redelivered: 0,
        restarts: 0,
    };
    sim.setup().await?;
    sim.run_events().await?;
    Ok(sim.judge())
}

impl Sim<'_> {
    fn push(&mut self, at_ms: u64, e: SimEvent) {
        self.seq += 1;
        self.queue.push(Reverse((at_ms, self.seq, e)));
    }

    fn interval(&self) -> Interval {
        Interval::from_trusted(self.s.interval_s)
    }

    async fn setup(&mut self) -> anyhow::Result<()> {
        // The scenario's policy is the simulated organisation's defaults; its monitors set no
        // policy field of their own, so they run with what they inherit (`Policy::resolve`).
        let policy = Policy {
            confirm_threshold: self.s.confirm_threshold,
            recovery_threshold: self.s.recovery_threshold,
            escalate_after_s: self.s.escalate_after_s,
            escalate_to: self.escalation.iter().cloned().collect(),
            ..Policy::default()
        };
        let defaults = AlertingDefaults { policy: PolicyLayer::all_of(&policy), ..AlertingDefaults::default() };
        self.store.set_alerting_defaults(&self.tenant, &defaults, ts(0)).await?;
        for (i, m) in self.s.monitors.iter().enumerate() {
            let id = sim_monitor_id(&m.id);
            let draft = MonitorDraft {
                name: m.id.clone(),
                spec: CheckSpec::Tcp(TcpSpec { host: format!("{}.sim.invalid", m.id), port: 443 }),
                interval: self.interval(),
                timeout_ms: 1000,
                retries: 0,
                regions: self.s.regions.clone(),
                tags: vec![],
                paused: false,
                policy: PolicyLayer::default(),
                channels: Some(vec![self.primary.clone()]),
                depends_on: m.depends_on.as_ref().map(|p| sim_monitor_id(p)),
            };
            let rec = MonitorRecord {
                id: id.clone(),
                tenant_id: self.tenant.clone(),
                draft,
                heartbeat_token: None,
                created_at: ts(0),
                updated_at: ts(0),
            };
            self.store.create_monitor(&self.tenant, &rec).await?;
            let first = scenario_ms(next_due(&id, self.interval(), ts(0)));
            self.ids.push(id.clone());
            for r in 0..self.s.regions.len() {
                self.push(first, SimEvent::Check { monitor: i, region: r, grid: true });
            }
            for (n, (a, b)) in m.maintenance().into_iter().enumerate() {
                let w = MaintenanceWindow {
                    id: format!("mw_{i}_{n}"),
                    monitor_id: id.clone(),
                    starts_at: ts(a * 1000),
                    ends_at: ts(b * 1000),
                    repeat_every_s: None,
                    reason: "simulated".into(),
                    phase: "scheduled".into(),
                    announce: false,
                };
                self.store.create_maintenance(&self.tenant, &w).await?;
                self.push(a * 1000, SimEvent::MaintenanceClock);
                self.push(b * 1000, SimEvent::MaintenanceClock);
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
        Ok(())
    }

    async fn run_events(&mut self) -> anyhow::Result<()> {
        let end_ms = self.s.duration_s * 1000;
        while let Some(Reverse((at, _, event))) = self.queue.pop() {
            if at > end_ms {
                break;
            }
            if !matches!(event, SimEvent::Deliver(_)) {
                self.flush(at).await?;
            }
            match event {
                SimEvent::Check { monitor, region, grid } => self.check(at, monitor, region, grid),
                SimEvent::Deliver(key) => {
                    self.pending.push(*key.0);
                    if self.pending_since.is_none() {
                        self.pending_since = Some(at);
                        self.push(at + LINGER_MS, SimEvent::Flush);
                    }
                }
                SimEvent::Flush => {}
                SimEvent::Tick => {
                    self.ticking = false;
                    self.dispatch(at).await?;
                }
                SimEvent::MaintenanceClock => {
                    // The engine's own window code: overlapping windows keep maintenance on.
                    self.store.advance_maintenance(ts(at)).await?;
                    self.dispatch(at).await?;
                }
                SimEvent::Acknowledge { monitor } => self.acknowledge(at, monitor).await?,
                SimEvent::Region { monitor, region, online } => {
                    let region = self.s.regions[region].clone();
                    self.observe(at, monitor, Observation::RegionAvailability { at: ts(at), region, online }).await?;
                }
                SimEvent::Restart => {
                    self.restarts += 1;
                    self.store = SqliteStore::open(&self.path)?; // the old one is dropped: a cold start
                }
            }
        }
        self.flush(end_ms).await
    }

    /// Run one simulated check and send its result toward ingest (late, or twice, as faults say).
    fn check(&mut self, at: u64, monitor: usize, region: usize, grid: bool) {
        let m = &self.s.monitors[monitor];
        let region_name = &self.s.regions[region];
        if grid {
            let next = scenario_ms(next_due(&self.ids[monitor], self.interval(), ts(at)));
            self.push(next, SimEvent::Check { monitor, region, grid: true });
        }
        if !m.region_online(region_name, at / 1000) {
            return; // no live checker in that region
        }
        let (outcome, error) = match m.condition(region_name, at / 1000) {
            Condition::Up => (Outcome::Up, None),
            Condition::Down => (Outcome::Down, Some("connection refused".to_owned())),
            Condition::Flaky(p) if self.rng.chance(p) => (Outcome::Down, Some("timed out".to_owned())),
            Condition::Flaky(_) => (Outcome::Up, None),
            Condition::Slow(ms) if ms > self.s.degraded_after_ms => (Outcome::Degraded, Some(format!("slow: {ms} ms"))),
            Condition::Slow(_) => (Outcome::Up, None),
        };
        self.checks += 1;
        self.failed_checks += u64::from(outcome.is_failure());
        let result = CheckResult {
            id: ResultId::from_parts(EPOCH_MS + at as i64, u128::from(self.rng.next_u64())),
            tenant_id: self.tenant.clone(),
            monitor_id: self.ids[monitor].clone(),
            region: region_name.clone(),
            worker: format!("sim/{region_name}"),
            started_at: ts(at),
            finished_at: ts(at),
            outcome,
            timings: Timings::default(),
            status_code: None,
            error,
            cert_expires_at: None,
            cert_issuer: None,
            provenance: Provenance::Synthetic,
        };
        let faults = &self.s.faults;
        let delay = self.rng.below(faults.reorder_max_s * 1000 + 1);
        if self.rng.chance(faults.redeliver_ratio) {
            self.redelivered += 1;
            let later = self.rng.below((faults.reorder_max_s + u64::from(self.s.interval_s)) * 1000 + 1);
            self.push(at + later, SimEvent::Deliver(InFlight(Box::new(result.clone()))));
        }
        self.push(at + delay, SimEvent::Deliver(InFlight(Box::new(result))));
    }

    /// Store what reached ingest, schedule the re-checks it asks for, deliver notices.
    async fn flush(&mut self, now: u64) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        self.pending_since = None;
        let report = self.store.ingest(&batch, ts(now)).await?;
        let delay = (u64::from(self.s.interval_s) * 1000 / 2).min(10_000);
        for r in report.rechecks {
            let Some(i) = self.ids.iter().position(|x| *x == r.monitor) else { continue };
            let at = if r.at_once { now } else { now + delay };
            for region in 0..self.s.regions.len() {
                self.push(at, SimEvent::Check { monitor: i, region, grid: false });
            }
        }
        // Timers and storms in progress are swept by `Tick`; a batch that queued no notice
        // has nothing for the dispatcher.
        if report.notices == 0 {
            return Ok(());
        }
        self.dispatch(now).await
    }

    async fn observe(&mut self, at: u64, monitor: usize, obs: Observation) -> anyhow::Result<()> {
        self.store.observe(&self.tenant, &self.ids[monitor], obs, ts(at)).await?;
        self.dispatch(at).await
    }

    /// A person acknowledges the monitor's open incident, if there is one.
    async fn acknowledge(&mut self, at: u64, monitor: usize) -> anyhow::Result<()> {
        let state = self.store.monitor_state(&self.tenant, &self.ids[monitor]).await?;
        let Some(open) = state.and_then(|s| s.open).filter(|o| !o.acknowledged) else { return Ok(()) };
        let by = IncidentCommand::Acknowledge { by: "simulated on-call".into() };
        self.store.incident_command(&self.tenant, &open.id, by, ts(at)).await?;
        self.dispatch(at).await
    }

    /// The dispatcher's job: end quiet storms, claim due notices, screen them for storms
    /// (the engine's own `alerts::storm`), and "send" the rest to the simulated receiver.
    async fn dispatch(&mut self, now: u64) -> anyhow::Result<()> {
        let storm = self.s.storm.unwrap_or_default();
        netpulse_store::timers::sweep(&self.store, ts(now)).await?;
        netpulse_pipeline::alerts::storm::settle(&self.store, ts(now), &storm).await?;
        loop {
            let items = self.store.claim_outbox(ts(now), 64, 60_000).await?;
            if items.is_empty() {
                break;
            }
            for item in netpulse_pipeline::alerts::storm::screen(&self.store, items, ts(now), &storm).await? {
                self.receive(&item.channel.id, &item.event);
                let sent = Delivery { at: ts(now), status: Some(204), result: DeliveryResult::Sent };
                self.store.record_delivery(&item, sent).await?;
            }
        }
        let timers = !self.store.due_timers(Timestamp::from_millis(i64::MAX), 1).await?.is_empty();
        if !self.ticking && (timers || !self.store.active_storms().await?.is_empty()) {
            self.ticking = true;
            self.push(now + 1000, SimEvent::Tick);
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

    fn judge(&self) -> Report {
        let mut total = Verdict::default();
        let mut monitors = Vec::new();
        let mut details = Vec::new();
        let of = |id: &str| -> Vec<&Received> { self.received.iter().filter(|r| r.monitor == id).collect() };
        for m in &self.s.monitors {
            let notices = of(&m.id);
            // A child's outage during its parent's incident is detected there (PRODUCT.md).
            let parent = m.depends_on.as_ref().and_then(|p| self.s.monitors.iter().find(|x| &x.id == p));
            let parent_notices = parent.map(|p| of(&p.id)).unwrap_or_default();
            let (mut v, d) = judge::judge_monitor(self.s, m, &notices, parent.map(|p| (p, parent_notices.as_slice())));
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

/// A simulated webhook channel (`n` makes its id).
fn sim_channel(tenant: &TenantId, n: u128, name: &str) -> ChannelRecord {
    ChannelRecord {
        id: ChannelId::from_parts(EPOCH_MS, n),
        tenant_id: tenant.clone(),
        name: name.into(),
        kind: ChannelKind::Webhook,
        url: "http://receiver.invalid/".into(),
        secret: Secret::new("simulation-secret"),
        settings: serde_json::json!({}),
        enabled: true,
        created_at: ts(0),
    }
}

/// A scenario monitor's id: derived from its name, so dependencies can name it up front.
fn sim_monitor_id(name: &str) -> MonitorId {
    MonitorId::from_parts(EPOCH_MS, u128::from(fnv1a(name.as_bytes())))
}

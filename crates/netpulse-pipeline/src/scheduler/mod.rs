//! The scheduler: dispatches each active monitor's checks at its `next_due` times.
//!
//! Thin loop around [`Scheduler::try_run_once`]: reload monitors when told (debounced, so a
//! burst of API changes costs one reload) or every 30 s (5 s with several nodes) — after the
//! first load, read beside the loop and swapped in, so a large set never holds dispatch up
//! —, send due probe checks to the checker queue, run the synchronized re-check rounds that
//! ingest asks for (half an interval after a round with a failure, at most 10 s; a parent
//! whose child holds its page at once), and evaluate heartbeat monitors itself (a missing
//! beat past interval + grace becomes a `down` result on the result queue). It wakes at most
//! every 20 ms, dispatching everything due by then: dispatch lag stays well under 50 ms while
//! a busy engine does not wake for every single check; with nothing due it sleeps until the
//! next due time or reload, or until told of a change or a re-check.
//!
//! With several nodes, a node dispatches regular checks either only while it holds the one
//! `scheduler` lease (a shared store, in-process queue) or, with Redis, for the monitors of
//! the partitions it owns for the role `schedule` ([`crate::queue::owners`]): every node
//! schedules its share, and a node's share moves when it joins, leaves or dies.

use crate::metrics::Metrics;
use crate::progress::Progress;
use crate::queue::ResultQueue;
use crate::region_router::{RegionRouter, RouteError};
use netpulse_core::incident::rounds::same_round;
use netpulse_core::monitor::CheckSpec;
use netpulse_core::schedule::{next_due, recheck_due};
use netpulse_core::wire::{CheckJob, ResultEnvelope};
use netpulse_core::{CheckResult, MonitorId, Outcome, Provenance, Timestamp, Timings};
use netpulse_store::clock;
use netpulse_store::plan::Recheck;
use netpulse_store::{MonitorRecord, Store};
use serde::Deserialize;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};
use tracing::Instrument;

const RELOAD_EVERY_MS: i64 = 30_000;
/// With several nodes, API changes made on another node are only seen by reloading.
const SHARED_RELOAD_EVERY_MS: i64 = 5_000;
/// The longest sleep of a scheduler with a share of the partitions.
const SHARD_REFRESH_MS: i64 = 1_000;
const RELOAD_DEBOUNCE_MS: i64 = 250;
const TICK_MS: i64 = 20;

/// Limits and defaults of monitors (`[monitors]`), and the region the in-process checker
/// stands for.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorsConfig {
    pub min_interval_s: u32,
    pub default_interval_s: u32,
    pub default_timeout_ms: u32,
    pub local_region: String,
    /// Most monitors one organisation may have; `0` sets no limit.
    pub max_per_tenant: u32,
}

impl MonitorsConfig {
    /// The first key that is wrong, with what to write instead.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.min_interval_s == 0 {
            return Err(("monitors.min_interval_s", "must be at least 1 second".into()));
        }
        if self.default_interval_s < self.min_interval_s {
            return Err((
                "monitors.default_interval_s",
                format!("must be at least monitors.min_interval_s ({})", self.min_interval_s),
            ));
        }
        if !(100..=120_000).contains(&self.default_timeout_ms) {
            return Err(("monitors.default_timeout_ms", "must be between 100 and 120000".into()));
        }
        Ok(())
    }
}

struct Entry {
    record: MonitorRecord,
    next: Timestamp,
}

/// Scheduling state for all active monitors.
pub struct Scheduler {
    store: Arc<dyn Store>,
    jobs: RegionRouter,
    results: Arc<dyn ResultQueue>,
    metrics: Arc<Metrics>,
    local_region: String,
    entries: HashMap<MonitorId, Entry>,
    heap: BinaryHeap<Reverse<(Timestamp, MonitorId)>>,
    rechecks: BinaryHeap<Reverse<(Timestamp, MonitorId)>>,
    recheck_rx: mpsc::Receiver<Recheck>,
    changed: Arc<Notify>,
    last_reload: Option<Timestamp>,
    reload_at: Option<Timestamp>,
    /// A reload in progress: after the first, the store is read beside the loop, so
    /// dispatching never waits for a large monitor set to load.
    loading: Option<tokio::task::JoinHandle<netpulse_store::StoreResult<Vec<netpulse_store::ScheduledMonitor>>>>,
    /// With several engine nodes: regular checks only while holding the `scheduler` lease,
    lease: Option<crate::lease::Lease>,
    /// or only for the monitors of the partitions this node owns.
    shard: Option<crate::queue::owners::Owners>,
}

impl Scheduler {
    pub fn new(
        store: Arc<dyn Store>,
        jobs: RegionRouter,
        results: Arc<dyn ResultQueue>,
        metrics: Arc<Metrics>,
        local_region: String,
        changed: Arc<Notify>,
        recheck_rx: mpsc::Receiver<Recheck>,
    ) -> Self {
        Self {
            store,
            jobs,
            results,
            metrics,
            local_region,
            entries: HashMap::new(),
            heap: BinaryHeap::new(),
            rechecks: BinaryHeap::new(),
            recheck_rx,
            changed,
            last_reload: None,
            reload_at: None,
            loading: None,
            lease: None,
            shard: None,
        }
    }

    /// Dispatch regular checks and heartbeat evaluations only for the monitors of the
    /// partitions this node owns in `shard` (renewed at each pass, given up at the end).
    pub fn with_shard(mut self, shard: crate::queue::owners::Owners) -> Self {
        self.shard = Some(shard);
        self
    }

    /// Whether this node dispatches `id`'s regular checks now: its partition is `owned`, or
    /// (without shards) this node holds the lease.
    fn mine(&self, id: &MonitorId, owned: Option<&[usize]>, leader: bool) -> bool {
        match (owned, &self.shard) {
            (Some(owned), Some(shard)) => owned.contains(&crate::queue::owners::partition_of(id, shard.partitions())),
            _ => leader,
        }
    }

    /// Dispatch regular checks and heartbeat evaluations only while holding `lease`. Without
    /// it, the due times still advance (so a takeover does not burst) and confirmation
    /// re-checks that this node's ingest asked for still run: each is asked for once.
    pub fn with_lease(mut self, lease: crate::lease::Lease) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Reload the monitor set, keeping each unchanged monitor's next due time.
    pub async fn reload(&mut self, now: Timestamp) -> Result<(), netpulse_store::StoreError> {
        let monitors = self.store.schedulable_monitors().await?;
        self.apply(monitors, now);
        self.last_reload = Some(now);
        self.reload_at = None;
        Ok(())
    }

    /// Reload when due: the first load waits (nothing can be dispatched before it); later
    /// ones start a read beside the loop, applied at the first pass after it finished. A
    /// change told while a read runs is picked up by the next one. False when no monitor set
    /// could be loaded yet.
    async fn refresh(&mut self, now: Timestamp, due: bool) -> bool {
        if self.last_reload.is_none() {
            return match self.reload(now).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler could not load monitors; will retry");
                    false
                }
            };
        }
        if self.loading.as_ref().is_some_and(tokio::task::JoinHandle::is_finished) {
            match self.loading.take().expect("finished").await {
                Ok(Ok(monitors)) => self.apply(monitors, now),
                Ok(Err(e)) => tracing::warn!(error = %e, "scheduler could not reload monitors; will retry"),
                Err(e) => tracing::warn!(error = %e, "scheduler reload task failed; will retry"),
            }
        }
        if due && self.loading.is_none() {
            let store = self.store.clone();
            self.loading = Some(tokio::spawn(async move { store.schedulable_monitors().await }));
            // The read sees every change told before now; one told from here on asks again.
            self.last_reload = Some(now);
            self.reload_at = None;
        }
        true
    }

    /// Take `monitors` as the monitor set, keeping each unchanged monitor's next due time.
    fn apply(&mut self, monitors: Vec<netpulse_store::ScheduledMonitor>, now: Timestamp) {
        let mut entries = HashMap::with_capacity(monitors.len());
        self.heap.clear();
        // The demo organisation's results are seeded, never checked.
        for m in monitors.into_iter().filter(|m| !netpulse_store::demo::is_demo(&m.tenant_id)) {
            let rec = m.record;
            let keep = self.entries.remove(&rec.id).filter(|e| e.record.draft.interval == rec.draft.interval);
            let next = keep.map_or_else(|| next_due(&rec.id, rec.draft.interval, now), |e| e.next);
            self.heap.push(Reverse((next, rec.id.clone())));
            entries.insert(rec.id.clone(), Entry { record: rec, next });
        }
        self.entries = entries;
        self.metrics.monitors_scheduled.set(self.entries.len() as u64);
    }

    /// Dispatch everything due at `now`.
    pub async fn try_run_once(&mut self, now: Timestamp) -> Progress {
        let every = if self.lease.is_some() || self.shard.is_some() { SHARED_RELOAD_EVERY_MS } else { RELOAD_EVERY_MS };
        let stale = self.last_reload.is_none_or(|t| now.since(t) >= every);
        if !self.refresh(now, stale || self.reload_at.is_some_and(|t| now >= t)).await {
            return Progress::Idle;
        }
        let mut progress = Progress::Idle;
        while let Ok(r) = self.recheck_rx.try_recv() {
            self.ask_recheck(r, now);
        }
        while self.rechecks.peek().is_some_and(|Reverse((due, _))| *due <= now) {
            let Some(Reverse((due, id))) = self.rechecks.pop() else { break };
            if let Some(record) = self.entries.get(&id).map(|e| e.record.clone()) {
                tracing::debug!(monitor = %id, "confirmation re-check");
                self.dispatch(&record, due, now).await;
                progress = Progress::Progressed;
            }
        }
        let leader = match &self.lease {
            Some(lease) => lease.hold(now).await,
            None => true,
        };
        let owned = match &self.shard {
            Some(shard) => Some(shard.refresh(|_| false).await),
            None => None,
        };
        while self.heap.peek().is_some_and(|Reverse((due, _))| *due <= now) {
            let Some(Reverse((due, id))) = self.heap.pop() else { break };
            let mine = self.mine(&id, owned.as_deref(), leader);
            let Some(entry) = self.entries.get_mut(&id) else { continue };
            if entry.next != due {
                continue; // stale heap item
            }
            // No drift: the next check sits on the grid after this one; if we fell far
            // behind (engine suspended), skip missed slots instead of bursting.
            let mut next = next_due(&id, entry.record.draft.interval, due);
            if next <= now {
                next = next_due(&id, entry.record.draft.interval, now);
            }
            entry.next = next;
            self.heap.push(Reverse((next, id.clone())));
            if !mine {
                continue; // another node schedules it
            }
            self.metrics.dispatch_lag_ms.observe_ms(now.since(due) as f64);
            if let Some(entry) = self.entries.get(&id) {
                self.dispatch(&entry.record, due, now).await;
            }
            progress = Progress::Progressed;
        }
        let dropped = self.jobs.flush().await;
        self.metrics.checks_skipped.add(dropped as u64);
        progress
    }

    /// Queue a confirmation re-check of `m`, asked for at `now` (ingest saw a first failure).
    /// Queue a re-check round: half an interval from now (at most 10 s), or at once for a
    /// parent. A monitor asked for twice in one round (its own round and as a parent) is
    /// checked once.
    fn ask_recheck(&mut self, Recheck { monitor: m, at_once }: Recheck, now: Timestamp) {
        if let Some(e) = self.entries.get(&m) {
            let due = recheck_due(e.record.draft.interval, at_once, now);
            let pending = self.rechecks.iter().any(|Reverse((t, id))| *id == m && same_round(*t, due));
            if !pending {
                self.rechecks.push(Reverse((due, m)));
            }
        }
    }

    async fn dispatch(&self, rec: &MonitorRecord, due: Timestamp, now: Timestamp) {
        if let CheckSpec::Heartbeat(hb) = &rec.draft.spec {
            let span = tracing::debug_span!("heartbeat", monitor = %rec.id, tenant = %rec.tenant_id);
            self.evaluate_heartbeat(rec, hb.grace_s, now).instrument(span).await;
            return;
        }
        for region in &rec.draft.regions {
            let job = CheckJob {
                tenant_id: rec.tenant_id.clone(),
                monitor_id: rec.id.clone(),
                region: region.clone(),
                spec: rec.draft.spec.clone(),
                timeout_ms: rec.draft.timeout_ms,
                retries: rec.draft.retries,
                due_at: due,
                lease: None,
            };
            // Past the monitor's next due time a job is not worth running any more.
            match self.jobs.route(job, due.plus_ms(rec.draft.interval.millis())) {
                Ok(()) => {}
                Err(RouteError::NoRoute(r)) => {
                    tracing::debug!(monitor = %rec.id, region = %r, "no checker serves region")
                }
                Err(RouteError::Full(r)) => {
                    self.metrics.checks_skipped.add(1);
                    tracing::warn!(monitor = %rec.id, region = %r, "checkers of region saturated; check skipped");
                }
            }
        }
    }

    /// A heartbeat monitor is down when no beat arrived within interval + grace.
    async fn evaluate_heartbeat(&self, rec: &MonitorRecord, grace_s: u32, now: Timestamp) {
        let last = match self.store.get_monitor(&rec.tenant_id, &rec.id).await {
            Ok(Some(v)) => v.status.last_success_at,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, monitor = %rec.id, "cannot read heartbeat state");
                return;
            }
        };
        let baseline = last.map_or(rec.updated_at, |l| l.max(rec.updated_at));
        let allowed = rec.draft.interval.millis() + i64::from(grace_s) * 1000;
        if now.since(baseline) <= allowed {
            return;
        }
        let error = match last {
            Some(l) => {
                format!("no heartbeat since {l} (expected every {} s + {grace_s} s grace)", rec.draft.interval.secs())
            }
            None => format!(
                "no heartbeat received yet (expected every {} s + {grace_s} s grace)",
                rec.draft.interval.secs()
            ),
        };
        let result = heartbeat_result(rec, &self.local_region, now, Outcome::Down, Some(error));
        let env = ResultEnvelope::new(result, clock::now());
        if let Err(e) = crate::queue::publish_retrying(self.results.as_ref(), env, Duration::from_secs(2)).await {
            tracing::warn!(monitor = %rec.id, error = %e, "heartbeat evaluation not queued; the next one retries");
        }
    }

    /// When to wake next: the earliest due check, re-check or reload, no sooner than one tick.
    /// Reload hints and re-check requests wake the loop themselves ([`Scheduler::run`]), so an
    /// engine with nothing due sleeps until its next periodic reload.
    pub fn next_wake(&self, now: Timestamp) -> Duration {
        let every = match (&self.shard, &self.lease) {
            // Its share's owner keys are renewed at each pass, and a node joining or dying
            // is noticed at a pass: about every second (see `queue::owners`).
            (Some(_), _) => SHARD_REFRESH_MS,
            // The lease is renewed, or tried for, at a pass: every `lease::RENEW_MS`.
            (None, Some(_)) => crate::lease::RENEW_MS,
            (None, None) => RELOAD_EVERY_MS,
        };
        // Not loaded yet (the store was unavailable): try again in a second.
        let reload = self.last_reload.map_or(now.plus_ms(1000), |t| t.plus_ms(every));
        let due = [self.heap.peek(), self.rechecks.peek()].into_iter().flatten().map(|Reverse((t, _))| *t);
        let next = due.chain([reload]).chain(self.reload_at).min().unwrap_or(now);
        // A reload being read: look for it at the next tick.
        let next = if self.loading.is_some() { now } else { next };
        Duration::from_millis(next.since(now).clamp(TICK_MS, every) as u64)
    }

    /// Run until `stop` turns true.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let changed = self.changed.clone();
        loop {
            if *stop.borrow() {
                break;
            }
            self.try_run_once(clock::now()).await;
            let wait = self.next_wake(clock::now());
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = changed.notified() => {
                    self.reload_at.get_or_insert(clock::now().plus_ms(RELOAD_DEBOUNCE_MS));
                }
                Some(m) = self.recheck_rx.recv() => self.ask_recheck(m, clock::now()),
                _ = stop.changed() => {}
            }
        }
        if let Some(lease) = &self.lease {
            lease.release().await;
        }
        if let Some(shard) = &self.shard {
            shard.leave().await;
        }
    }
}

/// A result produced by the engine itself for a push monitor.
pub fn heartbeat_result(
    rec: &MonitorRecord,
    region: &str,
    at: Timestamp,
    outcome: Outcome,
    error: Option<String>,
) -> CheckResult {
    CheckResult {
        id: clock::fresh(),
        tenant_id: rec.tenant_id.clone(),
        monitor_id: rec.id.clone(),
        region: region.to_owned(),
        worker: "engine/heartbeat".into(),
        started_at: at,
        finished_at: at,
        outcome,
        timings: Timings::default(),
        status_code: None,
        error,
        cert_expires_at: None,
        cert_issuer: None,
        provenance: Provenance::Live,
    }
}

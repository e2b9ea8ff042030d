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
//! `scheduler` lease (a shared store, in-process queue; every node holds every monitor, so a
//! takeover neither bursts nor skips) or, with Redis, for the monitors of the partitions it
//! owns for the role `schedule` ([`crate::queue::owners`]): every node schedules its share,
//! and a node's share moves when it joins, leaves or dies. Such a node holds only its share
//! ([`share`]): a partition taken is read whole and its monitors scheduled from the time it
//! was taken (`next_due` is a pure function of the monitor and the time, the same grid on
//! every node, so a moved partition neither bursts nor skips); a partition lost is dropped;
//! a reload reads only ids and versions, then the monitors that changed. A confirmation
//! re-check stays with the node whose ingest asked for it: a monitor outside its share is
//! read for it alone.

mod share;

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
use std::collections::{BTreeSet, BinaryHeap, HashMap};
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
    /// Its store partition ([`netpulse_store::partition_of`]).
    part: u32,
}

/// Scheduling state for the active monitors of the partitions this node schedules.
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
    /// The store partitions this node schedules: all, or its share of the owned ones.
    wanted: BTreeSet<u32>,
    /// The store partitions whose monitors are in `entries`.
    held: BTreeSet<u32>,
    /// Monitors outside `held` with a confirmation re-check queued here.
    extra: HashMap<MonitorId, MonitorRecord>,
    /// Re-checks asked for monitors not held, to be read; and those being read.
    waiting: Vec<Recheck>,
    asking: Vec<Recheck>,
    /// A read in progress: after the first, the store is read beside the loop, so
    /// dispatching never waits for a large monitor set to load.
    loading: Option<tokio::task::JoinHandle<netpulse_store::StoreResult<share::Delta>>>,
    /// After a failed read, reads not due wait until then.
    read_after: Option<Timestamp>,
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
            wanted: (0..netpulse_store::monitors::PARTITIONS).collect(),
            held: BTreeSet::new(),
            extra: HashMap::new(),
            waiting: Vec::new(),
            asking: Vec::new(),
            loading: None,
            read_after: None,
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

    /// Dispatch regular checks and heartbeat evaluations only while holding `lease`. Without
    /// it, the due times still advance (so a takeover does not burst) and confirmation
    /// re-checks that this node's ingest asked for still run: each is asked for once.
    pub fn with_lease(mut self, lease: crate::lease::Lease) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Read what changed in the partitions held, and the partitions wanted but not held,
    /// waiting for it; each unchanged monitor keeps its next due time.
    pub async fn reload(&mut self, now: Timestamp) -> Result<(), netpulse_store::StoreError> {
        let read = self.read(now, true);
        match read.run(self.store.as_ref()).await {
            Ok(delta) => {
                self.apply(delta, now);
                self.last_reload = Some(now);
                self.reload_at = None;
                Ok(())
            }
            Err(e) => {
                self.waiting.append(&mut self.asking);
                Err(e)
            }
        }
    }

    /// Reload when due, and read partitions taken and monitors asked for: the first load
    /// waits (nothing can be dispatched before it); later reads run beside the loop, applied
    /// at the first pass after they finished. A change told while a read runs is picked up by
    /// the next one. False when no monitor set could be loaded yet.
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
            let failed = match self.loading.take().expect("finished").await {
                Ok(Ok(delta)) => {
                    self.apply(delta, now);
                    None
                }
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(e.to_string()),
            };
            if let Some(error) = failed {
                tracing::warn!(%error, "scheduler could not read monitors; will retry");
                self.waiting.append(&mut self.asking);
                self.read_after = Some(now.plus_ms(1000));
            }
        }
        if self.loading.is_none() && (due || self.read_after.is_none_or(|t| now >= t)) {
            let read = self.read(now, due);
            if due {
                // The read sees every change told before now; one told from here on asks again.
                self.last_reload = Some(now);
                self.reload_at = None;
            }
            if !read.is_empty() {
                let store = self.store.clone();
                self.loading = Some(tokio::spawn(async move { read.run(store.as_ref()).await }));
            }
        }
        true
    }

    /// The next read: partitions wanted and not held, with `check` the changes of those
    /// held, and the monitors that re-checks wait for.
    fn read(&mut self, now: Timestamp, check: bool) -> share::Read {
        self.asking.append(&mut self.waiting);
        share::Read {
            take: self.wanted.difference(&self.held).copied().collect(),
            check: if check { self.held.iter().copied().collect() } else { Vec::new() },
            known: if check {
                self.entries.iter().map(|(id, e)| (id.clone(), e.record.updated_at)).collect()
            } else {
                HashMap::new()
            },
            extra: self.asking.iter().map(|r| r.monitor.clone()).collect(),
            at: now,
        }
    }

    /// Take what a read found: partitions taken (if still wanted) become held, monitors gone
    /// from the partitions checked are dropped, changed ones replaced — each unchanged
    /// interval keeps its next due time; a new monitor is due on its grid after the time its
    /// partition was taken, or after `now`.
    fn apply(&mut self, delta: share::Delta, now: Timestamp) {
        self.metrics.scheduler_read_ms.observe_ms(delta.took.as_secs_f64() * 1000.0);
        self.metrics.scheduler_monitors_read.add(delta.fresh.len() as u64);
        let taken: BTreeSet<u32> = delta.taken.iter().copied().filter(|p| self.wanted.contains(p)).collect();
        self.held.extend(&taken);
        let checked: BTreeSet<u32> = delta.checked.into_iter().collect();
        self.entries.retain(|id, e| !checked.contains(&e.part) || delta.present.contains(id));
        for m in delta.fresh {
            let rec = m.record;
            let part = netpulse_store::partition_of(&rec.id);
            if !self.held.contains(&part) {
                if self.asking.iter().any(|r| r.monitor == rec.id) {
                    self.extra.insert(rec.id.clone(), rec);
                }
                continue;
            }
            let since = if taken.contains(&part) { delta.at } else { now };
            let keep = self.entries.get(&rec.id).filter(|e| e.record.draft.interval == rec.draft.interval);
            let next = match keep {
                Some(e) => e.next,
                None => {
                    let next = next_due(&rec.id, rec.draft.interval, since);
                    self.heap.push(Reverse((next, rec.id.clone())));
                    next
                }
            };
            self.entries.insert(rec.id.clone(), Entry { record: rec, next, part });
        }
        for r in std::mem::take(&mut self.asking) {
            self.ask_recheck(r, now, false);
        }
        self.metrics.monitors_scheduled.set(self.entries.len() as u64);
    }

    /// Follow this node's share `owned` (of the shard's partitions): drop the monitors of
    /// partitions lost at once, keeping those with a re-check queued until it ran; partitions
    /// taken are read by the next [`Self::refresh`].
    fn follow(&mut self, owned: &[usize], of: usize) {
        self.wanted = share::store_partitions(owned, of);
        if self.held.is_subset(&self.wanted) {
            return;
        }
        let wanted = &self.wanted;
        self.held.retain(|p| wanted.contains(p));
        let lost: Vec<MonitorId> =
            self.entries.iter().filter(|(_, e)| !wanted.contains(&e.part)).map(|(id, _)| id.clone()).collect();
        for id in lost {
            let Some(e) = self.entries.remove(&id) else { continue };
            if self.rechecks.iter().any(|Reverse((_, r))| *r == id) {
                self.extra.insert(id, e.record);
            }
        }
        self.metrics.monitors_scheduled.set(self.entries.len() as u64);
    }

    /// Dispatch everything due at `now`.
    pub async fn try_run_once(&mut self, now: Timestamp) -> Progress {
        let every = if self.lease.is_some() || self.shard.is_some() { SHARED_RELOAD_EVERY_MS } else { RELOAD_EVERY_MS };
        let stale = self.last_reload.is_none_or(|t| now.since(t) >= every);
        if let Some(shard) = &self.shard {
            let (owned, of) = (shard.refresh(|_| false).await, shard.partitions());
            self.follow(&owned, of);
        }
        if !self.refresh(now, stale || self.reload_at.is_some_and(|t| now >= t)).await {
            return Progress::Idle;
        }
        let mut progress = Progress::Idle;
        while let Ok(r) = self.recheck_rx.try_recv() {
            self.ask_recheck(r, now, true);
        }
        while self.rechecks.peek().is_some_and(|Reverse((due, _))| *due <= now) {
            let Some(Reverse((due, id))) = self.rechecks.pop() else { break };
            let record = self.entries.get(&id).map(|e| e.record.clone()).or_else(|| self.extra.get(&id).cloned());
            if let Some(record) = record {
                tracing::debug!(monitor = %id, "confirmation re-check");
                self.dispatch(&record, due, now).await;
                progress = Progress::Progressed;
            }
        }
        if !self.extra.is_empty() {
            let rechecks = &self.rechecks;
            self.extra.retain(|id, _| rechecks.iter().any(|Reverse((_, r))| r == id));
        }
        // With a shard, every monitor held is this node's to dispatch.
        let leader = match &self.lease {
            Some(lease) => lease.hold(now).await,
            None => true,
        };
        while self.heap.peek().is_some_and(|Reverse((due, _))| *due <= now) {
            let Some(Reverse((due, id))) = self.heap.pop() else { break };
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
            if !leader {
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

    /// Queue a re-check round asked for at `now` (ingest saw a failure): half an interval
    /// from now (at most 10 s), or at once for a parent. A monitor asked for twice in one
    /// round (its own round and as a parent) is checked once. A monitor not held here is read
    /// first when `read` (then asked for again), else the re-check is dropped (no such
    /// active monitor).
    fn ask_recheck(&mut self, r: Recheck, now: Timestamp, read: bool) {
        let known = self.entries.get(&r.monitor).map(|e| &e.record).or_else(|| self.extra.get(&r.monitor));
        let Some(record) = known else {
            let asked =
                self.waiting.iter().chain(&self.asking).any(|w| w.monitor == r.monitor && w.at_once == r.at_once);
            if read && !asked {
                self.waiting.push(r);
            }
            return;
        };
        let due = recheck_due(record.draft.interval, r.at_once, now);
        let pending = self.rechecks.iter().any(|Reverse((t, id))| *id == r.monitor && same_round(*t, due));
        if !pending {
            self.rechecks.push(Reverse((due, r.monitor)));
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
        // A read running, or one to start (partitions taken, re-checks waiting): at the next tick.
        let to_read = !self.waiting.is_empty() || !self.wanted.is_subset(&self.held);
        let may_read = self.read_after.is_none_or(|t| now >= t);
        let next = if self.loading.is_some() || (to_read && may_read) { now } else { next };
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
                Some(m) = self.recheck_rx.recv() => self.ask_recheck(m, clock::now(), true),
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

#[cfg(test)]
mod tests;

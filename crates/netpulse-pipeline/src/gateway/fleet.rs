//! The gateway's view of remote checkers: one job queue per served region, the health of
//! every worker (last seen, version, in flight, results/s), and region availability.
//! Results per second are counted as the gateway accepts them ([`Throughput`]), per worker
//! and per region, and shown per tenant: a tenant sees its own rate, never another's.
//!
//! Jobs wait in an in-process queue per region (the embedded engine) or, with the Redis
//! queue, in the region's job stream that every gateway node reads ([`JobStreams`]).
//!
//! A region is online while at least one of its workers leased within the last three lease
//! periods. When that changes, every monitor checking from the region gets an
//! `Observation::RegionAvailability`: an offline region leaves the quorum and never turns a
//! monitor down. Jobs queued for an offline region are dropped (nobody would run them).
//!
//! With several engine nodes, [`super::census`] shares worker health through Redis: the
//! views and region availability then merge this node's workers with those other nodes'
//! gateways last wrote ([`Fleet::set_remote`]), the newer report of a worker winning.

use super::census::{RemoteFleet, SharedWorker};
use super::health::{observe_region, version_of};
pub use super::health::{RegionView, WorkerHealth};
use super::throughput::{Throughput, WINDOW_S};
use super::Identity;
use crate::live::LiveBus;
use crate::queue::JobStreams;
use crate::region_router::RegionRouter;
use netpulse_core::wire::CheckJob;
use netpulse_core::{TenantId, Timestamp};
use netpulse_store::Store;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

const QUEUE_CAPACITY: usize = 4096;
/// Jobs older than this when leased are stale: the next one is already due.
const STALE_JOB_MS: i64 = 60_000;

/// Whether `now` is within three lease periods of `since` (a worker's last request, the start).
fn within_three_leases(since: Timestamp, lease_period_ms: i64, now: Timestamp) -> bool {
    now.since(since) <= 3 * lease_period_ms
}

/// One worker as last seen (keyed by certificate serial).
#[derive(Clone, Debug)]
struct WorkerEntry {
    name: String,
    region: String,
    serial: String,
    agent: String,
    last_seen: Timestamp,
    in_flight: u32,
    accepted: Throughput,
    /// Its last request or accepted result (what the census has to write).
    touched: Timestamp,
}

/// Remote regions, their queues and workers.
pub struct Fleet {
    local_region: String,
    /// The regions served here, and their jobs' stream when they travel through Redis.
    served: BTreeSet<String>,
    streams: Option<Arc<JobStreams>>,
    queues: BTreeMap<String, tokio::sync::Mutex<mpsc::Receiver<CheckJob>>>,
    senders: HashMap<String, mpsc::Sender<CheckJob>>,
    workers: Mutex<HashMap<String, WorkerEntry>>,
    /// Accepted results per region (the local one included).
    accepted: Mutex<HashMap<String, Throughput>>,
    online: Mutex<HashMap<String, bool>>,
    remote: Mutex<RemoteFleet>,
    lease_period_ms: i64,
    started: Timestamp,
}

impl Fleet {
    /// A fleet serving `regions` (none when the gateway is off); `router` gains their
    /// in-process queues, or their streams in `streams` when given.
    pub fn new(
        local_region: &str,
        regions: &[String],
        lease_period: Duration,
        now: Timestamp,
        router: &mut RegionRouter,
        streams: Option<Arc<JobStreams>>,
    ) -> Self {
        let (mut queues, mut senders) = (BTreeMap::new(), HashMap::new());
        let mut accepted = HashMap::from([(local_region.to_owned(), Throughput::new(now))]);
        let served: BTreeSet<String> = regions.iter().filter(|r| *r != local_region).cloned().collect();
        for r in &served {
            accepted.insert(r.clone(), Throughput::new(now));
            if let Some(s) = &streams {
                router.add_stream(r.clone(), s.clone());
                continue;
            }
            let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
            router.add(r.clone(), tx.clone());
            senders.insert(r.clone(), tx);
            queues.insert(r.clone(), tokio::sync::Mutex::new(rx));
        }
        Self {
            local_region: local_region.to_owned(),
            served,
            streams,
            queues,
            senders,
            workers: Mutex::default(),
            accepted: Mutex::new(accepted),
            online: Mutex::default(),
            remote: Mutex::default(),
            lease_period_ms: i64::try_from(lease_period.as_millis()).unwrap_or(i64::MAX).max(1),
            started: now,
        }
    }

    /// Whether the gateway serves `region`.
    pub fn serves(&self, region: &str) -> bool {
        self.served.contains(region)
    }

    /// Up to `max` jobs of `region`, waiting up to `wait` for the first.
    pub async fn take(&self, region: &str, max: usize, wait: Duration, now: Timestamp) -> Vec<CheckJob> {
        if let Some(streams) = self.streams.as_ref().filter(|s| s.serves(region)) {
            return streams.take(region, max, wait).await;
        }
        let Some(queue) = self.queues.get(region) else {
            tokio::time::sleep(wait).await; // a region nobody routes to: nothing, ever
            return Vec::new();
        };
        let mut jobs = Vec::new();
        let _ = tokio::time::timeout(wait, async {
            let mut rx = queue.lock().await;
            while jobs.is_empty() {
                let Some(first) = rx.recv().await else { return };
                if now.since(first.due_at) < STALE_JOB_MS {
                    jobs.push(first);
                }
            }
            while jobs.len() < max {
                match rx.try_recv() {
                    Ok(j) if now.since(j.due_at) < STALE_JOB_MS => jobs.push(j),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        })
        .await;
        jobs
    }

    /// Jobs of `region` answered by results a worker delivered (their [`CheckJob::lease`]s).
    pub async fn jobs_done(&self, region: &str, receipts: &[String]) {
        if let Some(streams) = &self.streams {
            streams.done(region, receipts).await;
        }
    }

    /// Jobs of `region` waiting here (or in its stream).
    fn queued(&self, region: &str) -> usize {
        match (&self.streams, self.senders.get(region)) {
            (Some(s), _) => s.depth(region),
            (None, Some(tx)) => tx.max_capacity() - tx.capacity(),
            (None, None) => 0,
        }
    }

    /// A worker spoke (`report`: the agent and checks in flight its lease request names).
    pub fn seen(&self, id: &Identity, report: Option<(&str, u32)>, now: Timestamp) {
        let mut workers = self.workers.lock().expect("fleet lock");
        let w = workers.entry(id.serial.clone()).or_insert_with(|| WorkerEntry {
            name: id.name.clone(),
            region: id.region.clone(),
            serial: id.serial.clone(),
            agent: String::new(),
            last_seen: now,
            in_flight: 0,
            accepted: Throughput::new(now),
            touched: now,
        });
        if let Some((agent, in_flight)) = report {
            w.agent = agent.to_owned();
            w.in_flight = in_flight;
        }
        w.last_seen = now;
        w.touched = now;
    }

    /// `n` results of `tenant` from `region` handed to the queue (by worker `id`, or by the
    /// in-process checker when `None`).
    pub fn accepted(&self, region: &str, id: Option<&Identity>, tenant: &TenantId, n: u64, now: Timestamp) {
        if let Some(t) = self.accepted.lock().expect("fleet lock").get_mut(region) {
            t.add(tenant, n, now);
        }
        if let Some(id) = id {
            if let Some(w) = self.workers.lock().expect("fleet lock").get_mut(&id.serial) {
                w.accepted.add(tenant, n, now);
                w.touched = now;
            }
        }
    }

    fn health(&self, w: &WorkerEntry, tenant: &TenantId, now: Timestamp) -> WorkerHealth {
        WorkerHealth {
            name: w.name.clone(),
            region: w.region.clone(),
            serial: w.serial.clone(),
            agent: w.agent.clone(),
            version: version_of(&w.agent),
            last_seen: w.last_seen,
            in_flight: w.in_flight,
            results_total: w.accepted.total(tenant),
            results_per_s: w.accepted.per_second(tenant, now),
            live: within_three_leases(w.last_seen, self.lease_period_ms, now),
        }
    }

    /// A worker another node shared; its rate is the one written, none once it is a
    /// window older than its last report.
    fn shared_health(&self, w: &SharedWorker, tenant: &TenantId, now: Timestamp) -> WorkerHealth {
        let (total, rate) = w.accepted.get(tenant).copied().unwrap_or_default();
        WorkerHealth {
            name: w.name.clone(),
            region: w.region.clone(),
            serial: w.serial.clone(),
            agent: w.agent.clone(),
            version: version_of(&w.agent),
            last_seen: w.last_seen,
            in_flight: w.in_flight,
            results_total: total,
            results_per_s: if now.since(w.last_seen) > WINDOW_S * 1000 { 0.0 } else { rate },
            live: within_three_leases(w.last_seen, w.lease_period_ms, now),
        }
    }

    /// The workers of `region` as `tenant` sees them, this node's and other nodes' merged
    /// (by serial, the newer report winning), and the results/s of the remote ones kept.
    fn region_workers(&self, region: &str, tenant: &TenantId, now: Timestamp) -> (Vec<WorkerHealth>, f64) {
        let workers = self.workers.lock().expect("fleet lock");
        let remote = self.remote.lock().expect("fleet lock");
        let mut by_serial: BTreeMap<&str, (WorkerHealth, f64)> = BTreeMap::new();
        for w in workers.values().filter(|w| w.region == region) {
            by_serial.insert(&w.serial, (self.health(w, tenant, now), 0.0));
        }
        for w in remote.workers.iter().filter(|w| w.region == region) {
            if by_serial.get(w.serial.as_str()).is_none_or(|(h, _)| h.last_seen < w.last_seen) {
                let h = self.shared_health(w, tenant, now);
                let rate = h.results_per_s;
                by_serial.insert(&w.serial, (h, rate));
            }
        }
        let remote_rate = by_serial.values().map(|(_, r)| r).sum();
        let mut ws: Vec<WorkerHealth> = by_serial.into_values().map(|(h, _)| h).collect();
        ws.sort_by(|a, b| a.name.cmp(&b.name));
        (ws, remote_rate)
    }

    /// Every region, as `tenant` sees it: the local one and those served through the
    /// gateway of this node or (shared through Redis) of another.
    pub fn regions(&self, tenant: &TenantId, now: Timestamp) -> Vec<RegionView> {
        let rate = |region: &str| {
            self.accepted.lock().expect("fleet lock").get(region).map_or(0.0, |t| t.per_second(tenant, now))
        };
        let mut out = vec![RegionView {
            region: self.local_region.clone(),
            served_by: "local",
            status: "online",
            live_workers: 1,
            results_per_s: rate(&self.local_region),
            queued_jobs: 0,
            workers: vec![],
        }];
        let remote_regions = self.remote.lock().expect("fleet lock").regions.clone();
        let mut names: BTreeSet<&str> = self.served.iter().map(String::as_str).collect();
        names.extend(remote_regions.keys().map(String::as_str));
        names.remove(self.local_region.as_str());
        for region in names {
            let (ws, remote_rate) = self.region_workers(region, tenant, now);
            let live = ws.iter().filter(|w| w.live).count();
            let queued = self.queued(region);
            out.push(RegionView {
                region: region.to_owned(),
                served_by: "workers",
                status: if live > 0 { "online" } else { "offline" },
                live_workers: live,
                results_per_s: ((rate(region) + remote_rate) * 100.0).round() / 100.0,
                queued_jobs: queued + remote_regions.get(region).copied().unwrap_or(0),
                workers: ws,
            });
        }
        out.sort_by(|a, b| a.region.cmp(&b.region));
        out
    }

    /// This node's workers that spoke or delivered since `since`, as the census shares them.
    pub fn seen_since(&self, since: Timestamp, now: Timestamp) -> Vec<SharedWorker> {
        let workers = self.workers.lock().expect("fleet lock");
        let shared = |w: &WorkerEntry| SharedWorker {
            name: w.name.clone(),
            region: w.region.clone(),
            serial: w.serial.clone(),
            agent: w.agent.clone(),
            last_seen: w.last_seen,
            in_flight: w.in_flight,
            accepted: w
                .accepted
                .tenants()
                .map(|t| (t.clone(), (w.accepted.total(t), w.accepted.per_second(t, now))))
                .collect(),
            lease_period_ms: self.lease_period_ms,
        };
        workers.values().filter(|w| w.touched > since).map(shared).collect()
    }

    /// The regions this node's gateway serves, with their queued jobs.
    pub fn served(&self) -> Vec<(String, usize)> {
        self.served.iter().map(|r| (r.clone(), self.queued(r))).collect()
    }

    /// What the other nodes shared, replacing the last view of it.
    pub fn set_remote(&self, remote: RemoteFleet) {
        *self.remote.lock().expect("fleet lock") = remote;
    }

    /// Regions whose availability changed since the last call, with the new value. Until
    /// three lease periods after start, a region without workers is given time to connect.
    fn changes(&self, now: Timestamp) -> Vec<(String, bool)> {
        let workers = self.workers.lock().expect("fleet lock");
        let remote = self.remote.lock().expect("fleet lock");
        let mut online = self.online.lock().expect("fleet lock");
        let grace = within_three_leases(self.started, self.lease_period_ms, now);
        let mut changed = Vec::new();
        for region in &self.served {
            let live = workers
                .values()
                .any(|w| &w.region == region && within_three_leases(w.last_seen, self.lease_period_ms, now))
                || remote
                    .workers
                    .iter()
                    .any(|w| &w.region == region && within_three_leases(w.last_seen, w.lease_period_ms, now));
            if !live && grace {
                continue;
            }
            let before = online.insert(region.clone(), live).unwrap_or(true);
            if before != live {
                changed.push((region.clone(), live));
            }
        }
        changed
    }

    /// Tell the monitors of regions that went offline or came back (and, live, their
    /// tenants' dashboards); drop the queued jobs of offline regions. Returns how many
    /// regions changed.
    pub async fn try_run_once(&self, store: &dyn Store, live: &LiveBus, now: Timestamp) -> usize {
        let changed = self.changes(now);
        for (region, online) in &changed {
            if *online {
                tracing::info!(region = %region, "region online: a worker is leasing checks again");
            } else {
                tracing::warn!(region = %region, "region offline: no live worker; its monitors are not marked down for it");
            }
            for tenant in observe_region(store, region, *online, now).await {
                live.region_changed(&tenant, region, *online, now);
            }
        }
        let offline: Vec<String> =
            self.online.lock().expect("fleet lock").iter().filter(|(_, on)| !**on).map(|(r, _)| r.clone()).collect();
        for region in offline {
            // A stream's jobs expire on their own; another node's workers may still serve them.
            if let Some(Ok(mut rx)) = self.queues.get(&region).map(|q| q.try_lock()) {
                while rx.try_recv().is_ok() {}
            }
        }
        changed.len()
    }

    pub fn lease_period(&self) -> Duration {
        Duration::from_millis(self.lease_period_ms as u64)
    }
}

//! The regional worker (`netpulse-worker`), as a library so tests can run it in-process.
//!
//! Three loops share one outbox: **lease** (long-poll `POST /v1/lease` for the region of our
//! certificate, hand the jobs to the runner; paused while more results wait for delivery
//! than the connection carries away), **run** (bounded concurrency, `probe::run_check`,
//! results into the [`outbox::Outbox`]) and **send** (batches to `POST /v1/results`, woken by
//! each new result, forgotten only once acknowledged). Connection failures back off
//! exponentially with jitter. While the gateway is unreachable the worker keeps re-running
//! the checks it last leased, on the interval it observed between their leases, and buffers
//! the results on disk. Shutdown
//! stops leasing, lets checks in flight finish, flushes for up to 10 s and persists the rest.
//! Links only `netpulse-core` and this crate: no database or queue code.

pub mod link;
pub mod outbox;

use crate::probe::{run_check, ProbeContext};
use link::{Link, LinkError};
use netpulse_core::wire::{
    CheckJob, LeaseRequest, LeaseResponse, ResultAck, ResultBatch, ResultEnvelope, WIRE_VERSION,
};
use netpulse_core::{CheckResult, MonitorId, ResultId, Timestamp};
use outbox::Outbox;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::task::JoinSet;

const BATCH: usize = 500;
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// How to run a worker.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The gateways' `host:port`, comma-separated: the first is dialled first, the others
    /// when the one in use stops answering.
    pub engine: String,
    /// Name the gateways' certificates must carry; empty for the host of each address.
    pub server_name: String,
    /// Directory with `worker.pem`, `worker.key`, `ca.pem`.
    pub bundle: PathBuf,
    pub concurrency: usize,
    pub buffer_dir: PathBuf,
    pub buffer_max: usize,
    pub lease_wait: Duration,
    pub probe: ProbeContext,
    /// Answer every job without probing: an `up` result with provenance `synthetic`, which
    /// the engine stores and shows but never counts as live evidence. Loads the write path
    /// (`netpulse loadtest fleet --synthetic`, `netpulse-worker --synthetic`).
    pub synthetic: bool,
}

/// Counters a test or the log can read.
#[derive(Debug, Default)]
pub struct WorkerStats {
    pub leases: AtomicU64,
    pub jobs: AtomicU64,
    pub produced: AtomicU64,
    pub acked: AtomicU64,
    pub in_flight: AtomicU64,
    pub connected: AtomicBool,
    pub region: Mutex<String>,
}

/// A running worker.
pub struct Worker {
    pub stats: Arc<WorkerStats>,
    pub outbox: Arc<Outbox>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Checks last leased per monitor, to keep running them while cut off.
#[derive(Default)]
struct Known(Mutex<HashMap<MonitorId, (CheckJob, i64, Timestamp)>>);

impl Known {
    fn record(&self, job: &CheckJob) {
        let mut m = self.0.lock().expect("known lock");
        let interval = m.get(&job.monitor_id).map_or(0, |(prev, i, _)| match job.due_at.since(prev.due_at) {
            d if d >= 1000 => d,
            _ => *i,
        });
        m.insert(job.monitor_id.clone(), (job.clone(), interval, job.due_at.plus_ms(interval)));
    }

    /// Jobs due by `now` whose interval is known; each advances to its next slot.
    fn due(&self, now: Timestamp) -> Vec<CheckJob> {
        let mut out = Vec::new();
        for (job, interval, next) in self.0.lock().expect("known lock").values_mut() {
            if *interval > 0 && *next <= now {
                // A re-run answers no lease of the gateway's: the leased job was answered.
                out.push(CheckJob { due_at: *next, lease: None, ..job.clone() });
                while *next <= now {
                    *next = next.plus_ms(*interval);
                }
            }
        }
        out
    }
}

impl Worker {
    /// Start the loops; fails only on a bad bundle or buffer directory.
    pub fn start(cfg: WorkerConfig) -> Result<Self, String> {
        let tls = Arc::new(link::client_config(&cfg.bundle)?);
        let lease_link = Link::new(&cfg.engine, &cfg.server_name, tls.clone())?;
        let send_link = Link::new(&cfg.engine, &cfg.server_name, tls)?;
        let outbox = Arc::new(
            Outbox::open(cfg.buffer_dir.clone(), cfg.buffer_max)
                .map_err(|e| format!("{}: {e}", cfg.buffer_dir.display()))?,
        );
        let stats = Arc::new(WorkerStats::default());
        let known = Arc::new(Known::default());
        let (stop, stop_rx) = watch::channel(false);
        let (jobs_tx, jobs_rx) = mpsc::channel(cfg.concurrency * 4);
        let (drain_tx, drain_rx) = watch::channel(false);
        // Whichever loop gets through to the gateway first wakes the other from its backoff,
        // so after a partition leasing and sending resume together.
        let link_up = Arc::new(Notify::new());
        // Told when leases stop being answered: the offline loop sleeps while they are.
        let link_down = Arc::new(Notify::new());
        let leasing = Leasing {
            jobs: jobs_tx.clone(),
            stats: stats.clone(),
            known: known.clone(),
            outbox: outbox.clone(),
            link_up: link_up.clone(),
            link_down: link_down.clone(),
        };
        let lease = tokio::spawn(lease_loop(lease_link, cfg.clone(), leasing, stop_rx.clone()));
        let offline = tokio::spawn(offline_loop(jobs_tx, stats.clone(), known, link_down, stop_rx));
        let runner = tokio::spawn(run_loop(jobs_rx, cfg.clone(), outbox.clone(), stats.clone()));
        let sender = tokio::spawn(send_loop(send_link, outbox.clone(), stats.clone(), drain_rx, link_up));
        let ob = outbox.clone();
        let task = tokio::spawn(async move {
            let _ = lease.await;
            let _ = offline.await;
            let _ = runner.await; // checks in flight have put their results in the outbox
            let _ = drain_tx.send(true);
            let _ = sender.await;
            if let Err(e) = ob.persist() {
                tracing::error!(error = %e, "cannot write buffered results to disk");
            }
        });
        Ok(Self { stats, outbox, stop, task })
    }

    /// Stop leasing, finish checks in flight, deliver (or persist) every result.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Exponential backoff with jitter: 250 ms doubling to 30 s, each wait 50–100 % of that;
/// after a permanent refusal ([`LinkError::is_permanent`]) straight to the 30 s step.
#[derive(Default)]
struct Backoff(u32);

impl Backoff {
    const TOP: u32 = 7;

    fn after(&mut self, e: &LinkError) -> Duration {
        if e.is_permanent() {
            self.0 = self.0.max(Self::TOP);
        }
        // An unreachable gateway is tried again within 8 s (a fleet is back soon after its
        // engine); a refusal only an operator can lift, every 15–30 s.
        let cap = if e.is_permanent() { 30_000 } else { 8_000 };
        let base = 250u64.saturating_mul(1 << self.0.min(Self::TOP)).min(cap);
        self.0 += 1;
        Duration::from_millis(base / 2 + random_u64() % (base / 2 + 1))
    }
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

fn now() -> Timestamp {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Timestamp::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
}

async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) {
    let _ = tokio::time::timeout(d, stop.wait_for(|s| *s)).await;
}

/// While its leases are answered, a worker leases nothing more when a result has waited for
/// delivery longer than this, or more than twice its concurrency (at least 64) results wait:
/// a worker whose results leave slower than it checks (an overloaded machine or gateway) would
/// otherwise pile up late evidence and memory, while the jobs it does not take expire
/// harmlessly in the engine's queue.
const BACKLOG_AGE_MS: i64 = 2_000;

fn delivery_backlog_limit(concurrency: usize) -> usize {
    (concurrency * 2).max(64)
}

/// Whether the outbox holds more than a working connection carries away at once.
fn behind(outbox: &Outbox, limit: usize) -> bool {
    outbox.len() > limit || outbox.oldest().is_some_and(|t| now().since(t) > BACKLOG_AGE_MS)
}

/// The lease loop's parts that are not the connection.
struct Leasing {
    jobs: mpsc::Sender<CheckJob>,
    stats: Arc<WorkerStats>,
    known: Arc<Known>,
    outbox: Arc<Outbox>,
    link_up: Arc<Notify>,
    link_down: Arc<Notify>,
}

async fn lease_loop(mut link: Link, cfg: WorkerConfig, l: Leasing, mut stop: watch::Receiver<bool>) {
    let Leasing { jobs, stats, known, outbox, link_up, link_down } = l;
    let mut backoff = Backoff::default();
    let agent = format!("netpulse-worker {}", env!("CARGO_PKG_VERSION"));
    let backlog_limit = delivery_backlog_limit(cfg.concurrency);
    while !*stop.borrow() {
        // Only while leases are answered: a worker cut off from the gateway keeps running its
        // last checks and buffers them (up to `buffer_max`) for later (`offline_loop`).
        if stats.connected.load(Ordering::Relaxed) && behind(&outbox, backlog_limit) {
            sleep_or_stop(Duration::from_millis(50), &mut stop).await;
            continue;
        }
        let in_flight = stats.in_flight.load(Ordering::Relaxed) as u32;
        let req = LeaseRequest {
            version: WIRE_VERSION,
            max_jobs: (cfg.concurrency as u32).saturating_sub(in_flight).max(1),
            wait_ms: cfg.lease_wait.as_millis() as u32,
            in_flight,
            agent: agent.clone(),
        };
        let answer = tokio::select! {
            a = link.post::<_, LeaseResponse>("/v1/lease", &req, cfg.lease_wait + Duration::from_secs(10)) => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        match answer {
            Ok(lease) => {
                if !stats.connected.swap(true, Ordering::Relaxed) {
                    tracing::info!(region = %lease.region, worker = %lease.worker, gateway = link.gateway(), "connected to the gateway");
                    link_up.notify_waiters();
                }
                backoff = Backoff::default();
                *stats.region.lock().expect("stats lock") = lease.region;
                stats.leases.fetch_add(1, Ordering::Relaxed);
                for job in lease.jobs {
                    known.record(&job);
                    stats.jobs.fetch_add(1, Ordering::Relaxed);
                    if jobs.send(job).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                if stats.connected.swap(false, Ordering::Relaxed) {
                    link_down.notify_one();
                }
                let wait = backoff.after(&e);
                match &e {
                    e if e.is_permanent() => {
                        tracing::error!(error = %e, retry_in_ms = wait.as_millis() as u64, "gateway refused this worker")
                    }
                    _ => {
                        tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "lease failed; checking on from the last lease")
                    }
                }
                tokio::select! {
                    _ = sleep_or_stop(wait, &mut stop) => {}
                    _ = link_up.notified() => {}
                }
            }
        }
    }
}

/// While disconnected, re-run the last leased checks on their interval (looked at every
/// 200 ms); while leases are answered, sleep until told they are not (`link_down`). Each
/// lease moves its monitor's next slot past the job it carried, so what is due when the link
/// drops is what the gateway could no longer hand out.
async fn offline_loop(
    jobs: mpsc::Sender<CheckJob>,
    stats: Arc<WorkerStats>,
    known: Arc<Known>,
    link_down: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        if stats.connected.load(Ordering::Relaxed) {
            tokio::select! {
                _ = link_down.notified() => {}
                stopped = stop.wait_for(|s| *s) => {
                    if stopped.is_err() {
                        return; // the worker is gone
                    }
                }
            }
            continue;
        }
        for job in known.due(now()) {
            if jobs.try_send(job).is_err() {
                tracing::warn!("worker saturated while offline; check skipped");
            }
        }
        sleep_or_stop(Duration::from_millis(200), &mut stop).await;
    }
}

async fn run_loop(mut jobs: mpsc::Receiver<CheckJob>, cfg: WorkerConfig, outbox: Arc<Outbox>, stats: Arc<WorkerStats>) {
    let permits = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let (ctx, synthetic) = (cfg.probe, cfg.synthetic);
    let mut running = JoinSet::new();
    while let Some(job) = jobs.recv().await {
        let permit = permits.clone().acquire_owned().await.expect("semaphore never closes");
        let (ctx, outbox, stats) = (ctx.clone(), outbox.clone(), stats.clone());
        running.spawn(async move {
            stats.in_flight.fetch_add(1, Ordering::Relaxed);
            let result = if synthetic { synthetic_result(&job) } else { check(&job, &ctx).await };
            outbox.push(ResultEnvelope { job: job.lease.clone(), ..ResultEnvelope::new(result, now()) });
            stats.produced.fetch_add(1, Ordering::Relaxed);
            stats.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

async fn check(job: &CheckJob, ctx: &ProbeContext) -> CheckResult {
    let started = now();
    let span = tracing::debug_span!("check", monitor = %job.monitor_id, region = %job.region, tenant = %job.tenant_id);
    let report = tracing::Instrument::instrument(
        run_check(&job.spec, Duration::from_millis(u64::from(job.timeout_ms)), job.retries, ctx),
        span,
    )
    .await;
    let id = ResultId::from_parts(started.millis(), u128::from(random_u64()) << 64 | u128::from(random_u64()));
    // The gateway overwrites region and worker from our certificate.
    job.result(id, String::new(), started, now(), report)
}

/// A result made without probing (`WorkerConfig::synthetic`), labelled `synthetic`.
fn synthetic_result(job: &CheckJob) -> CheckResult {
    let at = now();
    let id = ResultId::from_parts(at.millis(), u128::from(random_u64()) << 64 | u128::from(random_u64()));
    let timings = netpulse_core::Timings { total_ms: Some(0), ..Default::default() };
    let r = job.result(id, String::new(), at, at, netpulse_core::check::ProbeReport::up(timings));
    CheckResult { provenance: netpulse_core::Provenance::Synthetic, ..r }
}

async fn send_loop(
    mut link: Link,
    outbox: Arc<Outbox>,
    stats: Arc<WorkerStats>,
    mut drain: watch::Receiver<bool>,
    link_up: Arc<Notify>,
) {
    let mut backoff = Backoff::default();
    let mut failing = false;
    let mut last_persist = Instant::now();
    let mut deadline: Option<Instant> = None;
    loop {
        if *drain.borrow() {
            let d = *deadline.get_or_insert_with(|| Instant::now() + DRAIN_DEADLINE);
            if outbox.is_empty() || Instant::now() >= d {
                return;
            }
        }
        let batch = outbox.peek(BATCH);
        if batch.is_empty() {
            // A push since the last wake-up is kept as a permit, so none is missed.
            tokio::select! {
                _ = outbox.pushed() => {}
                told = drain.changed() => {
                    if told.is_err() {
                        return; // the worker is gone
                    }
                }
            }
            continue;
        }
        let body = ResultBatch { version: WIRE_VERSION, results: batch };
        match link.post::<_, ResultAck>("/v1/results", &body, Duration::from_secs(30)).await {
            Ok(ack) => {
                for r in &ack.refused {
                    tracing::warn!(result = %r.id, code = %r.code, "the engine refused a result for good: {}", r.message);
                }
                outbox.ack(&body.results);
                stats.acked.fetch_add(body.results.len() as u64, Ordering::Relaxed);
                backoff = Backoff::default();
                if std::mem::take(&mut failing) {
                    link_up.notify_waiters();
                }
                if outbox.is_empty() {
                    let _ = outbox.persist();
                }
            }
            Err(e) => {
                failing = true;
                let wait = backoff.after(&e);
                tracing::warn!(error = %e, buffered = outbox.len(), retry_in_ms = wait.as_millis() as u64, "results not delivered; buffered");
                if last_persist.elapsed() >= Duration::from_secs(1) {
                    if let Err(e) = outbox.persist() {
                        tracing::error!(error = %e, "cannot write buffered results to disk");
                    }
                    last_persist = Instant::now();
                }
                let until = deadline.map_or(wait, |d| wait.min(d.saturating_duration_since(Instant::now())));
                tokio::select! {
                    _ = tokio::time::sleep(until) => {}
                    _ = link_up.notified() => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permanent_refusal_backs_off_to_the_slow_step_at_once() {
        let transient = LinkError::Connect("connection refused".into());
        let revoked = LinkError::Refused { code: "forbidden".into(), message: "certificate revoked".into() };
        let mut b = Backoff::default();
        assert!(b.after(&transient) <= Duration::from_millis(250));
        let slow = b.after(&revoked);
        assert!(slow >= Duration::from_secs(15) && slow <= Duration::from_secs(30), "{slow:?}");
        assert!(b.after(&revoked) >= Duration::from_secs(15));
        // A later success resets it (`Backoff::default()` in the loops); a transient error alone grows slowly.
        let mut b = Backoff::default();
        let waits: Vec<Duration> = (0..3).map(|_| b.after(&transient)).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(1)), "{waits:?}");
    }
}

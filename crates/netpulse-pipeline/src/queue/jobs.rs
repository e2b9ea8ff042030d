//! Regional check jobs on Redis Streams, `{prefix}:jobs:{region}`, read by the consumer group
//! `gateway` in which each gateway node is a consumer: any gateway node serves any worker of
//! a region, and jobs outlive the node that scheduled them (a scheduler lease moving loses
//! nothing queued). Used with `queue.backend = "redis"`; the embedded engine keeps its
//! in-process job channels (the gateway's `fleet`).
//!
//! - The scheduler queues each job ([`JobStreams::queue`]) and sends a pass's jobs in one
//!   pipeline ([`JobStreams::flush`]): `XADD … MAXLEN ~ max_len`, so a stream nobody reads
//!   stays bounded (the oldest, stalest jobs go first). Each entry carries when running it
//!   stops making sense: its due time plus the monitor's interval, when the next one is due.
//! - Each gateway node runs one pump per region it serves ([`JobStreams::run`]): while
//!   workers wait in [`JobStreams::take`], it reads as many jobs as they ask for
//!   (`XREADGROUP`, blocking one second at most) into a buffer the lease requests take from.
//!   A job past its time is acked and deleted unseen, never run late.
//! - A job handed to a worker carries its entry id as [`CheckJob::lease`]; the worker returns
//!   it with the result and the gateway that accepts the result (any node) acks and deletes
//!   the entry ([`JobStreams::done`]). A job pending for longer than `job_lease_ms` (its
//!   worker or node died, or was cut off) is claimed by a pump with waiting workers
//!   (`XPENDING … IDLE` then `XCLAIM`, which only takes entries still that idle, so two nodes
//!   never both take one) and handed out once more; a job already handed out twice is
//!   dropped: the monitor's next check is due soon.

use super::RedisQueueConfig;
use netpulse_core::wire::CheckJob;
use netpulse_core::Timestamp;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// The consumer group every gateway node joins.
pub const GROUP: &str = "gateway";
/// A pump's blocking read waits at most this long, so it notices demand going away.
const READ_BLOCK: Duration = Duration::from_secs(1);

/// A job read for this node's workers, with when it stops being worth running.
struct Held {
    job: CheckJob,
    expires: Timestamp,
    read_at: Instant,
}

/// One region's pump: the buffer lease requests take from, and their demand.
#[derive(Default)]
struct Pump {
    buffer: Mutex<VecDeque<Held>>,
    /// Jobs the waiting lease requests ask for in all.
    demand: AtomicUsize,
    /// Demand arrived (wakes the pump); jobs arrived (wakes the lease requests).
    wanted: Notify,
    arrived: Notify,
    depth: AtomicUsize,
}

/// The job streams of every region, as one node sees them.
pub struct JobStreams {
    client: redis::Client,
    cmd: ConnectionManager,
    prefix: String,
    consumer: String,
    max_len: usize,
    job_lease: Duration,
    timeout: Duration,
    pumps: HashMap<String, Arc<Pump>>,
    queued: Mutex<Vec<(CheckJob, Timestamp)>>,
}

fn entry_id(s: &str) -> bool {
    s.split_once('-')
        .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()))
}

impl JobStreams {
    /// Connect as the consumer `consumer`; `served` are the regions whose jobs this node's
    /// gateway hands out (none on a node that only schedules).
    pub async fn connect(config: &RedisQueueConfig, consumer: &str, served: &[String]) -> anyhow::Result<Self> {
        let (client, cmd) = super::redis::connect_commands(config).await?;
        Ok(Self {
            client,
            cmd,
            prefix: config.prefix.clone(),
            consumer: consumer.to_owned(),
            max_len: config.max_len,
            job_lease: Duration::from_millis(config.job_lease_ms),
            timeout: Duration::from_millis(config.timeout_ms),
            pumps: served.iter().map(|r| (r.clone(), Arc::default())).collect(),
            queued: Mutex::default(),
        })
    }

    /// The stream of `region`'s jobs.
    pub fn key(&self, region: &str) -> String {
        format!("{}:jobs:{region}", self.prefix)
    }

    /// Queue `job` for the next [`JobStreams::flush`]; not worth running after `expires`.
    pub fn queue(&self, job: CheckJob, expires: Timestamp) {
        self.queued.lock().expect("jobs lock").push((job, expires));
    }

    /// Send the queued jobs in one pipeline; returns how many could not be sent (dropped:
    /// the monitor's next check is scheduled as usual).
    pub async fn flush(&self) -> usize {
        let jobs = std::mem::take(&mut *self.queued.lock().expect("jobs lock"));
        if jobs.is_empty() {
            return 0;
        }
        let mut pipe = redis::pipe();
        for (job, expires) in &jobs {
            let body = serde_json::to_vec(job).expect("jobs serialize");
            pipe.cmd("XADD").arg(self.key(&job.region)).arg("MAXLEN").arg("~").arg(self.max_len).arg("*");
            pipe.arg("job").arg(body).arg("expires").arg(expires.millis()).ignore();
        }
        match pipe.query_async::<()>(&mut self.cmd.clone()).await {
            Ok(()) => 0,
            Err(e) => {
                tracing::warn!(error = %e, jobs = jobs.len(), "cannot queue check jobs on Redis; skipped");
                jobs.len()
            }
        }
    }

    /// Whether this node hands out `region`'s jobs.
    pub fn serves(&self, region: &str) -> bool {
        self.pumps.contains_key(region)
    }

    /// Entries in `region`'s stream (waiting or handed out), as of the pump's last look.
    pub fn depth(&self, region: &str) -> usize {
        self.pumps.get(region).map_or(0, |p| p.depth.load(Ordering::Relaxed))
    }

    /// Up to `max` jobs of `region` for a worker, waiting up to `wait` for the first.
    pub async fn take(&self, region: &str, max: usize, wait: Duration) -> Vec<CheckJob> {
        let Some(pump) = self.pumps.get(region) else {
            tokio::time::sleep(wait).await;
            return Vec::new();
        };
        let deadline = tokio::time::Instant::now() + wait;
        pump.demand.fetch_add(max, Ordering::SeqCst);
        pump.wanted.notify_one();
        let jobs = loop {
            let arrived = pump.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let (jobs, stale) = self.pop(pump, max);
            self.done(region, &stale).await;
            if !jobs.is_empty() || tokio::time::Instant::now() >= deadline {
                break jobs;
            }
            let _ = tokio::time::timeout_at(deadline, arrived).await;
        };
        pump.demand.fetch_sub(max, Ordering::SeqCst);
        jobs
    }

    /// Jobs from the buffer, and the receipts of those past their time (or read so long ago
    /// that another node may have claimed them since).
    fn pop(&self, pump: &Pump, max: usize) -> (Vec<CheckJob>, Vec<String>) {
        let now = netpulse_store::clock::now();
        let (mut jobs, mut stale) = (Vec::new(), Vec::new());
        let mut buffer = pump.buffer.lock().expect("jobs lock");
        while jobs.len() < max {
            let Some(h) = buffer.pop_front() else { break };
            let lease = h.job.lease.clone().unwrap_or_default();
            if now >= h.expires {
                stale.push(lease);
            } else if h.read_at.elapsed() < self.job_lease {
                jobs.push(h.job);
            }
        }
        (jobs, stale)
    }

    /// Ack and delete `receipts` of `region`'s stream: their jobs were answered (or are past
    /// their time). Receipts that are not entry ids are ignored (a worker sent them).
    pub async fn done(&self, region: &str, receipts: &[String]) {
        let ids: Vec<&String> = receipts.iter().filter(|r| entry_id(r)).collect();
        if ids.is_empty() {
            return;
        }
        let key = self.key(region);
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("XACK").arg(&key).arg(GROUP).arg(&ids).ignore().cmd("XDEL").arg(&key).arg(&ids).ignore();
        if let Err(e) = pipe.query_async::<()>(&mut self.cmd.clone()).await {
            tracing::warn!(error = %e, region, jobs = ids.len(), "cannot ack answered jobs; they may run once more");
        }
    }

    /// Run one pump per served region until `stop` turns true.
    pub fn run(self: Arc<Self>, stop: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        let regions: Vec<String> = self.pumps.keys().cloned().collect();
        regions.into_iter().map(|r| tokio::spawn(self.clone().pump(r, stop.clone()))).collect()
    }

    async fn pump(self: Arc<Self>, region: String, mut stop: watch::Receiver<bool>) {
        let pump = self.pumps[&region].clone();
        let mut reader = loop {
            match self.reader().await {
                Ok(r) => break r,
                Err(e) => tracing::warn!(error = %e, region, "job pump cannot connect to Redis; retrying"),
            }
            if sleep_or_stop(Duration::from_secs(1), &mut stop).await {
                return;
            }
        };
        let mut last_claim = Instant::now() - self.job_lease;
        while !*stop.borrow() {
            let want = pump.demand.load(Ordering::SeqCst).saturating_sub(pump.buffer.lock().expect("jobs lock").len());
            if want == 0 {
                self.look(&region, &pump).await;
                tokio::select! {
                    _ = pump.wanted.notified() => {}
                    _ = tokio::time::sleep(READ_BLOCK) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let claim = last_claim.elapsed() >= (self.job_lease / 4).clamp(Duration::from_millis(10), READ_BLOCK);
            if claim {
                last_claim = Instant::now();
            }
            match self.fill(&region, &pump, &mut reader, want, claim).await {
                Ok(0) => {}
                Ok(_) => pump.arrived.notify_waiters(),
                Err(e) => {
                    tracing::warn!(error = %e, region, "cannot read check jobs from Redis; retrying");
                    if sleep_or_stop(Duration::from_millis(500), &mut stop).await {
                        return;
                    }
                }
            }
        }
    }

    /// The pump's connection: its blocking reads get one of their own.
    async fn reader(&self) -> redis::RedisResult<ConnectionManager> {
        let base = ConnectionManagerConfig::new().set_connection_timeout(self.timeout).set_number_of_retries(3);
        ConnectionManager::new_with_config(self.client.clone(), base.set_response_timeout(self.timeout + READ_BLOCK))
            .await
    }

    /// Note the stream's length (for the regions view) while idle.
    async fn look(&self, region: &str, pump: &Pump) {
        if let Ok(len) = redis::cmd("XLEN").arg(self.key(region)).query_async::<usize>(&mut self.cmd.clone()).await {
            pump.depth.store(len, Ordering::Relaxed);
        }
    }

    /// Read up to `want` jobs into the buffer: first (when `claim`) those whose lease ran
    /// out, then new ones. Returns how many were buffered.
    async fn fill(
        &self,
        region: &str,
        pump: &Pump,
        reader: &mut ConnectionManager,
        want: usize,
        claim: bool,
    ) -> redis::RedisResult<usize> {
        let key = self.key(region);
        let mut entries = if claim { self.reclaim(region, &key, want).await? } else { Vec::new() };
        if entries.is_empty() {
            entries = self.read(&key, reader, want).await?;
        }
        let (held, stale) = decode(entries);
        self.done(region, &stale).await;
        let n = held.len();
        pump.buffer.lock().expect("jobs lock").extend(held);
        Ok(n)
    }

    /// `XREADGROUP` of new entries; creates the group (from the stream's start) if missing.
    async fn read(&self, key: &str, reader: &mut ConnectionManager, want: usize) -> redis::RedisResult<Vec<StreamId>> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(GROUP).arg(&self.consumer).arg("COUNT").arg(want.min(1000));
        cmd.arg("BLOCK").arg(READ_BLOCK.as_millis() as u64).arg("STREAMS").arg(key).arg(">");
        match cmd.query_async::<Option<StreamReadReply>>(reader).await {
            Ok(r) => Ok(r.map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect()).unwrap_or_default()),
            Err(e) if e.code() == Some("NOGROUP") => {
                let mut create = redis::cmd("XGROUP");
                create.arg("CREATE").arg(key).arg(GROUP).arg("0").arg("MKSTREAM");
                match create.query_async::<()>(&mut self.cmd.clone()).await {
                    Err(e) if e.code() != Some("BUSYGROUP") => Err(e),
                    _ => Ok(Vec::new()),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Jobs handed out more than `job_lease` ago and not answered: those handed out once are
    /// claimed for this node, those handed out twice already are dropped.
    async fn reclaim(&self, region: &str, key: &str, want: usize) -> redis::RedisResult<Vec<StreamId>> {
        let lease_ms = self.job_lease.as_millis() as u64;
        let mut c = self.cmd.clone();
        let pending: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(key)
            .arg(GROUP)
            .arg("IDLE")
            .arg(lease_ms)
            .arg("-")
            .arg("+")
            .arg(want.min(1000))
            .query_async(&mut c)
            .await
            .or_else(|e| if e.code() == Some("NOGROUP") { Ok(StreamPendingCountReply::default()) } else { Err(e) })?;
        let (twice, once): (Vec<_>, Vec<_>) = pending.ids.into_iter().partition(|p| p.times_delivered >= 2);
        if !twice.is_empty() {
            tracing::warn!(region, jobs = twice.len(), "jobs handed out twice without a result dropped");
            self.done(region, &twice.into_iter().map(|p| p.id).collect::<Vec<_>>()).await;
        }
        if once.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("XCLAIM");
        cmd.arg(key).arg(GROUP).arg(&self.consumer).arg(lease_ms);
        for p in &once {
            cmd.arg(&p.id);
        }
        let claimed: StreamClaimReply = cmd.query_async(&mut c).await?;
        if !claimed.ids.is_empty() {
            tracing::info!(region, jobs = claimed.ids.len(), "jobs of a worker that did not answer handed out again");
        }
        Ok(claimed.ids)
    }
}

/// Entries → jobs (each with its entry id as its lease) and the receipts of entries that are
/// past their time or unreadable.
fn decode(entries: Vec<StreamId>) -> (Vec<Held>, Vec<String>) {
    let now = netpulse_store::clock::now();
    let (mut held, mut stale) = (Vec::new(), Vec::new());
    for e in entries {
        let job = e.get::<Vec<u8>>("job").and_then(|b| serde_json::from_slice::<CheckJob>(&b).ok());
        let expires = e.get::<i64>("expires").map(Timestamp::from_millis);
        match (job, expires) {
            (Some(job), Some(expires)) if now < expires => {
                held.push(Held { job: CheckJob { lease: Some(e.id), ..job }, expires, read_at: Instant::now() })
            }
            (Some(_), Some(_)) => stale.push(e.id),
            _ => {
                tracing::error!(entry = %e.id, "unreadable check job dropped");
                stale.push(e.id);
            }
        }
    }
    (held, stale)
}

/// Sleep `d`; true when `stop` turned true meanwhile.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = stop.wait_for(|s| *s) => true,
    }
}

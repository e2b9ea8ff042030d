//! Ingest: takes results from the queue in batches, stores them in one transaction each
//! (results, incident state, outbox), and acknowledges the batch only once it is durable
//! (and tells [`CommitWatch`], when the gateway waits on it, which results are stored).
//!
//! A store that is unavailable is retried forever. A batch the database refuses for good
//! ([`StoreError::Invalid`]: a poison result, e.g. text the database encoding cannot hold) is
//! split in halves, stored apart, down to the single refused result, which is quarantined
//! (logged, counted in `netpulse_results_quarantined_total`, kept in `quarantined_results`);
//! the rest is stored and the batch acked. A result that started before the raw-retention
//! horizon is refused before storing (`netpulse_results_too_old_total`): its raw row may be
//! rolled up and deleted already, and storing it again would count it twice.
//! After each commit it publishes the state changes on the live bus; while
//! someone watches the dashboard it lingers at most [`LIVE_LINGER`] for a batch to fill.
//! [`Ingest::drain`] stores everything queued while the loop runs (tests call it instead of
//! polling for stored results); the loop ends with the same drain at shutdown.

use crate::live::LiveBus;
use crate::metrics::Metrics;
use crate::progress::{PassGate, Progress};
use crate::queue::durable::CommitWatch;
use crate::queue::{Batch, ResultQueue};
use crate::retention::RetentionConfig;
use netpulse_core::CheckResult;
use netpulse_store::clock;
use netpulse_store::plan::Recheck;
use netpulse_store::{IngestReport, QuarantinedResult, Store, StoreError, StoreResult};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify};

/// Ingest batching (`[ingest]`).
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    pub batch_size: usize,
    pub linger_ms: u64,
}

impl IngestConfig {
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.linger_ms > 5_000 {
            return Err(("ingest.linger_ms", "must be at most 5000".into()));
        }
        if self.batch_size == 0 || self.batch_size > 10_000 {
            return Err(("ingest.batch_size", "must be between 1 and 10000".into()));
        }
        Ok(())
    }
}

/// The ingest loop's state.
pub struct Ingest {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn ResultQueue>,
    pub metrics: Arc<Metrics>,
    pub batch_size: usize,
    /// How long to keep collecting a batch after its first result.
    pub linger: Duration,
    /// Where to ask for confirmation re-checks.
    pub rechecks: mpsc::Sender<Recheck>,
    /// Where committed results and changes are announced (dashboard SSE).
    pub live: LiveBus,
    /// Told which results are stored, for producers that acknowledge only durable results
    /// (the gateway with the in-process queue).
    pub commits: Option<Arc<CommitWatch>>,
    /// Results that started before its raw horizon are refused ([`RetentionConfig::accepts_from`]).
    pub retention: RetentionConfig,
    /// The loop's passes, which [`Ingest::drain`] waits for and holds back.
    pub passes: PassGate,
    /// Notified after a batch wrote notices to the outbox (the alert dispatcher wakes).
    pub outbox_written: Arc<Notify>,
}

/// The batching linger while dashboards are subscribed: check-to-dashboard latency matters
/// more than batch size then, and under load batches still fill from what is already queued.
pub const LIVE_LINGER: Duration = Duration::from_millis(1);

/// How long the loop's read of the next batch waits for a first result (then it looks at the
/// stop flag). The read starts once the queue is readable ([`ResultQueue::readable`]): an
/// idle in-process queue sleeps until a result is published or the loop stops.
const READ_WAIT: Duration = Duration::from_millis(200);

impl Ingest {
    /// Take one batch (waiting up to `wait` for it) and store it, retrying while the store is
    /// unavailable. Gives up on the batch only when `deadline` passes (shutdown drain).
    pub async fn try_run_once(&self, wait: Duration, deadline: Option<Instant>) -> Progress {
        let batch = self.queue.next_batch(self.batch_size, wait, self.linger_now(wait)).await;
        self.store_taken(batch, deadline).await
    }

    /// How long to keep collecting a batch: not at all in a pass that does not wait for its
    /// first result (a drain takes what is queued), briefly while dashboards are subscribed.
    fn linger_now(&self, wait: Duration) -> Duration {
        match wait.is_zero() {
            true => Duration::ZERO,
            false if self.live.has_subscribers() => self.linger.min(LIVE_LINGER),
            false => self.linger,
        }
    }

    /// Store every result queued now, and the batches the loop has taken: waits for the
    /// loop's passes in flight (the batch it stores and the one it reads ahead), holds its
    /// next read back, and runs passes that neither wait nor linger until one finds the queue
    /// empty. Every result the queue accepted before the call is then stored (or set aside for
    /// good), acknowledged (to the queue, and to [`CommitWatch`]) and its changes published on
    /// the live bus — except, with Redis and several nodes, what another node's ingest took.
    /// Retries while the store is unavailable, like the loop.
    pub async fn drain(&self) {
        self.store_queued(None).await;
    }

    /// [`Ingest::drain`], giving up on a batch not stored by `deadline` (at shutdown).
    async fn store_queued(&self, deadline: Option<Instant>) {
        let _alone = self.passes.alone().await;
        while self.try_run_once(Duration::ZERO, deadline).await == Progress::Progressed {}
    }

    /// Store a batch taken from the queue (see [`Ingest::try_run_once`]).
    async fn store_taken(&self, batch: Batch, deadline: Option<Instant>) -> Progress {
        if batch.items.is_empty() {
            return Progress::Idle;
        }
        self.store_batch(&batch, deadline).await;
        Progress::Progressed
    }

    async fn store_batch(&self, batch: &Batch, deadline: Option<Instant>) {
        let mut results = self.acceptable(batch);
        // Sorted by start, each half of a split batch holds only results that started no later
        // than any of the next half's, so the halves, stored in turn, still step every
        // monitor's results in time order.
        results.sort_by(|a, b| (a.started_at, a.id.as_str()).cmp(&(b.started_at, b.id.as_str())));
        let mut report = IngestReport::default();
        // Ranges of `results` still to store, the next one last.
        let mut parts: Vec<std::ops::Range<usize>> = Vec::with_capacity(16);
        if !results.is_empty() {
            parts.push(0..results.len());
        }
        while let Some(part) = parts.pop() {
            let slice = &results[part.clone()];
            let Some(outcome) = self.retrying(deadline, slice.len(), || self.store_part(slice)).await else {
                return;
            };
            match outcome {
                Ok(r) => add_report(&mut report, r),
                // A permanent refusal: store the halves apart until the refused result is alone.
                Err(_) if slice.len() > 1 => {
                    let mid = part.start + slice.len() / 2;
                    parts.push(mid..part.end);
                    parts.push(part.start..mid);
                }
                Err(e) => {
                    if !self.quarantine(&slice[0], &e, deadline).await {
                        return;
                    }
                }
            }
        }
        let now = clock::now();
        for env in &batch.items {
            self.metrics.check_to_ingest_ms.observe_ms(now.since(env.sent_at) as f64);
        }
        self.publish_live(&report);
        if report.notices > 0 {
            self.outbox_written.notify_one();
        }
        self.queue.ack(batch).await;
        if let Some(c) = &self.commits {
            // Stored, already stored, quarantined or refused: the producer may let go of each.
            c.committed(batch.items.iter().map(|e| &e.result.id));
        }
        for m in report.rechecks {
            // Best effort: a full channel only means the next regular check confirms.
            let _ = self.rechecks.try_send(m);
        }
    }

    /// The batch's results ingest may store: of this wire version, started after the
    /// raw-retention horizon ([`RetentionConfig::accepts_from`]), and with no timing over
    /// [`netpulse_core::Timings::MAX_MS`] (the gateway refuses those, but an older node's
    /// gateway may still publish one); the others are logged (too old ones counted), never stored.
    fn acceptable(&self, batch: &Batch) -> Vec<CheckResult> {
        let from = self.retention.accepts_from(clock::now());
        let mut results: Vec<CheckResult> = Vec::with_capacity(batch.items.len());
        for env in &batch.items {
            let r = &env.result;
            if let Err(e) = env.check_version() {
                tracing::error!(error = %e, result = %r.id, "result refused");
            } else if r.started_at < from {
                self.metrics.results_too_old.add(1);
                tracing::warn!(
                    result = %r.id, monitor = %r.monitor_id, tenant = %r.tenant_id,
                    started_at = %r.started_at.to_rfc3339(), horizon = %from.to_rfc3339(),
                    "result refused: it started before the raw-retention horizon, so it may be counted in the rollups already"
                );
            } else if let Some((field, ms)) = r.timings.implausible() {
                tracing::warn!(
                    result = %r.id, monitor = %r.monitor_id, tenant = %r.tenant_id, field, ms,
                    max_ms = netpulse_core::Timings::MAX_MS,
                    "result refused: a timing longer than a day (it would wrap in an int4 column)"
                );
            } else {
                results.push(r.clone());
            }
        }
        results
    }

    /// One store transaction for `part`, measured.
    async fn store_part(&self, part: &[CheckResult]) -> StoreResult<IngestReport> {
        let started = Instant::now();
        let report = self.store.ingest(part, clock::now()).await?;
        self.metrics.ingest_batch_ms.observe_ms(started.elapsed().as_secs_f64() * 1000.0);
        self.metrics.ingest_batches.add(1);
        self.metrics.results_ingested.add(report.inserted as u64);
        self.metrics.results_duplicate.add(report.duplicates as u64);
        Ok(report)
    }

    /// Run `op` until it succeeds or fails permanently ([`StoreError::is_permanent`]), backing
    /// off while it fails otherwise. `None` when `deadline` (shutdown drain) passed first.
    async fn retrying<T, F, Fut>(&self, deadline: Option<Instant>, results: usize, mut op: F) -> Option<StoreResult<T>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = StoreResult<T>>,
    {
        let mut backoff = Duration::from_millis(100);
        loop {
            let e = match op().await {
                Err(e) if !e.is_permanent() => e,
                done => return Some(done),
            };
            self.metrics.ingest_errors.add(1);
            if deadline.is_some_and(|d| Instant::now() >= d) {
                tracing::error!(error = %e, lost = results, "shutdown deadline passed; batch not stored");
                return None;
            }
            tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "ingest failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Set aside a result the database refuses for good (`why`): logged, counted and kept in
    /// `quarantined_results`, so its batch's other results are stored and the batch is acked.
    /// `false` when the shutdown deadline passed before it was kept.
    async fn quarantine(&self, r: &CheckResult, why: &StoreError, deadline: Option<Instant>) -> bool {
        self.metrics.ingest_errors.add(1);
        self.metrics.results_quarantined.add(1);
        tracing::error!(
            result = %r.id, monitor = %r.monitor_id, tenant = %r.tenant_id, error = %why,
            "result quarantined: the database refuses it for good; kept in quarantined_results"
        );
        let q = QuarantinedResult::new(r, &why.to_string(), clock::now());
        match self.retrying(deadline, 1, || self.store.quarantine(&q)).await {
            None => false,
            Some(Ok(())) => true,
            Some(Err(e)) => {
                // Not even the ASCII-only row fits: the log line is all that is left of it.
                tracing::error!(error = %e, result = %q.result, "quarantined result could not be kept");
                true
            }
        }
    }

    /// Announce the state changes this batch committed (results themselves were announced
    /// when the queue accepted them: see `live::announcing`).
    fn publish_live(&self, report: &netpulse_store::IngestReport) {
        if !self.live.wants_events() {
            return;
        }
        for c in &report.changes {
            self.live.change(c);
        }
    }

    /// Run until `stop`, then drain what is queued (for up to `drain_for`).
    /// A batch in progress is never cancelled: the stop flag is looked at between batches.
    /// While a batch is stored, the next one is read from the queue (and decoded), so the
    /// queue read and the store transaction overlap; at most one batch is read ahead (its
    /// entries stay unacknowledged until stored, like the one being stored). Each batch is a
    /// pass of [`Ingest::passes`] from its read until it is stored.
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>, drain_for: Duration) {
        let read_ahead = |this: &Arc<Self>| {
            let (this, mut stop) = (this.clone(), stop.clone());
            tokio::spawn(async move {
                this.queue.readable(&mut stop).await;
                let pass = this.passes.pass().await;
                (this.queue.next_batch(this.batch_size, READ_WAIT, this.linger_now(READ_WAIT)).await, pass)
            })
        };
        let mut next = read_ahead(&self);
        while !*stop.borrow() {
            let taken = next.await;
            next = read_ahead(&self);
            if let Ok((batch, _pass)) = taken {
                self.store_taken(batch, None).await;
            }
        }
        let deadline = Instant::now() + drain_for;
        if let Ok((batch, _pass)) = next.await {
            self.store_taken(batch, Some(deadline)).await;
        }
        self.store_queued(Some(deadline)).await;
        self.queue.leave().await;
    }
}

/// Fold the report of one part of a batch into the batch's.
fn add_report(total: &mut IngestReport, part: IngestReport) {
    total.inserted += part.inserted;
    total.duplicates += part.duplicates;
    total.notices += part.notices;
    total.rechecks.extend(part.rechecks);
    total.changes.extend(part.changes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::InProcessQueue;
    use netpulse_core::incident::Policy;
    use netpulse_core::wire::ResultEnvelope;
    use netpulse_core::{MonitorId, Outcome, Provenance, TenantId, Timings};
    use netpulse_store::sqlite::SqliteStore;
    use netpulse_store::testing::{draft, other_tenant};
    use netpulse_store::MonitorRecord;

    fn result(tenant: &TenantId, monitor: &MonitorId) -> CheckResult {
        let now = clock::now();
        CheckResult {
            id: clock::fresh(),
            tenant_id: tenant.clone(),
            monitor_id: monitor.clone(),
            region: "local".into(),
            worker: "test".into(),
            started_at: now,
            finished_at: now,
            outcome: Outcome::Up,
            timings: Timings::default(),
            status_code: None,
            error: None,
            cert_expires_at: None,
            cert_issuer: None,
            provenance: Provenance::Live,
        }
    }

    /// Published in bursts at every point of the loop's cycle (read ahead, lingering,
    /// storing), each burst is stored, counted and acknowledged once a drain returns.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_drain_stores_and_acknowledges_what_was_published_while_the_loop_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("np.db")).unwrap());
        let tenant = other_tenant(&*store).await;
        let (id, now) = (clock::fresh::<MonitorId>(), clock::now());
        let record = MonitorRecord {
            id: id.clone(),
            tenant_id: tenant.clone(),
            draft: draft("db", Policy::default()),
            heartbeat_token: None,
            created_at: now,
            updated_at: now,
        };
        store.create_monitor(&tenant, &record).await.unwrap();
        let queue: Arc<dyn ResultQueue> = Arc::new(InProcessQueue::new(100));
        let commits = Arc::new(CommitWatch::default());
        let ingest = Arc::new(Ingest {
            store,
            queue: queue.clone(),
            metrics: Arc::new(Metrics::default()),
            batch_size: 4,
            linger: Duration::from_millis(20),
            rechecks: mpsc::channel(16).0,
            live: LiveBus::default(),
            commits: Some(commits.clone()),
            retention: RetentionConfig {
                raw_days: 30,
                minute_rollup_days: 90,
                hour_rollup_days: 400,
                day_rollup_days: 3650,
            },
            passes: PassGate::default(),
            outbox_written: Arc::new(Notify::new()),
        });
        let (stop, stopped) = watch::channel(false);
        let running = tokio::spawn(ingest.clone().run(stopped, Duration::from_secs(10)));
        let mut published = 0;
        for round in 0..24u64 {
            let burst: Vec<CheckResult> = (0..=round % 6).map(|_| result(&tenant, &id)).collect();
            let ticket = commits.expect(burst.iter().map(|r| r.id.clone()));
            for r in &burst {
                queue.publish(ResultEnvelope::new(r.clone(), clock::now())).await.unwrap();
            }
            published += burst.len() as u64;
            tokio::time::sleep(Duration::from_millis(round * 3 % 25)).await;
            ingest.drain().await;
            assert_eq!(ingest.metrics.results_ingested.get(), published, "round {round}: every result stored");
            assert!(ticket.wait(Duration::ZERO).await, "round {round}: every result acknowledged");
            assert_eq!(queue.depth(), 0);
        }
        stop.send(true).unwrap();
        running.await.unwrap();
    }
}

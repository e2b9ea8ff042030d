//! Ingest: takes results from the queue in batches, stores them in one transaction each
//! (results, incident state, outbox), and acknowledges the batch only once it is durable
//! (and tells [`CommitWatch`], when the gateway waits on it, which results are stored).
//! After each commit it publishes the state changes on the live bus; while
//! someone watches the dashboard it lingers at most [`LIVE_LINGER`] for a batch to fill.

use crate::clock;
use crate::live::LiveBus;
use crate::metrics::Metrics;
use crate::queue::durable::CommitWatch;
use crate::queue::{Batch, ResultQueue};
use crate::scheduler::Progress;
use crate::store::Store;
use netpulse_core::CheckResult;
use netpulse_core::MonitorId;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// The ingest loop's state.
pub struct Ingest {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn ResultQueue>,
    pub metrics: Arc<Metrics>,
    pub batch_size: usize,
    /// How long to keep collecting a batch after its first result.
    pub linger: Duration,
    /// Where to ask for confirmation re-checks.
    pub rechecks: mpsc::Sender<MonitorId>,
    /// Where committed results and changes are announced (dashboard SSE).
    pub live: LiveBus,
    /// Told which results are stored, for producers that acknowledge only durable results
    /// (the gateway with the in-process queue).
    pub commits: Option<Arc<CommitWatch>>,
}

/// The batching linger while dashboards are subscribed: check-to-dashboard latency matters
/// more than batch size then, and under load batches still fill from what is already queued.
pub const LIVE_LINGER: Duration = Duration::from_millis(1);

impl Ingest {
    /// Take one batch (waiting up to `wait` for it) and store it, retrying while the store is
    /// unavailable. Gives up on the batch only when `deadline` passes (shutdown drain).
    pub async fn try_run_once(&self, wait: Duration, deadline: Option<Instant>) -> Progress {
        let linger = match deadline {
            Some(_) => Duration::ZERO,
            None if self.live.has_subscribers() => self.linger.min(LIVE_LINGER),
            None => self.linger,
        };
        let batch = self.queue.next_batch(self.batch_size, wait, linger).await;
        if batch.items.is_empty() {
            return Progress::Idle;
        }
        self.store_batch(&batch, deadline).await;
        Progress::Progressed
    }

    async fn store_batch(&self, batch: &Batch, deadline: Option<Instant>) {
        let mut results: Vec<CheckResult> = Vec::with_capacity(batch.items.len());
        for env in &batch.items {
            match env.check_version() {
                Ok(()) => results.push(env.result.clone()),
                Err(e) => tracing::error!(error = %e, result = %env.result.id, "result refused"),
            }
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            let started = Instant::now();
            match self.store.ingest(&results, clock::now()).await {
                Ok(report) => {
                    self.metrics.ingest_batch_ms.observe_ms(started.elapsed().as_secs_f64() * 1000.0);
                    self.metrics.ingest_batches.add(1);
                    self.metrics.results_ingested.add(report.inserted as u64);
                    self.metrics.results_duplicate.add(report.duplicates as u64);
                    let now = clock::now();
                    for env in &batch.items {
                        self.metrics.check_to_ingest_ms.observe_ms(now.since(env.sent_at) as f64);
                    }
                    self.publish_live(&report);
                    self.queue.ack(batch).await;
                    if let Some(c) = &self.commits {
                        c.committed(results.iter().map(|r| &r.id));
                    }
                    for m in report.rechecks {
                        // Best effort: a full channel only means the next regular check confirms.
                        let _ = self.rechecks.try_send(m);
                    }
                    return;
                }
                Err(e) => {
                    self.metrics.ingest_errors.add(1);
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        tracing::error!(error = %e, lost = results.len(), "shutdown deadline passed; batch not stored");
                        return;
                    }
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "ingest failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Announce the state changes this batch committed (results themselves were announced
    /// when the queue accepted them: see `queue::announcing`).
    fn publish_live(&self, report: &crate::store::IngestReport) {
        if !self.live.wants_events() {
            return;
        }
        for c in &report.changes {
            self.live.change(c);
        }
    }

    /// Run until `stop`, then drain what is queued (for up to `drain_for`).
    /// A batch in progress is never cancelled: the stop flag is looked at between batches.
    pub async fn run(self, stop: watch::Receiver<bool>, drain_for: Duration) {
        while !*stop.borrow() {
            self.try_run_once(Duration::from_millis(200), None).await;
        }
        let deadline = Instant::now() + drain_for;
        while self.try_run_once(Duration::ZERO, Some(deadline)).await == Progress::Progressed {}
    }
}

//! The in-process checker for the engine's own region: runs probe jobs from the scheduler
//! with bounded concurrency and publishes their results to the result queue.

use crate::metrics::Metrics;
use crate::queue::ResultQueue;
use netpulse_checker::probe::{run_check, ProbeContext};
use netpulse_core::wire::{CheckJob, ResultEnvelope};
use netpulse_store::clock;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tracing::Instrument;

/// The in-process checker (`[checker]`): how many checks run at once.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckerConfig {
    pub concurrency: usize,
}

impl CheckerConfig {
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.concurrency == 0 || self.concurrency > 10_000 {
            return Err(("checker.concurrency", "must be between 1 and 10000".into()));
        }
        Ok(())
    }
}

/// Runs checks until the job channel closes, then waits for the checks in flight.
pub struct LocalChecker {
    pub ctx: ProbeContext,
    pub results: Arc<dyn ResultQueue>,
    pub metrics: Arc<Metrics>,
    pub concurrency: usize,
    pub worker: String,
    /// Counts the results it queued, for the local region's results/s.
    pub fleet: Arc<crate::gateway::fleet::Fleet>,
}

impl LocalChecker {
    pub async fn run(self, mut jobs: mpsc::Receiver<CheckJob>) {
        let concurrency = u32::try_from(self.concurrency).unwrap_or(u32::MAX);
        let permits = Arc::new(Semaphore::new(concurrency as usize));
        let this = Arc::new(self);
        while let Some(job) = jobs.recv().await {
            // Each check holds a permit until its result is published (or it panicked).
            let permit = permits.clone().acquire_owned().await.expect("semaphore never closes");
            let this = this.clone();
            tokio::spawn(async move {
                this.check(job).await;
                drop(permit);
            });
        }
        // Drain: results of checks already started are published before we return — every
        // permit is back once the last check in flight let go of its.
        let _all = permits.acquire_many(concurrency).await.expect("semaphore never closes");
    }

    async fn check(&self, job: CheckJob) {
        self.metrics.checks_in_flight.inc();
        let started = clock::now();
        let span =
            tracing::debug_span!("check", monitor = %job.monitor_id, region = %job.region, tenant = %job.tenant_id);
        let report = run_check(&job.spec, Duration::from_millis(u64::from(job.timeout_ms)), job.retries, &self.ctx)
            .instrument(span)
            .await;
        let finished = clock::now();
        self.metrics.checks_in_flight.dec();
        self.metrics.count_check(report.outcome);
        let result = job.result(clock::fresh(), self.worker.clone(), started, finished, report);
        // A full or unreachable queue pushes back: retry for up to 30 s, then say so loudly.
        let (region, tenant) = (result.region.clone(), result.tenant_id.clone());
        let env = ResultEnvelope::new(result, clock::now());
        match crate::queue::publish_retrying(self.results.as_ref(), env, Duration::from_secs(30)).await {
            Ok(()) => self.fleet.accepted(&region, None, &tenant, 1, clock::now()),
            Err(e) => {
                tracing::error!(error = %e, "a finished check's result was not queued; the next check replaces it")
            }
        }
    }
}

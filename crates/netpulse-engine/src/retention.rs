//! Retention: deletes raw results older than `storage.retention_days` and hourly rollups
//! older than `storage.rollup_retention_days`, in chunks so writers are never blocked long.
//! Runs at start and then hourly.

use crate::clock;
use crate::scheduler::Progress;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const CHUNK: usize = 5_000;
const DAY_MS: i64 = 86_400_000;

pub struct Retention {
    pub store: Arc<dyn Store>,
    pub results_days: u32,
    pub rollup_days: u32,
}

impl Retention {
    /// Delete one chunk of expired rows.
    pub async fn try_run_once(&self) -> Progress {
        let now = clock::now();
        let results_before = now.minus_ms(i64::from(self.results_days) * DAY_MS);
        let rollups_before = now.minus_ms(i64::from(self.rollup_days) * DAY_MS);
        match self.store.prune(results_before, rollups_before, CHUNK).await {
            Ok(n) if n >= CHUNK => Progress::Progressed,
            Ok(n) => {
                if n > 0 {
                    tracing::info!(rows = n, "retention: expired rows deleted");
                }
                Progress::Idle
            }
            Err(e) => {
                tracing::warn!(error = %e, "retention pass failed; will retry next hour");
                Progress::Idle
            }
        }
    }

    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            while self.try_run_once().await == Progress::Progressed {
                tokio::task::yield_now().await;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

//! The maintenance clock: every second, starts and ends the maintenance windows that are due
//! (`Store::advance_maintenance`, one transaction per pass, safe on several nodes).

use crate::progress::Progress;
use netpulse_store::clock;
use netpulse_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub struct MaintenanceClock {
    pub store: Arc<dyn Store>,
}

impl MaintenanceClock {
    pub async fn try_run_once(&self) -> Progress {
        match self.store.advance_maintenance(clock::now()).await {
            Ok(0) => Progress::Idle,
            Ok(n) => {
                tracing::info!(windows = n, "maintenance windows started or ended");
                Progress::Progressed
            }
            Err(e) => {
                tracing::warn!(error = %e, "maintenance clock failed; will retry");
                Progress::Idle
            }
        }
    }

    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            self.try_run_once().await;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

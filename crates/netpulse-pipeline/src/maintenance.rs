//! The maintenance clock: starts and ends the maintenance windows that are due
//! (`Store::advance_maintenance`, one transaction per pass, safe on several nodes), then
//! sleeps until the next window starts or ends (`Store::next_maintenance_change`), until told
//! a window was created or cancelled here ([`MaintenanceClock::changed`]), or for at most
//! [`MaintenanceClock::poll_max`] — an engine without windows does not wake for them.

use crate::progress::Progress;
use netpulse_store::clock;
use netpulse_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// The longest sleep of a clock alone (one engine, SQLite): it is told of every window
/// created here, so this only bounds how late a wall-clock jump can make a start or end.
pub const ALONE_POLL_MAX: Duration = Duration::from_secs(60);

/// The longest sleep with several engine nodes (PostgreSQL): a window created through
/// another node's API starts within this.
pub const SHARED_POLL_MAX: Duration = Duration::from_secs(1);

pub struct MaintenanceClock {
    pub store: Arc<dyn Store>,
    /// Notified (`notify_one`) when a window was created or cancelled on this node.
    pub changed: Arc<Notify>,
    /// The longest sleep between passes ([`ALONE_POLL_MAX`] or [`SHARED_POLL_MAX`]).
    pub poll_max: Duration,
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

    /// How long to sleep after a pass: until the next start or end, at most `poll_max`
    /// (one second when the store cannot say).
    pub async fn until_next_change(&self) -> Duration {
        match self.store.next_maintenance_change().await {
            Ok(Some(at)) => Duration::from_millis(at.since(clock::now()).max(0) as u64).min(self.poll_max),
            Ok(None) => self.poll_max,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the next maintenance change; will retry");
                Duration::from_secs(1).min(self.poll_max)
            }
        }
    }

    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            if self.try_run_once().await == Progress::Progressed {
                continue;
            }
            let sleep = self.until_next_change().await;
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = self.changed.notified() => {}
                _ = stop.changed() => return,
            }
        }
    }
}

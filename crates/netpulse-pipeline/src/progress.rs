//! What one pass of a background loop did. Every loop (scheduler, ingest, alert dispatch,
//! retention, maintenance) is a thin wait around `try_run_once() -> Progress`: the loop only
//! decides how long to wait, and tests drive the pass directly instead of sleeping. A loop
//! that must be drained while it runs (ingest, alert dispatch) takes its passes through a
//! [`PassGate`].

use std::sync::Arc;
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// Whether a pass did any work.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    Idle,
    Progressed,
}

/// Lets a caller run a loop's passes alone while the loop runs (a drain: passes until
/// [`Progress::Idle`]). The loop holds a [`PassGate::pass`] for each of its passes (several may
/// overlap: ingest reads one batch ahead while it stores the last); [`PassGate::alone`] waits
/// for the passes in flight and holds the loop's next ones back until it is dropped. Waiters
/// are served in turn, so a drain is not starved by a busy loop, and an uncontended pass costs
/// one lock.
#[derive(Clone, Default)]
pub struct PassGate(Arc<RwLock<()>>);

impl PassGate {
    /// One pass of the loop (shared with its other passes in flight).
    pub async fn pass(&self) -> OwnedRwLockReadGuard<()> {
        self.0.clone().read_owned().await
    }

    /// The loop's passes, for the caller alone: returns once the passes in flight are done.
    pub async fn alone(&self) -> OwnedRwLockWriteGuard<()> {
        self.0.clone().write_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn alone_waits_for_the_passes_in_flight_and_holds_the_next_back() {
        let gate = PassGate::default();
        let (first, second) = (gate.pass().await, gate.pass().await);
        let drain = tokio::spawn({
            let gate = gate.clone();
            async move { gate.alone().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let next = tokio::spawn({
            let gate = gate.clone();
            async move { gate.pass().await }
        });
        drop(first);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!drain.is_finished(), "a pass is still in flight");
        drop(second);
        let alone = drain.await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!next.is_finished(), "the loop's next pass waits for the drain");
        drop(alone);
        next.await.unwrap();
    }
}

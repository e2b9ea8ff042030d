//! Where the scheduler sends a region's checks: the in-process checker for the local region,
//! the gateway's per-region job queues for regions served by remote workers.

use netpulse_core::wire::CheckJob;
use std::collections::HashMap;
use tokio::sync::mpsc;

/// Why a job was not routed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("no checker serves region `{0}`")]
    NoRoute(String),
    #[error("the job queue of region `{0}` is full")]
    Full(String),
}

/// Region → job sender.
#[derive(Clone, Debug, Default)]
pub struct RegionRouter {
    routes: HashMap<String, mpsc::Sender<CheckJob>>,
}

impl RegionRouter {
    /// A router with one region (the in-process checker).
    pub fn single(region: impl Into<String>, jobs: mpsc::Sender<CheckJob>) -> Self {
        let mut r = Self::default();
        r.add(region, jobs);
        r
    }

    pub fn add(&mut self, region: impl Into<String>, jobs: mpsc::Sender<CheckJob>) {
        self.routes.insert(region.into(), jobs);
    }

    pub fn serves(&self, region: &str) -> bool {
        self.routes.contains_key(region)
    }

    /// Hand `job` to its region without waiting.
    pub fn route(&self, job: CheckJob) -> Result<(), RouteError> {
        let tx = self.routes.get(&job.region).ok_or_else(|| RouteError::NoRoute(job.region.clone()))?;
        let region = job.region.clone();
        tx.try_send(job).map_err(|_| RouteError::Full(region))
    }
}

//! Where the scheduler sends a region's checks: the in-process checker for the local region;
//! for regions served by remote workers, the gateway's in-process job queues (embedded
//! engine) or, with the Redis queue, the region's job stream ([`crate::queue::jobs`]), which
//! any gateway node reads. Stream jobs are sent in one pipeline per scheduler pass
//! ([`RegionRouter::flush`]).

use crate::queue::JobStreams;
use netpulse_core::wire::CheckJob;
use netpulse_core::Timestamp;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Why a job was not routed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("no checker serves region `{0}`")]
    NoRoute(String),
    #[error("the job queue of region `{0}` is full")]
    Full(String),
}

/// Region → job sender or job stream.
#[derive(Clone, Default)]
pub struct RegionRouter {
    routes: HashMap<String, mpsc::Sender<CheckJob>>,
    streamed: HashSet<String>,
    streams: Option<Arc<JobStreams>>,
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

    /// Send `region`'s jobs to its stream in `streams`.
    pub fn add_stream(&mut self, region: impl Into<String>, streams: Arc<JobStreams>) {
        self.streamed.insert(region.into());
        self.streams = Some(streams);
    }

    pub fn serves(&self, region: &str) -> bool {
        self.routes.contains_key(region) || self.streamed.contains(region)
    }

    /// Hand `job` to its region without waiting (a streamed one at the next
    /// [`RegionRouter::flush`]); it is not worth running after `expires`.
    pub fn route(&self, job: CheckJob, expires: Timestamp) -> Result<(), RouteError> {
        if let (true, Some(streams)) = (self.streamed.contains(&job.region), &self.streams) {
            streams.queue(job, expires);
            return Ok(());
        }
        let tx = self.routes.get(&job.region).ok_or_else(|| RouteError::NoRoute(job.region.clone()))?;
        let region = job.region.clone();
        tx.try_send(job).map_err(|_| RouteError::Full(region))
    }

    /// Send the streamed jobs routed since the last flush; returns how many were dropped
    /// because Redis did not take them.
    pub async fn flush(&self) -> usize {
        match &self.streams {
            Some(s) => s.flush().await,
            None => 0,
        }
    }
}

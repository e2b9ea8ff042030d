//! What the gateway reports about remote regions: the views of regions and workers one
//! tenant sees ([`RegionView`], [`WorkerHealth`]), and a region's availability change
//! recorded on every monitor that checks from it ([`observe_region`]).

use netpulse_core::incident::Observation;
use netpulse_core::{MonitorId, TenantId, Timestamp};
use netpulse_store::Store;
use serde::Serialize;
use std::collections::HashSet;

/// The version alone from a worker's agent string (`netpulse-worker 0.1.0` → `0.1.0`).
pub(super) fn version_of(agent: &str) -> String {
    agent.rsplit(' ').next().unwrap_or_default().to_owned()
}

/// A worker's health as one tenant sees it.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerHealth {
    pub name: String,
    pub region: String,
    pub serial: String,
    /// The build the worker reports (`netpulse-worker 0.1.0`), and its version alone.
    pub agent: String,
    pub version: String,
    /// Its last request (lease or results).
    pub last_seen: Timestamp,
    /// Checks it was running when it last asked for jobs.
    pub in_flight: u32,
    /// This tenant's results it delivered that the gateway accepted since the engine
    /// started, and per second over the last minute.
    pub results_total: u64,
    pub results_per_s: f64,
    pub live: bool,
}

/// A region as one tenant sees it.
#[derive(Clone, Debug, Serialize)]
pub struct RegionView {
    pub region: String,
    /// `local` (in-process checker) or `workers` (remote, through the gateway).
    pub served_by: &'static str,
    pub status: &'static str,
    pub live_workers: usize,
    /// This tenant's results accepted from the region per second over the last minute
    /// (counted as accepted, not summed from what workers report).
    pub results_per_s: f64,
    pub queued_jobs: usize,
    pub workers: Vec<WorkerHealth>,
}

/// Monitors whose region change is recorded at once (each its own transaction under the
/// monitor's row lock, so they never contend): a region with tens of thousands of monitors
/// takes seconds, not minutes.
const OBSERVED_AT_ONCE: usize = 16;

/// Record the availability change on every monitor of `region`; returns their tenants.
pub(super) async fn observe_region(store: &dyn Store, region: &str, online: bool, now: Timestamp) -> HashSet<TenantId> {
    let monitors = match store.schedulable_monitors().await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, region, "cannot load monitors to report region availability");
            return HashSet::new();
        }
    };
    let of_region: Vec<_> = monitors
        .iter()
        .filter(|m| m.record.draft.regions.iter().any(|r| r == region))
        .map(|m| (&m.record.tenant_id, &m.record.id))
        .collect();
    for chunk in of_region.chunks(OBSERVED_AT_ONCE) {
        let each = chunk.iter().map(|(t, m)| observe_one(store, t, m, region, online, now));
        futures_util::future::join_all(each).await;
    }
    of_region.into_iter().map(|(t, _)| t.clone()).collect()
}

async fn observe_one(store: &dyn Store, t: &TenantId, m: &MonitorId, region: &str, online: bool, now: Timestamp) {
    let obs = Observation::RegionAvailability { at: now, region: region.to_owned(), online };
    if let Err(e) = store.observe(t, m, obs, now).await {
        tracing::warn!(error = %e, monitor = %m, region, "cannot record region availability");
    }
}

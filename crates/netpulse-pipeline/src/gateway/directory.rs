//! Which monitors exist, in which tenant, checked from which regions — so that a worker can
//! only report results for monitors that check from its certificate's region, and the
//! result's tenant comes from the store, never from what the worker sent.
//!
//! A cache of the store's monitor list, refreshed every 10 s and, at most once a second, on
//! a miss (a monitor created a moment ago).

use netpulse_core::{MonitorId, TenantId, Timestamp};
use netpulse_store::clock;
use netpulse_store::Store;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;

const REFRESH_MS: i64 = 10_000;
const MISS_REFRESH_MS: i64 = 1_000;

struct Snapshot {
    monitors: HashMap<MonitorId, (TenantId, Vec<String>)>,
    loaded_at: Option<Timestamp>,
}

pub struct MonitorDirectory {
    store: Arc<dyn Store>,
    snapshot: Mutex<Snapshot>,
}

impl MonitorDirectory {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, snapshot: Mutex::new(Snapshot { monitors: HashMap::new(), loaded_at: None }) }
    }

    /// The tenant of `monitor` if it exists and checks from `region`.
    pub async fn tenant_for(&self, monitor: &MonitorId, region: &str) -> Option<TenantId> {
        let mut snap = self.snapshot.lock().await;
        let now = clock::now();
        let age = snap.loaded_at.map_or(i64::MAX, |t| now.since(t));
        let known = snap.monitors.contains_key(monitor);
        if age >= REFRESH_MS || (!known && age >= MISS_REFRESH_MS) {
            match self.store.schedulable_monitors().await {
                Ok(list) => {
                    // Workers never report for the demo organisation: its results are seeded.
                    let real = list.into_iter().filter(|m| !netpulse_store::demo::is_demo(&m.tenant_id));
                    snap.monitors = real.map(|m| (m.record.id, (m.tenant_id, m.record.draft.regions))).collect();
                    snap.loaded_at = Some(now);
                }
                Err(e) => tracing::warn!(error = %e, "gateway cannot refresh its monitor directory"),
            }
        }
        let (tenant, regions) = snap.monitors.get(monitor)?;
        regions.iter().any(|r| r == region).then(|| tenant.clone())
    }
}

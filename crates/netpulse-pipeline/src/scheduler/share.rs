//! What one scheduler holds of the monitors: the store partitions
//! ([`netpulse_store::partition_of`]) it schedules — every one, or with Redis the share of
//! partitions this node owns —, each loaded whole when taken and dropped when lost, and kept
//! current by reading only the ids and versions of its unpaused monitors: a monitor whose
//! version is not the one held is read again, one no longer listed (paused, deleted) is
//! dropped. Versions are compared, not read "since" a time: `updated_at` comes from the
//! writer's clock and writers commit out of order, so a time mark would miss changes.

use netpulse_core::{MonitorId, Timestamp};
use netpulse_store::{ScheduledMonitor, Store, StoreResult};
use std::collections::{BTreeSet, HashMap, HashSet};

/// The store partitions that make up schedule partitions `owned` of `of` (a divisor of the
/// store's partitions, [`crate::queue::owners::partition_of`]).
pub fn store_partitions(owned: &[usize], of: usize) -> BTreeSet<u32> {
    let of = of.max(1);
    (0..netpulse_store::monitors::PARTITIONS).filter(|s| owned.contains(&(*s as usize % of))).collect()
}

/// One read of the store for the scheduler, run beside its loop.
pub struct Read {
    /// Partitions just taken: read whole.
    pub take: Vec<u32>,
    /// Partitions held: read their ids and versions, and the monitors changed.
    pub check: Vec<u32>,
    /// The version of every monitor held in `check`.
    pub known: HashMap<MonitorId, Timestamp>,
    /// Monitors outside the partitions held that a re-check was asked for.
    pub extra: Vec<MonitorId>,
    /// When the read was asked for (what monitors of partitions taken are scheduled from).
    pub at: Timestamp,
}

/// What a [`Read`] found.
pub struct Delta {
    pub taken: Vec<u32>,
    pub checked: Vec<u32>,
    /// The unpaused monitors of `checked` now: any other held there is gone.
    pub present: HashSet<MonitorId>,
    /// Monitors to hold as they are now: all of `taken`'s, those of `checked` whose version
    /// changed or that are new, and those of `extra` that exist.
    pub fresh: Vec<ScheduledMonitor>,
    pub at: Timestamp,
    /// How long the read took.
    pub took: std::time::Duration,
}

impl Read {
    pub fn is_empty(&self) -> bool {
        self.take.is_empty() && self.check.is_empty() && self.extra.is_empty()
    }

    pub async fn run(self, store: &dyn Store) -> StoreResult<Delta> {
        let start = std::time::Instant::now();
        let mut fresh =
            if self.take.is_empty() { Vec::new() } else { store.schedulable_monitors_in(&self.take).await? };
        let mut present = HashSet::new();
        let mut changed = self.extra;
        if !self.check.is_empty() {
            for (id, version) in store.schedulable_versions_in(&self.check).await? {
                if self.known.get(&id) != Some(&version) {
                    changed.push(id.clone());
                }
                present.insert(id);
            }
        }
        if !changed.is_empty() {
            fresh.extend(store.schedulable_monitors_by_id(&changed).await?);
        }
        Ok(Delta { taken: self.take, checked: self.check, present, fresh, at: self.at, took: start.elapsed() })
    }
}

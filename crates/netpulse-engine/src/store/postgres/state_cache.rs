//! Each store's (each engine node's) copy of the state rows it last wrote, so that ingest
//! reads a monitor's state from the database only when another writer has changed it.
//!
//! Every write of a `monitor_state` row bumps its `version` (see [`super::state`]). After a
//! batch commits, ingest remembers each stepped monitor's new state, displayed status and
//! version here. The next batch still locks the monitors' rows (as every writer of their
//! state does) and then reads each state row's version, passing the cached one: a row comes
//! with its state only when its version differs — another node ingested that monitor, an
//! incident command or maintenance stepped it — so a stale entry is never stepped from, and
//! a missing one only costs a read. An edit of the monitor (its policy, a tenant default
//! touching its row) needs no check here: the state does not depend on the draft, the facts
//! are taken by the `monitors` row's current version from the draft cache, and the parent's
//! state is read in every batch and put into the state by `plan`.

use crate::store::*;
use std::collections::HashMap;
use std::sync::Mutex;

/// Past this many entries the cache starts over (memory stays bounded; misses refill it).
const MAX_ENTRIES: usize = 1 << 20;

/// A state row as this node last committed it.
pub struct CachedState {
    /// The state row's version after that write.
    pub version: i64,
    pub state: MonitorState,
    pub status: MonitorStatus,
}

/// The state rows this node last wrote, by monitor id.
#[derive(Default)]
pub struct StateCache {
    states: Mutex<HashMap<MonitorId, CachedState>>,
}

impl StateCache {
    /// Take the cached entries of these monitors out of the cache. The batch puts back what
    /// it commits ([`StateCache::remember`]); a batch that fails leaves misses, never a stale
    /// entry.
    pub fn take<'a>(&self, monitors: impl Iterator<Item = &'a MonitorId>) -> HashMap<MonitorId, CachedState> {
        let mut states = self.states.lock().expect("state cache");
        monitors.filter_map(|m| states.remove_entry(m)).collect()
    }

    /// Remember states just committed.
    pub fn remember(&self, committed: Vec<(MonitorId, CachedState)>) {
        let mut states = self.states.lock().expect("state cache");
        if states.len() + committed.len() > MAX_ENTRIES {
            states.clear();
        }
        states.extend(committed);
    }

    /// Forget a monitor (deleted on this node; other nodes' entries only go unused).
    pub fn forget(&self, m: &MonitorId) {
        self.states.lock().expect("state cache").remove(m);
    }
}

//! Ingest's memory of the monitors it steps, and the partition rows that keep every engine
//! node's memory true.
//!
//! A result usually changes nothing about how its monitor behaves: an up monitor that is up
//! again, a down one still failing. Ingest keeps each monitor it stepped — tenant, parsed
//! draft, machine state, displayed status — in this node's [`HotCache`], steps the next
//! results from there, and writes the state row back only when the new state no longer
//! behaves like the stored one ([`MonitorState::behaves_like`]: a verdict, an incident, a
//! notice, a timer changed), when it made other writes, or when the row has gone unwritten
//! for [`REFRESH_AFTER`]. A steady monitor's results cost their `check_results` row and the
//! hourly rollup, not a read, a lock and a write of its state per batch. The displayed
//! "last checked" is read from the newest stored result (postgres/monitors.rs).
//!
//! Keeping memory true across writers: monitors fall into [`PARTITIONS`] partitions
//! ([`partition_of`]), one `state_partitions` row each, with a version.
//! - An ingest transaction locks the rows of its batch's partitions (in order, after
//!   inserting the results), and holds them until commit: two ingest transactions stepping
//!   monitors of one partition run one after the other.
//! - Every other writer of a monitor's state or facts — incident commands, maintenance,
//!   region availability, the timer sweep, a monitor edit or delete, a change of the
//!   organisation's defaults — calls [`touch`] first in its transaction: it locks the same
//!   rows (same order), bumps their versions and logs each monitor it will change in
//!   `state_touches` under the new version. Ingest logs the monitors whose rows it wrote the
//!   same way ([`log`]).
//! - Under its locks, ingest compares each partition's version with the one its memory is
//!   synchronised to; where another writer moved it, it reads the touches since and drops
//!   those monitors from memory ([`HotCache::sync`]); they are read again from their rows.
//!
//! So a monitor's state in memory is always the stored one or one that behaves like it, and a
//! node that takes over a monitor (or two nodes ingesting it in turn) steps the stored row with
//! the same effects ([`MonitorState::behaves_like`] is tested for exactly that). Touches older
//! than ten minutes are pruned; a partition this node has not synchronised for five minutes is
//! dropped from its memory instead of being caught up.

use super::facts::Parsed;
use super::state::{FactInputs, ParentState};
use crate::plan::{EnabledChannel, MonitorFacts};
use crate::*;
use netpulse_core::incident::MonitorState;
use netpulse_core::{MonitorId, TenantId};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_postgres::types::Type;
use tokio_postgres::Transaction;

/// Partitions of the monitors (rows of `state_partitions`, created by the migration).
pub const PARTITIONS: u32 = crate::monitors::PARTITIONS;
/// A state row is written at least this often while its monitor reports, so that its stored
/// display columns and report times are never older than this.
pub const REFRESH_AFTER: Duration = Duration::from_secs(300);
/// Touches are kept this long (by the database's clock).
const KEEP_TOUCHES_MS: i64 = 600_000;
/// A partition this node has not synchronised for this long is dropped instead of caught up
/// from touches (well inside [`KEEP_TOUCHES_MS`]).
const SYNC_WITHIN: Duration = Duration::from_secs(300);
/// How often a node prunes old touches.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Past this many monitors (~1–2 KB each) whole partitions are dropped from memory until a
/// quarter is free again (misses refill them).
const MAX_ENTRIES: usize = 250_000;

/// The partition of a monitor ([`crate::monitors::partition_of`]).
pub fn partition_of(m: &MonitorId) -> i32 {
    crate::monitors::partition_of(m) as i32
}

/// The partitions of these monitors, each once, in lock order.
fn partitions<'a>(monitors: impl Iterator<Item = &'a MonitorId>) -> BTreeMap<i32, Vec<&'a str>> {
    let mut by: BTreeMap<i32, Vec<&str>> = BTreeMap::new();
    for m in monitors {
        by.entry(partition_of(m)).or_default().push(m.as_str());
    }
    by
}

/// Lock these partitions' rows (in order) and read their versions.
pub async fn lock(tx: &Transaction<'_>, parts: &[i32]) -> StoreResult<HashMap<i32, i64>> {
    let rows = tx
        .query_typed(
            "SELECT p, version FROM state_partitions WHERE p = ANY($1) ORDER BY p FOR NO KEY UPDATE",
            &[(&parts, Type::INT4_ARRAY)],
        )
        .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// Bump the versions of the (locked) partitions of `monitors` and log each monitor under its
/// partition's new version; returns the new versions.
pub async fn log<'a>(
    tx: &Transaction<'_>,
    monitors: impl Iterator<Item = &'a MonitorId>,
) -> StoreResult<HashMap<i32, i64>> {
    let by = partitions(monitors);
    if by.is_empty() {
        return Ok(HashMap::new());
    }
    let parts: Vec<i32> = by.keys().copied().collect();
    let rows = tx
        .query_typed(
            "UPDATE state_partitions SET version = version + 1 WHERE p = ANY($1) RETURNING p, version",
            &[(&parts, Type::INT4_ARRAY)],
        )
        .await?;
    let versions: HashMap<i32, i64> =
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<StoreResult<_>>()?;
    let (mut ps, mut vs, mut ms) = (Vec::new(), Vec::new(), Vec::new());
    for (p, monitors) in &by {
        let v = *versions.get(p).ok_or_else(|| StoreError::Internal(format!("state partition {p} is missing")))?;
        for m in monitors {
            ps.push(*p);
            vs.push(v);
            ms.push(*m);
        }
    }
    tx.execute_typed(
        "INSERT INTO state_touches (p, version, monitor_id) SELECT * FROM UNNEST($1::int4[], $2::int8[], $3::text[]) \
         ON CONFLICT DO NOTHING",
        &[(&ps, Type::INT4_ARRAY), (&vs, Type::INT8_ARRAY), (&ms, Type::TEXT_ARRAY)],
    )
    .await?;
    Ok(versions)
}

/// For every writer of monitors' state or facts other than ingest: lock their partitions and
/// log them (see the module doc). Call it first in the transaction, before locking any
/// `monitors` row, so that every transaction takes partitions before monitors.
pub async fn touch(tx: &Transaction<'_>, monitors: &[&MonitorId]) -> StoreResult<()> {
    if monitors.is_empty() {
        return Ok(());
    }
    let parts: Vec<i32> = partitions(monitors.iter().copied()).into_keys().collect();
    lock(tx, &parts).await?;
    log(tx, monitors.iter().copied()).await?;
    Ok(())
}

/// [`touch`] every monitor of a tenant (a change of its defaults).
pub async fn touch_tenant(tx: &Transaction<'_>, t: &TenantId) -> StoreResult<()> {
    let rows = tx.query_typed("SELECT id FROM monitors WHERE tenant_id = $1", &[(&t.as_str(), Type::TEXT)]).await?;
    let ids: Vec<MonitorId> =
        rows.iter().map(|r| Ok(MonitorId::from_trusted(r.try_get(0)?))).collect::<StoreResult<_>>()?;
    touch(tx, &ids.iter().collect::<Vec<_>>()).await
}

/// The monitors logged in these partitions after the given versions.
async fn touched_since(tx: &Transaction<'_>, behind: &[(i32, i64)]) -> StoreResult<Vec<(i32, MonitorId)>> {
    let parts: Vec<i32> = behind.iter().map(|b| b.0).collect();
    let seen: Vec<i64> = behind.iter().map(|b| b.1).collect();
    let rows = tx
        .query_typed(
            "SELECT t.p, t.monitor_id FROM state_touches t \
             JOIN UNNEST($1::int4[], $2::int8[]) AS k(p, seen) ON t.p = k.p AND t.version > k.seen",
            &[(&parts, Type::INT4_ARRAY), (&seen, Type::INT8_ARRAY)],
        )
        .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, MonitorId::from_trusted(r.try_get(1)?)))).collect()
}

/// A monitor as this node's ingest last committed it.
pub struct Hot {
    pub tenant: TenantId,
    pub draft: Arc<Parsed>,
    /// The facts last built from the draft, with the channels and parent state they were built
    /// from (rebuilt when those differ).
    pub facts: Option<BuiltFacts>,
    pub state: MonitorState,
    pub status: MonitorStatus,
    /// When this node last wrote (or read) the state row; `None`: there is no row yet.
    pub written: Option<Instant>,
}

/// A monitor's facts and the inputs besides its draft they were built from.
pub struct BuiltFacts {
    pub facts: MonitorFacts,
    pub channels: Vec<EnabledChannel>,
    pub parent: Option<ParentState>,
}

impl Hot {
    /// What stepping the monitor takes: its facts for these inputs (built anew only when they
    /// differ from the last ones), and its state and status to move.
    pub fn parts(
        &mut self,
        m: &MonitorId,
        inputs: &FactInputs,
    ) -> (&MonitorFacts, &mut MonitorState, &mut MonitorStatus) {
        let (channels, parent) = (inputs.channels(&self.tenant), inputs.parent(&self.tenant, &self.draft));
        let built = match self.facts.take() {
            Some(b) if b.channels == channels && b.parent == parent => b,
            _ => BuiltFacts { facts: inputs.facts(m, &self.tenant, &self.draft), channels: channels.to_vec(), parent },
        };
        let built = self.facts.insert(built);
        (&built.facts, &mut self.state, &mut self.status)
    }

    /// Whether the row must be written although the state behaves like the stored one.
    pub fn due(&self) -> bool {
        self.written.is_none_or(|w| w.elapsed() >= REFRESH_AFTER)
    }
}

struct Partition {
    /// The partition's version that `monitors` is synchronised to.
    version: i64,
    synced: Instant,
    monitors: HashMap<MonitorId, Box<Hot>>,
}

/// This node's memory of the monitors its ingest stepped, by partition.
#[derive(Default)]
pub struct HotCache {
    partitions: Mutex<HashMap<i32, Partition>>,
    /// Held by an ingest transaction from taking its partition locks until its monitors are
    /// back in memory, so that two batches of this node never put back states out of order.
    section: tokio::sync::Mutex<()>,
    last_prune: Mutex<Option<Instant>>,
}

impl HotCache {
    /// Lock the partitions of `monitors` in `tx` and bring memory up to date with their
    /// versions: drop the monitors other writers logged since, or all of a partition not
    /// synchronised for [`SYNC_WITHIN`]. Returns the guard of this node's ingest section,
    /// to be held until [`HotCache::put`].
    pub async fn sync<'a>(
        &'a self,
        tx: &Transaction<'_>,
        monitors: impl Iterator<Item = &MonitorId>,
    ) -> StoreResult<tokio::sync::MutexGuard<'a, ()>> {
        let guard = self.section.lock().await;
        let parts: Vec<i32> = partitions(monitors).into_keys().collect();
        let versions = lock(tx, &parts).await?;
        let behind: Vec<(i32, i64)> = {
            let mut mem = self.partitions.lock().expect("hot cache");
            let mut behind = Vec::new();
            for (p, v) in &versions {
                match mem.get_mut(p) {
                    Some(part) if part.synced.elapsed() >= SYNC_WITHIN => part.monitors.clear(),
                    Some(part) if part.version != *v => behind.push((*p, part.version)),
                    _ => {}
                }
            }
            behind
        };
        let touched = if behind.is_empty() { Vec::new() } else { touched_since(tx, &behind).await? };
        let mut mem = self.partitions.lock().expect("hot cache");
        for (p, m) in &touched {
            if let Some(part) = mem.get_mut(p) {
                part.monitors.remove(m);
            }
        }
        // Every change logged up to these versions is now out of memory (the rows stay locked
        // until commit, so none is logged in between).
        let now = Instant::now();
        for (p, v) in versions {
            let part = mem.entry(p).or_insert_with(|| Partition { version: v, synced: now, monitors: HashMap::new() });
            part.version = v;
            part.synced = now;
        }
        Ok(guard)
    }

    /// Take these monitors out of memory (the batch puts back what it commits; a batch that
    /// fails leaves misses, never a stale entry).
    pub fn take<'a>(&self, monitors: impl Iterator<Item = &'a MonitorId>) -> HashMap<MonitorId, Box<Hot>> {
        let mut mem = self.partitions.lock().expect("hot cache");
        monitors
            .filter_map(|m| {
                let part = mem.get_mut(&partition_of(m))?;
                part.monitors.remove_entry(m)
            })
            .collect()
    }

    /// Put back the monitors a batch committed; `logged` are the versions its own [`log`]
    /// gave (its own touches need no dropping).
    pub fn put(&self, logged: &HashMap<i32, i64>, monitors: HashMap<MonitorId, Box<Hot>>) {
        let mut mem = self.partitions.lock().expect("hot cache");
        let mut held: usize = mem.values().map(|p| p.monitors.len()).sum::<usize>() + monitors.len();
        if held > MAX_ENTRIES {
            for part in mem.values_mut() {
                if held <= MAX_ENTRIES * 3 / 4 {
                    break;
                }
                held -= part.monitors.len();
                part.monitors.clear();
            }
        }
        for (p, v) in logged {
            if let Some(part) = mem.get_mut(p) {
                // Only from the version this batch read under its locks to the one it wrote.
                if part.version == v - 1 {
                    part.version = *v;
                }
            }
        }
        for (m, hot) in monitors {
            if let Some(part) = mem.get_mut(&partition_of(&m)) {
                part.monitors.insert(m, hot);
            }
        }
    }

    /// Forget a monitor (deleted through this store).
    pub fn forget(&self, m: &MonitorId) {
        if let Some(part) = self.partitions.lock().expect("hot cache").get_mut(&partition_of(m)) {
            part.monitors.remove(m);
        }
    }

    /// Whether it is time for this node to prune old touches.
    pub fn prune_due(&self) -> bool {
        let mut last = self.last_prune.lock().expect("hot cache");
        if last.is_some_and(|l| l.elapsed() < PRUNE_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

/// Delete touches older than [`KEEP_TOUCHES_MS`] (by the database's clock).
pub async fn prune(c: &tokio_postgres::Client) -> StoreResult<u64> {
    Ok(c.execute_typed(
        "DELETE FROM state_touches WHERE at < (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $1",
        &[(&KEEP_TOUCHES_MS, Type::INT8)],
    )
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_spread() {
        // Fixed values (FNV-1a 32 of the id's bytes, modulo 64): every node and every engine
        // version must agree on a monitor's partition.
        assert_eq!(partition_of(&MonitorId::from_trusted("mon_01".into())), 29);
        assert_eq!(partition_of(&MonitorId::from_trusted(format!("mon_{}", "0".repeat(26)))), 10);
        let mut counts = [0u32; PARTITIONS as usize];
        for i in 0..64_000 {
            counts[partition_of(&MonitorId::from_trusted(format!("mon_{i:08}"))) as usize] += 1;
        }
        assert!(counts.iter().all(|&n| (800..1200).contains(&n)), "{counts:?}");
    }
}

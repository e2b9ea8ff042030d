//! Retiring a day of raw results (see [`days`](super::days)), in one transaction: its
//! partition is locked `EXCLUSIVE` (readers go on, nothing can be written to it), its rows are
//! counted into the minute rollups by one `INSERT … SELECT … GROUP BY` (live results of the
//! minutes the minute rollups still keep: older ones would be dropped at once), and it is
//! dropped. Each result is counted in raw results or in minute rollups, never both and never
//! neither, for every reader:
//! - the fold and the drop commit together, and the step holds the retention lock, so no other
//!   node folds the day meanwhile;
//! - `DROP TABLE` of a partition takes `ACCESS EXCLUSIVE` on `check_results` until commit. A
//!   reader's statement (`tally_window` reads raw results and rollups in one statement, which
//!   locks `check_results` first) either locked it before the drop asked — then the drop waits
//!   for the reader's transaction to end, and the reader's snapshot, taken after its locks,
//!   predates the fold's commit: raw rows, no rollup for them — or it waits behind the drop,
//!   is planned after the commit (without the partition) and reads the rollups;
//! - the `EXCLUSIVE` lock keeps late writes out: a transaction still inserting into the day
//!   (only a node whose clock is off by more than the acceptance margin could) waits, then
//!   deadlocks with the drop; PostgreSQL aborts one of the two and both callers retry (the row
//!   then lands in the default partition and is folded row by row). A monitor deleted at that
//!   moment meets the same deadlock.
//!
//! Where the minute rows go: when the day has no minute-rollup partition yet and no minute row
//! in the default one (always, but for days from before migration 17 and for late results
//! folded row by row), into a new table for the day, written without an index, its key built
//! once, and attached as the day's minute-rollup partition after the drop (so every
//! transaction takes the two tables' locks in the order readers do: results, then minute
//! rollups). Adding each row to the key of a table holding weeks of minute rows instead took
//! three times as long in a scratch experiment. Otherwise the rows are added to
//! `uptime_minute` with `ON CONFLICT DO UPDATE`, like the row-by-row fold.

use super::days::{
    self, drop_with_retries, is_lock_timeout, quoted, take_partition, Partition, DAY_MS, LOCK_WAIT, MINUTES,
};
use crate::StoreResult;
use netpulse_core::retention::Horizons;
use std::time::Instant;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

/// Memory for the fold's grouping of one day (`work_mem`, per retention step).
const FOLD_WORK_MEM: &str = "64MB";

/// How retiring a partition (or dropping a minute-rollup partition) went.
pub(super) enum Retired {
    /// Folded (if results) and dropped: how many results, whether their minute rows went into
    /// a new partition, and where the time went (the fold; the drop's tries and the commit).
    Done { results: usize, bulk: bool, fold_ms: u64, drop_ms: u64, tries: u32 },
    /// Already dropped (by another node, between this node's transactions).
    Gone,
    /// Another node holds the retention lock.
    Busy,
    /// A lock stayed busy; kept for the next step.
    Waited,
}

/// Fold the rows of result partition `p` (wholly before `h.raw`) into the minute rollups and
/// drop it, in one transaction (see the module docs).
pub(super) async fn retire(c: &mut Client, p: &Partition, h: &Horizons) -> StoreResult<Retired> {
    let mut tx = match take_partition(c, &p.name).await? {
        Ok(tx) => tx,
        Err(not) => return Ok(not),
    };
    let table = quoted(&p.name);
    let locked = tx
        .batch_execute(&format!(
            "SET LOCAL lock_timeout = '{LOCK_WAIT}'; SET LOCAL work_mem = '{FOLD_WORK_MEM}'; \
             LOCK TABLE {table} IN EXCLUSIVE MODE"
        ))
        .await;
    match locked {
        Err(e) if is_lock_timeout(&e) => {
            tx.rollback().await?;
            return Ok(Retired::Waited);
        }
        other => other?,
    }
    let t0 = Instant::now();
    // A new minute-rollup partition for the day, when it can have one and needs one.
    let mut new_day = p.day().filter(|&day| day + DAY_MS > h.minute.millis());
    if let Some(day) = new_day {
        let empty: bool =
            tx.query_typed_one(&format!("SELECT NOT EXISTS (SELECT 1 FROM {table})"), &[]).await?.try_get(0)?;
        let taken = empty || days::list(&tx, MINUTES).await?.iter().any(|m| m.overlaps(day, day + DAY_MS));
        let in_default: bool = tx
            .query_typed_one(
                "SELECT EXISTS (SELECT 1 FROM uptime_minute_default WHERE minute_start >= $1 AND minute_start < $2)",
                &[(&day, Type::INT8), (&(day + DAY_MS), Type::INT8)],
            )
            .await?
            .try_get(0)?;
        if taken || in_default {
            new_day = None;
        }
    }
    let minute = new_day.map(|day| quoted(&days::name_of(MINUTES, day)));
    if let (Some(day), Some(minute)) = (new_day, &minute) {
        tx.batch_execute(&format!(
            "CREATE TABLE {minute} (LIKE uptime_minute INCLUDING DEFAULTS INCLUDING CONSTRAINTS); \
             ALTER TABLE {minute} ADD CHECK (minute_start >= {day} AND minute_start < {})",
            day + DAY_MS
        ))
        .await?;
    }
    let sql = match &minute {
        Some(minute) => fold_day(&table, minute, ""),
        None => fold_day(&table, "uptime_minute", minute_upsert!()),
    };
    let results: i64 = tx.query_typed_one(&sql, &[(&h.minute.millis(), Type::INT8)]).await?.try_get(0)?;
    let mut drop = format!("DROP TABLE {table}");
    if let (Some(day), Some(minute)) = (new_day, &minute) {
        tx.batch_execute(&format!(
            "ALTER TABLE {minute} ADD PRIMARY KEY (tenant_id, monitor_id, minute_start, region)"
        ))
        .await?;
        let to = day + DAY_MS;
        drop.push_str(&format!(
            "; ALTER TABLE uptime_minute ATTACH PARTITION {minute} FOR VALUES FROM ({day}) TO ({to})"
        ));
    }
    let (fold_ms, t1) = (t0.elapsed().as_millis() as u64, Instant::now());
    let Some(tries) = drop_with_retries(&mut tx, &drop).await? else {
        tx.rollback().await?;
        return Ok(Retired::Waited);
    };
    tx.commit().await?;
    let drop_ms = t1.elapsed().as_millis() as u64;
    Ok(Retired::Done { results: results as usize, bulk: new_day.is_some(), fold_ms, drop_ms, tries })
}

/// Fold every row of result partition `table` into minute-rollup table `target` (`upsert`:
/// how to add to rows that exist, if any can), for the minutes from `$1` on (the minute
/// horizon); returns how many rows it held, live or not (only live ones are counted in
/// rollups).
fn fold_day(table: &str, target: &str, upsert: &str) -> String {
    let live = "FILTER (WHERE provenance = 'live')";
    let live_and = |outcome: &str| format!("FILTER (WHERE provenance = 'live' AND outcome = '{outcome}')");
    format!(
        "WITH day AS ( \
           SELECT tenant_id, monitor_id, (started_at / 60000) * 60000 AS minute_start, region, COUNT(*) AS n, \
             COUNT(*) {live} AS live, COUNT(*) {up} AS up, COUNT(*) {degraded} AS degraded, \
             COUNT(*) {down} AS down, COUNT(*) {error} AS error, COUNT(total_ms) {live} AS latency_count, \
             COALESCE(SUM(total_ms) {live}, 0) AS latency_sum_ms, MIN(total_ms) {live} AS latency_min_ms, \
             MAX(total_ms) {live} AS latency_max_ms \
           FROM {table} GROUP BY 1, 2, 3, 4), \
         folded AS ( \
           INSERT INTO {target} (tenant_id, monitor_id, minute_start, region, up, degraded, down, error, \
             latency_count, latency_sum_ms, latency_min_ms, latency_max_ms) \
           SELECT tenant_id, monitor_id, minute_start, region, up, degraded, down, error, latency_count, \
             latency_sum_ms, latency_min_ms, latency_max_ms FROM day WHERE live > 0 AND minute_start >= $1 \
           {upsert} RETURNING 1) \
         SELECT COALESCE(SUM(n), 0)::BIGINT FROM day",
        up = live_and("up"),
        degraded = live_and("degraded"),
        down = live_and("down"),
        error = live_and("error"),
    )
}

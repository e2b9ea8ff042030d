//! Raw results and minute rollups by UTC day (migration 17): `check_results` is partitioned
//! by range of `started_at`, `uptime_minute` by range of `minute_start`, one partition per UTC
//! day (`<table>_YYYYMMDD`). Each has a default partition (`<table>_default`) for a day no
//! other partition takes, and a database that held rows before migration 17 keeps them where
//! they were, as the partition `<table>_legacy` for every start up to the end of the day of
//! its newest row (results: at least the day it was migrated).
//!
//! **Made ahead.** Every retention step ([`step`]) first makes the result partitions of the
//! days from the step's `now` to [`AHEAD_DAYS`] later that do not exist yet (migration 17 made
//! those of its own day and the week after). Each is created beside the table, given the rows
//! the default partition holds for its day, and attached ([`make`]): attaching takes only a
//! `SHARE UPDATE EXCLUSIVE` lock on `check_results`, which neither ingest nor readers conflict
//! with, plus an `ACCESS EXCLUSIVE` lock on the default partition, taken first so no row of
//! the day can slip into it between the move and the attach. Ingest never fails for lack of a
//! partition: a result of a day without one (a worker's clock far ahead, a day from before
//! the install) lands in the default partition, is moved into its day's partition when that
//! is made, and if it is still there when its day passes the raw horizon it is folded row by
//! row, as every raw result was before partitions. A row routed into the default partition in
//! the instant its day's partition is attached fails with a partition-constraint violation,
//! which the store reports as retryable (`postgres/mod.rs`): sent again, it goes to the new
//! partition.
//!
//! **Retired whole.** Then every result partition whose upper bound is at or before the raw
//! horizon (a UTC midnight, [`Horizons::raw`]) is folded into the minute rollups and dropped
//! in one transaction ([`retire`]), and every minute-rollup partition wholly before the minute
//! horizon's day is dropped (the hourly rollups hold the same checks). Minute-rollup
//! partitions are made by the fold of their day of results.
//!
//! Dropping a partition takes an `ACCESS EXCLUSIVE` lock on its table (and the table's default
//! partition) until commit: it waits for the transactions using the table to end and holds up
//! new ones behind it. So a drop waits at most [`LOCK_WAIT`] at a time, and on a timeout
//! returns to a savepoint and tries again after [`DROP_PAUSE`], up to [`DROP_ATTEMPTS`] times;
//! then the step leaves the day (rolled back whole) to the next one. Every step holds the
//! retention advisory lock, so nodes take turns.

use super::retire::{retire, Retired};
use super::uptime::take_turn;
use crate::StoreResult;
use netpulse_core::retention::Horizons;
use netpulse_core::Timestamp;
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Transaction};

/// Result partitions are made for the day of a retention step's `now` and this many after it.
pub const AHEAD_DAYS: i64 = 7;
pub(super) const DAY_MS: i64 = 86_400_000;
/// The longest a partition step waits for one table lock (`lock_timeout`).
pub(super) const LOCK_WAIT: &str = "500ms";
/// How often a step tries to drop a partition, and the pause between tries.
pub(super) const DROP_ATTEMPTS: u32 = 8;
pub(super) const DROP_PAUSE: Duration = Duration::from_secs(1);

/// A table partitioned by UTC day, and its partition key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub column: &'static str,
}

pub const RESULTS: Table = Table { name: "check_results", column: "started_at" };
pub const MINUTES: Table = Table { name: "uptime_minute", column: "minute_start" };

/// A partition other than the default one; `None`: unbounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub name: String,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl Partition {
    pub(super) fn overlaps(&self, from: i64, to: i64) -> bool {
        self.from.unwrap_or(i64::MIN) < to && self.to.unwrap_or(i64::MAX) > from
    }
    /// Every start it takes is before `horizon`.
    pub(super) fn before(&self, horizon: Timestamp) -> bool {
        self.to.is_some_and(|to| to <= horizon.millis())
    }
    /// The UTC day it is the partition of, if it is one.
    pub(super) fn day(&self) -> Option<i64> {
        match (self.from, self.to) {
            (Some(from), Some(to)) if to - from == DAY_MS && from.rem_euclid(DAY_MS) == 0 => Some(from),
            _ => None,
        }
    }
}

/// What the partition part of one retention step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DaysPass {
    /// Result partitions folded and dropped, and the results they held.
    pub results_dropped: usize,
    pub results: usize,
    /// Minute-rollup partitions dropped.
    pub minutes_dropped: usize,
    /// Result partitions made ahead.
    pub made: usize,
}

/// The day minute rollups are dropped before at `h`: the minute horizon's UTC midnight
/// (minute rollups before the minute horizon are never read, so the rest of its day can wait).
pub(super) fn minute_cut(h: &Horizons) -> Timestamp {
    Timestamp::from_millis(h.minute.millis().div_euclid(DAY_MS) * DAY_MS)
}

/// The partition part of a retention step at `h`: make the result partitions of the days
/// ahead, retire every result partition wholly before the raw horizon (oldest first), drop
/// every minute-rollup partition wholly before [`minute_cut`], each in its own transaction.
/// `None` when another node holds the retention lock (it carries on).
pub(super) async fn step(c: &mut Client, h: &Horizons) -> StoreResult<Option<DaysPass>> {
    let mut pass = DaysPass::default();
    let Some((results, minutes)) = make_ahead(c, h.now, &mut pass).await? else {
        return Ok(None);
    };
    let mut due: Vec<Partition> = results.into_iter().filter(|p| p.before(h.raw)).collect();
    due.sort_by_key(|p| p.to);
    for p in &due {
        let t0 = Instant::now();
        match retire(c, p, h).await? {
            Retired::Done { results, bulk, fold_ms, drop_ms, tries, .. } => {
                pass.results_dropped += 1;
                pass.results += results;
                let ms = t0.elapsed().as_millis() as u64;
                tracing::info!(
                    partition = %p.name, results, bulk, ms, fold_ms, drop_ms, tries,
                    "retention: raw-result partition folded into minute rollups and dropped"
                );
            }
            Retired::Gone => {}
            Retired::Busy => return Ok(Some(pass)),
            Retired::Waited => {
                tracing::warn!(partition = %p.name, "retention: partition kept, its table stayed busy; next step");
                return Ok(Some(pass));
            }
        }
    }
    for p in minutes.iter().filter(|p| p.before(minute_cut(h))) {
        match drop_partition(c, MINUTES, p).await? {
            Retired::Done { .. } => {
                pass.minutes_dropped += 1;
                tracing::info!(partition = %p.name, "retention: minute-rollup partition dropped");
            }
            Retired::Gone => {}
            Retired::Busy | Retired::Waited => break,
        }
    }
    Ok(Some(pass))
}

/// Make the missing result partitions of the days from `now`'s to [`AHEAD_DAYS`] later, in one
/// transaction; returns the partitions of both tables as they were before, or `None` when
/// another node holds the retention lock.
async fn make_ahead(
    c: &mut Client,
    now: Timestamp,
    pass: &mut DaysPass,
) -> StoreResult<Option<(Vec<Partition>, Vec<Partition>)>> {
    let mut tx = c.transaction().await?;
    if !take_turn(&tx).await? {
        tx.rollback().await?;
        return Ok(None);
    }
    tx.batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_WAIT}'")).await?;
    let (results, minutes) = (list(&tx, RESULTS).await?, list(&tx, MINUTES).await?);
    let today = now.millis().div_euclid(DAY_MS) * DAY_MS;
    for day in (0..=AHEAD_DAYS).map(|k| today + k * DAY_MS) {
        if results.iter().any(|p| p.overlaps(day, day + DAY_MS)) {
            continue;
        }
        let sp = tx.savepoint("make_day").await?;
        match make(&sp, day).await {
            Ok(moved) => {
                sp.commit().await?;
                pass.made += 1;
                tracing::info!(partition = %name_of(RESULTS, day), moved, "retention: raw-result partition made");
            }
            Err(e) if is_lock_timeout(&e) => {
                sp.rollback().await?;
                tracing::warn!(partition = %name_of(RESULTS, day), "retention: partition not made, a lock was busy");
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    tx.commit().await?;
    Ok(Some((results, minutes)))
}

/// Drop partition `p` of `table` (no fold: see [`step`]) in its own transaction, waiting for
/// the lock as the module docs say.
async fn drop_partition(c: &mut Client, table: Table, p: &Partition) -> StoreResult<Retired> {
    let mut tx = match take_partition(c, &p.name).await? {
        Ok(tx) => tx,
        Err(not) => return Ok(not),
    };
    tx.batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_WAIT}'")).await?;
    let t0 = Instant::now();
    let tries = match drop_with_retries(&mut tx, &format!("DROP TABLE {}", quoted(&p.name))).await? {
        Some(tries) => tries,
        None => {
            tx.rollback().await?;
            return Ok(Retired::Waited);
        }
    };
    tx.commit().await?;
    let drop_ms = t0.elapsed().as_millis() as u64;
    tracing::debug!(table = table.name, partition = %p.name, drop_ms, tries, "partition dropped");
    Ok(Retired::Done { results: 0, bulk: false, fold_ms: 0, drop_ms, tries })
}

/// Run `sql` (which takes `ACCESS EXCLUSIVE` locks) in a savepoint, again after
/// [`DROP_PAUSE`] while a lock wait times out; the number of tries, or `None` when every one
/// of [`DROP_ATTEMPTS`] did.
pub(super) async fn drop_with_retries(tx: &mut Transaction<'_>, sql: &str) -> StoreResult<Option<u32>> {
    for tries in 1..=DROP_ATTEMPTS {
        let sp = tx.savepoint("drop_day").await?;
        match sp.batch_execute(sql).await {
            Ok(()) => {
                sp.commit().await?;
                return Ok(Some(tries));
            }
            Err(e) if is_lock_timeout(&e) => {
                sp.rollback().await?;
                tokio::time::sleep(DROP_PAUSE).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// `[from, to)` of the recent days at `now` (a day back, an hour ahead), for reads of a
/// monitor's newest result: bounded like this, a read's plan leaves out the default
/// partition (the days around now have their own) and walks the others newest first, so it
/// stops at the first one holding a result; unbounded, it must look into every partition.
pub(super) fn recent(now: Timestamp) -> (i64, i64) {
    (now.millis() - DAY_MS, now.millis() + 3_600_000)
}

/// The partitions of `table` other than the default one.
pub async fn list(tx: &Transaction<'_>, table: Table) -> StoreResult<Vec<Partition>> {
    let rows = tx
        .query_typed(
            "SELECT c.relname::TEXT, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i \
             JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::TEXT::regclass",
            &[(&table.name, Type::TEXT)],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let (name, bound): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        if let Some((from, to)) = bounds(&bound) {
            out.push(Partition { name, from, to });
        }
    }
    Ok(out)
}

/// Whether a partition of `table` wholly before `horizon` is left (then its rows are not
/// taken row by row: that would take such a day apart row by row instead of dropping it).
pub(super) async fn any_due(tx: &Transaction<'_>, table: Table, horizon: Timestamp) -> StoreResult<bool> {
    Ok(list(tx, table).await?.iter().any(|p| p.before(horizon)))
}

/// A transaction to retire partition `name` in, once it is this node's turn and the partition
/// is still there; else `Busy` (another node's turn) or `Gone` (dropped already), rolled back.
pub(super) async fn take_partition<'c>(c: &'c mut Client, name: &str) -> StoreResult<Result<Transaction<'c>, Retired>> {
    let tx = c.transaction().await?;
    if !take_turn(&tx).await? {
        tx.rollback().await?;
        return Ok(Err(Retired::Busy));
    }
    let row = tx.query_typed_one("SELECT to_regclass($1) IS NOT NULL", &[(&quoted(name), Type::TEXT)]).await?;
    if !row.try_get::<_, bool>(0)? {
        tx.rollback().await?;
        return Ok(Err(Retired::Gone));
    }
    Ok(Ok(tx))
}

/// `(from, to)` of a range partition's bound as `pg_get_expr` prints it
/// (`FOR VALUES FROM ('0') TO ('100')`, `MINVALUE`/`MAXVALUE` as `None`); `None` for the default.
fn bounds(expr: &str) -> Option<(Option<i64>, Option<i64>)> {
    let value = |s: &str| s.trim().trim_matches('\'').parse::<i64>().ok();
    let rest = expr.strip_prefix("FOR VALUES FROM (")?;
    let (from, to) = rest.strip_suffix(')')?.split_once(") TO (")?;
    Some((value(from), value(to)))
}

/// `<table>_YYYYMMDD` of the UTC day starting at `day` (ms).
pub fn name_of(table: Table, day: i64) -> String {
    format!("{}_{}", table.name, Timestamp::from_millis(day).to_rfc3339()[..10].replace('-', ""))
}

/// Make the result partition of the UTC day starting at `day`, moving the rows the default
/// partition holds for it; returns how many moved. Inside the caller's transaction.
pub async fn make(tx: &Transaction<'_>, day: i64) -> Result<u64, tokio_postgres::Error> {
    let (name, to) = (name_of(RESULTS, day), day + DAY_MS);
    tx.batch_execute(&format!(
        "LOCK TABLE check_results_default IN ACCESS EXCLUSIVE MODE; \
         CREATE TABLE {name} (LIKE check_results INCLUDING DEFAULTS INCLUDING CONSTRAINTS); \
         ALTER TABLE {name} ADD CONSTRAINT {name}_range CHECK (started_at >= {day} AND started_at < {to})"
    ))
    .await?;
    let moved = tx
        .execute_typed(
            &format!(
                "WITH moved AS (DELETE FROM check_results_default WHERE started_at >= $1 AND started_at < $2 \
                 RETURNING *) INSERT INTO {name} SELECT * FROM moved"
            ),
            &[(&day, Type::INT8), (&to, Type::INT8)],
        )
        .await?;
    tx.batch_execute(&format!("ALTER TABLE check_results ATTACH PARTITION {name} FOR VALUES FROM ({day}) TO ({to})"))
        .await?;
    Ok(moved)
}

/// An identifier, quoted for SQL.
pub(super) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(super) fn is_lock_timeout(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_read_as_postgres_prints_them() {
        assert_eq!(bounds("FOR VALUES FROM ('0') TO ('86400000')"), Some((Some(0), Some(86_400_000))));
        assert_eq!(bounds("FOR VALUES FROM (MINVALUE) TO ('-5')"), Some((None, Some(-5))));
        assert_eq!(bounds("DEFAULT"), None);
    }

    #[test]
    fn a_day_is_named_by_its_utc_date() {
        assert_eq!(name_of(RESULTS, 20_000 * DAY_MS), "check_results_20241004");
        assert_eq!(name_of(MINUTES, 20_000 * DAY_MS), "uptime_minute_20241004");
    }

    #[test]
    fn only_a_partition_wholly_before_the_horizon_is_due() {
        let p = |from, to| Partition { name: String::new(), from, to };
        let h = Timestamp::from_millis(2 * DAY_MS);
        assert!(p(Some(DAY_MS), Some(2 * DAY_MS)).before(h));
        assert!(!p(Some(2 * DAY_MS), Some(3 * DAY_MS)).before(h));
        assert!(!p(None, Some(3 * DAY_MS)).before(h), "the legacy partition straddling it is folded row by row");
        assert!(p(None, Some(3 * DAY_MS)).overlaps(0, DAY_MS));
        assert!(!p(Some(DAY_MS), Some(2 * DAY_MS)).overlaps(2 * DAY_MS, 3 * DAY_MS));
        assert_eq!(p(Some(DAY_MS), Some(2 * DAY_MS)).day(), Some(DAY_MS));
        assert_eq!(p(None, Some(3 * DAY_MS)).day(), None);
    }
}

//! Raw results by UTC day: `check_results` is partitioned by range of `started_at`
//! (migration 17), one partition per UTC day, `check_results_YYYYMMDD`; the default partition
//! `check_results_default` takes a start no other partition covers; and a database that held
//! results before migration 17 keeps them where they were, as the partition
//! `check_results_legacy` for every start up to the end of the day it was migrated (or of its
//! newest result, if later).
//!
//! **Made ahead.** Every retention step ([`step`]) first makes the partitions of the days from
//! the step's `now` to [`AHEAD_DAYS`] later that do not exist yet (migration 17 made those of
//! its own day and the week after). Each is created outside the table, given the rows the
//! default partition holds for its day, and attached: attaching takes only a `SHARE UPDATE
//! EXCLUSIVE` lock on `check_results`, which neither ingest nor readers conflict with, plus
//! an `ACCESS EXCLUSIVE` lock on the default partition, taken first so no row of the day can
//! slip into it between the move and the attach. Ingest never fails for lack of a
//! partition: a result of a day without one (a worker's clock far ahead, a day from before
//! the install) lands in the default partition, is moved into its day's partition when that
//! is made, and if it is still there when its day passes the raw horizon it is folded row by
//! row, as every raw result was before partitions. A row routed into the default partition in
//! the instant its day's partition is attached fails with a partition-constraint violation,
//! which the store reports as retryable (`postgres/mod.rs`): sent again, it goes to the new
//! partition.
//!
//! **Retired whole.** A partition whose upper bound is at or before the raw horizon (a UTC
//! midnight, [`Horizons::raw`]) is folded into the minute rollups and dropped in one
//! transaction ([`retire`]): it is locked `EXCLUSIVE` (readers go on, nothing can be written
//! to it), its rows are counted into `uptime_minute` by one `INSERT … SELECT … GROUP BY` (only
//! minutes the minute rollups still keep: older ones would be deleted at once), and the
//! table is dropped. Folding and dropping commit together, so each result is counted in raw
//! results or in minute rollups, never both and never neither:
//! - a reader's statement that locked `check_results` before the drop asked for its lock
//!   makes the drop wait until the reader's transaction ends, and read from a snapshot taken
//!   before the fold committed (raw rows, no rollup for them);
//! - one that comes after waits behind the drop, is planned once it committed (without the
//!   partition) and reads a snapshot that holds the fold.
//!
//! Dropping a partition takes an `ACCESS EXCLUSIVE` lock on `check_results` (and its default
//! partition) until commit: it waits for the transactions using the table to end and holds up
//! new ones behind it. So the drop waits at most [`LOCK_WAIT`] at a time, and on a timeout
//! returns to a savepoint after the fold and tries again after [`DROP_PAUSE`], up to
//! [`DROP_ATTEMPTS`] times; then the step gives the day up (rolled back whole) until the next
//! one. Every step holds the retention advisory lock, so nodes take turns. A transaction that
//! still writes into the partition being retired (a late result from a node whose clock is
//! off by more than the acceptance margin, or a monitor being deleted) deadlocks with the
//! drop; PostgreSQL aborts one of the two, and both callers retry.

use super::uptime::take_turn;
use crate::StoreResult;
use netpulse_core::retention::Horizons;
use netpulse_core::Timestamp;
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Transaction};

/// Partitions are made for the day of a retention step's `now` and this many days after it.
pub const AHEAD_DAYS: i64 = 7;
const DAY_MS: i64 = 86_400_000;
/// The longest a partition step waits for one table lock (`lock_timeout`).
const LOCK_WAIT: &str = "500ms";
/// How often retiring a day tries to drop its partition, and the pause between tries.
const DROP_ATTEMPTS: u32 = 8;
const DROP_PAUSE: Duration = Duration::from_secs(1);
/// Memory for the fold's grouping of one day (`work_mem`, per retention step).
const FOLD_WORK_MEM: &str = "64MB";

/// A partition of `check_results` other than the default one; `None`: unbounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub name: String,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl Partition {
    fn overlaps(&self, from: i64, to: i64) -> bool {
        self.from.unwrap_or(i64::MIN) < to && self.to.unwrap_or(i64::MAX) > from
    }
    /// Every start it takes is before `horizon`.
    fn before(&self, horizon: Timestamp) -> bool {
        self.to.is_some_and(|to| to <= horizon.millis())
    }
}

/// What the partition part of one retention step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DaysPass {
    /// Partitions folded and dropped, and the results they held.
    pub dropped: usize,
    pub results: usize,
    /// Partitions made ahead.
    pub made: usize,
}

/// The partition part of a retention step at `h`: make the partitions of the days ahead,
/// then retire every partition wholly before the raw horizon, oldest first, each in its own
/// transaction. `None` when another node holds the retention lock (it carries on).
pub(super) async fn step(c: &mut Client, h: &Horizons) -> StoreResult<Option<DaysPass>> {
    let mut tx = c.transaction().await?;
    if !take_turn(&tx).await? {
        tx.rollback().await?;
        return Ok(None);
    }
    tx.batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_WAIT}'")).await?;
    let mut pass = DaysPass::default();
    let have = list(&tx).await?;
    let today = h.now.millis().div_euclid(DAY_MS) * DAY_MS;
    for day in (0..=AHEAD_DAYS).map(|k| today + k * DAY_MS) {
        if have.iter().any(|p| p.overlaps(day, day + DAY_MS)) {
            continue;
        }
        let sp = tx.savepoint("make_day").await?;
        match make(&sp, day).await {
            Ok(moved) => {
                sp.commit().await?;
                pass.made += 1;
                tracing::info!(partition = %name_of(day), moved, "retention: raw-result partition made");
            }
            Err(e) if is_lock_timeout(&e) => {
                sp.rollback().await?;
                tracing::warn!(partition = %name_of(day), "retention: partition not made, a lock was busy; next step");
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    tx.commit().await?;
    let mut due: Vec<Partition> = have.into_iter().filter(|p| p.before(h.raw)).collect();
    due.sort_by_key(|p| p.to);
    for p in &due {
        let t0 = Instant::now();
        match retire(c, p, h).await? {
            Retired::Folded(n) => {
                pass.dropped += 1;
                pass.results += n;
                let ms = t0.elapsed().as_millis() as u64;
                tracing::info!(partition = %p.name, results = n, ms, "retention: raw-result partition folded and dropped");
            }
            Retired::Gone => {}
            Retired::Busy => break,
            Retired::Waited => {
                tracing::warn!(partition = %p.name, "retention: partition kept, its table stayed busy; next step");
                break;
            }
        }
    }
    Ok(Some(pass))
}

/// `[from, to)` of the recent days at `now` (a day back, an hour ahead), for reads of a
/// monitor's newest result: bounded like this, a read's plan leaves out the default
/// partition (the days around now have their own) and walks the others newest first, so it
/// stops at the first one holding a result; unbounded, it must look into every partition.
pub(super) fn recent(now: Timestamp) -> (i64, i64) {
    (now.millis() - DAY_MS, now.millis() + 3_600_000)
}

/// The partitions of `check_results` other than the default one.
pub async fn list(tx: &Transaction<'_>) -> StoreResult<Vec<Partition>> {
    let rows = tx
        .query_typed(
            "SELECT c.relname::TEXT, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i \
             JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'check_results'::regclass",
            &[],
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

/// Whether a partition wholly before the raw horizon `raw` is left (then raw results are not
/// folded row by row: that would take such a day apart row by row instead of dropping it).
pub(super) async fn any_due(tx: &Transaction<'_>, raw: Timestamp) -> StoreResult<bool> {
    Ok(list(tx).await?.iter().any(|p| p.before(raw)))
}

/// `(from, to)` of a range partition's bound as `pg_get_expr` prints it
/// (`FOR VALUES FROM ('0') TO ('100')`, `MINVALUE`/`MAXVALUE` as `None`); `None` for the default.
fn bounds(expr: &str) -> Option<(Option<i64>, Option<i64>)> {
    let value = |s: &str| s.trim().trim_matches('\'').parse::<i64>().ok();
    let rest = expr.strip_prefix("FOR VALUES FROM (")?;
    let (from, to) = rest.strip_suffix(')')?.split_once(") TO (")?;
    Some((value(from), value(to)))
}

/// `check_results_YYYYMMDD` of the UTC day starting at `day` (ms).
pub fn name_of(day: i64) -> String {
    format!("check_results_{}", Timestamp::from_millis(day).to_rfc3339()[..10].replace('-', ""))
}

/// Make the partition of the UTC day starting at `day`, moving the rows the default partition
/// holds for it; returns how many moved. Inside the caller's transaction.
pub async fn make(tx: &Transaction<'_>, day: i64) -> Result<u64, tokio_postgres::Error> {
    let (name, to) = (name_of(day), day + DAY_MS);
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

enum Retired {
    /// Folded and dropped, with this many results.
    Folded(usize),
    /// Already dropped (by another node, between this node's transactions).
    Gone,
    /// Another node holds the retention lock.
    Busy,
    /// A lock stayed busy; kept for the next step.
    Waited,
}

/// Fold the rows of `p` (wholly before `h.raw`) into the minute rollups and drop it, in one
/// transaction (see the module docs).
async fn retire(c: &mut Client, p: &Partition, h: &Horizons) -> StoreResult<Retired> {
    let mut tx = c.transaction().await?;
    if !take_turn(&tx).await? {
        tx.rollback().await?;
        return Ok(Retired::Busy);
    }
    let table = quoted(&p.name);
    let exists: bool =
        tx.query_typed_one("SELECT to_regclass($1) IS NOT NULL", &[(&table, Type::TEXT)]).await?.try_get(0)?;
    if !exists {
        tx.rollback().await?;
        return Ok(Retired::Gone);
    }
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
    let folded: i64 = tx.query_typed_one(&fold_day(&table), &[(&h.minute.millis(), Type::INT8)]).await?.try_get(0)?;
    for _ in 0..DROP_ATTEMPTS {
        let sp = tx.savepoint("drop_day").await?;
        match sp.batch_execute(&format!("DROP TABLE {table}")).await {
            Ok(()) => {
                sp.commit().await?;
                tx.commit().await?;
                return Ok(Retired::Folded(folded as usize));
            }
            Err(e) if is_lock_timeout(&e) => {
                sp.rollback().await?;
                tokio::time::sleep(DROP_PAUSE).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    tx.rollback().await?;
    Ok(Retired::Waited)
}

/// Fold every row of partition `table` into the minute rollups of minutes from `$1` on (the
/// minute horizon: older minute rows would be deleted at once); returns how many rows it
/// held, live or not (only live ones are counted in rollups).
fn fold_day(table: &str) -> String {
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
           INSERT INTO uptime_minute (tenant_id, monitor_id, minute_start, region, up, degraded, down, error, \
             latency_count, latency_sum_ms, latency_min_ms, latency_max_ms) \
           SELECT tenant_id, monitor_id, minute_start, region, up, degraded, down, error, latency_count, \
             latency_sum_ms, latency_min_ms, latency_max_ms FROM day WHERE live > 0 AND minute_start >= $1 \
           {upsert} RETURNING 1) \
         SELECT COALESCE(SUM(n), 0)::BIGINT FROM day",
        up = live_and("up"),
        degraded = live_and("degraded"),
        down = live_and("down"),
        error = live_and("error"),
        upsert = minute_upsert!(),
    )
}

/// An identifier, quoted for SQL.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn is_lock_timeout(e: &tokio_postgres::Error) -> bool {
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
        assert_eq!(name_of(20_000 * DAY_MS), "check_results_20241004");
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
    }
}

//! Uptime tallies and retention in PostgreSQL.
//!
//! A retention step retires raw results by whole UTC days: a day partition wholly past the
//! raw horizon is folded into minute rollups and dropped in one transaction ([`days`]). Raw
//! results outside day partitions (the default and legacy partitions) are folded row by row
//! with one statement, `WITH gone AS (DELETE … RETURNING …) INSERT … SELECT … FROM gone`:
//! only the rows this statement deleted are counted, and a row can be deleted once, so a
//! result is never counted twice (chunks are taken `FOR UPDATE SKIP LOCKED`, so ingest is not
//! waited on). Hourly rollups fold into daily ones the same way. Folding adds to existing
//! rollup rows, so a late result is folded in on the next step. Each of a step's transactions
//! first tries a transaction advisory lock and does nothing when another node holds it, so
//! engine nodes running retention at the same moment take turns instead of deadlocking on
//! shared rollup rows or folding one day twice. Every statement is an unnamed typed one (or a
//! simple-protocol batch) inside a transaction (PgBouncer-safe; the lock ends with the
//! transaction).
//!
//! Demo evidence ([`Evidence::Demo`]) is counted from raw results of provenance `demo`, never
//! from a rollup (rollups hold live results only). Only the demo organisation's own
//! dashboard and API read it; the demo's seeded days are well within raw retention.

use super::{days, PgStore};
use crate::*;
use async_trait::async_trait;
use netpulse_core::retention::{Horizons, UptimeWindow};
use netpulse_core::uptime::Tally;
use netpulse_core::{MonitorId, Outcome, TenantId, Timestamp};
use std::collections::HashMap;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Row, Transaction};

const HOUR_MS: i64 = 3_600_000;

/// Fold up to `$2` raw results started before `$1` into minute rollups, deleting them;
/// returns how many went. Only rows outside the day partitions come here (the default and
/// legacy partitions, see [`days`]): days wholly past the horizon are retired whole. In no
/// particular order: `started_at` has a BRIN index (cheap for ingest), which finds the block
/// ranges before `$1` but cannot return rows sorted, so an `ORDER BY started_at` would sort
/// every row past retention in every step; the fold adds up, so which rows go first does not
/// change any figure.
const FOLD_RESULTS: &str = concat!(
    "WITH gone AS ( \
       DELETE FROM check_results WHERE started_at < $1 AND (id, started_at) IN ( \
         SELECT id, started_at FROM check_results WHERE started_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED) \
       RETURNING tenant_id, monitor_id, region, started_at, outcome, total_ms, provenance), \
     folded AS ( \
       INSERT INTO uptime_minute (tenant_id, monitor_id, minute_start, region, up, degraded, down, error, \
         latency_count, latency_sum_ms, latency_min_ms, latency_max_ms) \
       SELECT tenant_id, monitor_id, (started_at / 60000) * 60000, region, \
         COUNT(*) FILTER (WHERE outcome = 'up'), COUNT(*) FILTER (WHERE outcome = 'degraded'), \
         COUNT(*) FILTER (WHERE outcome = 'down'), COUNT(*) FILTER (WHERE outcome = 'error'), \
         COUNT(total_ms), COALESCE(SUM(total_ms), 0), MIN(total_ms), MAX(total_ms) \
       FROM gone WHERE provenance = 'live' GROUP BY 1, 2, 3, 4 ",
    minute_upsert!(),
    "RETURNING 1) \
     SELECT COUNT(*) FROM gone"
);

/// Fold the oldest `$2` hourly rows of hours before `$1` into daily rollups, deleting them.
const FOLD_HOURS: &str = "WITH gone AS ( \
       DELETE FROM uptime_hourly WHERE (monitor_id, hour_start) IN ( \
         SELECT monitor_id, hour_start FROM uptime_hourly WHERE hour_start < $1 \
         ORDER BY hour_start LIMIT $2 FOR UPDATE SKIP LOCKED) \
       RETURNING tenant_id, monitor_id, hour_start, up, degraded, down, error, maintenance), \
     folded AS ( \
       INSERT INTO uptime_daily (tenant_id, monitor_id, day_start, up, degraded, down, error, maintenance) \
       SELECT tenant_id, monitor_id, (hour_start / 86400000) * 86400000, SUM(up), SUM(degraded), SUM(down), \
         SUM(error), SUM(maintenance) FROM gone GROUP BY 1, 2, 3 \
       ON CONFLICT (tenant_id, monitor_id, day_start) DO UPDATE SET up = uptime_daily.up + EXCLUDED.up, \
         degraded = uptime_daily.degraded + EXCLUDED.degraded, down = uptime_daily.down + EXCLUDED.down, \
         error = uptime_daily.error + EXCLUDED.error, maintenance = uptime_daily.maintenance + EXCLUDED.maintenance \
       RETURNING 1) \
     SELECT COUNT(*) FROM gone";

/// Transaction advisory lock taken by a retention step ("np-reten" in ASCII, as an i64).
const RETENTION_LOCK: i64 = 0x6e70_2d72_6574_656e;

#[async_trait]
impl UptimeStore for PgStore {
    async fn tally(
        &self,
        t: &TenantId,
        m: &MonitorId,
        from: Timestamp,
        to: Timestamp,
        ev: Evidence,
    ) -> StoreResult<Tally> {
        pooled!(self, |c| raw_tally(&c, t, m, (from, to), ev))
    }

    /// `Live`: from all four tables in one statement (one snapshot), in a read-only
    /// transaction like every pooled statement. Checks made during maintenance are counted
    /// apart where the hourly and daily rollups hold them; raw results and minute rollups do
    /// not separate them.
    async fn tally_window(&self, t: &TenantId, m: &MonitorId, w: &UptimeWindow, ev: Evidence) -> StoreResult<Tally> {
        match ev {
            Evidence::Live => pooled!(self, |c| async {
                let sql = format!(
                    "SELECT {COARSE_SUMS} FROM ( \
                       SELECT COUNT(*) FILTER (WHERE outcome = 'up') AS up, COUNT(*) FILTER (WHERE outcome = 'degraded') AS degraded, \
                              COUNT(*) FILTER (WHERE outcome = 'down') AS down, COUNT(*) FILTER (WHERE outcome = 'error') AS error, \
                              0::BIGINT AS maintenance \
                         FROM check_results WHERE tenant_id = $1 AND monitor_id = $2 AND started_at >= $3 AND started_at < $4 \
                          AND provenance = 'live' \
                       UNION ALL SELECT {SUMS}, 0::BIGINT FROM uptime_minute \
                        WHERE tenant_id = $1 AND monitor_id = $2 AND minute_start >= $3 AND minute_start < $4 \
                       UNION ALL SELECT {COARSE_SUMS} FROM uptime_hourly \
                        WHERE tenant_id = $1 AND monitor_id = $2 AND hour_start >= $5 AND hour_start < $6 \
                       UNION ALL SELECT {COARSE_SUMS} FROM uptime_daily \
                        WHERE tenant_id = $1 AND monitor_id = $2 AND day_start >= $5 AND day_start < $6) \
                     AS parts(up, degraded, down, error, maintenance)"
                );
                let (fine, coarse) =
                    ((w.fine.0.millis(), w.fine.1.millis()), (w.coarse.0.millis(), w.coarse.1.millis()));
                let tx = c.build_transaction().read_only(true).start().await?;
                let row = tx
                    .query_typed_one(
                        &sql,
                        &[
                            (&t.as_str(), Type::TEXT),
                            (&m.as_str(), Type::TEXT),
                            (&fine.0, Type::INT8),
                            (&fine.1, Type::INT8),
                            (&coarse.0, Type::INT8),
                            (&coarse.1, Type::INT8),
                        ],
                    )
                    .await?;
                tx.commit().await?;
                coarse_tally_at(&row, 0)
            }),
            Evidence::Demo => pooled!(self, |c| raw_tally(&c, t, m, (w.from, w.to), ev)),
        }
    }

    async fn tallies_since(
        &self,
        t: &TenantId,
        from: Timestamp,
        ev: Evidence,
    ) -> StoreResult<HashMap<MonitorId, Tally>> {
        match ev {
            Evidence::Live => pooled!(self, |c| async {
                let hour = from.millis().div_euclid(HOUR_MS) * HOUR_MS;
                let rows = c
                    .query_typed(
                        &format!(
                            "SELECT monitor_id, {COARSE_SUMS} FROM uptime_hourly WHERE tenant_id = $1 AND hour_start >= $2 \
                             GROUP BY monitor_id"
                        ),
                        &[(&t.as_str(), Type::TEXT), (&hour, Type::INT8)],
                    )
                    .await?;
                rows.iter().map(|r| Ok((MonitorId::from_trusted(r.try_get(0)?), coarse_tally_at(r, 1)?))).collect()
            }),
            Evidence::Demo => Ok(sum_hours(&pooled!(self, |c| demo_hours_since(&c, t, from))?)),
        }
    }

    async fn hourly_tallies_since(&self, t: &TenantId, from: Timestamp, ev: Evidence) -> StoreResult<HourlyTallies> {
        match ev {
            Evidence::Live => pooled!(self, |c| async {
                let hour = from.millis().div_euclid(HOUR_MS) * HOUR_MS;
                let rows = c
                    .query_typed(
                        "SELECT monitor_id, hour_start, up, degraded, down, error, maintenance FROM uptime_hourly \
                         WHERE tenant_id = $1 AND hour_start >= $2 ORDER BY monitor_id, hour_start",
                        &[(&t.as_str(), Type::TEXT), (&hour, Type::INT8)],
                    )
                    .await?;
                group_hours(rows.iter().map(|r| hour_row(r, coarse_tally_at(r, 2)?)))
            }),
            Evidence::Demo => pooled!(self, |c| demo_hours_since(&c, t, from)),
        }
    }

    async fn latency_cells(
        &self,
        t: &TenantId,
        m: &MonitorId,
        b: &netpulse_core::latency::Buckets,
        ev: Evidence,
    ) -> StoreResult<Vec<netpulse_core::latency::LatencyCell>> {
        let sql =
            crate::uptime::latency_cells_sql("check_results", "region", "tenant_id = $1 AND monitor_id = $2", '$', ev);
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    &sql,
                    &[
                        (&t.as_str(), Type::TEXT),
                        (&m.as_str(), Type::TEXT),
                        (&b.from.millis(), Type::INT8),
                        (&b.to().millis(), Type::INT8),
                        (&b.width_ms, Type::INT8),
                        (&ev.provenance().as_str(), Type::TEXT),
                    ],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(crate::uptime::latency_cell(
                        r.try_get(0)?,
                        r.try_get(1)?,
                        r.try_get(2)?,
                        r.try_get(3)?,
                        [r.try_get(4)?, r.try_get(5)?, r.try_get(6)?],
                        r.try_get(7)?,
                    ))
                })
                .collect()
        })
    }

    /// First the day partitions ([`days::step`]: those of results ahead made, those of
    /// results wholly past the raw horizon folded and dropped, those of minute rollups wholly
    /// past the minute horizon's day dropped, each in its own transaction), then one
    /// transaction for the rows outside day partitions: raw results, minute rollups (before
    /// the minute horizon's day: the rest of its day is never read and goes with its
    /// partition), the other rollups and deliveries, each bounded by `limit`. Every
    /// transaction first takes the retention lock or does nothing.
    async fn apply_retention(&self, h: &Horizons, limit: usize) -> StoreResult<RetentionPass> {
        pooled!(self, |c| async {
            // Another node is taking a step right now; it carries on until nothing is left.
            let Some(days) = days::step(&mut c, h).await? else {
                return Ok(RetentionPass::default());
            };
            let done = RetentionPass {
                results_rolled: days.results,
                partitions_dropped: days.results_dropped + days.minutes_dropped,
                ..RetentionPass::default()
            };
            let tx = c.transaction().await?;
            if !take_turn(&tx).await? {
                tx.rollback().await?;
                return Ok(done);
            }
            let limit = limit as i64;
            let cut = days::minute_cut(h);
            let raw = match days::any_due(&tx, days::RESULTS, h.raw).await? {
                true => 0,
                false => fold(&tx, FOLD_RESULTS, h.raw, limit).await?,
            };
            let minutes = match days::any_due(&tx, days::MINUTES, cut).await? {
                true => 0,
                false => delete(&tx, "uptime_minute", MINUTE_KEY, "minute_start < $1", cut, limit).await?,
            };
            let pass = RetentionPass {
                results_rolled: raw,
                minutes_deleted: minutes,
                hours_rolled: fold(&tx, FOLD_HOURS, h.hour, limit).await?,
                days_deleted: delete(&tx, "uptime_daily", "ctid", "day_start < $1", h.day, limit).await?,
                deliveries_deleted: delete(
                    &tx,
                    "alert_outbox",
                    "ctid",
                    "status IN ('sent', 'failed', 'grouped') AND created_at < $1",
                    h.raw,
                    limit,
                )
                .await?
                    + delete(&tx, "delivery_attempts", "ctid", "at < $1", h.raw, limit).await?
                    + delete(
                        &tx,
                        "subscriber_notices",
                        "id",
                        "status IN ('sent', 'failed') AND created_at < $1",
                        h.raw,
                        limit,
                    )
                    .await?
                    + delete(
                        &tx,
                        "page_subscribers",
                        "id",
                        "confirmed_at IS NULL AND confirm_expires_at <= $1",
                        h.now,
                        limit,
                    )
                    .await?,
                partitions_dropped: 0,
                visits_rolled: super::visits::fold_visits(&tx, h.raw, h.day, limit).await?,
            };
            tx.commit().await?;
            Ok(done.plus(pass))
        })
    }
}

/// Take the retention lock for the transaction `tx`; false when another node holds it.
pub(super) async fn take_turn(tx: &Transaction<'_>) -> StoreResult<bool> {
    let row = tx.query_typed_one("SELECT pg_try_advisory_xact_lock($1)", &[(&RETENTION_LOCK, Type::INT8)]).await?;
    Ok(row.try_get(0)?)
}

/// Raw results of evidence `ev` in `[from, to)`, counted by outcome.
async fn raw_tally(
    c: &Client,
    t: &TenantId,
    m: &MonitorId,
    (from, to): (Timestamp, Timestamp),
    ev: Evidence,
) -> StoreResult<Tally> {
    let rows = c
        .query_typed(
            "SELECT outcome, COUNT(*) FROM check_results WHERE tenant_id = $1 AND monitor_id = $2 \
             AND started_at >= $3 AND started_at < $4 AND provenance = $5 GROUP BY outcome",
            &[
                (&t.as_str(), Type::TEXT),
                (&m.as_str(), Type::TEXT),
                (&from.millis(), Type::INT8),
                (&to.millis(), Type::INT8),
                (&ev.provenance().as_str(), Type::TEXT),
            ],
        )
        .await?;
    let mut tally = Tally::default();
    for r in &rows {
        let outcome: String = r.try_get(0)?;
        if let Some(o) = Outcome::parse(&outcome) {
            tally.add(o, r.try_get::<_, i64>(1)? as u64);
        }
    }
    Ok(tally)
}

/// Each of the tenant's monitors' demo results from the hour of `from` on, counted per hour,
/// oldest first. Reached through the tenant's monitors, so the `(monitor_id, started_at)`
/// index serves it (the `started_at` BRIN index would read the whole table for a month).
async fn demo_hours_since(c: &Client, t: &TenantId, from: Timestamp) -> StoreResult<HourlyTallies> {
    let hour = from.millis().div_euclid(HOUR_MS) * HOUR_MS;
    let rows = c
        .query_typed(
            "SELECT r.monitor_id, (r.started_at / 3600000) * 3600000 AS hour, \
             COUNT(*) FILTER (WHERE r.outcome = 'up'), COUNT(*) FILTER (WHERE r.outcome = 'degraded'), \
             COUNT(*) FILTER (WHERE r.outcome = 'down'), COUNT(*) FILTER (WHERE r.outcome = 'error') \
             FROM monitors m JOIN check_results r ON r.monitor_id = m.id AND r.tenant_id = m.tenant_id \
             WHERE m.tenant_id = $1 AND r.started_at >= $2 AND r.provenance = 'demo' \
             GROUP BY 1, 2 ORDER BY 1, 2",
            &[(&t.as_str(), Type::TEXT), (&hour, Type::INT8)],
        )
        .await?;
    group_hours(rows.iter().map(|r| hour_row(r, tally_at(r, 2)?)))
}

/// A tally from columns `first..first + 4` holding `SUM(...)::BIGINT` (NULL when no rows).
fn tally_at(r: &Row, first: usize) -> StoreResult<Tally> {
    let n = |i: usize| r.try_get::<_, Option<i64>>(first + i).map(|v| v.unwrap_or(0) as u64);
    Ok(Tally { up: n(0)?, degraded: n(1)?, down: n(2)?, error: n(3)?, maintenance: 0 })
}

const SUMS: &str = "SUM(up)::BIGINT, SUM(degraded)::BIGINT, SUM(down)::BIGINT, SUM(error)::BIGINT";
/// [`SUMS`] and the checks made during maintenance (only the hourly and daily rollups count
/// those apart).
const COARSE_SUMS: &str =
    "SUM(up)::BIGINT, SUM(degraded)::BIGINT, SUM(down)::BIGINT, SUM(error)::BIGINT, SUM(maintenance)::BIGINT";

/// A tally from columns `first..first + 5`: the outcomes, then the maintenance count.
fn coarse_tally_at(r: &Row, first: usize) -> StoreResult<Tally> {
    let maintenance = r.try_get::<_, Option<i64>>(first + 4)?.unwrap_or(0) as u64;
    Ok(Tally { maintenance, ..tally_at(r, first)? })
}

/// `(monitor, hour)` of an hour row whose tally was read as `tally`.
fn hour_row(r: &Row, tally: Tally) -> StoreResult<(MonitorId, Timestamp, Tally)> {
    Ok((MonitorId::from_trusted(r.try_get(0)?), Timestamp::from_millis(r.try_get(1)?), tally))
}

async fn fold(tx: &Transaction<'_>, sql: &str, before: Timestamp, limit: i64) -> StoreResult<usize> {
    let row = tx.query_typed_one(sql, &[(&before.millis(), Type::INT8), (&limit, Type::INT8)]).await?;
    Ok(row.try_get::<_, i64>(0)? as usize)
}

/// A minute rollup row's key: a row's `ctid` is unique only within its partition.
const MINUTE_KEY: &str = "tenant_id, monitor_id, minute_start, region";

/// Delete up to `limit` rows of `table` matching `condition` (on `$1` = `before`), picked by
/// `key` (`ctid`, or the key of a partitioned table).
async fn delete(
    tx: &Transaction<'_>,
    table: &str,
    key: &str,
    condition: &str,
    before: Timestamp,
    limit: i64,
) -> StoreResult<usize> {
    let sql = format!(
        "DELETE FROM {table} WHERE {condition} AND ({key}) IN (SELECT {key} FROM {table} WHERE {condition} LIMIT $2)"
    );
    let n = tx.execute_typed(&sql, &[(&before.millis(), Type::INT8), (&limit, Type::INT8)]).await?;
    Ok(n as usize)
}

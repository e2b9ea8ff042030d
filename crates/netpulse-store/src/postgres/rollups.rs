//! Retention and long-window uptime in PostgreSQL.
//!
//! A retention step folds raw results into minute rollups with one statement,
//! `WITH gone AS (DELETE … RETURNING …) INSERT … SELECT … FROM gone`: only the rows this
//! statement deleted are counted, and a row can be deleted once, so a result is never
//! counted twice (chunks are taken `FOR UPDATE SKIP LOCKED`, so ingest is not waited on).
//! Hourly rollups fold into daily ones the same way. Folding adds to existing rollup rows,
//! so a late result is folded in on the next step. A step first tries a transaction advisory
//! lock and does nothing when another node holds it, so engine nodes running retention at
//! the same moment take turns instead of deadlocking on shared rollup rows. Every statement
//! is an unnamed typed one inside the step's transaction (PgBouncer-safe; the lock ends with
//! the transaction).

use super::reads::{coarse_tally_at, COARSE_SUMS, SUMS};
use crate::*;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Transaction};

/// Fold up to `$2` raw results started before `$1` into minute rollups, deleting them;
/// returns how many went. In no particular order: `started_at` has a BRIN index (cheap for
/// ingest), which finds the block ranges before `$1` but cannot return rows sorted, so an
/// `ORDER BY started_at` would sort every row past retention in every step; the fold adds up,
/// so which rows go first does not change any figure.
const FOLD_RESULTS: &str = "WITH gone AS ( \
       DELETE FROM check_results WHERE id IN ( \
         SELECT id FROM check_results WHERE started_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED) \
       RETURNING tenant_id, monitor_id, region, started_at, outcome, total_ms, provenance), \
     folded AS ( \
       INSERT INTO uptime_minute (tenant_id, monitor_id, minute_start, region, up, degraded, down, error, \
         latency_count, latency_sum_ms, latency_min_ms, latency_max_ms) \
       SELECT tenant_id, monitor_id, (started_at / 60000) * 60000, region, \
         COUNT(*) FILTER (WHERE outcome = 'up'), COUNT(*) FILTER (WHERE outcome = 'degraded'), \
         COUNT(*) FILTER (WHERE outcome = 'down'), COUNT(*) FILTER (WHERE outcome = 'error'), \
         COUNT(total_ms), COALESCE(SUM(total_ms), 0), MIN(total_ms), MAX(total_ms) \
       FROM gone WHERE provenance = 'live' GROUP BY 1, 2, 3, 4 \
       ON CONFLICT (tenant_id, monitor_id, minute_start, region) DO UPDATE SET \
         up = uptime_minute.up + EXCLUDED.up, degraded = uptime_minute.degraded + EXCLUDED.degraded, \
         down = uptime_minute.down + EXCLUDED.down, error = uptime_minute.error + EXCLUDED.error, \
         latency_count = uptime_minute.latency_count + EXCLUDED.latency_count, \
         latency_sum_ms = uptime_minute.latency_sum_ms + EXCLUDED.latency_sum_ms, \
         latency_min_ms = LEAST(uptime_minute.latency_min_ms, EXCLUDED.latency_min_ms), \
         latency_max_ms = GREATEST(uptime_minute.latency_max_ms, EXCLUDED.latency_max_ms) \
       RETURNING 1) \
     SELECT COUNT(*) FROM gone";

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

pub async fn apply_retention(c: &mut Client, h: &Horizons, limit: usize) -> StoreResult<RetentionPass> {
    let tx = c.transaction().await?;
    let mine: bool = tx
        .query_typed_one("SELECT pg_try_advisory_xact_lock($1)", &[(&RETENTION_LOCK, Type::INT8)])
        .await?
        .try_get(0)?;
    if !mine {
        // Another node is taking a step right now; it carries on until nothing is left.
        tx.rollback().await?;
        return Ok(RetentionPass::default());
    }
    let limit = limit as i64;
    let pass = RetentionPass {
        results_rolled: fold(&tx, FOLD_RESULTS, h.raw, limit).await?,
        minutes_deleted: delete(&tx, "uptime_minute", "minute_start < $1", h.minute, limit).await?,
        hours_rolled: fold(&tx, FOLD_HOURS, h.hour, limit).await?,
        days_deleted: delete(&tx, "uptime_daily", "day_start < $1", h.day, limit).await?,
        deliveries_deleted: delete(
            &tx,
            "alert_outbox",
            "status IN ('sent', 'failed', 'grouped') AND created_at < $1",
            h.raw,
            limit,
        )
        .await?,
    };
    tx.commit().await?;
    Ok(pass)
}

async fn fold(tx: &Transaction<'_>, sql: &str, before: Timestamp, limit: i64) -> StoreResult<usize> {
    let row = tx.query_typed_one(sql, &[(&before.millis(), Type::INT8), (&limit, Type::INT8)]).await?;
    Ok(row.try_get::<_, i64>(0)? as usize)
}

/// Delete up to `limit` rows of `table` matching `condition` (on `$1` = `before`).
async fn delete(
    tx: &Transaction<'_>,
    table: &str,
    condition: &str,
    before: Timestamp,
    limit: i64,
) -> StoreResult<usize> {
    let sql = format!("DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} WHERE {condition} LIMIT $2)");
    let n = tx.execute_typed(&sql, &[(&before.millis(), Type::INT8), (&limit, Type::INT8)]).await?;
    Ok(n as usize)
}

/// Live tallies of a planned window, from all four tables in one statement (one snapshot),
/// in a read-only transaction like every pooled statement. Checks made during maintenance
/// are counted apart where the hourly and daily rollups hold them; raw results and minute
/// rollups do not separate them.
pub async fn tally_window(c: &mut Client, t: &TenantId, m: &MonitorId, w: &UptimeWindow) -> StoreResult<Tally> {
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
    let (fine, coarse) = ((w.fine.0.millis(), w.fine.1.millis()), (w.coarse.0.millis(), w.coarse.1.millis()));
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
}

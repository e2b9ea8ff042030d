//! `quarantined_results` in PostgreSQL (see [`crate::quarantine`]): one unnamed typed
//! statement each, PgBouncer-safe.

use crate::*;
use netpulse_core::ResultId;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

pub async fn keep(c: &Client, q: &QuarantinedResult) -> StoreResult<()> {
    c.execute_typed(
        "INSERT INTO quarantined_results (result_id, tenant_id, monitor_id, reason, result, quarantined_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (result_id) DO NOTHING",
        &[
            (&q.result_id.as_str(), Type::TEXT),
            (&q.tenant_id.as_str(), Type::TEXT),
            (&q.monitor_id.as_str(), Type::TEXT),
            (&q.reason, Type::TEXT),
            (&q.result, Type::TEXT),
            (&q.quarantined_at.millis(), Type::INT8),
        ],
    )
    .await?;
    Ok(())
}

pub async fn list(c: &Client, limit: usize) -> StoreResult<Vec<QuarantinedResult>> {
    let rows = c
        .query_typed(
            "SELECT result_id, tenant_id, monitor_id, reason, result, quarantined_at FROM quarantined_results \
             ORDER BY quarantined_at DESC, result_id LIMIT $1",
            &[(&(limit as i64), Type::INT8)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(QuarantinedResult {
                result_id: ResultId::from_trusted(r.try_get(0)?),
                tenant_id: TenantId::from_trusted(r.try_get(1)?),
                monitor_id: MonitorId::from_trusted(r.try_get(2)?),
                reason: r.try_get(3)?,
                result: r.try_get(4)?,
                quarantined_at: Timestamp::from_millis(r.try_get(5)?),
            })
        })
        .collect()
}

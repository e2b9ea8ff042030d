//! `quarantined_results` in SQLite (see [`crate::quarantine`]).

use crate::*;
use netpulse_core::ResultId;
use rusqlite::{params, Connection};

pub fn keep(c: &Connection, q: &QuarantinedResult) -> StoreResult<()> {
    c.execute(
        "INSERT OR IGNORE INTO quarantined_results (result_id, tenant_id, monitor_id, reason, result, quarantined_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            q.result_id.as_str(),
            q.tenant_id.as_str(),
            q.monitor_id.as_str(),
            q.reason,
            q.result,
            q.quarantined_at.millis()
        ],
    )?;
    Ok(())
}

pub fn list(c: &Connection, limit: usize) -> StoreResult<Vec<QuarantinedResult>> {
    let mut stmt = c.prepare(
        "SELECT result_id, tenant_id, monitor_id, reason, result, quarantined_at FROM quarantined_results \
         ORDER BY quarantined_at DESC, result_id LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |r| {
        Ok(QuarantinedResult {
            result_id: ResultId::from_trusted(r.get(0)?),
            tenant_id: TenantId::from_trusted(r.get(1)?),
            monitor_id: MonitorId::from_trusted(r.get(2)?),
            reason: r.get(3)?,
            result: r.get(4)?,
            quarantined_at: Timestamp::from_millis(r.get(5)?),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

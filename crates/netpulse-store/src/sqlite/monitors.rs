//! Tenants, tokens and monitors in SQLite.

use crate::clock::fresh;
use crate::*;
use rusqlite::{params, Connection, OptionalExtension, Row};

pub fn bootstrap(c: &mut Connection, token_hash: &str, now: Timestamp) -> StoreResult<(TenantId, bool)> {
    let tx = c.transaction()?;
    let existing: Option<String> =
        tx.query_row("SELECT id FROM tenants ORDER BY created_at LIMIT 1", [], |r| r.get(0)).optional()?;
    if let Some(id) = existing {
        return Ok((TenantId::from_trusted(id), false));
    }
    let tenant: TenantId = fresh();
    tx.execute(
        "INSERT INTO tenants (id, name, created_at) VALUES (?1, 'default', ?2)",
        params![tenant.as_str(), now.millis()],
    )?;
    insert_token(&tx, &tenant, token_hash, now)?;
    tx.commit()?;
    Ok((tenant, true))
}

fn insert_token(c: &Connection, tenant: &TenantId, token_hash: &str, now: Timestamp) -> StoreResult<()> {
    let id: TokenId = fresh();
    c.execute(
        "INSERT INTO api_tokens (id, tenant_id, name, scope, token_hash, created_at) VALUES (?1, ?2, 'admin', 'write', ?3, ?4)",
        params![id.as_str(), tenant.as_str(), token_hash, now.millis()],
    )?;
    Ok(())
}

pub fn set_bootstrap_token(c: &mut Connection, tenant: &TenantId, token_hash: &str, now: Timestamp) -> StoreResult<()> {
    let tx = c.transaction()?;
    let exists: bool =
        tx.query_row("SELECT EXISTS(SELECT 1 FROM api_tokens WHERE token_hash = ?1)", [token_hash], |r| r.get(0))?;
    if !exists {
        tx.execute(
            "UPDATE api_tokens SET revoked_at = ?2 WHERE tenant_id = ?1 AND name = 'admin' AND revoked_at IS NULL",
            params![tenant.as_str(), now.millis()],
        )?;
        insert_token(&tx, tenant, token_hash, now)?;
    }
    tx.commit()?;
    Ok(())
}

pub fn authenticate(c: &Connection, token_hash: &str) -> StoreResult<Option<TokenAuth>> {
    let row = c
        .query_row(
            "SELECT id, tenant_id, scope, role, created_by FROM api_tokens WHERE token_hash = ?1 AND revoked_at IS NULL",
            [token_hash],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            },
        )
        .optional()?;
    Ok(row.map(|(id, tenant, scope, role, created_by)| {
        let scope = Scope::parse(&scope);
        TokenAuth {
            token_id: TokenId::from_trusted(id),
            tenant_id: TenantId::from_trusted(tenant),
            scope,
            role: TokenAuth::role_of(scope, role.as_deref()),
            created_by: created_by.map(UserId::from_trusted),
        }
    }))
}

pub fn create(c: &mut Connection, t: &TenantId, rec: &MonitorRecord) -> StoreResult<()> {
    c.execute(
        "INSERT INTO monitors (id, tenant_id, name, draft, paused, heartbeat_token, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            rec.id.as_str(),
            t.as_str(),
            rec.draft.name,
            serde_json::to_string(&rec.draft)?,
            rec.draft.paused,
            rec.heartbeat_token,
            rec.created_at.millis(),
            rec.updated_at.millis()
        ],
    )?;
    Ok(())
}

pub fn update(
    c: &mut Connection,
    t: &TenantId,
    id: &MonitorId,
    draft: &MonitorDraft,
    now: Timestamp,
) -> StoreResult<bool> {
    let tx = c.transaction()?;
    let n = tx.execute(
        "UPDATE monitors SET name = ?3, draft = ?4, paused = ?5, updated_at = ?6 WHERE tenant_id = ?1 AND id = ?2",
        params![t.as_str(), id.as_str(), draft.name, serde_json::to_string(draft)?, draft.paused, now.millis()],
    )?;
    // Its policy may have changed: the timer sweep re-decides an open incident's timers now.
    tx.execute(
        "UPDATE monitor_state SET timer_at = ?3 WHERE tenant_id = ?1 AND monitor_id = ?2 AND open_incident IS NOT NULL",
        params![t.as_str(), id.as_str(), now.millis()],
    )?;
    tx.commit()?;
    Ok(n == 1)
}

pub fn delete(c: &mut Connection, t: &TenantId, id: &MonitorId) -> StoreResult<bool> {
    let tx = c.transaction()?;
    let n = tx.execute("DELETE FROM monitors WHERE tenant_id = ?1 AND id = ?2", params![t.as_str(), id.as_str()])?;
    if n == 1 {
        for table in ["monitor_state", "check_results", "uptime_hourly", "uptime_minute", "uptime_daily"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE tenant_id = ?1 AND monitor_id = ?2"),
                params![t.as_str(), id.as_str()],
            )?;
        }
        tx.execute(
            "DELETE FROM incident_events WHERE tenant_id = ?1 AND incident_id IN (SELECT id FROM incidents WHERE monitor_id = ?2)",
            params![t.as_str(), id.as_str()],
        )?;
        tx.execute("DELETE FROM incidents WHERE tenant_id = ?1 AND monitor_id = ?2", params![t.as_str(), id.as_str()])?;
    }
    tx.commit()?;
    Ok(n == 1)
}

const MONITOR_COLS: &str = "m.id, m.tenant_id, m.draft, m.heartbeat_token, m.created_at, m.updated_at, \
     s.health, s.last_checked_at, s.last_outcome, s.last_latency_ms, s.last_error, s.last_success_at, s.open_incident";

fn monitor_view(r: &Row<'_>) -> rusqlite::Result<(MonitorRecord, MonitorStatus)> {
    let draft: String = r.get(2)?;
    let draft = serde_json::from_str(&draft)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e)))?;
    let record = MonitorRecord {
        id: MonitorId::from_trusted(r.get(0)?),
        tenant_id: TenantId::from_trusted(r.get(1)?),
        draft,
        heartbeat_token: r.get(3)?,
        created_at: Timestamp::from_millis(r.get(4)?),
        updated_at: Timestamp::from_millis(r.get(5)?),
    };
    let health: Option<String> = r.get(6)?;
    let status = MonitorStatus {
        health: health.and_then(|h| serde_json::from_value(serde_json::Value::String(h)).ok()).unwrap_or_default(),
        last_checked_at: r.get::<_, Option<i64>>(7)?.map(Timestamp::from_millis),
        last_outcome: r.get::<_, Option<String>>(8)?.and_then(|o| Outcome::parse(&o)),
        last_latency_ms: r.get(9)?,
        last_error: r.get(10)?,
        last_success_at: r.get::<_, Option<i64>>(11)?.map(Timestamp::from_millis),
        open_incident: r.get::<_, Option<String>>(12)?.map(IncidentId::from_trusted),
    };
    Ok((record, status))
}

pub fn list(c: &Connection, t: &TenantId, only: Option<&MonitorId>) -> StoreResult<Vec<MonitorView>> {
    let sql = format!(
        "SELECT {MONITOR_COLS} FROM monitors m LEFT JOIN monitor_state s ON s.monitor_id = m.id \
         WHERE m.tenant_id = ?1 AND (?2 IS NULL OR m.id = ?2) ORDER BY m.created_at, m.id"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![t.as_str(), only.map(MonitorId::as_str)], monitor_view)?;
    Ok(rows.map(|r| r.map(|(record, status)| MonitorView { record, status })).collect::<Result<_, _>>()?)
}

pub fn schedulable(c: &Connection) -> StoreResult<Vec<ScheduledMonitor>> {
    let sql = format!(
        "SELECT {MONITOR_COLS} FROM monitors m LEFT JOIN monitor_state s ON s.monitor_id = m.id WHERE m.paused = 0"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map([], monitor_view)?;
    Ok(rows
        .map(|r| {
            r.map(|(record, status)| ScheduledMonitor {
                tenant_id: record.tenant_id.clone(),
                last_success_at: status.last_success_at,
                record,
            })
        })
        .collect::<Result<_, _>>()?)
}

pub fn by_heartbeat_token(c: &Connection, token: &str) -> StoreResult<Option<(TenantId, MonitorId, bool)>> {
    Ok(c.query_row("SELECT tenant_id, id, paused FROM monitors WHERE heartbeat_token = ?1", [token], |r| {
        Ok((TenantId::from_trusted(r.get(0)?), MonitorId::from_trusted(r.get(1)?), r.get(2)?))
    })
    .optional()?)
}

pub fn tenant_of(c: &Connection, m: &MonitorId) -> StoreResult<Option<TenantId>> {
    Ok(c.query_row("SELECT tenant_id FROM monitors WHERE id = ?1", [m.as_str()], |r| {
        Ok(TenantId::from_trusted(r.get(0)?))
    })
    .optional()?)
}

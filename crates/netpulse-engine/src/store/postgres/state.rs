//! Monitor rows under lock, and the state rows ingest and incident commands move.
//!
//! [`lock_monitors`] is the one place that serialises stepping: it locks the monitors'
//! rows (`FOR NO KEY UPDATE`, in id order) and returns what notices need about them. The
//! state is read by a *later* statement ([`load_states`]): in READ COMMITTED a statement that
//! waited for a row lock sees the locked row's newest version but the snapshot of its start
//! for every other table, so a state read joined into the lock could miss the state the
//! previous lock holder just committed. The
//! row always exists while the monitor does, so no placeholder state rows are needed, and a
//! concurrent delete waits for (or wins against) the ingest that holds the row.

use super::facts::{DraftCache, Parsed, RowVersion};
use crate::store::plan::{EnabledChannel, MonitorFacts};
use crate::store::*;
use netpulse_core::incident::next_timer;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_postgres::types::Type;
use tokio_postgres::Transaction;

/// Lock the monitors named by `(tenant, monitor)` that exist under that tenant, in id order,
/// and return their facts (name, policy, enabled channels), also in id order. The lock reads
/// only each row's version; drafts come from `cache` (see [`DraftCache`]).
pub async fn lock_monitors(
    tx: &Transaction<'_>,
    keys: &[(TenantId, MonitorId)],
    cache: &DraftCache,
) -> StoreResult<Vec<MonitorFacts>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let tenants: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    let rows = tx
        .query_typed(
            "SELECT m.id, m.tenant_id, m.xmin::text::int8, m.updated_at FROM monitors m \
             JOIN UNNEST($1::text[], $2::text[]) AS k(tenant_id, id) ON m.tenant_id = k.tenant_id AND m.id = k.id \
             ORDER BY m.id FOR NO KEY UPDATE OF m",
            &[(&tenants, Type::TEXT_ARRAY), (&ids, Type::TEXT_ARRAY)],
        )
        .await?;
    let mut locked = Vec::with_capacity(rows.len());
    for r in &rows {
        let version: RowVersion = (r.try_get(2)?, r.try_get(3)?);
        locked.push((MonitorId::from_trusted(r.try_get(0)?), TenantId::from_trusted(r.try_get(1)?), version));
    }
    let versions: Vec<(&MonitorId, RowVersion)> = locked.iter().map(|(m, _, v)| (m, *v)).collect();
    let drafts = cache.drafts(tx, &versions).await?;
    let parents = parent_states(tx, &locked, &drafts).await?;
    let mut channels = enabled_channels(tx, locked.iter().map(|m| m.1.as_str()).collect()).await?;
    Ok(locked
        .into_iter()
        .zip(drafts)
        .map(|((id, tenant_id, _), draft)| {
            let enabled = channels.entry(tenant_id.as_str().to_owned()).or_default().clone();
            let parent = draft.draft.depends_on.as_ref().map(|p| {
                parents.get(&(tenant_id.as_str().to_owned(), p.as_str().to_owned())).cloned().unwrap_or_default()
            });
            MonitorFacts::from_draft(tenant_id, id, &draft.draft, &draft.defaults, enabled, parent)
        })
        .collect())
}

/// The stored open incident and health of the parents (`depends_on`) of these monitors,
/// by `(tenant, parent id)`; a parent without a state row is absent.
async fn parent_states(
    tx: &Transaction<'_>,
    locked: &[(MonitorId, TenantId, RowVersion)],
    drafts: &[Arc<Parsed>],
) -> StoreResult<HashMap<(String, String), (Option<IncidentId>, Option<String>)>> {
    let wanted: Vec<(&str, &str)> = locked
        .iter()
        .zip(drafts)
        .filter_map(|((_, t, _), d)| d.draft.depends_on.as_ref().map(|p| (t.as_str(), p.as_str())))
        .collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let tenants: Vec<&str> = wanted.iter().map(|w| w.0).collect();
    let ids: Vec<&str> = wanted.iter().map(|w| w.1).collect();
    let rows = tx
        .query_typed(
            "SELECT s.tenant_id, s.monitor_id, s.open_incident, s.health FROM monitor_state s \
             JOIN UNNEST($1::text[], $2::text[]) AS k(tenant_id, id) ON s.tenant_id = k.tenant_id AND s.monitor_id = k.id",
            &[(&tenants, Type::TEXT_ARRAY), (&ids, Type::TEXT_ARRAY)],
        )
        .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in &rows {
        let incident = r.try_get::<_, Option<String>>(2)?.map(IncidentId::from_trusted);
        out.insert((r.try_get(0)?, r.try_get(1)?), (incident, r.try_get::<_, Option<String>>(3)?));
    }
    Ok(out)
}

/// The enabled channels of each tenant, oldest first.
async fn enabled_channels(
    tx: &Transaction<'_>,
    mut tenants: Vec<&str>,
) -> StoreResult<HashMap<String, Vec<EnabledChannel>>> {
    tenants.sort_unstable();
    tenants.dedup();
    let rows = tx
        .query_typed(
            "SELECT tenant_id, id, settings FROM channels WHERE tenant_id = ANY($1) AND enabled ORDER BY created_at, id",
            &[(&tenants, Type::TEXT_ARRAY)],
        )
        .await?;
    let mut by_tenant: HashMap<String, Vec<EnabledChannel>> = HashMap::new();
    for r in &rows {
        let settings: String = r.try_get(2)?;
        by_tenant.entry(r.try_get(0)?).or_default().push(EnabledChannel::from_row(r.try_get(1)?, &settings));
    }
    Ok(by_tenant)
}

/// The stored machine state and displayed status of each monitor that has them.
pub async fn load_states(
    tx: &Transaction<'_>,
    ids: &[&str],
) -> StoreResult<HashMap<String, (MonitorState, MonitorStatus)>> {
    let rows = tx
        .query_typed(
            "SELECT monitor_id, state, last_checked_at, last_outcome, last_latency_ms, last_error, last_success_at \
             FROM monitor_state WHERE monitor_id = ANY($1)",
            &[(&ids, Type::TEXT_ARRAY)],
        )
        .await?;
    let mut states = HashMap::with_capacity(rows.len());
    for r in &rows {
        let state: String = r.try_get(1)?;
        let status = MonitorStatus {
            last_checked_at: r.try_get::<_, Option<i64>>(2)?.map(Timestamp::from_millis),
            last_outcome: r.try_get::<_, Option<String>>(3)?.and_then(|o| Outcome::parse(&o)),
            last_latency_ms: r.try_get::<_, Option<i32>>(4)?.map(|v| v.max(0) as u32),
            last_error: r.try_get(5)?,
            last_success_at: r.try_get::<_, Option<i64>>(6)?.map(Timestamp::from_millis),
            ..MonitorStatus::default()
        };
        states.insert(r.try_get(0)?, (serde_json::from_str(&state)?, status));
    }
    Ok(states)
}

/// A monitor's new state, to be saved.
pub struct StateRow<'a> {
    pub facts: &'a MonitorFacts,
    pub state: MonitorState,
    pub status: MonitorStatus,
}

/// Upsert the state rows of one transaction in one statement.
pub async fn save_states(tx: &Transaction<'_>, rows: &[StateRow<'_>]) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.facts.id.as_str()).collect();
    let tenants: Vec<&str> = rows.iter().map(|r| r.facts.tenant_id.as_str()).collect();
    let states = rows.iter().map(|r| serde_json::to_string(&r.state)).collect::<Result<Vec<_>, _>>()?;
    let health: Vec<&str> = rows.iter().map(|r| r.state.health.as_str()).collect();
    let checked: Vec<Option<i64>> = rows.iter().map(|r| r.status.last_checked_at.map(Timestamp::millis)).collect();
    let outcomes: Vec<Option<&str>> = rows.iter().map(|r| r.status.last_outcome.map(Outcome::as_str)).collect();
    let latency: Vec<Option<i32>> = rows.iter().map(|r| r.status.last_latency_ms.map(|v| v as i32)).collect();
    let errors: Vec<Option<&str>> = rows.iter().map(|r| r.status.last_error.as_deref()).collect();
    let success: Vec<Option<i64>> = rows.iter().map(|r| r.status.last_success_at.map(Timestamp::millis)).collect();
    let open: Vec<Option<&str>> = rows.iter().map(|r| r.state.open.as_ref().map(|o| o.id.as_str())).collect();
    let timers: Vec<Option<i64>> =
        rows.iter().map(|r| next_timer(&r.state, &r.facts.policy).map(Timestamp::millis)).collect();
    tx.execute_typed(
        "INSERT INTO monitor_state (monitor_id, tenant_id, state, health, last_checked_at, last_outcome, \
         last_latency_ms, last_error, last_success_at, open_incident, timer_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[], $7::int4[], \
         $8::text[], $9::int8[], $10::text[], $11::int8[]) \
         ON CONFLICT (monitor_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, state = EXCLUDED.state, \
         health = EXCLUDED.health, last_checked_at = EXCLUDED.last_checked_at, last_outcome = EXCLUDED.last_outcome, \
         last_latency_ms = EXCLUDED.last_latency_ms, last_error = EXCLUDED.last_error, \
         last_success_at = EXCLUDED.last_success_at, open_incident = EXCLUDED.open_incident, \
         timer_at = EXCLUDED.timer_at",
        &[
            (&ids, Type::TEXT_ARRAY),
            (&tenants, Type::TEXT_ARRAY),
            (&states, Type::TEXT_ARRAY),
            (&health, Type::TEXT_ARRAY),
            (&checked, Type::INT8_ARRAY),
            (&outcomes, Type::TEXT_ARRAY),
            (&latency, Type::INT4_ARRAY),
            (&errors, Type::TEXT_ARRAY),
            (&success, Type::INT8_ARRAY),
            (&open, Type::TEXT_ARRAY),
            (&timers, Type::INT8_ARRAY),
        ],
    )
    .await?;
    Ok(())
}

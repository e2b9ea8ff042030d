//! Monitor rows under lock, and the state rows ingest and incident commands move.
//!
//! Stepping is serialised by the monitors' partition rows (see [`super::hot`]): every
//! writer of a monitor's state takes them first. Incident commands, maintenance and region
//! observations then also lock the monitor's row ([`lock_monitors`], `FOR NO KEY UPDATE`, in
//! id order), which a concurrent delete waits for. The state is read by a *later* statement
//! ([`load_states`]): in READ COMMITTED a statement that waited for a row lock sees the
//! locked row's newest version but the snapshot of its start for every other table, so a
//! state read joined into the lock could miss the state the previous lock holder just
//! committed. Every state write bumps the row's `version` (kept for diagnosis).

use super::facts::{DraftCache, Parsed, RowVersion};
use crate::plan::{EnabledChannel, MonitorFacts};
use crate::*;
use netpulse_core::incident::{next_timer, MonitorState};
use netpulse_core::{IncidentId, MonitorId, Outcome, TenantId, Timestamp};
use std::collections::HashMap;
use std::sync::Arc;
use tokio_postgres::types::Type;
use tokio_postgres::{Row, Transaction};

/// A monitor row as found: id, tenant, row version.
pub type Found = (MonitorId, TenantId, RowVersion);

/// The facts (name, policy, enabled channels, parent state) of the monitors `found` (in the
/// same order; `None` for one deleted meanwhile): drafts from `cache` by row version (see
/// [`DraftCache`]), channels and the parents' state read now.
pub async fn facts_of(
    tx: &Transaction<'_>,
    found: &[Found],
    cache: &DraftCache,
) -> StoreResult<Vec<Option<MonitorFacts>>> {
    let versions: Vec<(&MonitorId, RowVersion)> = found.iter().map(|(m, _, v)| (m, *v)).collect();
    let drafts = cache.drafts(tx, &versions).await?;
    let known: Vec<Drafted<'_>> =
        found.iter().zip(&drafts).filter_map(|((m, t, _), d)| Some((m, t, d.as_ref()?))).collect();
    let mut facts = facts_from(tx, &known).await?.into_iter();
    Ok(drafts.iter().map(|d| d.as_ref().and_then(|_| facts.next())).collect())
}

/// A monitor with its tenant and parsed draft.
pub type Drafted<'a> = (&'a MonitorId, &'a TenantId, &'a Arc<Parsed>);

/// The facts of monitors whose drafts are known (in the same order): enabled channels and
/// the parents' state read now.
pub async fn facts_from(tx: &Transaction<'_>, monitors: &[Drafted<'_>]) -> StoreResult<Vec<MonitorFacts>> {
    let inputs = FactInputs::read(tx, monitors).await?;
    Ok(monitors.iter().map(|(id, t, draft)| inputs.facts(id, t, draft)).collect())
}

/// A monitor's parent's stored open incident and health text.
pub type ParentState = (Option<IncidentId>, Option<String>);

/// What a monitor's facts take besides its draft, read in the transaction: its tenant's
/// enabled channels and its parent's state.
pub struct FactInputs {
    parents: HashMap<(String, String), ParentState>,
    channels: HashMap<String, Vec<EnabledChannel>>,
}

impl FactInputs {
    pub async fn read(tx: &Transaction<'_>, monitors: &[Drafted<'_>]) -> StoreResult<Self> {
        let parents = parent_states(tx, monitors).await?;
        let channels = enabled_channels(tx, monitors.iter().map(|m| m.1.as_str()).collect()).await?;
        Ok(Self { parents, channels })
    }

    /// The tenant's enabled channels, oldest first.
    pub fn channels(&self, t: &TenantId) -> &[EnabledChannel] {
        self.channels.get(t.as_str()).map_or(&[], Vec::as_slice)
    }

    /// The parent's state, for a monitor that depends on one.
    pub fn parent(&self, t: &TenantId, draft: &Parsed) -> Option<ParentState> {
        draft
            .draft
            .depends_on
            .as_ref()
            .map(|p| self.parents.get(&(t.as_str().to_owned(), p.as_str().to_owned())).cloned().unwrap_or_default())
    }

    pub fn facts(&self, id: &MonitorId, t: &TenantId, draft: &Parsed) -> MonitorFacts {
        let enabled = self.channels(t).to_vec();
        MonitorFacts::from_draft(t.clone(), id.clone(), &draft.draft, &draft.defaults, enabled, self.parent(t, draft))
    }
}

/// The stored open incident and health of the parents (`depends_on`) of these monitors,
/// by `(tenant, parent id)`; a parent without a state row is absent.
async fn parent_states(
    tx: &Transaction<'_>,
    monitors: &[Drafted<'_>],
) -> StoreResult<HashMap<(String, String), ParentState>> {
    let wanted: Vec<(&str, &str)> =
        monitors.iter().filter_map(|(_, t, d)| d.draft.depends_on.as_ref().map(|p| (t.as_str(), p.as_str()))).collect();
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

/// Lock the monitors named by `(tenant, monitor)` that exist under that tenant
/// (`FOR NO KEY UPDATE`, in id order) and return them, in id order, with their row versions.
pub async fn lock_monitors(tx: &Transaction<'_>, keys: &[(TenantId, MonitorId)]) -> StoreResult<Vec<Found>> {
    select_monitors(tx, keys, " FOR NO KEY UPDATE OF m").await
}

/// [`lock_monitors`] without the lock, for ingest, which holds the monitors' partitions (see
/// [`super::hot`]) and so excludes every other writer already.
pub async fn find_monitors(tx: &Transaction<'_>, keys: &[(TenantId, MonitorId)]) -> StoreResult<Vec<Found>> {
    select_monitors(tx, keys, "").await
}

async fn select_monitors(tx: &Transaction<'_>, keys: &[(TenantId, MonitorId)], lock: &str) -> StoreResult<Vec<Found>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let tenants: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    let sql = format!(
        "SELECT m.id, m.tenant_id, m.xmin::text::int8, m.updated_at FROM monitors m \
         JOIN UNNEST($1::text[], $2::text[]) AS k(tenant_id, id) ON m.tenant_id = k.tenant_id AND m.id = k.id \
         ORDER BY m.id{lock}"
    );
    let rows = tx.query_typed(&sql, &[(&tenants, Type::TEXT_ARRAY), (&ids, Type::TEXT_ARRAY)]).await?;
    rows.iter()
        .map(|r| {
            let version: RowVersion = (r.try_get(2)?, r.try_get(3)?);
            Ok((MonitorId::from_trusted(r.try_get(0)?), TenantId::from_trusted(r.try_get(1)?), version))
        })
        .collect()
}

/// A stored state: the machine state and the displayed status columns.
pub type StoredState = (MonitorState, MonitorStatus);

/// The stored machine state and displayed status of each of these monitors that has them,
/// by monitor id. Must run after the writers' locks were taken, as a statement of its own
/// (see the module doc).
pub async fn load_states(tx: &Transaction<'_>, wanted: &[&MonitorId]) -> StoreResult<HashMap<String, StoredState>> {
    let ids: Vec<&str> = wanted.iter().map(|m| m.as_str()).collect();
    let rows = tx
        .query_typed(
            "SELECT s.monitor_id, s.state, s.last_checked_at, s.last_outcome, s.last_latency_ms, s.last_error, \
             s.last_success_at FROM monitor_state s WHERE s.monitor_id = ANY($1)",
            &[(&ids, Type::TEXT_ARRAY)],
        )
        .await?;
    let mut states = HashMap::with_capacity(rows.len());
    for r in &rows {
        let state = serde_json::from_str(r.try_get::<_, &str>(1)?)?;
        states.insert(r.try_get(0)?, (state, status_of(r, 2)?));
    }
    Ok(states)
}

/// The displayed status from `last_checked_at, last_outcome, last_latency_ms, last_error,
/// last_success_at` starting at column `at`.
pub(super) fn status_of(r: &Row, at: usize) -> StoreResult<MonitorStatus> {
    Ok(MonitorStatus {
        last_checked_at: r.try_get::<_, Option<i64>>(at)?.map(Timestamp::from_millis),
        last_outcome: r.try_get::<_, Option<String>>(at + 1)?.and_then(|o| Outcome::parse(&o)),
        last_latency_ms: r.try_get::<_, Option<i32>>(at + 2)?.map(|v| v.max(0) as u32),
        last_error: r.try_get(at + 3)?,
        last_success_at: r.try_get::<_, Option<i64>>(at + 4)?.map(Timestamp::from_millis),
        ..MonitorStatus::default()
    })
}

/// A monitor's new state, to be saved.
pub struct StateRow<'a> {
    pub facts: &'a MonitorFacts,
    pub state: MonitorState,
    pub status: MonitorStatus,
}

/// The state text and display columns of `rows`, as UNNEST arrays (see [`save_states`]).
pub struct StateArrays<'a> {
    pub states: Vec<String>,
    pub health: Vec<&'a str>,
    pub checked: Vec<Option<i64>>,
    pub outcomes: Vec<Option<&'a str>>,
    pub latency: Vec<Option<i32>>,
    pub errors: Vec<Option<&'a str>>,
    pub success: Vec<Option<i64>>,
    pub open: Vec<Option<&'a str>>,
}

impl<'a> StateArrays<'a> {
    pub fn of(rows: impl Iterator<Item = (&'a MonitorState, &'a MonitorStatus)> + Clone) -> StoreResult<Self> {
        Ok(Self {
            states: rows.clone().map(|(s, _)| serde_json::to_string(s)).collect::<Result<_, _>>()?,
            health: rows.clone().map(|(s, _)| s.health.as_str()).collect(),
            checked: rows.clone().map(|(_, st)| st.last_checked_at.map(Timestamp::millis)).collect(),
            outcomes: rows.clone().map(|(_, st)| st.last_outcome.map(Outcome::as_str)).collect(),
            latency: rows.clone().map(|(_, st)| st.last_latency_ms.map(|v| v as i32)).collect(),
            errors: rows.clone().map(|(_, st)| st.last_error.as_deref()).collect(),
            success: rows.clone().map(|(_, st)| st.last_success_at.map(Timestamp::millis)).collect(),
            open: rows.map(|(s, _)| s.open.as_ref().map(|o| o.id.as_str())).collect(),
        })
    }
}

/// Upsert the state rows of one transaction in one statement, each with its version bumped.
pub async fn save_states(tx: &Transaction<'_>, rows: &[StateRow<'_>]) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.facts.id.as_str()).collect();
    let tenants: Vec<&str> = rows.iter().map(|r| r.facts.tenant_id.as_str()).collect();
    let a = StateArrays::of(rows.iter().map(|r| (&r.state, &r.status)))?;
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
             last_success_at = GREATEST(monitor_state.last_success_at, EXCLUDED.last_success_at), open_incident = EXCLUDED.open_incident, \
             timer_at = EXCLUDED.timer_at, version = monitor_state.version + 1",
            &[
                (&ids, Type::TEXT_ARRAY),
                (&tenants, Type::TEXT_ARRAY),
                (&a.states, Type::TEXT_ARRAY),
                (&a.health, Type::TEXT_ARRAY),
                (&a.checked, Type::INT8_ARRAY),
                (&a.outcomes, Type::TEXT_ARRAY),
                (&a.latency, Type::INT4_ARRAY),
                (&a.errors, Type::TEXT_ARRAY),
                (&a.success, Type::INT8_ARRAY),
                (&a.open, Type::TEXT_ARRAY),
                (&timers, Type::INT8_ARRAY),
            ],
        )
        .await?;
    Ok(())
}

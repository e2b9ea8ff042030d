//! Monitors: the stored monitor with the status ingest keeps for it, what the scheduler
//! needs of it, and the lookups that find a monitor without its tenant (heartbeat pushes,
//! public badges).
//!
//! Monitors fall into [`PARTITIONS`] partitions by id ([`partition_of`]): PostgreSQL's state
//! partitions, the result streams and the schedulers' shares are all this one split. Each
//! stored monitor keeps its partition (`monitors.part`, indexed with its version for the
//! unpaused ones), so a scheduler reads only its partitions' monitors, and each reload only
//! their ids and versions ([`MonitorStore::schedulable_versions_in`]) before reading the
//! monitors whose version it does not hold ([`MonitorStore::schedulable_monitors_by_id`]).

use crate::error::StoreResult;
use async_trait::async_trait;
use netpulse_core::incident::{Health, MonitorState};
use netpulse_core::monitor::MonitorDraft;
use netpulse_core::{CheckResult, IncidentId, MonitorId, Outcome, TenantId, Timestamp};

/// How many partitions the monitors fall into.
pub const PARTITIONS: u32 = 64;

/// The partition of monitor `m`: FNV-1a of its id modulo [`PARTITIONS`], the same on every
/// node, backend and engine version.
pub fn partition_of(m: &MonitorId) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in m.as_str().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % PARTITIONS
}

/// A stored monitor.
#[derive(Clone, Debug)]
pub struct MonitorRecord {
    pub id: MonitorId,
    pub tenant_id: TenantId,
    pub draft: MonitorDraft,
    /// The secret path segment of a heartbeat monitor's push URL.
    pub heartbeat_token: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A monitor's current status, kept up to date by ingest.
#[derive(Clone, Debug, Default)]
pub struct MonitorStatus {
    pub health: Health,
    pub last_checked_at: Option<Timestamp>,
    pub last_outcome: Option<Outcome>,
    pub last_latency_ms: Option<u32>,
    pub last_error: Option<String>,
    pub last_success_at: Option<Timestamp>,
    pub open_incident: Option<IncidentId>,
}

impl MonitorStatus {
    /// Fold one stored result into the displayed status: the latest result wins, a late one
    /// only moves `last_success_at`.
    pub fn observe(&mut self, r: &CheckResult) {
        if !r.outcome.is_failure() && self.last_success_at.is_none_or(|t| r.started_at > t) {
            self.last_success_at = Some(r.started_at);
        }
        if self.last_checked_at.is_some_and(|t| r.started_at < t) {
            return;
        }
        self.last_checked_at = Some(r.started_at);
        self.last_outcome = Some(r.outcome);
        self.last_latency_ms = r.timings.total_ms;
        self.last_error = r.error.clone();
    }
}

/// A monitor with its status.
#[derive(Clone, Debug)]
pub struct MonitorView {
    pub record: MonitorRecord,
    pub status: MonitorStatus,
}

/// A monitor as the scheduler needs it.
#[derive(Clone, Debug)]
pub struct ScheduledMonitor {
    pub tenant_id: TenantId,
    pub record: MonitorRecord,
    pub last_success_at: Option<Timestamp>,
}

/// What a conditional update did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conditional {
    Updated,
    /// No such object (of this tenant).
    Missing,
    /// It exists, at another version than the one expected; nothing was written.
    Changed,
}

impl Conditional {
    /// What a conditional write did, from whether it wrote and whether the object exists.
    pub fn of(written: bool, exists: bool) -> Self {
        match (written, exists) {
            (true, _) => Conditional::Updated,
            (false, false) => Conditional::Missing,
            (false, true) => Conditional::Changed,
        }
    }
}

/// A tenant's monitors, their state, and the system paths that read monitors of every tenant.
#[async_trait]
pub trait MonitorStore: Send + Sync {
    async fn create_monitor(&self, t: &TenantId, rec: &MonitorRecord) -> StoreResult<()>;
    /// [`Self::create_monitor`] while `t` has fewer than `cap` monitors (`0`: no limit);
    /// `false`, with nothing written, when it has `cap` already. The count and the insert are
    /// one step per organisation, so creates racing for the last place leave it at `cap`.
    async fn create_monitor_within(&self, t: &TenantId, rec: &MonitorRecord, cap: u32) -> StoreResult<bool>;
    async fn get_monitor(&self, t: &TenantId, id: &MonitorId) -> StoreResult<Option<MonitorView>>;
    async fn list_monitors(&self, t: &TenantId) -> StoreResult<Vec<MonitorView>>;
    /// Replace monitor `id`'s definition. Its version (`updated_at`) becomes `now`, or one ms
    /// past the old version if that is not earlier, so every update changes it. With
    /// `expected`, only while the version is still that one: the check and the write are one
    /// statement, so of two writers that read the same version one wins and the other is told
    /// [`Conditional::Changed`].
    async fn update_monitor_if(
        &self,
        t: &TenantId,
        id: &MonitorId,
        draft: &MonitorDraft,
        now: Timestamp,
        expected: Option<Timestamp>,
    ) -> StoreResult<Conditional>;
    /// [`Self::update_monitor_if`] whatever the version; `false` when there is no such monitor.
    async fn update_monitor(
        &self,
        t: &TenantId,
        id: &MonitorId,
        draft: &MonitorDraft,
        now: Timestamp,
    ) -> StoreResult<bool> {
        Ok(self.update_monitor_if(t, id, draft, now, None).await? == Conditional::Updated)
    }
    async fn delete_monitor(&self, t: &TenantId, id: &MonitorId) -> StoreResult<bool>;

    /// Every unpaused monitor of every tenant (the gateway's directory, region availability).
    async fn schedulable_monitors(&self) -> StoreResult<Vec<ScheduledMonitor>>;
    /// The monitors a scheduler checks in `partitions` (of [`partition_of`]): every unpaused
    /// one of every tenant but the demo organisation (whose results are seeded).
    async fn schedulable_monitors_in(&self, partitions: &[u32]) -> StoreResult<Vec<ScheduledMonitor>>;
    /// The id and version (`updated_at`) of each monitor [`Self::schedulable_monitors_in`]
    /// reads, read from an index: a scheduler holding these partitions compares them with
    /// what it holds. A created or resumed monitor is a new id, an edited one (or one whose
    /// organisation's defaults changed) a new version, a paused or deleted one a missing id.
    async fn schedulable_versions_in(&self, partitions: &[u32]) -> StoreResult<Vec<(MonitorId, Timestamp)>>;
    /// Those of monitors `ids` that [`Self::schedulable_monitors_in`] would read, as they are now.
    async fn schedulable_monitors_by_id(&self, ids: &[MonitorId]) -> StoreResult<Vec<ScheduledMonitor>>;
    /// The monitor whose heartbeat push URL carries `token`: its tenant, id and whether it is paused.
    async fn heartbeat_monitor(&self, token: &str) -> StoreResult<Option<(TenantId, MonitorId, bool)>>;
    /// The tenant owning monitor `m` (for signed public badges, whose URL names only the monitor).
    async fn monitor_tenant(&self, m: &MonitorId) -> StoreResult<Option<TenantId>>;

    async fn monitor_state(&self, t: &TenantId, m: &MonitorId) -> StoreResult<Option<MonitorState>>;
    /// The health now of each of `t`'s monitors whose health may have changed at or after
    /// `since` (the dashboard overview's catch-up, dashboard/events.rs). A superset is
    /// allowed, never a subset: SQLite keeps when each monitor's health last changed;
    /// PostgreSQL reads the monitors whose state row was written since (`state_touches`, by
    /// the database's clock) and, for a `since` older than those are kept, every monitor.
    async fn health_changed_since(&self, t: &TenantId, since: Timestamp) -> StoreResult<Vec<(MonitorId, Health)>>;
}

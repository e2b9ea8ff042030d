//! Maintenance windows: a monitor's planned quiet time. The state machine sees each window
//! start and end (a monitor that goes down inside one opens no incident and sends nothing);
//! [`transition`] says where a due window goes next.

use crate::error::StoreResult;
use crate::Conditional;
use async_trait::async_trait;
use netpulse_core::incident::Observation;
use netpulse_core::{MonitorId, TenantId, Timestamp};
use serde::Serialize;

/// A maintenance window of one monitor. `phase` is `scheduled`, `active` or `over`; a
/// repeating window moves to its next occurrence when it ends. `updated_at` is its version,
/// which every write (its start, end or next occurrence included) moves on.
#[derive(Clone, Debug, Serialize)]
pub struct MaintenanceWindow {
    pub id: String,
    pub monitor_id: MonitorId,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub repeat_every_s: Option<i64>,
    pub reason: String,
    pub phase: String,
    /// Shown ahead of time (and while it runs) on the status pages that carry the monitor.
    pub announce: bool,
    #[serde(skip)]
    pub updated_at: Timestamp,
}

/// A tenant's maintenance windows, and the sweep that starts and ends them.
#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    /// Store a window; an announced one queues a notice to each confirmed subscriber of the
    /// pages showing its monitor (see the `subscribers` module), in the same transaction.
    async fn create_maintenance(&self, t: &TenantId, w: &MaintenanceWindow) -> StoreResult<()>;
    async fn list_maintenance(&self, t: &TenantId, m: &MonitorId) -> StoreResult<Vec<MaintenanceWindow>>;
    /// Window `id` of `t`, if any.
    async fn get_maintenance(&self, t: &TenantId, id: &str) -> StoreResult<Option<MaintenanceWindow>>;
    /// Cancel a window; an active one ends now (through the state machine). With `expected`,
    /// only while its version is still that one, checked and deleted in one step (see
    /// [`crate::MonitorStore::update_monitor_if`]).
    async fn cancel_maintenance_if(
        &self,
        t: &TenantId,
        id: &str,
        now: Timestamp,
        expected: Option<Timestamp>,
    ) -> StoreResult<Conditional>;
    /// [`Self::cancel_maintenance_if`] whatever the version; `false` if unknown.
    async fn cancel_maintenance(&self, t: &TenantId, id: &str, now: Timestamp) -> StoreResult<bool> {
        Ok(self.cancel_maintenance_if(t, id, now, None).await? == Conditional::Updated)
    }
    /// Start and end the windows that are due at `now`, each in one transaction with the
    /// state-machine step it causes (so a transition fires once). Returns how many moved.
    async fn advance_maintenance(&self, now: Timestamp) -> StoreResult<usize>;
    /// When [`MaintenanceStore::advance_maintenance`] next has work: the earliest start of a
    /// scheduled window or end of an active one (`None`: no window is scheduled or active).
    async fn next_maintenance_change(&self) -> StoreResult<Option<Timestamp>>;
}

/// Where a due maintenance window goes at `now`: its new phase and its (possibly moved)
/// start and end. A window that ends is rescheduled to its next occurrence after `now` when
/// it repeats; a scheduled window whose end already passed (the engine was down) never
/// becomes active.
pub fn transition(w: &MaintenanceWindow, now: Timestamp) -> (&'static str, (Timestamp, Timestamp)) {
    let ended = w.ends_at <= now;
    match (w.phase.as_str(), ended, w.repeat_every_s) {
        ("scheduled", false, _) => ("active", (w.starts_at, w.ends_at)),
        (_, true, Some(every)) if every > 0 => {
            let step = every * 1000;
            let k = (now.since(w.ends_at) / step) + 1;
            ("scheduled", (w.starts_at.plus_ms(k * step), w.ends_at.plus_ms(k * step)))
        }
        (_, true, _) => ("over", (w.starts_at, w.ends_at)),
        (phase, false, _) => (if phase == "active" { "active" } else { "over" }, (w.starts_at, w.ends_at)),
    }
}

/// What one due window does at `now`: where it goes ([`transition`]) and what its monitor's
/// state machine sees. Every backend and the simulator advance windows with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowMove {
    pub phase: &'static str,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// The window became active: the monitor's maintenance starts (step this before saving).
    pub starts: Option<Observation>,
    /// The window stopped being active: after saving it, step [`maintenance_ends`].
    pub stopped: bool,
}

/// Move a due window at `now`.
pub fn advance(w: &MaintenanceWindow, now: Timestamp) -> WindowMove {
    let (phase, (starts_at, ends_at)) = transition(w, now);
    let starts =
        (phase == "active" && w.phase == "scheduled").then_some(Observation::Maintenance { at: now, active: true });
    let stopped = w.phase == "active" && phase != "active";
    WindowMove { phase, starts_at, ends_at, starts, stopped }
}

/// The observation that ends a monitor's maintenance once one of its windows stopped: none
/// while another of its windows is still active (overlapping windows are one quiet span).
pub fn maintenance_ends(others_active: bool, now: Timestamp) -> Option<Observation> {
    (!others_active).then_some(Observation::Maintenance { at: now, active: false })
}

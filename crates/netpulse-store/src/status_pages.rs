//! Status pages: a tenant's public pages and the monitors on them, incidents posted to them,
//! and what `/status/{slug}` shows, built from live evidence only
//! ([`Store::public_status_page`](crate::Store::public_status_page)).

use crate::incidents::IncidentStatus;
use netpulse_core::{IncidentId, MonitorId, Outcome, TenantId, Timestamp};
use serde::Serialize;

/// A public status page of a tenant. `monitors` are in display order.
#[derive(Clone, Debug, Serialize)]
pub struct StatusPage {
    pub id: String,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub slug: String,
    pub title: String,
    pub message: String,
    pub logo_url: Option<String>,
    pub created_at: Timestamp,
    pub monitors: Vec<StatusPageMonitor>,
}

/// A monitor on a status page, under the name and group the tenant chose.
#[derive(Clone, Debug, Serialize)]
pub struct StatusPageMonitor {
    pub monitor_id: MonitorId,
    pub display_name: String,
    pub group: String,
}

/// An incident posted to status pages: only what may be shown publicly.
#[derive(Clone, Debug)]
pub struct PublicIncident {
    pub id: IncidentId,
    pub monitor_id: MonitorId,
    pub status: IncidentStatus,
    pub opened_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub public_message: String,
    pub posted_at: Timestamp,
}

/// The newest live result of a monitor.
#[derive(Clone, Copy, Debug)]
pub struct LatestLive {
    pub at: Timestamp,
    pub outcome: Outcome,
}

/// What a status page needs of one of its monitors beyond the rollups.
#[derive(Clone, Copy, Debug)]
pub struct PageMonitorState {
    pub paused: bool,
    /// The newest live result, if any.
    pub latest: Option<LatestLive>,
}

/// One monitor of a public status page, as the public may see it.
#[derive(Clone, Debug)]
pub struct PublicMonitor {
    pub display_name: String,
    pub group: String,
    pub paused: bool,
    /// From live results only.
    pub latest: Option<LatestLive>,
    pub figures: netpulse_core::uptime::PageFigures,
}

/// Everything `/status/{slug}` shows, and nothing else.
#[derive(Clone, Debug)]
pub struct PublicStatusPage {
    pub slug: String,
    pub title: String,
    pub message: String,
    pub logo_url: Option<String>,
    pub generated_at: Timestamp,
    pub monitors: Vec<PublicMonitor>,
    /// Incidents with a public message, each with the display name of its monitor.
    pub incidents: Vec<(String, PublicIncident)>,
}

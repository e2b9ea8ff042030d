//! Status pages: a tenant's public pages and the monitors on them, the public updates posted to
//! incidents (investigating → identified → monitoring → resolved, each with its impact), the
//! maintenance windows announced on them, and
//! [`StatusPageStore::public_status_page`], which builds what `/status/{slug}` and its feeds
//! show from live evidence only.

use crate::error::StoreResult;
use crate::incidents::IncidentStatus;
use crate::maintenance::MaintenanceWindow;
use crate::Conditional;
use async_trait::async_trait;
use netpulse_core::uptime::Tally;
use netpulse_core::{IncidentId, MonitorId, Outcome, TenantId, Timestamp, UpdateId};
use serde::Serialize;
use std::collections::HashMap;

/// Where a page is read: its own host name when it has one (with this server's scheme),
/// else `/status/{slug}` on this server.
pub fn page_url(base_url: &str, slug: &str, domain: Option<&str>) -> String {
    let base = base_url.trim_end_matches('/');
    match domain {
        Some(d) => format!("{}://{d}", base.split("://").next().filter(|s| *s == "https").unwrap_or("http")),
        None => format!("{base}/status/{slug}"),
    }
}

/// How an update's other affected monitors are stored: their ids, space-separated.
pub(crate) fn affects_text(ids: &[MonitorId]) -> String {
    ids.iter().map(MonitorId::as_str).collect::<Vec<_>>().join(" ")
}

pub(crate) fn affects_of(text: &str) -> Vec<MonitorId> {
    text.split_whitespace().map(|s| MonitorId::from_trusted(s.to_owned())).collect()
}

/// A public status page of a tenant. `monitors` are in display order; `updated_at` is its
/// version, which every update moves on.
#[derive(Clone, Debug, Serialize)]
pub struct StatusPage {
    pub id: String,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub slug: String,
    pub title: String,
    pub message: String,
    pub logo_url: Option<String>,
    /// The page's own host name (`status.example.com`), under which it is served at `/`.
    pub domain: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub monitors: Vec<StatusPageMonitor>,
}

/// A monitor on a status page, under the name and group the tenant chose.
#[derive(Clone, Debug, Serialize)]
pub struct StatusPageMonitor {
    pub monitor_id: MonitorId,
    pub display_name: String,
    pub group: String,
}

/// Where an incident stands, as its public updates say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateState {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

/// How hard an incident hits the component it is about, as its poster judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    Degraded,
    Partial,
    Major,
}

impl UpdateState {
    pub const ALL: [UpdateState; 4] =
        [UpdateState::Investigating, UpdateState::Identified, UpdateState::Monitoring, UpdateState::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            UpdateState::Investigating => "investigating",
            UpdateState::Identified => "identified",
            UpdateState::Monitoring => "monitoring",
            UpdateState::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl Impact {
    pub const ALL: [Impact; 3] = [Impact::Degraded, Impact::Partial, Impact::Major];

    pub fn as_str(self) -> &'static str {
        match self {
            Impact::Degraded => "degraded",
            Impact::Partial => "partial",
            Impact::Major => "major",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// One public update of an incident: a timestamped message with the state and impact it states.
#[derive(Clone, Debug, Serialize)]
pub struct IncidentUpdate {
    pub id: UpdateId,
    pub incident_id: IncidentId,
    pub state: UpdateState,
    pub impact: Impact,
    pub message: String,
    pub posted_at: Timestamp,
    /// Other monitors (components) the incident affects besides its own, as its poster says.
    pub affects: Vec<MonitorId>,
}

impl IncidentUpdate {
    /// The line the incident's timeline gets for this update.
    pub fn timeline_line(&self) -> String {
        format!("status page update ({}, {} impact): {}", self.state.as_str(), self.impact.as_str(), self.message)
    }

    /// How feeds and subscriber notices title this update of `component` (the monitor's
    /// name on the page): `Checkout: Identified (partial impact)`.
    pub fn title(&self, component: &str) -> String {
        let state = self.state.as_str();
        let state: String = state.chars().take(1).flat_map(char::to_uppercase).chain(state.chars().skip(1)).collect();
        format!("{component}: {state} ({} impact)", self.impact.as_str())
    }
}

/// An incident posted to status pages: only what may be shown publicly. `public_message` and
/// `posted_at` are those of its newest update; `updates` holds them all, newest first.
#[derive(Clone, Debug)]
pub struct PublicIncident {
    pub id: IncidentId,
    pub monitor_id: MonitorId,
    pub status: IncidentStatus,
    pub opened_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub public_message: String,
    pub posted_at: Timestamp,
    pub updates: Vec<IncidentUpdate>,
    /// The display names of the page's other components its newest update says it affects
    /// (filled by [`StatusPageStore::posted_incidents`]).
    pub also_affected: Vec<String>,
}

impl PublicIncident {
    /// The newest update's state and impact (every posted incident has at least one update).
    pub fn latest(&self) -> Option<&IncidentUpdate> {
        self.updates.first()
    }
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
    /// Inside an announced maintenance window now.
    pub in_maintenance: bool,
    /// The worst impact that unresolved posted incidents state for it (its own, or another
    /// monitor's whose newest update names it among those it affects).
    pub posted_impact: Option<Impact>,
    /// Its real visitors' page views over the last 24 hours (the demo organisation's sample
    /// visits on its own pages, which say so).
    pub visitors: netpulse_core::visits::VisitTally,
}

/// Everything `/status/{slug}` shows, and nothing else.
#[derive(Clone, Debug)]
pub struct PublicStatusPage {
    pub slug: String,
    pub domain: Option<String>,
    pub title: String,
    pub message: String,
    pub logo_url: Option<String>,
    pub generated_at: Timestamp,
    pub monitors: Vec<PublicMonitor>,
    /// Incidents with public updates, each with the display name of its monitor.
    pub incidents: Vec<(String, PublicIncident)>,
    /// Announced maintenance windows not yet over, each with the display name of its
    /// monitor, soonest first.
    pub maintenance: Vec<(String, MaintenanceWindow)>,
    /// The demo organisation's page: its figures are sample data.
    pub demo: bool,
}

/// Per monitor, the worst impact the unresolved ones of `incidents` state for it: each
/// incident's newest update names its impact, for the incident's monitor and those it affects.
pub fn posted_impacts(incidents: &[(String, PublicIncident)]) -> HashMap<MonitorId, Impact> {
    let mut out: HashMap<MonitorId, Impact> = HashMap::new();
    for (_, i) in incidents {
        let Some(u) = i.latest().filter(|u| u.state != UpdateState::Resolved) else { continue };
        for m in std::iter::once(&i.monitor_id).chain(&u.affects) {
            let worst = out.entry(m.clone()).or_insert(u.impact);
            *worst = (*worst).max(u.impact);
        }
    }
    out
}

/// A tenant's status pages and the public reads they are built from.
#[async_trait]
pub trait StatusPageStore:
    crate::visits::VisitStore + crate::uptime::UptimeStore + crate::results::ResultStore + Send + Sync
{
    /// Create a page; a taken slug is a [`StoreError::Conflict`](crate::error::StoreError::Conflict).
    async fn create_status_page(&self, t: &TenantId, p: &StatusPage) -> StoreResult<()>;
    /// Replace a page's fields and monitors. Its version becomes `p.updated_at`, or one ms past
    /// the old version if that is not earlier. With `expected`, only while the version is
    /// still that one, checked and written in one statement (see
    /// [`crate::MonitorStore::update_monitor_if`]).
    async fn update_status_page_if(
        &self,
        t: &TenantId,
        p: &StatusPage,
        expected: Option<Timestamp>,
    ) -> StoreResult<Conditional>;
    /// [`Self::update_status_page_if`] whatever the version; `false` if no such page of this tenant.
    async fn update_status_page(&self, t: &TenantId, p: &StatusPage) -> StoreResult<bool> {
        Ok(self.update_status_page_if(t, p, None).await? == Conditional::Updated)
    }
    async fn delete_status_page(&self, t: &TenantId, id: &str) -> StoreResult<bool>;
    async fn list_status_pages(&self, t: &TenantId) -> StoreResult<Vec<StatusPage>>;
    /// A page by its public slug (system path: the page carries its tenant).
    async fn status_page_by_slug(&self, slug: &str) -> StoreResult<Option<StatusPage>>;
    /// The slug of the page served under this host name, if any (system path).
    async fn status_page_slug_for_domain(&self, domain: &str) -> StoreResult<Option<String>>;
    /// Live tallies of these monitors for a status page at `now`: the hourly rollup summed
    /// per [`netpulse_core::uptime::bucket_start`] (about one row per monitor and day), each
    /// stamped with its bucket's start; hours the page ignores are left out.
    async fn page_tallies(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
        now: Timestamp,
    ) -> StoreResult<Vec<(MonitorId, Timestamp, Tally)>>;
    /// Whether each of these monitors (of `t`, still existing) is paused and its newest live
    /// result, in one query; a monitor that is gone or another tenant's is left out.
    async fn page_monitors(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
    ) -> StoreResult<HashMap<MonitorId, PageMonitorState>>;
    /// Post an update to `u.incident_id` (which puts the incident on its monitor's status pages)
    /// and note it in the incident's timeline; `false` if this tenant has no such incident.
    async fn post_incident_update(&self, t: &TenantId, u: &IncidentUpdate) -> StoreResult<bool>;
    /// The updates of these incidents of `t`, newest first.
    async fn incident_updates(&self, t: &TenantId, incidents: &[IncidentId]) -> StoreResult<Vec<IncidentUpdate>>;
    /// Incidents opened in `[since, until)` that carry a public update, of these monitors or
    /// with an update naming one of them among those it affects, newest first (at most 100),
    /// without their `updates` (see [`Self::posted_incidents`]).
    async fn public_incidents(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
        since: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<PublicIncident>>;

    /// Announced maintenance windows of these monitors (of `t`) that are not over at `now`,
    /// soonest first (at most 50).
    async fn announced_maintenance(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
        now: Timestamp,
    ) -> StoreResult<Vec<MaintenanceWindow>>;

    /// The incidents opened in `[since, until)` with a public update that concern `page`: those
    /// of its monitors, and another monitor's whose newest update names one of the page's
    /// monitors among those it affects. Each comes with every update, newest first, and the
    /// name the page gives it: its monitor's display name, or for another monitor's incident the
    /// display names of the page's components it affects (then `also_affected` is empty).
    async fn posted_incidents(
        &self,
        page: &StatusPage,
        since: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<(String, PublicIncident)>> {
        let t = &page.tenant_id;
        let ids: Vec<MonitorId> = page.monitors.iter().map(|m| m.monitor_id.clone()).collect();
        let mut found = self.public_incidents(t, &ids, since, until).await?;
        let posted: Vec<IncidentId> = found.iter().map(|i| i.id.clone()).collect();
        for u in self.incident_updates(t, &posted).await? {
            if let Some(i) = found.iter_mut().find(|i| i.id == u.incident_id) {
                i.updates.push(u);
            }
        }
        let mut incidents = Vec::with_capacity(found.len());
        for mut i in found {
            let named = i.latest().map(|u| u.affects.clone()).unwrap_or_default();
            let affected: Vec<String> = page
                .monitors
                .iter()
                .filter(|m| named.contains(&m.monitor_id))
                .map(|m| m.display_name.clone())
                .collect();
            match page.monitors.iter().find(|m| m.monitor_id == i.monitor_id) {
                Some(own) => {
                    i.also_affected = affected;
                    incidents.push((own.display_name.clone(), i));
                }
                // Another monitor's incident shows while its newest update names this page's.
                None if !affected.is_empty() => incidents.push((affected.join(", "), i)),
                None => {}
            }
        }
        Ok(incidents)
    }

    /// What `/status/{slug}` shows: display names, live-only status and uptime, posted
    /// incidents. Never a monitor's name, target, headers, errors or channels. The demo
    /// organisation's page alone shows its sample (`demo`) results and visits instead.
    async fn public_status_page(&self, slug: &str, now: Timestamp) -> StoreResult<Option<PublicStatusPage>> {
        let Some(page) = self.status_page_by_slug(slug).await? else { return Ok(None) };
        let t = &page.tenant_id;
        let ids: Vec<MonitorId> = page.monitors.iter().map(|m| m.monitor_id.clone()).collect();
        let since = now.minus_ms(90 * 86_400_000);
        let demo = crate::demo::is_demo(t);
        let mut hours: HashMap<MonitorId, Vec<netpulse_core::uptime::HourTally>> = HashMap::new();
        let mut states = self.page_monitors(t, &ids).await?;
        if demo {
            // The demo's own page shows its sample results, which no rollup holds, and says so.
            hours = self.hourly_tallies_since(t, since, crate::Evidence::Demo).await?;
            for (m, state) in states.iter_mut() {
                let newest = self.list_results(t, m, since, now.plus_ms(1), 1, None).await?.results;
                state.latest = newest.first().map(|r| LatestLive { at: r.started_at, outcome: r.outcome });
            }
        } else {
            for (m, h, tally) in self.page_tallies(t, &ids, now).await? {
                hours.entry(m).or_default().push((h, tally));
            }
        }
        let windows = self.announced_maintenance(t, &ids, now).await?;
        let running = |m: &MonitorId| windows.iter().any(|w| &w.monitor_id == m && w.starts_at <= now);
        let ev = if demo { crate::Evidence::Demo } else { crate::Evidence::Live };
        // A monitor's visitors show only when every source of it is opted in to status pages.
        let sources = self.visit_sources(t, None).await?;
        let shown: Vec<MonitorId> = ids
            .iter()
            .filter(|m| {
                let mut mine = sources.iter().filter(|s| &s.monitor_id == *m).peekable();
                mine.peek().is_some() && mine.all(|s| s.on_status_pages)
            })
            .cloned()
            .collect();
        let visitors = self.visit_tallies(t, &shown, (now.minus_ms(86_400_000), now.plus_ms(1)), ev).await?;
        // A component whose monitor is gone is not shown, nor named as affected.
        let mut present = page.clone();
        present.monitors.retain(|m| states.contains_key(&m.monitor_id));
        let incidents = self.posted_incidents(&present, since, Timestamp::from_millis(i64::MAX)).await?;
        let posted = posted_impacts(&incidents);
        let mut monitors = Vec::with_capacity(page.monitors.len());
        for m in &page.monitors {
            let Some(state) = states.get(&m.monitor_id) else { continue };
            monitors.push(PublicMonitor {
                display_name: m.display_name.clone(),
                group: m.group.clone(),
                paused: state.paused,
                latest: state.latest,
                figures: netpulse_core::uptime::page_figures(
                    hours.get(&m.monitor_id).map(Vec::as_slice).unwrap_or(&[]),
                    now,
                ),
                in_maintenance: running(&m.monitor_id),
                visitors: visitors.get(&m.monitor_id).copied().unwrap_or_default(),
                posted_impact: posted.get(&m.monitor_id).copied(),
            });
        }
        let name_of = |m: &MonitorId| page.monitors.iter().find(|p| &p.monitor_id == m).map(|p| p.display_name.clone());
        let maintenance = windows.into_iter().filter_map(|w| Some((name_of(&w.monitor_id)?, w))).collect();
        Ok(Some(PublicStatusPage {
            slug: page.slug,
            domain: page.domain,
            title: page.title,
            message: page.message,
            logo_url: page.logo_url,
            generated_at: now,
            monitors,
            incidents,
            maintenance,
            demo,
        }))
    }
}

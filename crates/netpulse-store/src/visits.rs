//! Real-visitor sources and the page views their visitors' browsers report: a source belongs
//! to a monitor, has a public site key and the origins it accepts beacons from; its visits
//! are stored apart from check results (provenance `real_visitor`, or `demo` for the demo
//! organisation's), so no probe uptime ever counts them. Retention folds visits older than
//! raw results' horizon into daily counts per source, kept as long as daily rollups.

use crate::error::StoreResult;
use crate::uptime::Evidence;
use async_trait::async_trait;
use netpulse_core::visits::{Visit, VisitTally};
use netpulse_core::{MonitorId, TenantId, Timestamp};
use serde::Serialize;
use std::collections::HashMap;

/// Beacons a source refused, by reason; counted, never stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VisitDrops {
    /// From an origin the source does not list (or none).
    pub origin: u64,
    /// Past the source's budget per minute.
    pub rate: u64,
    /// Without a valid, unexpired, unused page token.
    pub token: u64,
    /// From a crawler's user agent.
    pub bot: u64,
    /// Too large or not a beacon.
    pub malformed: u64,
}

impl VisitDrops {
    pub fn total(&self) -> u64 {
        self.origin + self.rate + self.token + self.bot + self.malformed
    }
    pub fn plus(&self, o: &VisitDrops) -> VisitDrops {
        VisitDrops {
            origin: self.origin + o.origin,
            rate: self.rate + o.rate,
            token: self.token + o.token,
            bot: self.bot + o.bot,
            malformed: self.malformed + o.malformed,
        }
    }
}

/// A real-visitor source of a monitor.
#[derive(Clone, Debug, Serialize)]
pub struct VisitSource {
    pub id: String,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub monitor_id: MonitorId,
    /// Public: it is in the script tag the owner embeds.
    pub site_key: String,
    /// Origins (`https://shop.example.com`) whose pages may report.
    pub origins: Vec<String>,
    /// One page view in this many reports.
    pub sample_one_in: u32,
    /// Beacons accepted per minute at most, over every engine node.
    pub per_minute: u32,
    /// A URL the visitor's browser fetches after the page loaded, if the owner names one.
    pub health_url: Option<String>,
    /// Whether the monitor's status pages show what its visitors saw (its page-load counts
    /// tell the site's traffic, so the owner opts in).
    pub on_status_pages: bool,
    /// Whether the monitor's outage notices tell what its visitors saw (opt-in). Visitor
    /// reports never open, hold or resolve an incident.
    pub in_alerts: bool,
    pub created_at: Timestamp,
    pub dropped: VisitDrops,
    /// The secret its page tokens are signed with (hex, [`new_token_key`]), read from the store
    /// by every engine node, so a token served by one node is good on any other. Never shown.
    #[serde(skip)]
    pub token_key: String,
}

/// A visit as written: the source it came through and whether it is demo data.
#[derive(Clone, Debug)]
pub struct VisitRow {
    pub at: Timestamp,
    pub visit: Visit,
    pub demo: bool,
    /// What a reported view spends: its page token, once. The demo's sample views spend none.
    pub spends: Option<Spend>,
}

/// A reported view's claim on its source: the page token's nonce (one use per source, until
/// `expires_at`) and a share of the source's budget for the minute after `at`.
#[derive(Clone, Debug)]
pub struct Spend {
    pub nonce: String,
    pub at: Timestamp,
    pub expires_at: Timestamp,
}

/// What became of a visit handed to [`VisitStore::record_visit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    Stored,
    /// The source is gone.
    NoSource,
    /// Its page token was spent already (on this node or another).
    Replayed,
    /// The source took its `per_minute` views in the minute before.
    OverBudget,
}

/// The provenance a visit row is stored with.
pub fn visit_provenance(demo: bool) -> &'static str {
    if demo {
        "demo"
    } else {
        "real_visitor"
    }
}

/// The provenance a read of evidence `ev` counts.
pub fn evidence_provenance(ev: Evidence) -> &'static str {
    visit_provenance(ev == Evidence::Demo)
}

/// Real-visitor sources and their visits.
#[async_trait]
pub trait VisitStore: Send + Sync {
    async fn create_visit_source(&self, t: &TenantId, s: &VisitSource) -> StoreResult<()>;
    /// Delete a source and its visits; `false` if this tenant has no such source.
    async fn delete_visit_source(&self, t: &TenantId, id: &str) -> StoreResult<bool>;
    /// The sources of one monitor of `t`, or all of `t`'s when `monitor` is `None`, oldest first.
    async fn visit_sources(&self, t: &TenantId, monitor: Option<&MonitorId>) -> StoreResult<Vec<VisitSource>>;
    /// The source with this public site key (system path: the source carries its tenant).
    async fn visit_source_by_key(&self, site_key: &str) -> StoreResult<Option<VisitSource>>;
    /// Store one visit reported through source `s`, spending what `v.spends` names in the same
    /// transaction: a token spent before, or a source past its budget, stores nothing.
    async fn record_visit(&self, s: &VisitSource, v: &VisitRow) -> StoreResult<Recorded>;
    /// Add refused beacons to a source's counts (system path).
    async fn add_visit_drops(&self, source_id: &str, d: &VisitDrops) -> StoreResult<()>;
    /// Visits of evidence `ev` to these monitors of `t` in `[since, until)`, per monitor:
    /// raw visits, and the daily counts of days that start inside the range.
    async fn visit_tallies(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
        (since, until): (Timestamp, Timestamp),
        ev: Evidence,
    ) -> StoreResult<HashMap<MonitorId, VisitTally>>;
}

/// The weighted median of page-load times `(ms, views)` read in ascending order.
pub(crate) fn median(sorted: &[(u32, u64)]) -> Option<u32> {
    let total: u64 = sorted.iter().map(|(_, n)| n).sum();
    let mut seen = 0;
    sorted
        .iter()
        .find(|(_, n)| {
            seen += n;
            seen * 2 >= total
        })
        .map(|(ms, _)| *ms)
}

/// Fold rows `(monitor, views, failed, page time)` into tallies: raw visits grouped by page
/// time (to [`PAGE_MS_STEP`]), daily counts with no page time.
pub(crate) fn fold_tallies(
    rows: impl IntoIterator<Item = (MonitorId, u64, u64, Option<u32>)>,
) -> HashMap<MonitorId, VisitTally> {
    let mut times: HashMap<MonitorId, Vec<(u32, u64)>> = HashMap::new();
    let mut out: HashMap<MonitorId, VisitTally> = HashMap::new();
    for (m, loads, failed, ms) in rows {
        let t = out.entry(m.clone()).or_default();
        t.loads += loads;
        t.failed += failed;
        if let Some(ms) = ms {
            times.entry(m).or_default().push((ms, loads));
        }
    }
    for (m, mut ts) in times {
        ts.sort_unstable();
        if let Some(t) = out.get_mut(&m) {
            t.median_page_ms = median(&ts);
        }
    }
    out
}

/// Page times are grouped to this many ms when counted, so a range's read returns at most a
/// few hundred rows per monitor however many visits it holds.
pub const PAGE_MS_STEP: u32 = 10;

/// A source's token key: 64 hex characters from two random draws.
pub fn new_token_key(a: u128, b: u128) -> String {
    format!("{a:032x}{b:032x}")
}

/// Visits' site keys: `pk_` and 24 random base32 characters.
pub fn new_site_key(random: u128) -> String {
    let text = netpulse_core::ids::encode_base32(random);
    format!("pk_{}", &text[text.len().saturating_sub(24)..])
}

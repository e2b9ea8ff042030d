//! The demo organisation's public status page (`/status/demo`): five of its monitors, the
//! open outage of *Payments API* told in two public updates (affecting *Checkout* too) and the newest past outage of
//! *Storefront* in three (investigating → identified → resolved), the announced maintenance
//! window (seeded in [`super::seed`]), and real-visitor evidence of two monitors: the last
//! 24 hours of sample page views, stored as provenance `demo` so the page labels them demo
//! data. The visitors of *Payments API* have failed since its outage began, so its open
//! incident reads as confirmed by real visitors.
//!
//! Seeding is idempotent: the page is made once (left alone if another organisation has the
//! slug), updates are posted to an incident that has none, and the sample views are made
//! anew (their sources recreated) at each seeding.

use super::seed::{monitor_id, view_failed};
use crate::error::StoreError;
use crate::*;
use netpulse_core::visits::Visit;
use netpulse_core::{IncidentId, Timestamp};

/// The page's slug.
pub const SLUG: &str = "demo";
/// The monitors on the page: (fixture index, display name, group).
const COMPONENTS: [(usize, &str, &str); 5] = [
    (0, "Storefront", "Shop"),
    (1, "Checkout", "Shop"),
    (6, "Payments", "Shop"),
    (2, "Marketing site", "Website"),
    (3, "Database", "Infrastructure"),
];
/// Monitors with sample real visitors: (fixture index, source id, site key). The keys are not
/// of the shape beacons are taken for, so nobody's beacon lands in the demo.
const SOURCES: [(usize, &str, &str); 2] =
    [(0, "vis_demo0storefront", "pk_demo-storefront"), (6, "vis_demo6payments", "pk_demo-payments")];
/// Minutes between sample page views.
const VIEW_EVERY_MS: i64 = 5 * 60_000;

/// Make the demo's public page, its posted updates and its sample real visitors.
pub(super) async fn seed(store: &dyn Store, now: Timestamp) -> StoreResult<()> {
    page(store, now).await?;
    updates(store).await?;
    visits(store, now).await
}

async fn page(store: &dyn Store, now: Timestamp) -> StoreResult<()> {
    if store.status_page_by_slug(SLUG).await?.is_some() {
        return Ok(());
    }
    let page = StatusPage {
        id: "sp_demo".into(),
        tenant_id: super::tenant(),
        slug: SLUG.into(),
        title: "Example Inc. status".into(),
        message: "NetPulse's demo organisation: every figure on this page is sample data.".into(),
        logo_url: None,
        domain: None,
        created_at: now,
        updated_at: now,
        monitors: COMPONENTS
            .iter()
            .map(|(i, name, group)| StatusPageMonitor {
                monitor_id: monitor_id(*i),
                display_name: (*name).into(),
                group: (*group).into(),
            })
            .collect(),
    };
    match store.create_status_page(&super::tenant(), &page).await {
        Err(StoreError::Conflict(_)) => Ok(()), // another organisation took the slug meanwhile
        other => other,
    }
}

/// Post the demo's public updates: to the open outage of Payments API, and to Storefront's
/// newest resolved outage; each only while its incident has none. An outage told as ongoing
/// that has ended since (a restart after a while moves the "down now" outage) is told resolved.
async fn updates(store: &dyn Store) -> StoreResult<()> {
    let t = super::tenant();
    let all = store.list_incidents(&t, &crate::IncidentFilter { monitor: None, open_only: false }, 100).await?;
    let ended: Vec<_> = all.iter().filter(|i| i.resolved_at.is_some()).collect();
    let ids: Vec<IncidentId> = ended.iter().map(|i| i.id.clone()).collect();
    let told = store.incident_updates(&t, &ids).await?; // newest first
    for i in ended {
        let newest = told.iter().find(|u| u.incident_id == i.id);
        let Some(u) = newest.filter(|u| u.state != UpdateState::Resolved) else { continue };
        let resolved = IncidentUpdate {
            id: netpulse_core::UpdateId::from_parts(i.opened_at.millis(), 0xde_03ff),
            incident_id: i.id.clone(),
            state: UpdateState::Resolved,
            impact: u.impact,
            message: "Resolved: the service has worked normally since.".into(),
            posted_at: i.resolved_at.unwrap_or(i.opened_at),
            affects: u.affects.clone(),
        };
        store.post_incident_update(&t, &resolved).await?;
    }
    let of = |i| crate::IncidentFilter { monitor: Some(monitor_id(i)), open_only: false };
    let payments = store.list_incidents(&t, &of(6), 5).await?;
    if let Some(open) = payments.iter().find(|i| i.resolved_at.is_none()) {
        let said = [
            (2, UpdateState::Investigating, "Card payments are failing at checkout. We are looking into it."),
            (
                14,
                UpdateState::Identified,
                "A failed database migration left the payments service unable to write. We are rolling it back.",
            ),
        ];
        post(store, &open.id, open.opened_at, &said, (Impact::Partial, &[1])).await?;
    }
    let storefront = store.list_incidents(&t, &of(0), 20).await?;
    if let Some(past) = storefront.iter().find(|i| i.resolved_at.is_some()) {
        let said = [
            (1, UpdateState::Investigating, "The shop is not loading for some visitors."),
            (8, UpdateState::Identified, "A bad cache configuration was deployed; it is being reverted."),
            (30, UpdateState::Resolved, "The shop has loaded normally for 20 minutes. Sorry for the trouble."),
        ];
        post(store, &past.id, past.opened_at, &said, (Impact::Partial, &[])).await?;
    }
    Ok(())
}

/// Post `said` (minutes after `opened`, state, message) to incident `id` unless it has updates,
/// each with `impact` and affecting also the fixtures `affects`.
async fn post(
    store: &dyn Store,
    id: &IncidentId,
    opened: Timestamp,
    said: &[(i64, UpdateState, &str)],
    (impact, affects): (Impact, &[usize]),
) -> StoreResult<()> {
    let t = super::tenant();
    if !store.incident_updates(&t, std::slice::from_ref(id)).await?.is_empty() {
        return Ok(());
    }
    for (n, (minutes, state, message)) in said.iter().enumerate() {
        let u = IncidentUpdate {
            id: netpulse_core::UpdateId::from_parts(opened.millis(), 0xde_0300 + n as u128),
            incident_id: id.clone(),
            state: *state,
            impact,
            message: (*message).into(),
            posted_at: opened.plus_ms(minutes * 60_000),
            affects: affects.iter().map(|i| monitor_id(*i)).collect(),
        };
        store.post_incident_update(&t, &u).await?;
    }
    Ok(())
}

/// The sample real visitors: their sources made anew, with a page view every few minutes over
/// the last 24 hours, failed when the monitor was failing.
async fn visits(store: &dyn Store, now: Timestamp) -> StoreResult<()> {
    let t = super::tenant();
    for (i, id, key) in SOURCES {
        store.delete_visit_source(&t, id).await?;
        let src = VisitSource {
            id: id.into(),
            tenant_id: t.clone(),
            monitor_id: monitor_id(i),
            site_key: key.into(),
            origins: vec!["https://shop.example.com".into()],
            sample_one_in: 10,
            per_minute: 60,
            health_url: (i == 6).then(|| "https://payments.example.com/health".into()),
            on_status_pages: true,
            in_alerts: false,
            created_at: now,
            dropped: VisitDrops::default(),
            token_key: crate::visits::new_token_key(crate::clock::random_u128(), crate::clock::random_u128()),
        };
        store.create_visit_source(&t, &src).await?;
        let first = now.minus_ms(86_400_000).millis().div_euclid(VIEW_EVERY_MS) + 1;
        for slot in first..=now.millis().div_euclid(VIEW_EVERY_MS) {
            let at = Timestamp::from_millis(slot * VIEW_EVERY_MS);
            let visit = sample_view(i, slot, view_failed(i, at, now));
            store.record_visit(&src, &VisitRow { at, visit, demo: true, spends: None }).await?;
        }
    }
    Ok(())
}

/// One sample page view: load times spread by a hash of the slot, a failed one slower.
fn sample_view(i: usize, slot: i64, failed: bool) -> Visit {
    let spread = (slot.wrapping_mul(2_654_435_761) ^ i as i64).rem_euclid(900) as u32;
    Visit {
        ok: !failed,
        page_ms: Some(if failed { 4_000 + spread } else { 600 + spread }),
        health_ms: (i == 6 && !failed).then_some(80 + spread / 10),
        network: Some(["4g", "4g", "4g", "3g"][slot.rem_euclid(4) as usize]),
        area: Some(["Europe", "America", "Asia"][slot.rem_euclid(3) as usize]),
    }
}

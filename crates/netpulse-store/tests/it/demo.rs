//! The demo organisation in the store contract: seeding is idempotent, the bootstrap
//! organisation stays the oldest tenant (the first account still joins it), and the demo's
//! outages open incidents but queue no notice, even with enabled channels; and each uptime
//! read counts exactly the evidence its caller names (`Evidence::Live`: live results and the
//! rollups; `Evidence::Demo`: raw demo results), whatever else the tenant holds.

use super::{add_channel, add_monitor, draft, hourly_only, register, result, setup};
use netpulse_core::incident::Policy;
use netpulse_core::retention::UptimeWindow;
use netpulse_core::{CheckResult, Outcome, Provenance, ResultId, TenantId, Timestamp};
use netpulse_store::clock::fresh;
use netpulse_store::demo;
use netpulse_store::testing::{self as backends, Backend};
use netpulse_store::{Evidence, IncidentFilter};

pub async fn the_demo_seeds_once_and_its_notices_reach_no_channel(backend: Backend) {
    let store = backends::open(backend, 8).await;
    let t0 = Timestamp::from_secs(1_800_000_000);
    let (bootstrap, _) = store.bootstrap("hash", t0).await.unwrap();
    let first = demo::seed::seed(&*store, "local", t0).await.unwrap();
    assert!(first.created && first.results > 1000, "{first:?}");
    add_channel(&*store, &demo::tenant(), "extra").await;
    add_channel(&*store, &bootstrap, "ops").await;

    let later = t0.plus_ms(86_400_000);
    let next = demo::seed::seed(&*store, "local", later).await.unwrap();
    assert!(!next.created && next.results >= 11 * 287, "a day of new slots: {next:?}");
    assert_eq!(demo::seed::seed(&*store, "local", later).await.unwrap().results, 0, "seeding again adds nothing");
    // A day on, the outage told as ongoing at the first seeding has ended: it is told resolved,
    // and the one going on now is told instead.
    let all = store.list_incidents(&demo::tenant(), &IncidentFilter::default(), 100).await.unwrap();
    let mut told_open = 0;
    for i in &all {
        let updates = store.incident_updates(&demo::tenant(), std::slice::from_ref(&i.id)).await.unwrap();
        let Some(newest) = updates.first() else { continue };
        if i.resolved_at.is_some() {
            assert_eq!(newest.state, netpulse_store::UpdateState::Resolved, "{backend:?}: {} told as ongoing", i.id);
        } else {
            told_open += 1;
        }
    }
    assert_eq!(told_open, 1, "{backend:?}: the Payments outage of now");
    assert!(!store.ensure_tenant(&demo::tenant(), "Demo", later).await.unwrap());
    let incidents = store.list_incidents(&demo::tenant(), &IncidentFilter::default(), 100).await.unwrap();
    assert!(incidents.len() >= 2, "outages opened incidents: {}", incidents.len());
    let due = store.claim_outbox(later.plus_ms(86_400_000), 100, 60_000).await.unwrap();
    assert!(due.is_empty(), "no notice of the demo is queued: {:?}", due.iter().map(|d| &d.event).collect::<Vec<_>>());
    assert_eq!(store.list_monitors(&demo::tenant()).await.unwrap().len(), 7);
    assert!(store.list_monitors(&bootstrap).await.unwrap().is_empty(), "demo data stays in its tenant");

    // A demo left running for days still shows a window to come: once the announced one is
    // over, the next seeding announces the next day's.
    let marketing = store.list_monitors(&demo::tenant()).await.unwrap();
    let marketing = marketing.iter().find(|m| m.record.draft.name == "Marketing site").unwrap().record.id.clone();
    let days_on = later.plus_ms(3 * 86_400_000);
    store.advance_maintenance(days_on).await.unwrap();
    demo::seed::seed(&*store, "local", days_on).await.unwrap();
    let windows = store.list_maintenance(&demo::tenant(), &marketing).await.unwrap();
    assert!(
        windows.iter().any(|w| w.phase == "scheduled" && w.announce && w.starts_at > days_on),
        "{backend:?}: {windows:?}"
    );

    assert_eq!(store.bootstrap("other", later).await.unwrap(), (bootstrap.clone(), false));
    let (_, joined) = register(&*store, "first@example.com", later).await;
    assert_eq!(joined, bootstrap, "the first account joins the bootstrap tenant");
}

/// One monitor with live, demo and synthetic results in the same hours, another with demo
/// results only: every read counts the evidence it is asked for and nothing else.
pub async fn uptime_reads_count_only_the_evidence_they_are_asked_for(backend: Backend) {
    let (store, t, m) = setup(backend).await;
    let demo_only = add_monitor(&*store, &t, draft("demo only", Policy::default())).await;
    let hour = 3_600;
    let with = |r: CheckResult, p: Provenance, n: u128| CheckResult {
        id: ResultId::from_parts(r.started_at.millis(), (n << 64) | r.started_at.millis() as u128),
        provenance: p,
        ..r
    };
    let mut batch = Vec::new();
    for k in 0..4 {
        let at = 10 * hour + 60 * k;
        batch.push(with(result(&t, &m, at, Outcome::Up), Provenance::Live, 1));
        let demo_outcome = if k == 0 { Outcome::Up } else { Outcome::Down };
        batch.push(with(result(&t, &m, at, demo_outcome), Provenance::Demo, 2));
        batch.push(with(result(&t, &m, at, Outcome::Error), Provenance::Synthetic, 3));
        batch.push(with(result(&t, &demo_only, 11 * hour + 60 * k, Outcome::Degraded), Provenance::Demo, 4));
    }
    store.ingest(&batch, Timestamp::from_secs(12 * hour)).await.unwrap();
    let (from, to) = (Timestamp::from_secs(10 * hour), Timestamp::from_secs(12 * hour));
    let window = UptimeWindow { from, to, ..hourly_only(from, to) };

    let live = store.tally(&t, &m, from, to, Evidence::Live).await.unwrap();
    assert_eq!((live.up, live.down, live.error), (4, 0, 0), "{backend:?}: live only");
    let rolled = store.tally_window(&t, &m, &window, Evidence::Live).await.unwrap();
    assert_eq!(rolled, live, "{backend:?}: the rollups hold the live results only");
    let since = store.tallies_since(&t, from, Evidence::Live).await.unwrap();
    assert_eq!(since[&m], live, "{backend:?}");
    assert!(!since.contains_key(&demo_only), "{backend:?}: demo results never reach a live figure");
    assert!(!store.hourly_tallies_since(&t, from, Evidence::Live).await.unwrap().contains_key(&demo_only));

    let demo = store.tally(&t, &m, from, to, Evidence::Demo).await.unwrap();
    assert_eq!((demo.up, demo.down, demo.error), (1, 3, 0), "{backend:?}: demo only, no synthetic");
    let demo_window = store.tally_window(&t, &m, &window, Evidence::Demo).await.unwrap();
    assert_eq!(demo_window, demo, "{backend:?}: the whole window from raw demo results");
    let since = store.tallies_since(&t, Timestamp::from_secs(10 * hour + 1800), Evidence::Demo).await.unwrap();
    assert_eq!(since[&m], demo, "{backend:?}: from the hour of `from`");
    assert_eq!((since[&demo_only].degraded, since[&demo_only].total()), (4, 4), "{backend:?}");
    let hours = store.hourly_tallies_since(&t, from, Evidence::Demo).await.unwrap();
    let per_hour =
        |m| hours[m].iter().map(|(at, c): &(Timestamp, _)| (at.millis() / 1000 / hour, c.total())).collect::<Vec<_>>();
    assert_eq!(per_hour(&m), vec![(10, 4)], "{backend:?}");
    assert_eq!(per_hour(&demo_only), vec![(11, 4)], "{backend:?}");
    assert_eq!(hours[&demo_only][0].1.uptime_percent(), Some(100.0), "{backend:?}: degraded counts as up");

    let other: TenantId = fresh();
    assert!(store.tallies_since(&other, from, Evidence::Demo).await.unwrap().is_empty(), "{backend:?}");
    assert!(store.hourly_tallies_since(&other, from, Evidence::Demo).await.unwrap().is_empty(), "{backend:?}");
    assert_eq!(store.tally(&other, &m, from, to, Evidence::Demo).await.unwrap().total(), 0, "{backend:?}");
}

//! The demo organisation in the store contract: seeding is idempotent, the bootstrap
//! organisation stays the oldest tenant (the first account still joins it), and the demo's
//! outages open incidents but queue no notice, even with enabled channels.

use super::backends::{self, Backend};
use super::{add_channel, register};
use netpulse_core::Timestamp;
use netpulse_engine::demo;
use netpulse_engine::store::IncidentFilter;

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
    assert!(!next.created && next.results >= 6 * 287, "a day of new slots: {next:?}");
    assert_eq!(demo::seed::seed(&*store, "local", later).await.unwrap().results, 0, "seeding again adds nothing");
    assert!(!store.ensure_tenant(&demo::tenant(), "Demo", later).await.unwrap());
    let incidents = store.list_incidents(&demo::tenant(), &IncidentFilter::default(), 100).await.unwrap();
    assert!(incidents.len() >= 2, "outages opened incidents: {}", incidents.len());
    let due = store.claim_outbox(later.plus_ms(86_400_000), 100, 60_000).await.unwrap();
    assert!(due.is_empty(), "no notice of the demo is queued: {:?}", due.iter().map(|d| &d.event).collect::<Vec<_>>());
    assert_eq!(store.list_monitors(&demo::tenant()).await.unwrap().len(), 6);
    assert!(store.list_monitors(&bootstrap).await.unwrap().is_empty(), "demo data stays in its tenant");

    assert_eq!(store.bootstrap("other", later).await.unwrap(), (bootstrap.clone(), false));
    let (_, joined) = register(&*store, "first@example.com", later).await;
    assert_eq!(joined, bootstrap, "the first account joins the bootstrap tenant");
}

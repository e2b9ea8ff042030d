//! The dashboard overview's catch-up read: the monitors whose health changed since a time
//! (by the wall clock, as the engine and the database see it), with their health now — only
//! the tenant's, not a steady monitor's, and every one for a time long past.

use super::{add_monitor, draft, result, setup};
use netpulse_core::incident::{Health, Policy};
use netpulse_core::{MonitorId, Outcome, TenantId, Timestamp};
use netpulse_store::clock::{self, fresh};
use netpulse_store::testing::Backend;
use std::time::Duration;

fn sorted(mut v: Vec<(MonitorId, Health)>) -> Vec<(MonitorId, Health)> {
    v.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    v
}

pub async fn health_changes_are_read_since_a_time(backend: Backend) {
    let (store, t, flaky) = setup(backend).await;
    let steady = add_monitor(&*store, &t, draft("steady", Policy::default())).await;
    let other: TenantId = fresh();
    store.ensure_tenant(&other, "other", clock::now()).await.unwrap();
    let elsewhere = add_monitor(&*store, &other, draft("elsewhere", Policy::default())).await;
    let s = clock::now().millis() / 1000;
    let first = [result(&t, &flaky, s, Outcome::Up), result(&t, &steady, s + 1, Outcome::Up)];
    store.ingest(&first, clock::now()).await.unwrap();
    store.ingest(&[result(&other, &elsewhere, s + 2, Outcome::Up)], clock::now()).await.unwrap();

    tokio::time::sleep(Duration::from_millis(20)).await;
    let since = clock::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let then = [result(&t, &flaky, s + 3, Outcome::Down), result(&t, &steady, s + 4, Outcome::Up)];
    store.ingest(&then, clock::now()).await.unwrap();
    store.ingest(&[result(&other, &elsewhere, s + 5, Outcome::Down)], clock::now()).await.unwrap();

    let changed = store.health_changed_since(&t, since).await.unwrap();
    assert_eq!(changed, vec![(flaky.clone(), Health::Suspect)], "only the monitor whose health changed, as it is now");
    let all = sorted(store.health_changed_since(&t, Timestamp::from_secs(1)).await.unwrap());
    assert_eq!(all, sorted(vec![(flaky, Health::Suspect), (steady, Health::Up)]), "long ago: every one, this tenant's");
    assert!(store.health_changed_since(&t, clock::now().plus_ms(60_000)).await.unwrap().is_empty());
}

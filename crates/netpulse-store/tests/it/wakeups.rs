//! When the idle loops next have work, as the store says, so that an engine with nothing to
//! do sleeps instead of polling: the maintenance clock (a scheduled window's start, then the
//! active window's end, then nothing once the window is over) and the alert dispatcher (a
//! pending notice's next attempt; SQLite, the only writer of its file, also tells it at once).

use super::{result, setup};
use netpulse_core::{Outcome, Timestamp};
use netpulse_store::testing::Backend;
use netpulse_store::MaintenanceWindow;
use std::time::Duration;

pub async fn the_next_maintenance_change_is_the_next_start_or_end(backend: Backend) {
    let (store, t, m) = setup(backend).await;
    assert_eq!(store.next_maintenance_change().await.unwrap(), None, "{backend:?}: no window, nothing due");
    let window = |id: &str, starts_s: i64, ends_s: i64| MaintenanceWindow {
        id: id.into(),
        monitor_id: m.clone(),
        starts_at: Timestamp::from_secs(starts_s),
        ends_at: Timestamp::from_secs(ends_s),
        repeat_every_s: None,
        reason: "upgrade".into(),
        phase: "scheduled".into(),
        announce: false,
        updated_at: Timestamp::from_secs(1),
    };
    store.create_maintenance(&t, &window("mw_late", 5_000, 6_000)).await.unwrap();
    store.create_maintenance(&t, &window("mw_soon", 1_000, 2_000)).await.unwrap();
    let next = store.next_maintenance_change().await.unwrap();
    assert_eq!(next, Some(Timestamp::from_secs(1_000)), "{backend:?}: the earlier start");

    assert_eq!(store.advance_maintenance(Timestamp::from_secs(1_000)).await.unwrap(), 1, "{backend:?}");
    let next = store.next_maintenance_change().await.unwrap();
    assert_eq!(next, Some(Timestamp::from_secs(2_000)), "{backend:?}: the active window's end");

    assert_eq!(store.advance_maintenance(Timestamp::from_secs(2_000)).await.unwrap(), 1, "{backend:?}");
    let next = store.next_maintenance_change().await.unwrap();
    assert_eq!(next, Some(Timestamp::from_secs(5_000)), "{backend:?}: the ended window is over");

    assert!(store.cancel_maintenance(&t, "mw_late", Timestamp::from_secs(2_001)).await.unwrap());
    assert_eq!(store.next_maintenance_change().await.unwrap(), None, "{backend:?}: nothing left");
}

pub async fn the_next_alert_work_is_the_next_pending_notice(backend: Backend) {
    let (store, t, m) = setup(backend).await;
    assert_eq!(store.next_alert_work().await.unwrap(), None, "{backend:?}: no notice, no timer");
    let told = store.alert_work_written();
    assert_eq!(told.is_some(), backend == Backend::Sqlite, "{backend:?}: only the sole writer of its file tells");
    let downs = [100, 160, 220].map(|s| result(&t, &m, s, Outcome::Down));
    let report = store.ingest(&downs, Timestamp::from_secs(300)).await.unwrap();
    assert_eq!(report.notices, 1, "{backend:?}");
    let next = store.next_alert_work().await.unwrap();
    assert!(next.is_some_and(|at| at <= Timestamp::from_secs(300)), "{backend:?}: the notice is due: {next:?}");
    if let Some(told) = told {
        tokio::time::timeout(Duration::from_secs(10), told.notified()).await.expect("the write that queued it told");
    }
}

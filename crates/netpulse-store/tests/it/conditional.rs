//! Conditional writes of channels, status pages and maintenance windows (what `If-Match`
//! stands on): two writers that read the same version both write, each only while it is
//! still that version — exactly one wins, the other is told and wrote nothing; every write
//! moves the version on, even at an unchanged clock; another tenant's id is missing.

use super::{add_channel, add_monitor, draft};
use netpulse_core::incident::Policy;
use netpulse_core::{TenantId, Timestamp};
use netpulse_store::testing::{self as backends, Backend};
use netpulse_store::{Conditional, MaintenanceWindow, StatusPage, StatusPageMonitor};

contract!(
    a_channel_update_wins_once_per_version,
    a_status_page_update_wins_once_per_version,
    a_window_is_cancelled_only_at_the_version_read_and_its_sweep_moves_the_version
);

fn other_tenant() -> TenantId {
    TenantId::from_parts(1, 99)
}

/// One outcome `Updated` and the other `loser`, in either order.
fn one_wins(outcomes: [Conditional; 2], loser: Conditional, backend: Backend) -> usize {
    let won: Vec<usize> = (0..2).filter(|i| outcomes[*i] == Conditional::Updated).collect();
    assert_eq!(won.len(), 1, "{backend:?}: one writer wins: {outcomes:?}");
    assert_eq!(outcomes[1 - won[0]], loser, "{backend:?}: {outcomes:?}");
    won[0]
}

async fn a_channel_update_wins_once_per_version(backend: Backend) {
    let store = backends::open(backend, 8).await;
    let (t, _) = store.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    add_channel(&*store, &t, "ops").await;
    let read = store.list_channels(&t).await.unwrap().remove(0);
    let version = read.updated_at;
    let edit = |name: &str| {
        let mut c = read.clone();
        c.name = name.into();
        c
    };
    let (first, second) = (edit("first"), edit("second"));
    let (a, b) = tokio::join!(
        store.update_channel_if(&t, &first, Some(version)),
        store.update_channel_if(&t, &second, Some(version)),
    );
    let won = one_wins([a.unwrap(), b.unwrap()], Conditional::Changed, backend);
    let now = store.get_channel(&t, &read.id).await.unwrap().unwrap();
    assert_eq!(now.name, ["first", "second"][won], "{backend:?}: the winner's write is what is stored");
    assert!(now.updated_at > version, "{backend:?}: the version moved on with the clock unchanged");
    let stale = store.update_channel_if(&t, &edit("stale"), Some(version)).await.unwrap();
    assert_eq!(stale, Conditional::Changed, "{backend:?}");
    assert_eq!(store.update_channel_if(&t, &now, Some(now.updated_at)).await.unwrap(), Conditional::Updated);
    assert_eq!(store.update_channel_if(&other_tenant(), &now, None).await.unwrap(), Conditional::Missing);
    assert_eq!(store.get_channel(&t, &read.id).await.unwrap().unwrap().name, now.name, "{backend:?}");
}

async fn a_status_page_update_wins_once_per_version(backend: Backend) {
    let store = backends::open(backend, 8).await;
    let (t, _) = store.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    let m = add_monitor(&*store, &t, draft("db", Policy::default())).await;
    let on_page =
        |name: &str| vec![StatusPageMonitor { monitor_id: m.clone(), display_name: name.into(), group: "".into() }];
    let page = StatusPage {
        id: "sp_cond".into(),
        tenant_id: t.clone(),
        slug: "cond".into(),
        title: "Cond".into(),
        message: String::new(),
        logo_url: None,
        domain: None,
        created_at: Timestamp::from_secs(1),
        updated_at: Timestamp::from_secs(1),
        monitors: on_page("Database"),
    };
    store.create_status_page(&t, &page).await.unwrap();
    let version = page.updated_at;
    let edit = |title: &str| StatusPage { title: title.into(), monitors: on_page(title), ..page.clone() };
    let (first, second) = (edit("first"), edit("second"));
    let (a, b) = tokio::join!(
        store.update_status_page_if(&t, &first, Some(version)),
        store.update_status_page_if(&t, &second, Some(version)),
    );
    let won = ["first", "second"][one_wins([a.unwrap(), b.unwrap()], Conditional::Changed, backend)];
    let now = store.list_status_pages(&t).await.unwrap().remove(0);
    assert_eq!(now.title, won, "{backend:?}: the winner's fields are what is stored");
    assert_eq!(now.monitors[0].display_name, won, "{backend:?}: and its monitors, not the loser's");
    assert!(now.updated_at > version, "{backend:?}: the version moved on with the clock unchanged");
    let stale = store.update_status_page_if(&t, &edit("stale"), Some(version)).await.unwrap();
    assert_eq!(stale, Conditional::Changed, "{backend:?}");
    assert_eq!(store.list_status_pages(&t).await.unwrap()[0].monitors[0].display_name, won, "{backend:?}");
    assert_eq!(store.update_status_page_if(&t, &now, Some(now.updated_at)).await.unwrap(), Conditional::Updated);
    assert_eq!(store.update_status_page_if(&other_tenant(), &now, None).await.unwrap(), Conditional::Missing);
}

async fn a_window_is_cancelled_only_at_the_version_read_and_its_sweep_moves_the_version(backend: Backend) {
    let store = backends::open(backend, 8).await;
    let (t, _) = store.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    let m = add_monitor(&*store, &t, draft("db", Policy::default())).await;
    let window = |id: &str| MaintenanceWindow {
        id: id.into(),
        monitor_id: m.clone(),
        starts_at: Timestamp::from_secs(1_000),
        ends_at: Timestamp::from_secs(2_000),
        repeat_every_s: None,
        reason: "upgrade".into(),
        phase: "scheduled".into(),
        announce: false,
        updated_at: Timestamp::from_secs(1),
    };
    for id in ["mw_swept", "mw_raced"] {
        store.create_maintenance(&t, &window(id)).await.unwrap();
    }
    let read = store.get_maintenance(&t, "mw_swept").await.unwrap().unwrap();
    assert_eq!(read.updated_at, Timestamp::from_secs(1), "{backend:?}");
    assert!(store.get_maintenance(&other_tenant(), "mw_swept").await.unwrap().is_none(), "{backend:?}");
    // The window starts: a tool that read it scheduled cancels nothing.
    store.advance_maintenance(Timestamp::from_secs(1_000)).await.unwrap();
    let started = store.get_maintenance(&t, "mw_swept").await.unwrap().unwrap();
    assert_eq!(started.phase, "active", "{backend:?}");
    assert!(started.updated_at > read.updated_at, "{backend:?}: starting is a new version");
    let now = Timestamp::from_secs(1_500);
    let stale = store.cancel_maintenance_if(&t, "mw_swept", now, Some(read.updated_at)).await.unwrap();
    assert_eq!(stale, Conditional::Changed, "{backend:?}");
    assert!(store.get_maintenance(&t, "mw_swept").await.unwrap().is_some(), "{backend:?}: still there");
    let other = store.cancel_maintenance_if(&other_tenant(), "mw_swept", now, None).await.unwrap();
    assert_eq!(other, Conditional::Missing, "{backend:?}");
    let current = store.cancel_maintenance_if(&t, "mw_swept", now, Some(started.updated_at)).await.unwrap();
    assert_eq!(current, Conditional::Updated, "{backend:?}");
    assert!(store.get_maintenance(&t, "mw_swept").await.unwrap().is_none(), "{backend:?}: cancelled");
    // Two tools cancel the version they read at once: one does, the other finds it gone.
    let v = store.get_maintenance(&t, "mw_raced").await.unwrap().unwrap().updated_at;
    let (a, b) = tokio::join!(
        store.cancel_maintenance_if(&t, "mw_raced", now, Some(v)),
        store.cancel_maintenance_if(&t, "mw_raced", now, Some(v)),
    );
    one_wins([a.unwrap(), b.unwrap()], Conditional::Missing, backend);
}

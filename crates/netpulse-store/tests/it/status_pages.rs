//! Status pages in the store: pages and their monitors scoped by tenant, slugs unique, and
//! the public reading made of live results only (daily sums, posted incidents and their updates).

use super::{add_monitor, draft};
use netpulse_core::incident::Policy;
use netpulse_core::{CheckResult, MonitorId, Outcome, Provenance, ResultId, TenantId, Timestamp, Timings};
use netpulse_store::clock::{self, fresh};
use netpulse_store::testing::{self as backends, Backend};
use netpulse_store::{
    Impact, IncidentFilter, IncidentUpdate, MaintenanceWindow, StatusPage, StatusPageMonitor, StoreError, UpdateState,
};

fn result(t: &TenantId, m: &MonitorId, at: Timestamp, outcome: Outcome, p: Provenance, error: &str) -> CheckResult {
    CheckResult {
        id: ResultId::from_parts(at.millis(), clock::random_u128()),
        tenant_id: t.clone(),
        monitor_id: m.clone(),
        region: "local".into(),
        worker: "test".into(),
        started_at: at,
        finished_at: at,
        outcome,
        timings: Timings::default(),
        status_code: None,
        error: outcome.is_failure().then(|| error.to_owned()),
        cert_expires_at: None,
        cert_issuer: None,
        provenance: p,
    }
}

contract!(status_pages_keep_their_monitors_and_show_live_figures_only);

/// The store's status-page methods.
async fn status_pages_keep_their_monitors_and_show_live_figures_only(backend: Backend) {
    let store = backends::open(backend, 4).await;
    let (t, _) = store.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    let a = add_monitor(&*store, &t, draft("a", Policy::default())).await;
    let b = add_monitor(&*store, &t, draft("b", Policy::default())).await;
    let page = StatusPage {
        id: "sp_one".into(),
        tenant_id: t.clone(),
        slug: "one".into(),
        title: "One".into(),
        message: "hi".into(),
        logo_url: None,
        domain: Some("status.one.example".into()),
        created_at: Timestamp::from_secs(1),
        updated_at: Timestamp::from_secs(1),
        monitors: vec![
            StatusPageMonitor { monitor_id: b.clone(), display_name: "Bee".into(), group: "g".into() },
            StatusPageMonitor { monitor_id: a.clone(), display_name: "Ay".into(), group: "".into() },
        ],
    };
    store.create_status_page(&t, &page).await.unwrap();
    let dup = StatusPage { id: "sp_two".into(), domain: None, ..page.clone() };
    assert!(matches!(store.create_status_page(&t, &dup).await, Err(StoreError::Conflict(_))), "{backend:?}");
    let same_domain = StatusPage { id: "sp_two".into(), slug: "two".into(), ..page.clone() };
    let taken = store.create_status_page(&t, &same_domain).await;
    assert!(matches!(&taken, Err(StoreError::Conflict(m)) if m.contains("domain")), "{backend:?}: {taken:?}");
    let no_domain = StatusPage { id: "sp_three".into(), slug: "three".into(), domain: None, ..page.clone() };
    store.create_status_page(&t, &no_domain).await.unwrap();
    let also_none = StatusPage { id: "sp_four".into(), slug: "four".into(), domain: None, ..page.clone() };
    store.create_status_page(&t, &also_none).await.expect("any number of pages without a domain");
    for id in ["sp_three", "sp_four"] {
        assert!(store.delete_status_page(&t, id).await.unwrap());
    }
    assert_eq!(store.status_page_slug_for_domain("status.one.example").await.unwrap().as_deref(), Some("one"));
    assert_eq!(store.status_page_slug_for_domain("status.two.example").await.unwrap(), None);
    let got = store.status_page_by_slug("one").await.unwrap().unwrap();
    assert_eq!(got.tenant_id, t);
    let names: Vec<&str> = got.monitors.iter().map(|m| m.display_name.as_str()).collect();
    assert_eq!(names, ["Bee", "Ay"], "{backend:?}: in the chosen order");
    let other: TenantId = fresh();
    assert!(store.list_status_pages(&other).await.unwrap().is_empty());
    assert!(!store.update_status_page(&other, &page).await.unwrap(), "{backend:?}: another tenant's page is missing");
    assert!(!store.delete_status_page(&other, "sp_one").await.unwrap());

    // Day 100, 12:30 UTC; results at 10:00 and 11:00 live, 12:00 synthetic.
    let day = 100 * 86_400_000;
    let now = Timestamp::from_millis(day + 12 * 3_600_000 + 1_800_000);
    let at = |h: i64| Timestamp::from_millis(day + h * 3_600_000);
    let batch = vec![
        result(&t, &a, at(10), Outcome::Up, Provenance::Live, ""),
        result(&t, &a, at(11), Outcome::Degraded, Provenance::Live, ""),
        result(&t, &a, at(11).plus_ms(1), Outcome::Down, Provenance::Live, "x"),
        result(&t, &a, at(12), Outcome::Down, Provenance::Synthetic, "x"),
        result(&t, &a, at(12), Outcome::Down, Provenance::Demo, "x"),
    ];
    store.ingest(&batch, now).await.unwrap();
    let gone: MonitorId = fresh();
    let states = store.page_monitors(&t, &[a.clone(), b.clone(), gone]).await.unwrap();
    assert_eq!(states.len(), 2, "{backend:?}: a monitor that is gone is left out");
    let latest = states[&a].latest.expect("a has a live result");
    assert_eq!((latest.at, latest.outcome), (at(11).plus_ms(1), Outcome::Down), "{backend:?}: live only");
    assert!(!states[&a].paused && states[&b].latest.is_none(), "{backend:?}");
    assert!(store.page_monitors(&other, std::slice::from_ref(&a)).await.unwrap().is_empty());
    // Yesterday at 12:00 (before the 24 h window's first hour, 13:00) and 14:00 (inside it).
    let b_batch = vec![
        result(&t, &b, at(-12), Outcome::Up, Provenance::Live, ""),
        result(&t, &b, at(-10), Outcome::Down, Provenance::Live, "x"),
    ];
    store.ingest(&b_batch, now).await.unwrap();
    let mut sums = store.page_tallies(&t, &[a.clone(), b.clone()], now).await.unwrap();
    sums.sort_by_key(|(m, at, _)| (m.as_str().to_owned(), at.millis()));
    let got: Vec<(&MonitorId, Timestamp, u64)> = sums.iter().map(|(m, at, t)| (m, *at, t.total())).collect();
    let mut want = vec![(&a, at(0), 3), (&b, at(-24), 1), (&b, at(-11), 1)];
    want.sort_by_key(|(m, at, _)| (m.as_str().to_owned(), at.millis()));
    assert_eq!(got, want, "{backend:?}: one sum a day, split at the 24 h window's start");
    assert!(store.page_tallies(&other, std::slice::from_ref(&a), now).await.unwrap().is_empty());

    let public = store.public_status_page("one", now).await.unwrap().unwrap();
    assert_eq!(public.monitors.len(), 2);
    let ay = &public.monitors[1];
    assert_eq!(ay.display_name, "Ay");
    let w24 = &ay.figures.windows[0];
    assert_eq!((w24.label, w24.tally.total(), w24.percent.map(|p| p.round())), ("24h", 3, Some(67.0)), "{backend:?}");
    let bee = &public.monitors[0].figures;
    assert_eq!((bee.windows[0].tally.total(), bee.windows[0].percent), (1, Some(0.0)), "{backend:?}: 14:00 only");
    assert_eq!((bee.windows[1].tally.total(), bee.windows[1].percent), (2, Some(50.0)), "{backend:?}");
    assert_eq!(bee.daily[88].tally.total(), 2, "{backend:?}: yesterday's bar holds both");
    assert_eq!(bee.daily[87].percent, None, "{backend:?}: no data, no figure");

    // An outage of a third monitor opens an incident; it shows once posted with a message.
    let c = add_monitor(&*store, &t, draft("c", Policy::default())).await;
    let outage: Vec<CheckResult> =
        (0..4).map(|k| result(&t, &c, at(11).plus_ms(k * 60_000), Outcome::Down, Provenance::Live, "x")).collect();
    store.ingest(&outage, now).await.unwrap();
    let only_c = IncidentFilter { monitor: Some(c.clone()), open_only: false };
    let incidents = store.list_incidents(&t, &only_c, 10).await.unwrap();
    assert_eq!(incidents.len(), 1, "{backend:?}: {incidents:?}");
    assert!(
        store.public_incidents(&t, std::slice::from_ref(&c), at(0), now).await.unwrap().is_empty(),
        "only posted incidents"
    );
    {
        let i = &incidents[0];
        let update = |state, impact, message: &str, posted_at| IncidentUpdate {
            id: fresh(),
            incident_id: i.id.clone(),
            state,
            impact,
            message: message.into(),
            posted_at,
            affects: vec![],
        };
        let first = update(UpdateState::Investigating, Impact::Major, "we are on it", now);
        assert!(store.post_incident_update(&t, &first).await.unwrap());
        let foreign = update(UpdateState::Resolved, Impact::Degraded, "no", now.plus_ms(1));
        assert!(!store.post_incident_update(&other, &foreign).await.unwrap(), "another tenant's incident");
        let second = IncidentUpdate {
            affects: vec![a.clone()],
            ..update(UpdateState::Identified, Impact::Partial, "a full disk", now.plus_ms(2))
        };
        assert!(store.post_incident_update(&t, &second).await.unwrap());
        let posted =
            store.public_incidents(&t, std::slice::from_ref(&i.monitor_id), at(0), now.plus_ms(1)).await.unwrap();
        assert_eq!(posted.len(), 1, "{backend:?}");
        assert_eq!(posted[0].public_message, "a full disk", "the newest update's message");
        let before = store.public_incidents(&t, std::slice::from_ref(&i.monitor_id), at(0), at(11)).await.unwrap();
        assert!(before.is_empty(), "{backend:?}: opened after the range's end");
        let updates = store.incident_updates(&t, std::slice::from_ref(&i.id)).await.unwrap();
        let said: Vec<_> = updates.iter().map(|u| (u.state, u.impact, u.message.as_str())).collect();
        assert_eq!(
            said,
            [
                (UpdateState::Identified, Impact::Partial, "a full disk"),
                (UpdateState::Investigating, Impact::Major, "we are on it")
            ],
            "{backend:?}: newest first, the other tenant's refused"
        );
        assert_eq!(updates[0].affects, std::slice::from_ref(&a), "{backend:?}: the components it names");
        assert!(updates[1].affects.is_empty());
        assert!(store.incident_updates(&other, std::slice::from_ref(&i.id)).await.unwrap().is_empty());
        let (_, timeline) = store.get_incident(&t, &i.id).await.unwrap().unwrap();
        assert!(timeline.iter().any(|e| e.message == "status page update (identified, partial impact): a full disk"));
    }
    // The page does not carry c: the incident shows there under the component it affects.
    let public = store.public_status_page("one", now).await.unwrap().unwrap();
    let [(name, shown)] = &public.incidents[..] else { panic!("{backend:?}: {:?}", public.incidents) };
    assert_eq!((name.as_str(), shown.also_affected.len()), ("Ay", 0), "{backend:?}: named by what it affects here");
    let impacts: Vec<Option<Impact>> = public.monitors.iter().map(|m| m.posted_impact).collect();
    assert_eq!(impacts, [None, Some(Impact::Partial)], "{backend:?}");
    let mut with_c = page.clone();
    with_c.monitors.push(StatusPageMonitor { monitor_id: c.clone(), display_name: "Sea".into(), group: "".into() });
    assert!(store.update_status_page(&t, &with_c).await.unwrap());
    let public = store.public_status_page("one", now).await.unwrap().unwrap();
    let [(name, shown)] = &public.incidents[..] else { panic!("{backend:?}: {:?}", public.incidents) };
    assert_eq!((name.as_str(), shown.updates.len()), ("Sea", 2), "{backend:?}: under its display name, every update");
    assert_eq!(shown.latest().map(|u| u.state), Some(UpdateState::Identified));
    let impacts: Vec<(&str, Option<Impact>)> =
        public.monitors.iter().map(|m| (m.display_name.as_str(), m.posted_impact)).collect();
    assert_eq!(
        impacts,
        [("Bee", None), ("Ay", Some(Impact::Partial)), ("Sea", Some(Impact::Partial))],
        "{backend:?}: the incident's own component and the one its update names"
    );

    // Announced windows not over yet show, soonest first; others' and unannounced ones don't.
    let window = |id: &str, m: &MonitorId, from: i64, to: i64, announce| MaintenanceWindow {
        id: id.into(),
        monitor_id: m.clone(),
        starts_at: at(from),
        ends_at: at(to),
        repeat_every_s: None,
        reason: format!("work {id}"),
        phase: "scheduled".into(),
        announce,
        updated_at: Timestamp::from_secs(1),
    };
    for w in [
        window("mw_later", &a, 20, 22, true),
        window("mw_soon", &b, 13, 14, true),
        window("mw_quiet", &a, 13, 15, false),
        window("mw_past", &a, 1, 2, true),
    ] {
        store.create_maintenance(&t, &w).await.unwrap();
    }
    let public = store.public_status_page("one", now).await.unwrap().unwrap();
    let shown: Vec<(&str, &str)> = public.maintenance.iter().map(|(n, w)| (n.as_str(), w.id.as_str())).collect();
    assert_eq!(shown, [("Bee", "mw_soon"), ("Ay", "mw_later")], "{backend:?}");
    assert!(store.announced_maintenance(&other, &[a.clone(), b.clone()], now).await.unwrap().is_empty());

    let mut renamed = page.clone();
    renamed.slug = "renamed".into();
    renamed.monitors.truncate(1);
    assert!(store.update_status_page(&t, &renamed).await.unwrap());
    assert!(store.status_page_by_slug("one").await.unwrap().is_none());
    // Bee alone: c's incident names Ay, not Bee, until its newest update names Bee.
    let public = store.public_status_page("renamed", now).await.unwrap().unwrap();
    assert!(public.incidents.is_empty(), "{backend:?}: {:?}", public.incidents);
    let moved = IncidentUpdate {
        id: fresh(),
        incident_id: incidents[0].id.clone(),
        state: UpdateState::Monitoring,
        impact: Impact::Degraded,
        message: "the queue is on another disk".into(),
        posted_at: now.plus_ms(3),
        affects: vec![b.clone()],
    };
    assert!(store.post_incident_update(&t, &moved).await.unwrap());
    let public = store.public_status_page("renamed", now.plus_ms(4)).await.unwrap().unwrap();
    let names: Vec<&str> = public.incidents.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Bee"], "{backend:?}: the newest update decides");
    assert_eq!(public.monitors[0].posted_impact, Some(Impact::Degraded), "{backend:?}");
    let cleared = IncidentUpdate { id: fresh(), affects: vec![], posted_at: now.plus_ms(5), ..moved };
    assert!(store.post_incident_update(&t, &cleared).await.unwrap());
    let public = store.public_status_page("renamed", now.plus_ms(6)).await.unwrap().unwrap();
    assert!(public.incidents.is_empty() && public.monitors[0].posted_impact.is_none(), "{backend:?}");
    assert_eq!(store.list_status_pages(&t).await.unwrap()[0].monitors.len(), 1);
    assert!(store.delete_status_page(&t, "sp_one").await.unwrap());
    assert!(store.status_page_by_slug("renamed").await.unwrap().is_none());
}

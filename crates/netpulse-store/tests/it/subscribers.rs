//! Status-page subscribers in the store: e-mail sign-ups pending until their one-time token
//! (unexpired) confirms them, a cap on pending sign-ups per page, webhook subscribers only on
//! the tenant's own pages, and one notice per confirmed subscriber and update — leased while
//! in flight, retried when told, gone with its subscriber.

use super::{add_monitor, draft};
use netpulse_core::incident::Policy;
use netpulse_core::retention::{Horizons, RetentionDays};
use netpulse_core::{CheckResult, Outcome, Provenance, ResultId, TenantId, Timestamp, Timings};
use netpulse_store::clock::{self, fresh, token_hash};
use netpulse_store::testing::{self as backends, Backend};
use netpulse_store::{
    Delivery, DeliveryResult, Impact, IncidentFilter, IncidentUpdate, MaintenanceWindow, NoticeSubject, Secret, SignUp,
    SignUpOutcome, StatusPage, StatusPageMonitor, Subscriber, SubscriberKind, SubscriberNotice, UpdateState,
};

contract!(subscribers_confirm_once_and_get_each_update_once);

fn email(page: &str, address: &str, token: &str, now: Timestamp) -> Subscriber {
    Subscriber {
        id: format!("sub_{}", token_hash(address).get(..12).unwrap()),
        page_id: page.into(),
        kind: SubscriberKind::Email,
        address: address.into(),
        secret: Secret::new(format!("unsub_{token}")),
        created_at: now,
        confirmed_at: None,
    }
}

fn sign_up(page: &str, address: &str, token: &str, now: Timestamp) -> SignUp {
    SignUp {
        subscriber: email(page, address, token, now),
        confirm_hash: token_hash(token),
        expires_at: now.plus_ms(1000),
    }
}

async fn subscribers_confirm_once_and_get_each_update_once(backend: Backend) {
    let store = backends::open(backend, 4).await;
    let (t, _) = store.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    let m = add_monitor(&*store, &t, draft("db", Policy::default())).await;
    let page = StatusPage {
        id: "sp_subs".into(),
        tenant_id: t.clone(),
        slug: "subs".into(),
        title: "Subs".into(),
        message: String::new(),
        logo_url: None,
        domain: Some("status.subs.example".into()),
        created_at: Timestamp::from_secs(1),
        updated_at: Timestamp::from_secs(1),
        monitors: vec![StatusPageMonitor { monitor_id: m.clone(), display_name: "Database".into(), group: "".into() }],
    };
    store.create_status_page(&t, &page).await.unwrap();
    let now = Timestamp::from_secs(1000);

    // Sign-ups: pending, a second sign-up of an address gets the new token, the cap holds.
    let up = |address: &str, token: &str, at| {
        let s = sign_up("sp_subs", address, token, at);
        let (store, t) = (&store, &t);
        async move { store.sign_up(t, &s, 2, at).await }
    };
    assert_eq!(up("ada@example.com", "tok-a1", now).await.unwrap(), SignUpOutcome::Pending);
    assert_eq!(up("ada@example.com", "tok-a2", now).await.unwrap(), SignUpOutcome::Pending);
    assert_eq!(up("bob@example.com", "tok-b", now).await.unwrap(), SignUpOutcome::Pending);
    assert_eq!(up("eve@example.com", "tok-e", now).await.unwrap(), SignUpOutcome::PageFull, "{backend:?}");
    // A full page answers a pending address as it answers a new one: the answer tells no one
    // who is subscribed.
    assert_eq!(up("bob@example.com", "tok-b2", now).await.unwrap(), SignUpOutcome::PageFull, "{backend:?}");
    assert_eq!(store.list_subscribers(&t, "sp_subs").await.unwrap().len(), 2, "{backend:?}: nothing beyond the cap");

    // Confirmation: only the newest token, only before it expires, only once.
    assert_eq!(store.confirm_subscriber(&token_hash("tok-a1"), now).await.unwrap(), None, "{backend:?}: replaced");
    assert_eq!(store.confirm_subscriber(&token_hash("tok-a2"), now).await.unwrap().as_deref(), Some("subs"));
    assert_eq!(store.confirm_subscriber(&token_hash("tok-a2"), now).await.unwrap(), None, "{backend:?}: once");
    assert_eq!(store.confirm_subscriber(&token_hash("tok-b"), now.plus_ms(1000)).await.unwrap(), None, "expired");
    assert_eq!(up("ada@example.com", "tok-a3", now).await.unwrap(), SignUpOutcome::AlreadyConfirmed);
    let later = now.plus_ms(2000);
    assert_eq!(up("eve@example.com", "tok-e", later).await.unwrap(), SignUpOutcome::Pending, "bob's expired");
    assert_eq!(store.subscriber_counts(&t).await.unwrap().get("sp_subs"), Some(&1), "{backend:?}: confirmed only");

    // Webhook subscribers: confirmed at once, on the tenant's own pages only.
    let hook = Subscriber {
        id: "sub_hook".into(),
        page_id: "sp_subs".into(),
        kind: SubscriberKind::Webhook,
        address: "https://hooks.example.com/np".into(),
        secret: Secret::new("whsec_test_secret"),
        created_at: now,
        confirmed_at: Some(now),
    };
    let other: TenantId = fresh();
    assert!(!store.add_subscriber(&other, &hook).await.unwrap(), "{backend:?}: another tenant's page is missing");
    assert!(store.add_subscriber(&t, &hook).await.unwrap());
    assert!(store.list_subscribers(&other, "sp_subs").await.unwrap().is_empty());

    // An update of the monitor's incident: one notice per confirmed subscriber, leased.
    let outage: Vec<CheckResult> = (0..4)
        .map(|k| CheckResult {
            id: ResultId::from_parts(900_000 + k * 1000, k as u128),
            tenant_id: t.clone(),
            monitor_id: m.clone(),
            region: "local".into(),
            worker: "test".into(),
            started_at: Timestamp::from_millis(900_000 + k * 1000),
            finished_at: Timestamp::from_millis(900_000 + k * 1000),
            outcome: Outcome::Down,
            timings: Timings::default(),
            status_code: None,
            error: Some("refused".into()),
            cert_expires_at: None,
            cert_issuer: None,
            provenance: Provenance::Live,
        })
        .collect();
    store.ingest(&outage, now).await.unwrap();
    let filter = IncidentFilter { monitor: Some(m.clone()), open_only: false };
    let incident = store.list_incidents(&t, &filter, 1).await.unwrap().remove(0).id;
    let update = IncidentUpdate {
        id: fresh(),
        incident_id: incident,
        state: UpdateState::Identified,
        impact: Impact::Partial,
        message: "a full disk".into(),
        posted_at: later,
        affects: vec![],
    };
    assert!(store.post_incident_update(&t, &update).await.unwrap());
    let due = store.claim_subscriber_notices(later, 10, 60_000).await.unwrap();
    let mut got: Vec<(&str, &str, &str)> =
        due.iter().map(|n| (n.subscriber.address.as_str(), n.component.as_str(), n.page_slug.as_str())).collect();
    got.sort();
    assert_eq!(
        got,
        [("ada@example.com", "Database", "subs"), ("https://hooks.example.com/np", "Database", "subs")],
        "{backend:?}: confirmed subscribers only, under the page's name for the monitor"
    );
    let told = |n: &SubscriberNotice| matches!(&n.subject, NoticeSubject::Update(u) if u.message == "a full disk");
    assert!(due.iter().all(|n| told(n) && n.attempts == 0), "{backend:?}");
    assert!(due.iter().all(|n| n.page_domain.as_deref() == Some("status.subs.example")), "{backend:?}: {due:?}");
    assert!(
        store.claim_subscriber_notices(later, 10, 60_000).await.unwrap().is_empty(),
        "leased, not handed out twice"
    );
    assert_eq!(store.next_alert_work().await.unwrap(), Some(later.plus_ms(60_000)), "{backend:?}");

    // One retried, one sent: only the retried one comes back, when it is due.
    let (hook_notice, mail_notice) = match due[0].subscriber.kind {
        SubscriberKind::Webhook => (&due[0], &due[1]),
        SubscriberKind::Email => (&due[1], &due[0]),
    };
    let retry_at = later.plus_ms(5000);
    let retry = DeliveryResult::Retry { next_at: retry_at, error: "HTTP 503".into() };
    store
        .record_subscriber_notice(hook_notice.id, &Delivery { at: later, status: Some(503), result: retry })
        .await
        .unwrap();
    let sent = Delivery { at: later, status: Some(250), result: DeliveryResult::Sent };
    store.record_subscriber_notice(mail_notice.id, &sent).await.unwrap();
    let again = store.claim_subscriber_notices(retry_at, 10, 60_000).await.unwrap();
    assert_eq!(again.iter().map(|n| (n.id, n.attempts)).collect::<Vec<_>>(), [(hook_notice.id, 1)], "{backend:?}");
    // Retention takes the sent notice once it is older than raw results are kept, not the
    // pending one; and eve's sign-up, whose link expired unused.
    let days = RetentionDays { raw: 30, minute: 60, hour: 100, day: 400 };
    let h = Horizons::at(later.plus_ms(31 * 86_400_000), &days);
    assert_eq!(store.apply_retention(&h, 100).await.unwrap().deliveries_deleted, 2, "{backend:?}");

    // An announced maintenance window is told once too; one not announced stays private.
    // The same maintenance announced again as another window (`apply` makes one window per
    // monitor of a file's window) is not told twice.
    for (id, announce) in [("mw_told", true), ("mw_quiet", false), ("mw_twin", true)] {
        let w = MaintenanceWindow {
            id: id.into(),
            monitor_id: m.clone(),
            starts_at: later.plus_ms(86_400_000),
            ends_at: later.plus_ms(90_000_000),
            repeat_every_s: None,
            reason: "disk swap".into(),
            phase: "scheduled".into(),
            announce,
            updated_at: Timestamp::from_secs(1),
        };
        store.create_maintenance(&t, &w).await.unwrap();
    }
    let told = store.claim_subscriber_notices(clock::now(), 10, 60_000).await.unwrap();
    let windows: Vec<(&str, &str, &str)> = told
        .iter()
        .filter_map(|n| match &n.subject {
            NoticeSubject::Maintenance(w) => Some((n.subscriber.address.as_str(), w.id.as_str(), n.component.as_str())),
            NoticeSubject::Update(_) => None,
        })
        .collect();
    let mut windows = windows;
    windows.sort();
    assert_eq!(
        windows,
        [("ada@example.com", "mw_told", "Database"), ("https://hooks.example.com/np", "mw_told", "Database")],
        "{backend:?}"
    );

    // Unsubscribed: the token works once, and the next update queues nothing for the address.
    let token = mail_notice.subscriber.secret.expose().to_owned();
    assert!(store.unsubscribe(&token).await.unwrap());
    assert!(!store.unsubscribe(&token).await.unwrap(), "{backend:?}: already gone");
    assert!(store.delete_subscriber(&t, "sp_subs", "sub_hook").await.unwrap());
    let next = IncidentUpdate { id: fresh(), posted_at: later.plus_ms(1), ..update };
    assert!(store.post_incident_update(&t, &next).await.unwrap());
    assert!(
        store.claim_subscriber_notices(later.plus_ms(600_000), 10, 60_000).await.unwrap().is_empty(),
        "{backend:?}"
    );

    // Retention drops a sign-up whose link expired unused (the address never consented), on a
    // page nobody signs up to again; a confirmed subscriber stays.
    assert_eq!(up("yuri@example.com", "tok-y", later).await.unwrap(), SignUpOutcome::Pending);
    assert_eq!(up("zoe@example.com", "tok-z", later).await.unwrap(), SignUpOutcome::Pending);
    assert!(store.confirm_subscriber(&token_hash("tok-z"), later).await.unwrap().is_some());
    let listed = |s: Vec<Subscriber>| {
        let mut l: Vec<(String, bool)> = s.into_iter().map(|s| (s.address, s.confirmed_at.is_some())).collect();
        l.sort();
        l
    };
    let before = listed(store.list_subscribers(&t, "sp_subs").await.unwrap());
    assert_eq!(before, [("yuri@example.com".into(), false), ("zoe@example.com".into(), true)], "{backend:?}");
    let days = RetentionDays { raw: 30, minute: 60, hour: 100, day: 400 };
    store.apply_retention(&Horizons::at(later.plus_ms(2 * 86_400_000), &days), 1000).await.unwrap();
    let after = listed(store.list_subscribers(&t, "sp_subs").await.unwrap());
    assert_eq!(after, [("zoe@example.com".to_owned(), true)], "{backend:?}");

    // An update naming another monitor among those it affects reaches that monitor's pages
    // too, under the name they give it; a page showing both is told once.
    let app = add_monitor(&*store, &t, draft("app", Policy::default())).await;
    let shown = |name: &str| StatusPageMonitor { monitor_id: app.clone(), display_name: name.into(), group: "".into() };
    let app_page = StatusPage {
        id: "sp_app".into(),
        slug: "app".into(),
        domain: None,
        monitors: vec![shown("Storefront")],
        ..page.clone()
    };
    let both = StatusPage { id: "sp_both".into(), slug: "both".into(), domain: None, ..page.clone() };
    let both = StatusPage { monitors: [both.monitors.clone(), vec![shown("Shop")]].concat(), ..both };
    for (p, id) in [(&app_page, "sub_app"), (&both, "sub_both")] {
        store.create_status_page(&t, p).await.unwrap();
        let s = Subscriber {
            id: id.into(),
            page_id: p.id.clone(),
            address: format!("https://{id}.example"),
            secret: Secret::new(format!("whsec_{id}")),
            ..hook.clone()
        };
        assert!(store.add_subscriber(&t, &s).await.unwrap());
    }
    let wide = IncidentUpdate { id: fresh(), posted_at: later.plus_ms(2), affects: vec![app.clone()], ..next };
    assert!(store.post_incident_update(&t, &wide).await.unwrap());
    let due = store.claim_subscriber_notices(later.plus_ms(700_000), 10, 60_000).await.unwrap();
    let mut got: Vec<(&str, &str)> = due.iter().map(|n| (n.subscriber.id.as_str(), n.component.as_str())).collect();
    got.sort();
    let zoe = store.list_subscribers(&t, "sp_subs").await.unwrap().remove(0).id;
    let mut want = vec![("sub_app", "Storefront"), ("sub_both", "Database"), (zoe.as_str(), "Database")];
    want.sort();
    assert_eq!(got, want, "{backend:?}");
}

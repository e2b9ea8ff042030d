//! Real visitors in the store: a source found by its public key, visits counted per monitor
//! apart from check results and by provenance, refused beacons counted, retention folding old
//! visits into daily counts that still count, and a source's visits gone with it (and with
//! its monitor). Also the isolation of tenants.

use super::{add_monitor, draft};
use netpulse_core::incident::Policy;
use netpulse_core::retention::{Horizons, RetentionDays};
use netpulse_core::visits::{Visit, VisitTally};
use netpulse_core::{MonitorId, TenantId, Timestamp};
use netpulse_store::clock::fresh;
use netpulse_store::testing::{self as backends, Backend};
use netpulse_store::{Evidence, Recorded, Spend, VisitDrops, VisitRow, VisitSource};

contract!(visits_count_apart_and_fold_into_days, a_token_is_spent_once_and_a_source_takes_its_budget_over_every_node);

fn source(id: &str, m: &MonitorId, key: &str) -> VisitSource {
    VisitSource {
        id: id.into(),
        tenant_id: netpulse_core::TenantId::from_trusted("ten_unused".into()),
        monitor_id: m.clone(),
        site_key: key.into(),
        origins: vec!["https://shop.example".into(), "http://127.0.0.1:8000".into()],
        sample_one_in: 10,
        per_minute: 60,
        health_url: Some("https://shop.example/health".into()),
        on_status_pages: true,
        in_alerts: false,
        created_at: Timestamp::from_secs(1),
        dropped: VisitDrops::default(),
        token_key: "k".repeat(64),
    }
}

fn visit(at: Timestamp, ok: bool, page_ms: u32, demo: bool) -> VisitRow {
    VisitRow {
        at,
        visit: Visit { ok, page_ms: Some(page_ms), health_ms: None, network: Some("4g"), area: Some("Europe") },
        demo,
        spends: None,
    }
}

async fn visits_count_apart_and_fold_into_days(backend: Backend) {
    let store = backends::open(backend, 4).await;
    let (t, _) = store.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    let m = add_monitor(&*store, &t, draft("shop", Policy::default())).await;
    let other = add_monitor(&*store, &t, draft("api", Policy::default())).await;
    store.create_visit_source(&t, &source("vis_a", &m, "pk_a")).await.unwrap();
    store.create_visit_source(&t, &source("vis_b", &other, "pk_b")).await.unwrap();

    let found = store.visit_source_by_key("pk_a").await.unwrap().expect("found by its key");
    assert_eq!((found.id.as_str(), &found.tenant_id, &found.monitor_id), ("vis_a", &t, &m), "{backend:?}");
    assert_eq!(found.origins, ["https://shop.example", "http://127.0.0.1:8000"]);
    assert_eq!(found.health_url.as_deref(), Some("https://shop.example/health"));
    assert!(store.visit_source_by_key("pk_nope").await.unwrap().is_none());
    assert_eq!(store.visit_sources(&t, Some(&m)).await.unwrap().len(), 1);
    assert_eq!(store.visit_sources(&t, None).await.unwrap().len(), 2);

    let day = 86_400_000;
    let now = Timestamp::from_millis(40 * day);
    for (i, ok) in [true, true, false, true].into_iter().enumerate() {
        let v = visit(now.minus_ms(1000 * i as i64), ok, 100 * (i as u32 + 1), false);
        assert_eq!(store.record_visit(&found, &v).await.unwrap(), Recorded::Stored, "{backend:?}");
    }
    store.record_visit(&found, &visit(now, true, 5, true)).await.unwrap();
    let range = (now.minus_ms(day), now.plus_ms(1));
    let live = store.visit_tallies(&t, &[m.clone(), other.clone()], range, Evidence::Live).await.unwrap();
    assert_eq!(live.get(&m), Some(&VisitTally { loads: 4, failed: 1, median_page_ms: Some(200) }), "{backend:?}");
    assert_eq!(live.get(&other), None, "{backend:?}: no visits, no tally");
    let demo = store.visit_tallies(&t, std::slice::from_ref(&m), range, Evidence::Demo).await.unwrap();
    assert_eq!(demo.get(&m).map(|d| d.loads), Some(1), "{backend:?}: demo visits count only as demo");
    let probes = store.tally(&t, &m, now.minus_ms(day), now.plus_ms(1), Evidence::Live).await.unwrap();
    assert_eq!(probes.total(), 0, "{backend:?}: visits are never probe uptime");

    let t2: TenantId = fresh();
    assert!(store.visit_tallies(&t2, std::slice::from_ref(&m), range, Evidence::Live).await.unwrap().is_empty());
    assert!(store.visit_sources(&t2, None).await.unwrap().is_empty());
    assert!(!store.delete_visit_source(&t2, "vis_a").await.unwrap(), "{backend:?}: not another org's");

    store.add_visit_drops("vis_a", &VisitDrops { origin: 3, rate: 2, ..VisitDrops::default() }).await.unwrap();
    store.add_visit_drops("vis_a", &VisitDrops { origin: 1, token: 4, bot: 1, malformed: 5, rate: 0 }).await.unwrap();
    let dropped = store.visit_source_by_key("pk_a").await.unwrap().unwrap().dropped;
    assert_eq!(dropped, VisitDrops { origin: 4, rate: 2, token: 4, bot: 1, malformed: 5 }, "{backend:?}");

    // Retention 30 days on: the visits fold into their day and are still counted over a range
    // that holds that day; then a source's deletion takes its counts with it.
    let days = RetentionDays { raw: 30, minute: 60, hour: 100, day: 400 };
    let h = Horizons::at(now.plus_ms(31 * day), &days);
    let mut folded = 0;
    loop {
        let pass = store.apply_retention(&h, 2).await.unwrap();
        folded += pass.visits_rolled;
        if !pass.more_left(2) {
            break;
        }
    }
    assert_eq!(folded, 5, "{backend:?}: every visit folded once");
    let whole = (now.minus_ms(2 * day), now.plus_ms(day));
    let after = store.visit_tallies(&t, std::slice::from_ref(&m), whole, Evidence::Live).await.unwrap();
    assert_eq!(after.get(&m), Some(&VisitTally { loads: 4, failed: 1, median_page_ms: None }), "{backend:?}");
    assert!(store.delete_visit_source(&t, "vis_a").await.unwrap());
    let gone = store.record_visit(&found, &visit(now, true, 5, false)).await.unwrap();
    assert_eq!(gone, Recorded::NoSource, "{backend:?}: its source is gone");
    assert!(
        store.visit_tallies(&t, std::slice::from_ref(&m), whole, Evidence::Demo).await.unwrap().is_empty(),
        "{backend:?}"
    );
    assert!(store.visit_source_by_key("pk_a").await.unwrap().is_none());

    // A monitor's deletion takes its sources.
    store.delete_monitor(&t, &other).await.unwrap();
    assert!(store.visit_source_by_key("pk_b").await.unwrap().is_none(), "{backend:?}");
}

/// The store has the last word on what nodes accept: a page token is spent once per source
/// (whichever node sees it), and a source stores at most its budget in any minute, however
/// many beacons reach it at once from however many nodes.
async fn a_token_is_spent_once_and_a_source_takes_its_budget_over_every_node(backend: Backend) {
    let store = backends::open(backend, 8).await;
    let (t, _) = store.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    let m = add_monitor(&*store, &t, draft("shop", Policy::default())).await;
    store.create_visit_source(&t, &VisitSource { per_minute: 3, ..source("vis_a", &m, "pk_a") }).await.unwrap();
    let src = store.visit_source_by_key("pk_a").await.unwrap().unwrap();
    assert_eq!(src.token_key, "k".repeat(64), "{backend:?}: every node reads the same key");
    let now = Timestamp::from_millis(40 * 86_400_000);
    let spent = |nonce: &str, at: Timestamp| VisitRow {
        spends: Some(Spend { nonce: nonce.into(), at, expires_at: at.plus_ms(30 * 60_000) }),
        ..visit(at, true, 100, false)
    };
    let one = |i: usize| {
        let (store, src, row) = (&store, &src, spent(&format!("n{i}"), now));
        async move { store.record_visit(src, &row).await.unwrap() }
    };
    let (a, b, c, d, e) = tokio::join!(one(0), one(1), one(2), one(3), one(4));
    let (f, g, h, i, j) = tokio::join!(one(5), one(6), one(7), one(8), one(9));
    let outcomes = [a, b, c, d, e, f, g, h, i, j];
    let stored = outcomes.iter().filter(|o| **o == Recorded::Stored).count();
    let over = outcomes.iter().filter(|o| **o == Recorded::OverBudget).count();
    assert_eq!((stored, over), (3, 7), "{backend:?}: ten at once, a budget of three: {outcomes:?}");
    let a_minute_on = now.plus_ms(60_001);
    let first = outcomes.iter().position(|o| *o == Recorded::Stored).unwrap();
    let replay = store.record_visit(&src, &spent(&format!("n{first}"), a_minute_on)).await.unwrap();
    assert_eq!(replay, Recorded::Replayed, "{backend:?}: a spent token stays spent while it is good");
    assert_eq!(store.record_visit(&src, &spent("fresh", a_minute_on)).await.unwrap(), Recorded::Stored);
    let refused_first = outcomes.iter().position(|o| *o == Recorded::OverBudget).unwrap();
    let again = store.record_visit(&src, &spent(&format!("n{refused_first}"), a_minute_on)).await.unwrap();
    assert_eq!(again, Recorded::Stored, "{backend:?}: a token refused for the budget was not spent");
    let range = (now.minus_ms(60_000), now.plus_ms(120_000));
    let live = store.visit_tallies(&t, std::slice::from_ref(&m), range, Evidence::Live).await.unwrap();
    assert_eq!(live.get(&m).map(|v| v.loads), Some(5), "{backend:?}: only what was accepted is stored");
    // The demo's sample views spend nothing and are not held to the budget.
    for k in 0..5 {
        let sample = visit(now.plus_ms(k), true, 100, true);
        assert_eq!(store.record_visit(&src, &sample).await.unwrap(), Recorded::Stored, "{backend:?}");
    }
}

//! Storm control through the real dispatcher: many monitors going down together reach a
//! channel as grouped `storm` notices and one `storm_over`, not a page each; every monitor
//! still has its incident, and the grouped pages show as `grouped` in the delivery log and on
//! their incidents (`grouped_notices`).

use crate::harness::*;
use serde_json::{json, Value};

#[tokio::test]
async fn many_monitors_down_at_once_page_as_one_storm_and_end_with_a_summary() {
    let app = spawn_app_adjusted(|c| (c.alerts.storm_threshold, c.alerts.storm_window_s) = (3, 2)).await;
    let target = Target::start().await;
    let hooks = Receiver::start().await;
    let (channel, _) = app.create_webhook(&hooks).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let body = json!({ "name": format!("svc-{i}"), "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 800 });
        ids.push(app.create_monitor(body).await);
    }
    target.set_status(503);
    wait_for(30, "an incident for every monitor", || async {
        for id in &ids {
            if app.incidents(id).await.is_empty() {
                return None;
            }
        }
        Some(())
    })
    .await;
    let covered = || {
        let got: Vec<Value> = hooks.received().iter().map(|r| r.json()).collect();
        let named = |b: &Value, name: &str| match b["event"].as_str() {
            Some("opened") => b["monitor"]["name"] == name,
            Some("storm") => b["storm"].as_array().is_some_and(|ms| ms.iter().any(|m| m["name"] == name)),
            _ => false,
        };
        (0..6).all(|i| got.iter().any(|b| named(b, &format!("svc-{i}"))))
    };
    wait_for(15, "every monitor paged or listed by a storm notice", || async { covered().then_some(()) }).await;
    let events = hooks.events();
    let pages = events.iter().filter(|e| *e == "opened").count();
    assert!(pages < 3, "below the threshold pages go out, then the storm takes over: {events:?}");
    assert!(events.contains(&"storm".to_owned()), "{events:?}");
    let (_, log) = app.api("GET", &format!("/api/v1/channels/{channel}/deliveries"), None).await;
    let grouped = log["data"].as_array().unwrap().iter().filter(|d| d["status"] == "grouped").count();
    assert_eq!(grouped, 6 - pages, "the pages folded into the storm show as grouped: {log}");
    // Each incident says how it was told: its own page, or inside the storm notice (a page's
    // attempt is logged just after the receiver answered it).
    let folded = wait_for(10, "every incident told one way or the other", || async {
        let mut folded = 0;
        for id in &ids {
            let inc = app.incidents(id).await[0]["id"].as_str().unwrap().to_owned();
            let (_, body) = app.api("GET", &format!("/api/v1/incidents/{inc}"), None).await;
            let (own, in_storm) = (body["notifications"].as_array()?, body["grouped_notices"].as_array()?);
            if own.is_empty() == in_storm.is_empty() {
                return None;
            }
            if let Some(g) = in_storm.first() {
                assert_eq!(
                    (g["event"].as_str(), g["channel"]["id"].as_str()),
                    (Some("opened"), Some(channel.as_str()))
                );
                folded += 1;
            }
        }
        Some(folded)
    })
    .await;
    assert_eq!(folded, 6 - pages);

    target.set_status(200);
    let over = wait_for(30, "the storm summary", || async {
        hooks.received().into_iter().map(|r| r.json()).find(|b| b["event"] == "storm_over")
    })
    .await;
    assert!(over["summary"].as_str().unwrap().starts_with("STORM OVER: 6 monitors"), "{over}");
    // A quiet storm ends even while members are down; each recovery is told exactly once:
    // in the summary, or on its own (a page sent on its own always resolves on its own).
    let in_summary =
        |name: &str| over["storm"].as_array().unwrap().iter().any(|m| m["name"] == name && m["recovered"] == true);
    let told = |event: &str| -> Vec<String> {
        let got = hooks.received().into_iter().map(|r| r.json());
        got.filter(|b| b["event"] == event)
            .map(|b| b["monitor"]["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let names: Vec<String> = (0..6).map(|i| format!("svc-{i}")).collect();
    wait_for(30, "every recovery told once, in the summary or on its own", || async {
        let resolved = told("resolved");
        names.iter().all(|n| resolved.contains(n) != in_summary(n)).then_some(())
    })
    .await;
    let resolved = told("resolved");
    assert!(
        told("opened").iter().all(|n| resolved.contains(n)),
        "own pages resolve on their own: {:?}",
        hooks.events()
    );
    for id in &ids {
        assert_eq!(app.incidents(id).await[0]["status"], "resolved", "each monitor kept its own incident");
    }
}

/// Storm control is an organisation's setting (`storm_threshold`), the engine config its
/// default: the same burst is a storm for the organisation that keeps the default (3) and four
/// separate pages for the one that raised its threshold to 10.
#[tokio::test]
async fn each_organisation_has_its_own_storm_threshold() {
    use crate::accounts::{browser, register, verify_directly};
    let app = spawn_app_adjusted(|c| (c.alerts.storm_threshold, c.alerts.storm_window_s) = (3, 5)).await;
    register(&app, "owner@a.example", "A").await; // the first account joins the bootstrap organisation (A)
    register(&app, "ops@b.example", "B").await;
    verify_directly(&app, "ops@b.example").await;
    let b = browser(&app, "ops@b.example").await;
    let (status, d) = b.call(&app, "PUT", "/api/v1/settings/alerting", Some(json!({ "storm_threshold": 10 }))).await;
    assert_eq!((status, d["storm_threshold"].clone()), (200, json!(10)), "{d}");
    assert_eq!(app.api("GET", "/api/v1/settings/alerting", None).await.1["storm_threshold"], 3, "A keeps the default");

    let (target_a, target_b) = (Target::start().await, Target::start().await);
    let (hooks_a, hooks_b) = (Receiver::start().await, Receiver::start().await);
    app.create_webhook(&hooks_a).await;
    let (status, ch) = b
        .call(&app, "POST", "/api/v1/channels", Some(json!({ "name": "b", "kind": "webhook", "url": hooks_b.url() })))
        .await;
    assert_eq!(status, 201, "{ch}");
    for i in 0..4 {
        let monitor = |t: &Target| json!({ "name": format!("svc-{i}"), "kind": "http", "url": t.url(), "interval_s": 1, "timeout_ms": 800 });
        app.create_monitor(monitor(&target_a)).await;
        let (status, m) = b.call(&app, "POST", "/api/v1/monitors", Some(monitor(&target_b))).await;
        assert_eq!(status, 201, "{m}");
    }
    target_a.set_status(503);
    target_b.set_status(503);
    let pages = |h: &Receiver| h.events().iter().filter(|e| *e == "opened").count();
    wait_for(30, "B's four pages", || async { (pages(&hooks_b) == 4).then_some(()) }).await;
    wait_for(30, "A's storm notice", || async { hooks_a.events().contains(&"storm".to_owned()).then_some(()) }).await;
    assert!(pages(&hooks_a) < 3, "A: below its threshold pages go out, then the storm: {:?}", hooks_a.events());
    assert!(!hooks_b.events().iter().any(|e| e.starts_with("storm")), "B: no storm below 10: {:?}", hooks_b.events());
}

//! The promise: one page per outage, one resolve, nothing twice — across retries, flapping
//! and restarts.

use crate::harness::*;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn http_monitor(target: &Target) -> serde_json::Value {
    json!({ "name": "Checkout API", "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 800 })
}

/// Wait until the target has been checked `n` more times.
async fn checks(target: &Target, n: usize) {
    let goal = target.hits.load(Ordering::SeqCst) + n;
    wait_for(n as u64 * 3 + 5, "more checks", || async { (target.hits.load(Ordering::SeqCst) >= goal).then_some(()) })
        .await;
}

pub(crate) fn verify_signature(r: &Received, secret: &str) {
    let ts = r.header("x-netpulse-timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.{}", r.body).as_bytes());
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(r.header("x-netpulse-signature"), expected, "signature must be HMAC-SHA256 of `timestamp.body`");
    let age = now_secs() - ts.parse::<i64>().expect("numeric timestamp");
    assert!((0..60).contains(&age), "timestamp is current");
}

#[tokio::test]
async fn an_outage_pages_once_and_recovery_resolves_once() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let hooks = Receiver::start().await;
    let (_, secret) = app.create_webhook(&hooks).await;
    let id = app.create_monitor(http_monitor(&target)).await;
    checks(&target, 2).await;
    assert!(hooks.events().is_empty(), "no alert while up");

    target.set_status(503);
    let events = hooks.wait_for_events(1, 15).await;
    assert_eq!(events, ["opened"]);
    checks(&target, 4).await;
    assert_eq!(hooks.events(), ["opened"], "retries during the outage page nobody again");

    let opened = &hooks.received()[0];
    verify_signature(opened, &secret);
    let body = opened.json();
    assert_eq!(body["monitor"]["name"], "Checkout API");
    assert!(body["error"].as_str().unwrap().contains("503"), "says why: {body}");
    assert!(body["incident"]["url"].as_str().unwrap().contains("/incidents/inc_"));
    assert_eq!(app.monitor(&id).await["status"]["health"], "down");

    target.set_status(200);
    let events = hooks.wait_for_events(2, 15).await;
    assert_eq!(events, ["opened", "resolved"]);
    checks(&target, 3).await;
    assert_eq!(hooks.events(), ["opened", "resolved"]);
    let got = hooks.received();
    assert_eq!(got[0].json()["incident"]["id"], got[1].json()["incident"]["id"], "one incident");
    assert_ne!(got[0].header("x-netpulse-dedup-key"), got[1].header("x-netpulse-dedup-key"));
    let incidents = app.incidents(&id).await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["status"], "resolved");
}

#[tokio::test]
async fn a_single_failed_check_opens_no_incident() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let hooks = Receiver::start().await;
    app.create_webhook(&hooks).await;
    target.play(&[200, 503, 200, 200, 503, 200]);
    let id = app.create_monitor(http_monitor(&target)).await;
    checks(&target, 7).await;
    assert!(hooks.events().is_empty(), "noise is not an outage: {:?}", hooks.events());
    assert!(app.incidents(&id).await.is_empty());
    let (_, results) = app.api("GET", &format!("/api/v1/monitors/{id}/results"), None).await;
    let downs = results["data"].as_array().unwrap().iter().filter(|r| r["outcome"] == "down").count();
    assert_eq!(downs, 2, "the failures are recorded, just not alerted");
}

#[tokio::test]
async fn flapping_at_the_threshold_does_not_storm() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let hooks = Receiver::start().await;
    app.create_webhook(&hooks).await;
    let cycle = [503, 503, 200, 200];
    let script: Vec<u16> = cycle.iter().cycle().take(16).copied().chain([200]).collect();
    target.play(&script);
    let id = app.create_monitor(http_monitor(&target)).await;
    checks(&target, 18).await;
    assert_eq!(hooks.events(), ["opened", "resolved", "flapping"], "four outages, three notices, not eight");
    let incidents = app.incidents(&id).await;
    assert_eq!(incidents.len(), 1, "one incident for the whole episode");
    assert_eq!(incidents[0]["flapping"], true);
}

#[tokio::test]
async fn a_restarted_engine_sends_nothing_twice() {
    let env = test_env().await;
    let target = Target::start().await;
    let hooks = Receiver::start().await;
    let mut app = env.spawn().await;
    app.create_webhook(&hooks).await;
    app.create_monitor(http_monitor(&target)).await;
    target.set_status(500);
    hooks.wait_for_events(1, 15).await;
    app.stop().await;

    let mut app = env.spawn().await;
    checks(&target, 3).await;
    assert_eq!(hooks.events(), ["opened"], "the restarted engine remembers the open incident");
    target.set_status(200);
    hooks.wait_for_events(2, 15).await;
    app.stop().await;

    let mut app = env.spawn().await;
    checks(&target, 3).await;
    assert_eq!(hooks.events(), ["opened", "resolved"]);
    app.stop().await;
}

#[tokio::test]
async fn deliveries_retry_with_backoff_and_honour_retry_after() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let hooks = Receiver::start().await;
    hooks.reply_with(&[(503, None), (429, Some("1"))]);
    let (channel, _) = app.create_webhook(&hooks).await;
    target.set_status(500);
    app.create_monitor(http_monitor(&target)).await;
    wait_for(20, "three attempts", || async { (hooks.received().len() >= 3).then_some(()) }).await;
    let got = hooks.received();
    let keys: Vec<String> = got.iter().map(|r| r.header("x-netpulse-dedup-key")).collect();
    assert!(keys.iter().all(|k| *k == keys[0]), "every attempt carries the same dedup key: {keys:?}");
    assert!(got[2].at.duration_since(got[1].at) >= Duration::from_millis(950), "waited for Retry-After: 1");
    let sent = wait_for(5, "delivery recorded", || async {
        let (_, d) = app.api("GET", &format!("/api/v1/channels/{channel}/deliveries"), None).await;
        let row = d["data"][0].clone();
        (row["status"] == "sent").then_some(row)
    })
    .await;
    assert_eq!(sent["attempts"], 3);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(hooks.received().len(), 3, "nothing after the successful attempt");
}

#[tokio::test]
async fn send_test_reaches_the_receiver_signed() {
    let app = spawn_app().await;
    let hooks = Receiver::start().await;
    let (channel, secret) = app.create_webhook(&hooks).await;
    let (status, body) = app.api("POST", &format!("/api/v1/channels/{channel}/test"), None).await;
    assert_eq!((status, body["delivered"].clone()), (200, json!(true)), "{body}");
    let got = hooks.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["event"], "test");
    verify_signature(&got[0], &secret);

    let (_, listed) = app.api("GET", &format!("/api/v1/channels/{channel}"), None).await;
    assert!(!listed.to_string().contains(&secret), "the secret is shown once, at creation");

    let dead = Receiver::start().await;
    let (status, json) =
        app.api("PATCH", &format!("/api/v1/channels/{channel}"), Some(json!({ "url": dead.url() }))).await;
    assert_eq!(status, 200, "{json}");
    dead.reply_with(&[(500, None)]);
    let (_, body) = app.api("POST", &format!("/api/v1/channels/{channel}/test"), None).await;
    assert_eq!(body["delivered"], false);
    assert!(body["error"].as_str().unwrap().contains("500"), "{body}");
}

#[tokio::test]
async fn acknowledge_and_resolve_by_hand() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let hooks = Receiver::start().await;
    app.create_webhook(&hooks).await;
    target.set_status(502);
    let id = app.create_monitor(http_monitor(&target)).await;
    hooks.wait_for_events(1, 15).await;
    let incident = app.incidents(&id).await[0]["id"].as_str().unwrap().to_owned();

    let (status, body) = app.api("POST", &format!("/api/v1/incidents/{incident}/acknowledge"), None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("acknowledged")), "{body}");
    app.dispatch_alerts().await;
    assert_eq!(hooks.events(), ["opened", "acknowledged"]);
    let (status, body) = app.api("POST", &format!("/api/v1/incidents/{incident}/acknowledge"), None).await;
    assert_eq!(status, 409, "acknowledging twice is a conflict: {body}");

    let (status, body) = app.api("POST", &format!("/api/v1/incidents/{incident}/resolve"), None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("resolved")), "{body}");
    app.dispatch_alerts().await;
    assert_eq!(hooks.events(), ["opened", "acknowledged", "resolved"]);
    let (_, detail) = app.api("GET", &format!("/api/v1/incidents/{incident}"), None).await;
    let timeline: Vec<&str> =
        detail["timeline"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert_eq!(timeline.len(), 3, "{timeline:?}");
    assert!(timeline[1].starts_with("acknowledged by") && timeline[2].starts_with("resolved by"));

    // Still failing: a new outage must be confirmed afresh and opens a new incident.
    wait_for(15, "a second incident", || async { (app.incidents(&id).await.len() == 2).then_some(()) }).await;
    assert_eq!(hooks.wait_for_events(4, 5).await, ["opened", "acknowledged", "resolved", "opened"]);
}

#[tokio::test]
async fn a_child_behind_a_failed_parent_pages_nobody_and_links_to_the_parent() {
    let app = spawn_app().await;
    let (router, service) = (Target::start().await, Target::start().await);
    let hooks = Receiver::start().await;
    app.create_webhook(&hooks).await;
    let parent = app.create_monitor(http_monitor(&router)).await;
    let mut child_body = http_monitor(&service);
    child_body["name"] = json!("Service behind the router");
    child_body["depends_on"] = json!(parent);
    let child = app.create_monitor(child_body).await;

    router.set_status(503);
    hooks.wait_for_events(1, 15).await;
    service.set_status(503);
    wait_for(15, "the child's linked incident", || async { (!app.incidents(&child).await.is_empty()).then_some(()) })
        .await;
    checks(&service, 3).await;
    let names: Vec<String> =
        hooks.received().iter().map(|r| r.json()["monitor"]["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["Checkout API"], "only the parent pages");
    let incident = app.incidents(&child).await[0]["id"].as_str().unwrap().to_owned();
    let (_, detail) = app.api("GET", &format!("/api/v1/incidents/{incident}"), None).await;
    assert!(
        detail.to_string().contains("linked to inc_"),
        "the child's timeline names the parent's incident: {detail}"
    );

    router.set_status(200);
    service.set_status(200);
    assert_eq!(hooks.wait_for_events(2, 15).await, ["opened", "resolved"]);
    checks(&service, 3).await;
    assert_eq!(hooks.events(), ["opened", "resolved"], "the child's linked incident resolves silently");

    let (status, body) =
        app.api("PATCH", &format!("/api/v1/monitors/{parent}"), Some(json!({ "depends_on": child }))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("depends_on")), "no cycles: {body}");
    let (status, body) =
        app.api("PATCH", &format!("/api/v1/monitors/{child}"), Some(json!({ "depends_on": child }))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("depends_on")), "{body}");
}

#[tokio::test]
async fn maintenance_mutes_alerts_and_a_target_still_down_at_the_end_pages_once() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let hooks = Receiver::start().await;
    app.create_webhook(&hooks).await;
    let id = app.create_monitor(http_monitor(&target)).await;
    checks(&target, 1).await;

    let path = format!("/api/v1/monitors/{id}/maintenance");
    let (status, w) = app.api("POST", &path, Some(json!({ "duration_s": 600, "reason": "database upgrade" }))).await;
    assert_eq!((status, w["phase"].as_str()), (201, Some("active")), "{w}");
    target.set_status(503);
    checks(&target, 5).await;
    assert!(hooks.events().is_empty(), "muted during maintenance: {:?}", hooks.events());
    assert!(app.incidents(&id).await.is_empty());
    let (_, results) = app.api("GET", &format!("/api/v1/monitors/{id}/results"), None).await;
    assert!(
        results["data"].as_array().unwrap().iter().any(|r| r["outcome"] == "down"),
        "checks keep running and are recorded"
    );
    assert_eq!(app.monitor(&id).await["status"]["health"], "down");

    let (status, _) = app.api("DELETE", &format!("/api/v1/maintenance/{}", w["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 204);
    assert_eq!(hooks.wait_for_events(1, 10).await, ["opened"], "still down when the window ends: page once");
    checks(&target, 3).await;
    assert_eq!(hooks.events(), ["opened"]);
    target.set_status(200);
    assert_eq!(hooks.wait_for_events(2, 15).await, ["opened", "resolved"]);

    let (status, body) = app.api("POST", &path, Some(json!({ "duration_s": 5 }))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("duration_s")), "{body}");
    let (status, body) = app.api("POST", &path, Some(json!({ "duration_s": 3600, "repeat_every_s": 60 }))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("repeat_every_s")), "{body}");
    let (status, _) = app.api("DELETE", "/api/v1/maintenance/mw_nope", None).await;
    assert_eq!(status, 404);
}

/// The maintenance clock sleeps until the next window starts or ends (an engine without
/// windows does not wake for them), and a window created for later wakes it: the window
/// starts when due, not a minute later at the clock's longest sleep.
#[tokio::test]
async fn a_window_created_for_later_starts_when_due() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let id = app.create_monitor(http_monitor(&target)).await;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let path = format!("/api/v1/monitors/{id}/maintenance");
    let body = json!({ "starts_at": (now_ms + 1_500).to_string(), "duration_s": 600 });
    let (status, w) = app.api("POST", &path, Some(body)).await;
    assert_eq!((status, w["phase"].as_str()), (201, Some("scheduled")), "{w}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, list) = app.api("GET", &path, None).await;
        if list["data"][0]["phase"] == "active" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the window never started: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Tenant defaults reach ingest at once: a monitor that inherits `confirm_threshold` follows
/// a change of the default (even after its draft was read and cached by ingest), one that
/// set it keeps its own.
#[tokio::test]
async fn a_changed_default_reaches_every_monitor_that_inherits_it() {
    let app = spawn_app().await;
    let (inheriting, own) = (Target::start().await, Target::start().await);
    let hooks = Receiver::start().await;
    app.create_webhook(&hooks).await;
    let a = app
        .create_monitor(
            json!({ "name": "inherits", "kind": "http", "url": inheriting.url(), "interval_s": 1, "timeout_ms": 800 }),
        )
        .await;
    let b = app
        .create_monitor(json!({
            "name": "sets its own", "kind": "http", "url": own.url(), "interval_s": 1, "timeout_ms": 800,
            "policy": { "confirm_threshold": 2 },
        }))
        .await;
    checks(&inheriting, 2).await;
    checks(&own, 2).await; // both drafts have been stepped (and cached) with the built-in default

    let defaults = json!({ "policy": { "confirm_threshold": 20 } });
    let (status, d) = app.api("PUT", "/api/v1/settings/alerting", Some(defaults)).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(app.monitor(&a).await["policy"]["confirm_threshold"], 20);
    assert_eq!(app.monitor(&b).await["policy"]["confirm_threshold"], 2);
    inheriting.set_status(503);
    own.set_status(503);
    let paged = |hooks: &Receiver| -> Vec<String> {
        hooks.received().iter().map(|r| r.json()["monitor"]["name"].as_str().unwrap_or("").to_owned()).collect()
    };
    hooks.wait_for_events(1, 15).await;
    checks(&inheriting, 5).await;
    assert_eq!(paged(&hooks), ["sets its own"], "the inheriting monitor now needs 20 failed checks");
    assert_eq!(app.monitor(&a).await["status"]["health"], "suspect");

    let (status, _) = app.api("PUT", "/api/v1/settings/alerting", Some(json!({}))).await;
    assert_eq!(status, 200);
    hooks.wait_for_events(2, 15).await;
    assert_eq!(paged(&hooks), ["sets its own", "inherits"], "back to the built-in 2: it pages on its next failure");
}

//! Escalation: an incident nobody acknowledges reaches a further channel once, after the
//! policy's delay, even across an engine restart; acknowledging first cancels it.

use crate::harness::*;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

async fn checks(target: &Target, n: usize) {
    let goal = target.hits.load(Ordering::SeqCst) + n;
    wait_for(n as u64 * 3 + 5, "more checks", || async { (target.hits.load(Ordering::SeqCst) >= goal).then_some(()) })
        .await;
}

/// A monitor paging `primary` only, escalating to `oncall` after `after_s`.
fn escalating_monitor(target: &Target, primary: &str, oncall: &str, after_s: u32) -> Value {
    json!({
        "name": "Checkout API", "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 800,
        "channels": [primary],
        "policy": { "escalate_after_s": after_s, "escalate_to": [oncall] },
    })
}

#[tokio::test]
async fn an_unacknowledged_incident_escalates_once_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::start().await;
    let (ops, oncall) = (Receiver::start().await, Receiver::start().await);
    let mut app = spawn_app_with(test_config(dir.path())).await;
    let (primary, _) = app.create_webhook(&ops).await;
    let (escalation, _) = app.create_webhook(&oncall).await;
    let id = app.create_monitor(escalating_monitor(&target, &primary, &escalation, 4)).await;
    target.set_status(503);
    assert_eq!(ops.wait_for_events(1, 15).await, ["opened"]);
    assert!(oncall.events().is_empty(), "the escalation channel is not paged at once");
    app.stop().await;

    let mut app = spawn_app_with(test_config(dir.path())).await;
    assert_eq!(oncall.wait_for_events(1, 20).await, ["escalated"], "the restarted engine escalates when due");
    checks(&target, 4).await;
    assert_eq!(oncall.events(), ["escalated"], "one escalation per incident");
    assert_eq!(ops.events(), ["opened"], "the escalation goes to the further channel only");
    let (opened, escalated) = (ops.received()[0].json(), oncall.received()[0].json());
    assert_eq!(escalated["incident"]["id"], opened["incident"]["id"]);
    assert!(escalated["summary"].as_str().unwrap().starts_with("ESCALATED: Checkout API"), "{escalated}");
    let incident = opened["incident"]["id"].as_str().unwrap().to_owned();
    assert_eq!(oncall.received()[0].header("x-netpulse-dedup-key"), format!("{incident}:escalated"));

    let (status, _) = app.api("POST", &format!("/api/v1/incidents/{incident}/acknowledge"), None).await;
    assert_eq!(status, 200);
    app.dispatch_alerts().await;
    assert_eq!(oncall.events(), ["escalated", "acknowledged"], "the escalation hears the ack");
    target.set_status(200);
    assert_eq!(ops.wait_for_events(3, 15).await, ["opened", "acknowledged", "resolved"]);
    assert_eq!(oncall.wait_for_events(3, 10).await, ["escalated", "acknowledged", "resolved"]);
    let (_, detail) = app.api("GET", &format!("/api/v1/incidents/{incident}"), None).await;
    assert!(detail.to_string().contains("escalated to 1 more channel"), "the timeline says so: {detail}");
    assert_eq!(app.monitor(&id).await["policy"]["escalate_after_s"], 4);
    app.stop().await;
}

#[tokio::test]
async fn acknowledging_before_the_delay_cancels_the_escalation() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let (ops, oncall) = (Receiver::start().await, Receiver::start().await);
    let (primary, _) = app.create_webhook(&ops).await;
    let (escalation, _) = app.create_webhook(&oncall).await;
    app.create_monitor(escalating_monitor(&target, &primary, &escalation, 5)).await;
    target.set_status(503);
    ops.wait_for_events(1, 15).await;
    let incident = ops.received()[0].json()["incident"]["id"].as_str().unwrap().to_owned();
    let (status, _) = app.api("POST", &format!("/api/v1/incidents/{incident}/acknowledge"), None).await;
    assert_eq!(status, 200);
    checks(&target, 8).await;
    assert_eq!(ops.events(), ["opened", "acknowledged"]);
    assert!(oncall.events().is_empty(), "acknowledged in time: nobody else is woken: {:?}", oncall.events());
}

#[tokio::test]
async fn escalation_needs_channels_of_the_same_account() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let ops = Receiver::start().await;
    let (primary, _) = app.create_webhook(&ops).await;
    let mut body = escalating_monitor(&target, &primary, "chn_00000000000000000000000000", 60);
    let (status, err) = app.api("POST", "/api/v1/monitors", Some(body.clone())).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("policy.escalate_to[0]")), "{err}");
    body["policy"] = json!({ "escalate_after_s": 60 });
    let (status, err) = app.api("POST", "/api/v1/monitors", Some(body)).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("policy.escalate_to")), "{err}");
    assert_eq!(err["error"]["code"], "validation_failed");
}

/// Escalation is driven by the dispatcher's timer sweep, not by the next check: with the
/// monitor's interval raised to 5 minutes right after it paged, the escalation still goes out
/// when due, with no check in between.
#[tokio::test]
async fn a_long_interval_does_not_delay_the_escalation() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let (ops, oncall) = (Receiver::start().await, Receiver::start().await);
    let (primary, _) = app.create_webhook(&ops).await;
    let (escalation, _) = app.create_webhook(&oncall).await;
    let id = app.create_monitor(escalating_monitor(&target, &primary, &escalation, 4)).await;
    target.set_status(503);
    assert_eq!(ops.wait_for_events(1, 15).await, ["opened"]);
    let (status, m) = app.api("PATCH", &format!("/api/v1/monitors/{id}"), Some(json!({ "interval_s": 300 }))).await;
    assert_eq!((status, m["interval_s"].clone()), (200, json!(300)), "{m}");
    let checked = target.hits.load(Ordering::SeqCst);
    let paged_at = std::time::Instant::now();
    assert_eq!(oncall.wait_for_events(1, 15).await, ["escalated"]);
    assert!(paged_at.elapsed().as_secs() < 10, "on time, not 5 minutes later");
    // The scheduler takes the new interval after its 250 ms reload debounce: a check already
    // under way and one sent before the reload may still land; a check per second would be 4+.
    let hits = target.hits.load(Ordering::SeqCst);
    assert!(
        hits <= checked + 2,
        "no check brought it (at most one under way and one sent before the reload): {checked} → {hits}"
    );
    assert_eq!(ops.events(), ["opened"]);
}

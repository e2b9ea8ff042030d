//! Degraded (slow) is its own notice class: a slow target never pages as down, and only the
//! channels that opted in (`notify_degraded`) hear that it became slow and fast again.

use crate::harness::*;
use serde_json::json;

#[tokio::test]
async fn a_slow_target_notifies_only_opted_in_channels_and_opens_no_incident() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let (watchers, pager) = (Receiver::start().await, Receiver::start().await);
    let body = json!({ "name": "perf", "kind": "webhook", "url": watchers.url(), "notify_degraded": true });
    let (status, created) = app.api("POST", "/api/v1/channels", Some(body)).await;
    assert_eq!((status, created["notify_degraded"].as_bool()), (201, Some(true)), "{created}");
    let (pager_id, _) = app.create_webhook(&pager).await;
    let (_, shown) = app.api("GET", &format!("/api/v1/channels/{pager_id}"), None).await;
    assert_eq!(shown["notify_degraded"], false, "off by default: {shown}");

    target.set_delay_ms(300);
    let monitor = json!({ "name": "Search", "kind": "http", "url": target.url(), "interval_s": 1,
                          "timeout_ms": 900, "degraded_after_ms": 100 });
    let id = app.create_monitor(monitor).await;
    assert_eq!(watchers.wait_for_events(1, 20).await, ["degraded"]);
    let slow = watchers.received()[0].json();
    assert!(slow["summary"].as_str().unwrap().starts_with("DEGRADED: Search"), "{slow}");
    assert!(slow["incident"].is_null(), "degraded is not an incident: {slow}");
    assert_eq!(app.monitor(&id).await["status"]["health"], "degraded");

    target.set_delay_ms(0);
    assert_eq!(watchers.wait_for_events(2, 20).await, ["degraded", "degraded_ended"]);
    let keys: Vec<String> = watchers.received().iter().map(|r| r.header("x-netpulse-dedup-key")).collect();
    assert_eq!(keys, [format!("{id}:degraded:1"), format!("{id}:degraded:1:ended")]);
    assert!(pager.events().is_empty(), "a channel that did not opt in hears nothing: {:?}", pager.events());
    assert!(app.incidents(&id).await.is_empty(), "slow is never an outage");

    let (status, patched) =
        app.api("PATCH", &format!("/api/v1/channels/{pager_id}"), Some(json!({ "notify_degraded": true }))).await;
    assert_eq!((status, patched["notify_degraded"].as_bool()), (200, Some(true)), "{patched}");
}

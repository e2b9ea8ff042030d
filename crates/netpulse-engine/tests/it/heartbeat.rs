//! Push monitors: a job calls its heartbeat URL; silence past interval + grace is an outage.

use crate::harness::*;
use serde_json::json;

#[tokio::test]
async fn a_missing_heartbeat_pages_and_the_next_beat_resolves() {
    let app = spawn_app().await;
    let hooks = Receiver::start().await;
    app.create_webhook(&hooks).await;
    let (status, m) = app
        .api(
            "POST",
            "/api/v1/monitors",
            Some(json!({ "name": "nightly backup", "kind": "heartbeat", "interval_s": 2, "grace_s": 1 })),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let beat_url = m["heartbeat_url"].as_str().expect("push URL is given").to_owned();
    let beat_path = beat_url.split_once(&app.addr.to_string()).unwrap().1.to_owned();

    // Beating every second keeps it up.
    for _ in 0..5 {
        let (status, body) = app.call("POST", &beat_path, None, None).await;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    }
    assert_eq!(app.monitor(&id).await["status"]["health"], "up");
    assert!(hooks.events().is_empty());

    // Silence: down after interval (2 s) + grace (1 s), evaluated on the next tick.
    let started = std::time::Instant::now();
    assert_eq!(hooks.wait_for_events(1, 10).await, ["opened"]);
    assert!(started.elapsed() >= std::time::Duration::from_millis(2000), "not before the grace period ends");
    let error = app.monitor(&id).await["status"]["last_error"].as_str().unwrap().to_owned();
    assert!(error.contains("no heartbeat since"), "{error}");

    let (status, _) = app.call("GET", &beat_path, None, None).await;
    assert_eq!(status, 200);
    app.drain_ingest().await; // the beat resolves the incident: its notice is due
    app.dispatch_alerts().await;
    assert_eq!(hooks.events(), ["opened", "resolved"]);

    let (status, body) = app.call("POST", "/api/v1/heartbeat/hb_not_a_real_token", None, None).await;
    assert_eq!(status, 404, "{body}");
}

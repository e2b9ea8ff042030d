//! Alert trust through a running engine (issue #16): a child checked before its parent waits
//! for the parent's re-check, and a maintenance window's end decides from fresh checks. The
//! rule against random failures in several regions is proven in `netpulse-core`
//! (`incident/noise_tests.rs`) and by `scenarios/random-noise.json` (`simulate.rs`).

use crate::harness::*;
use serde_json::json;
use std::sync::atomic::Ordering;

fn http_monitor(name: &str, target: &Target, interval_s: u32) -> serde_json::Value {
    json!({ "name": name, "kind": "http", "url": target.url(), "interval_s": interval_s, "timeout_ms": 800 })
}

/// Wait until the target has been checked `n` more times.
async fn checks(target: &Target, n: usize) {
    let goal = target.hits.load(Ordering::SeqCst) + n;
    wait_for(n as u64 * 3 + 5, "more checks", || async { (target.hits.load(Ordering::SeqCst) >= goal).then_some(()) })
        .await;
}

#[tokio::test]
async fn a_child_checked_before_its_parent_holds_its_page_until_the_parent_is_rechecked() {
    let app = spawn_app().await;
    let (router, service) = (Target::start().await, Target::start().await);
    let hooks = Receiver::start().await;
    app.create_webhook(&hooks).await;
    // The parent's next scheduled check is anywhere up to 10 minutes away; the child's every second.
    let parent = app.create_monitor(http_monitor("Router", &router, 600)).await;
    let mut child_body = http_monitor("Service behind the router", &service, 1);
    child_body["depends_on"] = json!(parent);
    let child = app.create_monitor(child_body).await;
    checks(&service, 2).await;

    let router_checks = router.hits.load(Ordering::SeqCst);
    router.set_status(503);
    service.set_status(503);
    assert_eq!(hooks.wait_for_events(1, 30).await, ["opened"], "the parent pages, after its re-checks");
    assert!(router.hits.load(Ordering::SeqCst) > router_checks, "the child's outage had the parent re-checked");
    wait_for(15, "the child's linked incident", || async {
        let linked = app.incidents(&child).await.first().map(|i| i["id"].as_str().unwrap().to_owned());
        let detail = match linked {
            Some(id) => app.api("GET", &format!("/api/v1/incidents/{id}"), None).await.1.to_string(),
            None => String::new(),
        };
        detail.contains("linked to inc_").then_some(())
    })
    .await;
    checks(&service, 3).await;
    let names: Vec<String> =
        hooks.received().iter().map(|r| r.json()["monitor"]["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["Router"], "only the parent pages; the child never pages ahead of it");
}

#[tokio::test]
async fn a_target_back_up_before_its_window_ends_pages_nobody_at_the_end() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let hooks = Receiver::start().await;
    app.create_webhook(&hooks).await;
    let id = app.create_monitor(http_monitor("Database", &target, 1)).await;
    checks(&target, 1).await;
    let path = format!("/api/v1/monitors/{id}/maintenance");
    let (status, w) = app.api("POST", &path, Some(json!({ "duration_s": 600, "reason": "database upgrade" }))).await;
    assert_eq!(status, 201, "{w}");
    target.set_status(503);
    checks(&target, 4).await;
    assert_eq!(app.monitor(&id).await["status"]["health"], "down", "confirmed down inside the window");

    // Back up, and the window ends before the recovery is confirmed by two checks.
    target.set_status(200);
    let (status, _) = app.api("DELETE", &format!("/api/v1/maintenance/{}", w["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 204);
    checks(&target, 4).await;
    app.dispatch_alerts().await;
    assert!(hooks.events().is_empty(), "the end decides from fresh checks: {:?}", hooks.events());
    assert!(app.incidents(&id).await.is_empty());
    assert_eq!(app.monitor(&id).await["status"]["health"], "up");
}

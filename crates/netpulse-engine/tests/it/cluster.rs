//! Two engine nodes, started in-process, on one PostgreSQL (through PgBouncer in transaction
//! mode) and one Redis stream: a whole outage/recovery cycle sends exactly one `opened` and
//! one `resolved` webhook; then the node scheduling the monitor dies (its tasks aborted,
//! nothing released) and the other takes its `schedule` partitions over within their TTL +
//! one refresh, and checks keep coming. A storm of monitors failing together reaches a channel as storm
//! notices each sent once, also from two nodes.

use crate::fleet::partitions::schedule_owner;
use crate::harness::*;
use netpulse_store::testing::{admin, PgDatabase};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Two engine nodes on one fresh PostgreSQL database (through PgBouncer) and one Redis
/// stream; the data directories live as long as the returned value.
async fn two_nodes(
    adjust: impl Fn(&mut netpulse_engine::config::Config),
) -> (TestApp, TestApp, PgDatabase, [tempfile::TempDir; 2], String) {
    let _ = admin().await; // fail early, with the hint, when PostgreSQL is down
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut config_a = test_config(dir_a.path());
    adjust(&mut config_a);
    let db = use_backends(&mut config_a, "pgbouncer", "redis").await.expect("a PostgreSQL database");
    let mut config_b = test_config(dir_b.path());
    adjust(&mut config_b);
    config_b.storage.backend = config_a.storage.backend;
    config_b.storage.postgres = config_a.storage.postgres.clone();
    config_b.queue = config_a.queue.clone();
    let prefix = config_a.queue.redis.prefix.clone();
    let (a, b) = (spawn_app_with(config_a).await, spawn_app_with(config_b).await);
    (a, b, db, [dir_a, dir_b], prefix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_two_nodes_alert_once_and_take_over_the_scheduler() {
    let (mut a, mut b, _db, _dirs, prefix) = two_nodes(|_| {}).await;
    let ids = [a.running.as_ref().unwrap().node_id.clone(), b.running.as_ref().unwrap().node_id.clone()];

    let target = Target::start().await;
    let hooks = Receiver::start().await;
    a.create_webhook(&hooks).await;
    let monitor =
        json!({ "name": "Checkout", "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 800 });
    let id = a.create_monitor(monitor).await;
    wait_for(20, "first checks", || async { (target.hits.load(Ordering::SeqCst) >= 3).then_some(()) }).await;

    target.set_status(503);
    assert_eq!(hooks.wait_for_events(1, 20).await, ["opened"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    target.set_status(200);
    assert_eq!(hooks.wait_for_events(2, 20).await, ["opened", "resolved"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(hooks.events(), ["opened", "resolved"], "exactly one notice per transition from two nodes");
    assert_eq!(b.incidents(&id).await.len(), 1, "one incident, seen from either node");

    let holder = schedule_owner(&prefix, &id).await.expect("a node schedules the monitor");
    let (dead, alive) = if holder == ids[0] { (&mut a, &mut b) } else { (&mut b, &mut a) };
    let survivor = if holder == ids[0] { ids[1].clone() } else { ids[0].clone() };
    dead.running.take().expect("running").abort();
    let died = Instant::now();
    let hits_at_death = target.hits.load(Ordering::SeqCst);
    wait_for(16, "the other node to take the monitor's schedule partition", || async {
        (schedule_owner(&prefix, &id).await.as_deref() == Some(survivor.as_str())).then_some(())
    })
    .await;
    let took = died.elapsed();
    let hits = target.hits.load(Ordering::SeqCst);
    wait_for(10, "checks after the takeover", || async {
        (target.hits.load(Ordering::SeqCst) >= hits + 3).then_some(())
    })
    .await;
    println!(
        "schedule partition taken over {} ms after its owner died ({hits_at_death} → {hits} hits)",
        took.as_millis()
    );
    assert!(took <= Duration::from_secs(14), "takeover took {took:?}");
    assert_eq!(alive.monitor(&id).await["status"]["health"], "up");
    alive.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_two_nodes_send_each_storm_notice_once() {
    let (a, b, _db, _dirs, _) = two_nodes(|c| (c.alerts.storm_threshold, c.alerts.storm_window_s) = (3, 2)).await;
    let target = Target::start().await;
    let hooks = Receiver::start().await;
    a.create_webhook(&hooks).await;
    for i in 0..6 {
        let body = json!({ "name": format!("svc-{i}"), "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 800 });
        b.create_monitor(body).await;
    }
    wait_for(20, "first checks", || async { (target.hits.load(Ordering::SeqCst) >= 12).then_some(()) }).await;
    target.set_status(503);
    wait_for(30, "a storm notice", || async { hooks.events().contains(&"storm".to_owned()).then_some(()) }).await;
    target.set_status(200);
    wait_for(30, "the storm summary", || async { hooks.events().contains(&"storm_over".to_owned()).then_some(()) })
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let keys: Vec<String> = hooks.received().iter().map(|r| r.header("x-netpulse-dedup-key")).collect();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "no notice twice from two nodes: {keys:?}");
    let events = hooks.events();
    assert_eq!(events.iter().filter(|e| *e == "storm_over").count(), 1, "{events:?}");
    assert!(events.iter().filter(|e| *e == "opened").count() < 3, "{events:?}");
}

/// Real-visitor beacons behind a load balancer: a page token served by one node is good on the
/// other (the source's key is in the store), once over both nodes, and a source's budget a
/// minute holds over both, though each node's own gate would let the beacon through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_a_page_token_is_good_once_on_any_node_and_the_budget_spans_them() {
    use crate::real_visitors::{beacon, fresh_token, CHROME, SITE};
    let (a, b, _db, _dirs, _) = two_nodes(|_| {}).await;
    let target = Target::start().await;
    let monitor =
        a.create_monitor(json!({ "name": "shop", "kind": "http", "url": target.url(), "interval_s": 3600 })).await;
    let sources = format!("/api/v1/monitors/{monitor}/visitor-sources");
    let source = |per_minute: u32| {
        let a = &a;
        let sources = sources.clone();
        async move {
            let body = json!({ "origins": [SITE], "sample_one_in": 1, "per_minute": per_minute });
            let (st, src) = a.api("POST", &sources, Some(body)).await;
            assert_eq!(st, 201, "{src}");
            src["site_key"].as_str().unwrap().to_owned()
        }
    };

    let roomy = source(50).await;
    let t = fresh_token(&a, &roomy).await;
    let (st, e, _) = beacon(&b, &roomy, SITE, CHROME, json!({ "t": t, "page_ms": 300 })).await;
    assert_eq!(st, 204, "served by a, accepted by b: {e}");
    let (st, e, _) = beacon(&a, &roomy, SITE, CHROME, json!({ "t": t, "page_ms": 300 })).await;
    assert_eq!((st, e["error"]["code"].as_str()), (403, Some("invalid_token")), "spent on b, refused on a: {e}");

    let tight = source(1).await;
    let (first, second) = (fresh_token(&a, &tight).await, fresh_token(&b, &tight).await);
    assert_eq!(beacon(&b, &tight, SITE, CHROME, json!({ "t": first })).await.0, 204);
    let (st, e, _) = beacon(&a, &tight, SITE, CHROME, json!({ "t": second })).await;
    assert_eq!((st, e["error"]["code"].as_str()), (429, Some("rate_limited")), "one a minute over both: {e}");

    // Refusals (token, rate) per source, as a node lists them.
    let refused = |listed: &serde_json::Value, key: &str| {
        let s = listed["data"].as_array().unwrap().iter().find(|s| s["site_key"] == key).unwrap();
        (s["dropped"]["token"].as_u64(), s["dropped"]["rate"].as_u64())
    };
    let want = ((Some(1), Some(0)), (Some(0), Some(1)));
    let (_, on_a) = a.api("GET", &sources, None).await;
    assert_eq!((refused(&on_a, &roomy), refused(&on_a, &tight)), want, "counted where refused: {on_a}");
    let (_, on_b) = b.api("GET", &sources, None).await;
    assert_eq!(on_b["last_24h"]["loads"], 2, "one view per source stored: {on_b}");
    assert_eq!((refused(&on_b, &roomy), refused(&on_b, &tight)), want, "and stored for all: {on_b}");
}

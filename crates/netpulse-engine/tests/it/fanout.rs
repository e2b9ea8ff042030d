//! Two engine nodes on one PostgreSQL (through PgBouncer) and one Redis, node B serving only
//! the API and the dashboard: a dashboard connected to B sees, live, what node A checks and
//! ingests (each result once, the incident opening), relayed through Redis pub/sub; and
//! B's regions API and page show the workers connected to A's gateway (shared through Redis),
//! the region going offline on B when A's only worker stops. After a Redis restart, B's
//! dashboard hears A again (the relay resubscribes).

use crate::harness::*;
use crate::queue::PrivateRedis;
use crate::workers::regions_page::{cell, page, region, row, section};
use crate::workers::{bundle, results, worker};
use netpulse_engine::roles::Roles;
use netpulse_pipeline::ca::Ca;
use netpulse_store::testing::PgDatabase;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Node A (every role) and node B (`roles`), sharing A's store and queue (on the shared
/// Redis, or at `redis` when given).
pub async fn two_nodes(
    a_config: netpulse_engine::config::Config,
    roles: &str,
    redis: Option<String>,
) -> (TestApp, TestApp, PgDatabase) {
    let dir_b = tempfile::tempdir().unwrap();
    let mut config_a = a_config;
    let db = use_backends(&mut config_a, "pgbouncer", "redis").await.expect("a PostgreSQL database");
    if let Some(url) = redis {
        config_a.queue.redis.url = netpulse_store::DatabaseUrl::new(url);
    }
    let mut config_b = test_config(dir_b.path());
    config_b.storage.backend = config_a.storage.backend;
    config_b.storage.postgres = config_a.storage.postgres.clone();
    config_b.queue = config_a.queue.clone();
    config_b.roles = Roles::parse(roles).unwrap();
    let a = spawn_app_with(config_a).await;
    let mut b = spawn_app_with(config_b).await;
    b.keep_dir(dir_b);
    (a, b, db)
}

/// Every event (name, data) an SSE client of `addr` has received so far.
#[derive(Clone, Default)]
pub struct LiveStream(Arc<Mutex<Vec<(String, Value)>>>);

impl LiveStream {
    /// Open `GET /events` with the owner token and collect in the background.
    pub async fn open(addr: SocketAddr) -> Self {
        Self::open_at(addr, "/events").await
    }

    /// [`LiveStream::open`] at `path` (`/events?monitor=…`).
    pub async fn open_at(addr: SocketAddr, path: &str) -> Self {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!("GET {path} HTTP/1.1\r\nhost: engine\r\nauthorization: Bearer {TOKEN}\r\n\r\n");
        tcp.write_all(head.as_bytes()).await.unwrap();
        let stream = LiveStream::default();
        let events = stream.0.clone();
        tokio::spawn(async move {
            let (mut lines, mut kind) = (BufReader::new(tcp).lines(), String::new());
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(k) = line.strip_prefix("event: ") {
                    kind = k.to_owned();
                } else if let Some(data) = line.strip_prefix("data: ") {
                    let v = serde_json::from_str(data).unwrap_or(Value::Null);
                    events.lock().unwrap().push((kind.clone(), v));
                }
            }
        });
        stream
    }

    pub fn of_kind(&self, kind: &str) -> Vec<Value> {
        self.0.lock().unwrap().iter().filter(|(k, _)| k == kind).map(|(_, v)| v.clone()).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_a_dashboard_on_another_node_sees_results_and_incidents_once() {
    let dir_a = tempfile::tempdir().unwrap();
    let (mut a, mut b, _db) = two_nodes(test_config(dir_a.path()), "api,dashboard", None).await;
    let b_live = b.running.as_ref().unwrap().live.clone();
    let stream = LiveStream::open(b.addr).await;
    wait_for(5, "the event stream on B open", || async { b_live.has_subscribers().then_some(()) }).await;

    let target = Target::start().await;
    let id = a
        .create_monitor(json!({ "name": "Checkout", "kind": "http", "url": target.url(), "interval_s": 1,
            "timeout_ms": 800 }))
        .await;
    wait_for(5, "the new monitor, created on A, live on B", || async {
        stream.of_kind("monitor").iter().any(|m| m["monitor_id"] == id.as_str()).then_some(())
    })
    .await;
    let first = wait_for(20, "a result checked on A, live on B", || async {
        stream.of_kind("result").first().map(|r| r["id"].as_str().unwrap().to_owned())
    })
    .await;
    let stored = wait_for(20, "3 results stored", || async {
        let (_, v) = b.api("GET", &format!("/api/v1/monitors/{id}/results?limit=100"), None).await;
        let ids: Vec<String> = v["data"].as_array()?.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
        (ids.len() >= 3 && ids.contains(&first)).then_some(ids)
    })
    .await;
    let shown = stream.of_kind("result");
    for r in stored.iter().filter(|r| shown.iter().any(|s| s["id"] == r.as_str())) {
        assert_eq!(shown.iter().filter(|s| s["id"] == r.as_str()).count(), 1, "result {r} shown once on B");
    }
    assert!(shown.iter().all(|s| s["monitor_id"] == id.as_str() && s["region"] == "local"), "{shown:?}");

    target.set_status(503);
    let opened = wait_for(20, "the incident opening, live on B", || async {
        stream.of_kind("incident").into_iter().find(|i| i["change"] == "opened")
    })
    .await;
    assert_eq!(opened["monitor_id"], id.as_str());
    let incidents = b.incidents(&id).await;
    assert_eq!(opened["incident_id"], incidents[0]["id"], "the incident B's API shows");
    wait_for(5, "the monitor down, live on B", || async {
        stream.of_kind("health").iter().any(|h| h["health"] == "down").then_some(())
    })
    .await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_an_api_only_node_shows_the_workers_of_a_gateway_node() {
    let dir_a = tempfile::tempdir().unwrap();
    Ca::at(dir_a.path()).init().unwrap();
    let mut config_a = test_config(dir_a.path());
    config_a.gateway.enabled = true;
    config_a.gateway.listen = "127.0.0.1:0".parse().unwrap();
    config_a.gateway.regions = vec!["eu".into()];
    config_a.gateway.lease_wait_ms = 500;
    let (mut a, mut b, _db) = two_nodes(config_a, "api,dashboard", None).await;
    bundle(&dir_a.path().join("b-eu"), dir_a.path(), dir_a.path(), "eu", "eu-1");
    let eu = worker(&a, &dir_a.path().join("b-eu"), false);
    let target = Target::start().await;
    let id = a
        .create_monitor(
            json!({"name": "site", "kind": "http", "url": target.url(), "interval_s": 1, "regions": ["eu"]}),
        )
        .await;

    let view = wait_for(20, "eu-1 live with 3 accepted results, seen from B", || async {
        let v = region(&b, TOKEN, "eu").await;
        let delivered = v["workers"][0]["results_total"].as_u64().unwrap_or(0);
        (v["status"] == "online" && delivered >= 3).then_some(v)
    })
    .await;
    let w = &view["workers"][0];
    assert_eq!((w["name"].as_str(), w["live"].as_bool()), (Some("eu-1"), Some(true)), "{view}");
    assert_eq!(w["version"], env!("CARGO_PKG_VERSION"), "{view}");
    assert!(w["in_flight"].is_u64() && view["results_per_s"].as_f64().unwrap() > 0.0, "{view}");
    let (status, html) = page(&b, "/regions", TOKEN).await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(cell(row(section(&html, "eu"), "eu-1"), "live"), "live", "{html}");

    eu.shutdown().await;
    wait_for(15, "eu offline on B once A's only worker stopped", || async {
        let v = region(&b, TOKEN, "eu").await;
        (v["status"] == "offline" && v["workers"][0]["live"] == false).then_some(())
    })
    .await;
    wait_for(10, "B's count of eu-1's accepted results = what is stored", || async {
        let stored = results(&b, &id).await.iter().filter(|r| r["worker"] == "eu/eu-1").count() as u64;
        (region(&b, TOKEN, "eu").await["workers"][0]["results_total"] == stored).then_some(())
    })
    .await;
    assert_ne!(b.monitor(&id).await["status"]["health"], "down", "an offline region marks nothing down");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_live_events_reach_the_other_node_again_after_redis_restarts() {
    let mut redis = PrivateRedis::start();
    let dir_a = tempfile::tempdir().unwrap();
    let (mut a, mut b, _db) = two_nodes(test_config(dir_a.path()), "api,dashboard", Some(redis.url())).await;
    let b_live = b.running.as_ref().unwrap().live.clone();
    let stream = LiveStream::open(b.addr).await;
    wait_for(5, "the event stream on B open", || async { b_live.has_subscribers().then_some(()) }).await;
    let target = Target::start().await;
    a.create_monitor(json!({ "name": "Checkout", "kind": "http", "url": target.url(), "interval_s": 1 })).await;
    wait_for(20, "a result live on B", || async { (!stream.of_kind("result").is_empty()).then_some(()) }).await;

    redis.kill();
    redis.restart();
    let before = stream.of_kind("result").len();
    wait_for(30, "results live on B again after the restart", || async {
        (stream.of_kind("result").len() >= before + 3).then_some(())
    })
    .await;
    b.stop().await;
    a.stop().await;
}

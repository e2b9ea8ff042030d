//! Two engine nodes on one PostgreSQL (through PgBouncer) and one Redis, node B serving only
//! the API and the dashboard: a dashboard connected to B sees, live, what node A checks and
//! ingests (each result once, the incident opening), relayed through Redis pub/sub.

use crate::harness::*;
use crate::store::backends::PgDatabase;
use netpulse_engine::roles::Roles;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Node A (every role) and node B (`roles`), sharing A's store and queue.
pub async fn two_nodes(a_config: netpulse_engine::config::Config, roles: &str) -> (TestApp, TestApp, PgDatabase) {
    let dir_b = tempfile::tempdir().unwrap();
    let mut config_a = a_config;
    let db = use_backends(&mut config_a, "pgbouncer", "redis").await.expect("a PostgreSQL database");
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
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!("GET /events HTTP/1.1\r\nhost: engine\r\nauthorization: Bearer {TOKEN}\r\n\r\n");
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
    let (mut a, mut b, _db) = two_nodes(test_config(dir_a.path()), "api,dashboard").await;
    let b_live = b.running.as_ref().unwrap().live.clone();
    let stream = LiveStream::open(b.addr).await;
    wait_for(5, "the event stream on B open", || async { b_live.has_subscribers().then_some(()) }).await;

    let target = Target::start().await;
    let id = a
        .create_monitor(json!({ "name": "Checkout", "kind": "http", "url": target.url(), "interval_s": 1,
            "timeout_ms": 800 }))
        .await;
    assert_eq!(stream.of_kind("monitor")[0]["monitor_id"], id.as_str(), "the new monitor, created on A");
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

//! With the in-process queue, the gateway acknowledges a worker's results only once ingest
//! stored them: an engine that crashes while results sit in its memory loses nothing,
//! because the worker still holds them and sends them to the restarted engine, which
//! stores each once.
//!
//! The crash: the engine runs on a tokio runtime of its own that the test shuts down while
//! a write lock the test holds on the SQLite file keeps ingest from committing.
//!
//! Deliberately SQLite + the in-process queue whatever `NETPULSE_TEST_DB`/`NETPULSE_TEST_QUEUE`
//! say (`test_config`, not the harness's backend choice): the commit-then-ack path exists only
//! with the in-process queue (with Redis the gateway acks at XADD), and the SQLite write lock
//! is what holds ingest back. `scripts/test.sh` leaves it out of the PgBouncer + Redis leg.

use super::{all_results, bundle, ids_of, worker_at};
use crate::harness::{app_of, spawn_app_with, test_config, wait_for, Target};
use netpulse_engine::config::Config;
use netpulse_pipeline::ca::Ca;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn config(dir: &Path, gateway_port: u16) -> Config {
    let mut c = test_config(dir);
    c.gateway.enabled = true;
    c.gateway.listen = ([127, 0, 0, 1], gateway_port).into();
    c.gateway.regions = vec!["eu".into()];
    c.gateway.lease_wait_ms = 500;
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_crash_before_ingest_commits_loses_no_result_a_worker_sent() {
    let tmp = tempfile::tempdir().unwrap();
    Ca::at(tmp.path()).init().unwrap();
    let port = free_port();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let running = rt.spawn(netpulse_engine::app::start(config(tmp.path(), port))).await.unwrap().unwrap();
    let mut first = app_of(running);
    let target = Target::start().await;
    let b = tmp.path().join("b-eu");
    bundle(&b, tmp.path(), tmp.path(), "eu", "eu-1");
    let w = worker_at(&format!("127.0.0.1:{port}"), &b);
    let id = first
        .create_monitor(json!({"name": "site", "kind": "http", "url": target.url(), "interval_s": 1,
            "regions": ["eu"]}))
        .await;
    wait_for(20, "results stored before the crash", || async {
        (all_results(&first, &id).await.len() >= 2).then_some(())
    })
    .await;

    // Ingest cannot commit from here on (and the API, which writes, is not called).
    let lock = rusqlite::Connection::open(tmp.path().join("netpulse.db")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut bus = first.running.as_ref().unwrap().live.subscribe();
    let mut received = HashSet::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while received.len() < 3 {
            let e = bus.recv().await.unwrap();
            if e.kind == "result" {
                let v: Value = serde_json::from_str(&e.json).unwrap();
                received.insert(v["id"].as_str().unwrap().to_owned());
            }
        }
    })
    .await
    .expect("the gateway received results while ingest was blocked");
    let held: HashSet<String> = w.outbox.peek(1000).iter().map(|e| e.result.id.as_str().to_owned()).collect();
    assert!(received.is_subset(&held), "not acknowledged before they were stored: the worker still holds them");

    rt.shutdown_background(); // the crash: queued results and the blocked ingest are gone
    drop(first.running.take());
    // Past the store's 5 s busy timeout, so the dead engine's blocked write has given up.
    tokio::time::sleep(Duration::from_secs(6)).await;
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);

    wait_for(10, "the dead engine's gateway port free", || async {
        std::net::TcpListener::bind(("127.0.0.1", port)).ok().map(drop)
    })
    .await;
    let second = spawn_app_with(config(tmp.path(), port)).await;
    let stored = wait_for(60, "every received result stored after the restart", || async {
        let ids = ids_of(&all_results(&second, &id).await); // asserts no id is stored twice
        (received.iter().all(|r| ids.contains(r)) && w.outbox.is_empty()).then_some(ids)
    })
    .await;
    assert!(received.is_subset(&stored));
    assert!(w.stats.acked.load(Ordering::SeqCst) > 0);
    w.shutdown().await;
}

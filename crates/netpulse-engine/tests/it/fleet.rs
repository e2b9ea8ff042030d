//! Regional jobs through Redis with two engine nodes, started in-process on one PostgreSQL
//! (through PgBouncer in transaction mode) and one Redis, both with a gateway for region `eu`
//! and one CA: a worker connected to the node that does not schedule its monitor is served,
//! each of its results stored once; when the scheduling node dies (the other takes its
//! `schedule` partitions) it keeps being served without reconnecting; a job leased by a worker that then dies goes to a worker on the other node
//! once, after `queue.redis.job_lease_ms`, and its result is stored once; a worker given both
//! gateways moves to the other one when the node it is on dies. Always PostgreSQL
//! and Redis (the job streams exist only with Redis). The streams' contract is in [`jobs`];
//! the fleet load test at a small scale, audited, in [`loadtest`].

mod jobs;
mod loadtest;
pub(crate) mod partitions;

use crate::harness::*;
use crate::workers::{all_results, bundle, gateway, lease_body, raw, WIRE};
use netpulse_checker::worker::{Worker, WorkerConfig};
use netpulse_checker::{HttpClient, ProbeContext, Resolver, SsrfGuard};
use netpulse_pipeline::ca::Ca;
use netpulse_store::testing::{admin, PgDatabase};
use partitions::schedule_owner;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Two nodes with gateways for `eu` sharing one CA (in `dir_a`, copied to `dir_b` after the
/// worker bundles are issued into `bundles`), one database and one Redis prefix.
async fn two_gateways(bundles: &[(&Path, &str)]) -> (TestApp, TestApp, PgDatabase, [tempfile::TempDir; 2], String) {
    let _ = admin().await; // fail early, with the hint, when PostgreSQL is down
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    Ca::at(dir_a.path()).init().unwrap();
    for (dir, name) in bundles {
        bundle(dir, dir_a.path(), dir_a.path(), "eu", name);
    }
    let ca_b = dir_b.path().join("ca");
    std::fs::create_dir_all(&ca_b).unwrap();
    for f in std::fs::read_dir(dir_a.path().join("ca")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), ca_b.join(f.file_name())).unwrap();
    }
    let gatewayed = |dir: &Path| {
        let mut c = test_config(dir);
        c.gateway.enabled = true;
        c.gateway.listen = "127.0.0.1:0".parse().unwrap();
        c.gateway.regions = vec!["eu".into()];
        c.gateway.lease_wait_ms = 500;
        c
    };
    let mut config_a = gatewayed(dir_a.path());
    let db = use_backends(&mut config_a, "pgbouncer", "redis").await.expect("a PostgreSQL database");
    config_a.queue.redis.job_lease_ms = 2_000;
    let mut config_b = gatewayed(dir_b.path());
    config_b.storage.backend = config_a.storage.backend;
    config_b.storage.postgres = config_a.storage.postgres.clone();
    config_b.queue = config_a.queue.clone();
    let prefix = config_a.queue.redis.prefix.clone();
    let (a, b) = (spawn_app_with(config_a).await, spawn_app_with(config_b).await);
    (a, b, db, [dir_a, dir_b], prefix)
}

fn worker_at(app: &TestApp, bundle_dir: &Path) -> Worker {
    worker_on(&gateway(app).to_string(), bundle_dir)
}

/// A worker on `engine`: one gateway or several, comma-separated.
fn worker_on(engine: &str, bundle_dir: &Path) -> Worker {
    Worker::start(WorkerConfig {
        engine: engine.to_owned(),
        server_name: "127.0.0.1".into(),
        bundle: bundle_dir.to_path_buf(),
        concurrency: 8,
        buffer_dir: bundle_dir.join("buffer"),
        buffer_max: 1000,
        lease_wait: Duration::from_millis(500),
        synthetic: false,
        probe: ProbeContext::new(HttpClient::new(SsrfGuard::allow_all(), Resolver::from_system())),
    })
    .unwrap()
}

fn node_id(app: &TestApp) -> String {
    app.running.as_ref().unwrap().node_id.clone()
}

/// The `eu` results stored for `monitor` by worker `eu/<name>` (each id once: `all_results`).
async fn eu_results(app: &TestApp, monitor: &str, name: &str) -> Vec<Value> {
    let worker = format!("eu/{name}");
    all_results(app, monitor).await.into_iter().filter(|r| r["worker"] == worker.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_on_the_node_that_does_not_schedule_is_served_and_after_the_scheduler_dies() {
    let bundles = tempfile::tempdir().unwrap();
    let (mut a, mut b, _db, _dirs, prefix) = two_gateways(&[(bundles.path(), "eu-1")]).await;
    let target = Target::start().await;
    let body = json!({"name": "site", "kind": "http", "url": target.url(), "interval_s": 1, "regions": ["eu"]});
    let id = a.create_monitor(body).await;
    let holder = wait_for(20, "a node to schedule the monitor", || schedule_owner(&prefix, &id)).await;
    let (sched, other) = if holder == node_id(&a) { (&mut a, &mut b) } else { (&mut b, &mut a) };
    let w = worker_at(other, bundles.path());
    wait_for(20, "3 results from the worker on the other node", || async {
        (eu_results(other, &id, "eu-1").await.len() >= 3).then_some(())
    })
    .await;

    sched.running.take().expect("running").abort();
    let survivor = node_id(other);
    wait_for(16, "the survivor to take the monitor's partition", || async {
        (schedule_owner(&prefix, &id).await.as_deref() == Some(survivor.as_str())).then_some(())
    })
    .await;
    let before = eu_results(other, &id, "eu-1").await.len();
    wait_for(15, "results after the takeover", || async {
        (eu_results(other, &id, "eu-1").await.len() >= before + 3).then_some(())
    })
    .await;
    assert!(w.stats.connected.load(Ordering::SeqCst), "served all along on its one connection");
    w.shutdown().await;
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_leased_by_a_worker_that_dies_goes_to_another_node_once() {
    let bundles = tempfile::tempdir().unwrap();
    let (dying, live) = (bundles.path().join("dying"), bundles.path().join("live"));
    let (mut a, b, _db, _dirs, _) = two_gateways(&[(&dying, "eu-dying"), (&live, "eu-live")]).await;
    let target = Target::start().await;
    let body = json!({"name": "site", "kind": "http", "url": target.url(), "interval_s": 10, "regions": ["eu"]});
    let id = a.create_monitor(body).await;
    // The dying worker leases on node a, then is never heard from again.
    let job = wait_for(25, "the dying worker to lease the monitor's job", || async {
        let (status, lease) =
            raw(gateway(&a), &dying, "/v1/lease", &[("x-netpulse-wire", WIRE)], &lease_body(500)).await;
        assert_eq!(status, 200, "{lease}");
        lease["jobs"].as_array().and_then(|j| j.first().cloned())
    })
    .await;
    let due = netpulse_core::Timestamp::from_millis(job["due_at"].as_i64().expect("due_at in ms"));
    let next_due = due.plus_ms(10_000).to_rfc3339();
    let w = worker_at(&b, &live);
    // Handed out again after the 2 s lease, long before the next check is due (10 s).
    let redone = wait_for(9, "the job to reach the worker on node b", || async {
        let rs = eu_results(&b, &id, "eu-live").await;
        rs.into_iter().find(|r| started(r) < next_due.as_str())
    })
    .await;
    assert!(started(&redone) >= due.to_rfc3339().as_str(), "{redone}");
    tokio::time::sleep(Duration::from_millis(2_500)).await; // one more lease: no third hand-out
    b.drain_ingest().await;
    let slot: Vec<Value> = all_results(&b, &id).await.into_iter().filter(|r| started(r) < next_due.as_str()).collect();
    assert_eq!(slot.len(), 1, "the job's result stored once: {slot:?}");
    w.shutdown().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_given_both_gateways_moves_to_the_other_when_its_node_dies() {
    let bundles = tempfile::tempdir().unwrap();
    let (mut a, mut b, _db, _dirs, prefix) = two_gateways(&[(bundles.path(), "eu-1")]).await;
    let target = Target::start().await;
    let body = json!({"name": "site", "kind": "http", "url": target.url(), "interval_s": 1, "regions": ["eu"]});
    let id = a.create_monitor(body).await;
    let w = worker_on(&format!("{},{}", gateway(&a), gateway(&b)), bundles.path());
    wait_for(20, "3 results through node a's gateway", || async {
        (eu_results(&b, &id, "eu-1").await.len() >= 3).then_some(())
    })
    .await;
    assert!(w.stats.connected.load(Ordering::SeqCst));

    a.running.take().expect("running").abort(); // its gateway closes every worker connection
    let survivor = node_id(&b);
    wait_for(16, "node b to schedule the monitor", || async {
        (schedule_owner(&prefix, &id).await.as_deref() == Some(survivor.as_str())).then_some(())
    })
    .await;
    let before = eu_results(&b, &id, "eu-1").await.len();
    wait_for(15, "results leased and delivered through node b's gateway", || async {
        (eu_results(&b, &id, "eu-1").await.len() >= before + 3).then_some(())
    })
    .await;
    assert!(w.stats.connected.load(Ordering::SeqCst), "leasing from node b");
    w.shutdown().await;
    b.stop().await;
}

/// When a stored result started (RFC 3339 with milliseconds, so strings sort as times).
fn started(r: &Value) -> &str {
    r["started_at"].as_str().unwrap()
}

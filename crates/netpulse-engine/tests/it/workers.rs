//! Regional workers against the real engine over real mTLS sockets on 127.0.0.1: checks go
//! to the right regions with the identity of the certificate, a region failing alone opens
//! no incident under a majority quorum, and wrong-CA or revoked certificates get nothing.
//! A killed worker loses nothing it had an ack for, a worker claiming another region gets
//! its certificate's, another wire version gets 409, and a region without workers is
//! offline without turning its monitors down. The 30 s partition is in [`partition`], the
//! regions page and worker health in [`regions_page`], acknowledgements after an engine
//! crash in [`durable`].

mod durable;
mod partition;
pub(crate) mod regions_page;

use crate::harness::{test_env, wait_for, Receiver, Target, TestApp, TestEnv};
use netpulse_checker::worker::{Worker, WorkerConfig};
use netpulse_checker::{HttpClient, ProbeContext, Resolver, SsrfGuard};
use netpulse_core::wire::{ResultBatch, ResultEnvelope, WIRE_HEADER, WIRE_VERSION};
use netpulse_core::{CheckResult, Outcome, Provenance, ResultId, Timings};
use netpulse_pipeline::ca::Ca;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An engine with the gateway on, on the backends the harness chose; the environment holds
/// its data dir (and CA) and database.
async fn engine(regions: &[&str]) -> (TestApp, TestEnv) {
    let mut env = test_env().await;
    Ca::at(env.path()).init().unwrap();
    let c = &mut env.config;
    c.gateway.enabled = true;
    c.gateway.listen = "127.0.0.1:0".parse().unwrap();
    c.gateway.regions = regions.iter().map(|r| r.to_string()).collect();
    c.gateway.lease_wait_ms = 500;
    (env.spawn().await, env)
}

/// Write a bundle: the worker certificate of `issuer`, trusting the engine CA of `engine`.
pub(crate) fn bundle(dir: &Path, issuer: &Path, engine: &Path, region: &str, name: &str) {
    let (cert, key, _) = Ca::at(issuer).issue(region, name, 30).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("worker.pem"), cert).unwrap();
    std::fs::write(dir.join("worker.key"), key).unwrap();
    std::fs::write(dir.join("ca.pem"), Ca::at(engine).cert_pem().unwrap()).unwrap();
}

/// A worker from `bundle_dir`; `blocked` workers cannot reach loopback targets (their checks fail).
pub(crate) fn worker(app: &TestApp, bundle_dir: &Path, blocked: bool) -> Worker {
    let guard = if blocked { SsrfGuard::strict(vec![]) } else { SsrfGuard::allow_all() };
    worker_with(&gateway(app).to_string(), bundle_dir, guard)
}

/// An engine serving region `eu` with one unblocked worker, `eu-1`, running in it.
pub(crate) async fn engine_with_eu_worker() -> (TestApp, TestEnv, Worker) {
    let (app, env) = engine(&["eu"]).await;
    let dir = env.path().join("b-eu");
    bundle(&dir, env.path(), env.path(), "eu", "eu-1");
    let eu = worker(&app, &dir, false);
    (app, env, eu)
}

/// The first result of monitor `id` checked in `region`.
pub(crate) async fn first_result_from(app: &TestApp, id: &str, region: &str) -> Value {
    wait_for(20, &format!("a result from the {region} worker"), || async {
        results(app, id).await.into_iter().find(|r| r["region"] == region)
    })
    .await
}

/// Workers `eu-1` (blocked if `eu_blocked`) and `us-1`, their bundles from the CA in `env`.
pub(crate) fn eu_and_us(app: &TestApp, env: &TestEnv, eu_blocked: bool) -> (Worker, Worker) {
    let (eu, us) = (env.path().join("b-eu"), env.path().join("b-us"));
    bundle(&eu, env.path(), env.path(), "eu", "eu-1");
    bundle(&us, env.path(), env.path(), "us", "us-1");
    (worker(app, &eu, eu_blocked), worker(app, &us, false))
}

/// An unblocked worker dialing `engine` (the gateway or a relay in front of it).
fn worker_at(engine: &str, bundle_dir: &Path) -> Worker {
    worker_with(engine, bundle_dir, SsrfGuard::allow_all())
}

fn worker_with(engine: &str, bundle_dir: &Path, guard: SsrfGuard) -> Worker {
    Worker::start(WorkerConfig {
        engine: engine.to_owned(),
        server_name: "127.0.0.1".into(),
        bundle: bundle_dir.to_path_buf(),
        concurrency: 8,
        buffer_dir: bundle_dir.join("buffer"),
        buffer_max: 1000,
        lease_wait: Duration::from_millis(500),
        synthetic: false,
        probe: ProbeContext::new(HttpClient::new(guard, Resolver::from_system())),
    })
    .unwrap()
}

pub(crate) async fn results(app: &TestApp, monitor: &str) -> Vec<Value> {
    let (_, json) = app.api("GET", &format!("/api/v1/monitors/{monitor}/results?limit=1000"), None).await;
    json["data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn checks_run_in_each_region_and_one_failing_region_opens_no_incident() {
    let (app, tmp) = engine(&["eu", "us"]).await;
    let target = Target::start().await;
    let (eu, us) = eu_and_us(&app, &tmp, true); // eu cannot reach the target
    let id = app
        .create_monitor(json!({"name": "site", "kind": "http", "url": target.url(), "interval_s": 1,
            "regions": ["eu", "us", "local"]}))
        .await;
    let rs = wait_for(20, "results from eu, us and local (3 each)", || async {
        let rs = results(&app, &id).await;
        let n = |r: &str| rs.iter().filter(|x| x["region"] == r).count();
        (n("eu") >= 3 && n("us") >= 3 && n("local") >= 3).then_some(rs)
    })
    .await;
    for r in &rs {
        let (region, worker, outcome) = (r["region"].as_str().unwrap(), &r["worker"], &r["outcome"]);
        match region {
            "eu" => assert!(worker == "eu/eu-1" && outcome != "up", "{r}"),
            "us" => assert!(worker == "us/us-1" && outcome == "up", "{r}"),
            _ => assert_eq!(worker, "engine/local", "{r}"),
        }
    }
    assert!(app.incidents(&id).await.is_empty(), "eu alone is 1 of 3 regions: below the majority");
    let (status, regions) = app.api("GET", "/api/v1/regions", None).await;
    assert_eq!(status, 200);
    let eu_view = regions["data"].as_array().unwrap().iter().find(|r| r["region"] == "eu").unwrap().clone();
    assert_eq!(eu_view["status"], "online", "{regions}");
    assert_eq!(eu_view["workers"][0]["name"], "eu-1");
    eu.shutdown().await;
    us.shutdown().await;
}

#[tokio::test]
async fn certificates_of_another_ca_or_revoked_get_nothing() {
    let (app, tmp) = engine(&["eu"]).await;
    let rogue_ca = tempfile::tempdir().unwrap();
    Ca::at(rogue_ca.path()).init().unwrap();
    bundle(&tmp.path().join("rogue"), rogue_ca.path(), tmp.path(), "eu", "eu-9");
    bundle(&tmp.path().join("good"), tmp.path(), tmp.path(), "eu", "eu-1");
    let rogue = worker(&app, &tmp.path().join("rogue"), false);
    let good = worker(&app, &tmp.path().join("good"), false);
    wait_for(10, "the good worker to lease", || async {
        (good.stats.leases.load(Ordering::SeqCst) >= 2).then_some(())
    })
    .await;
    assert_eq!(rogue.stats.leases.load(Ordering::SeqCst), 0, "a certificate of another CA is refused");

    Ca::at(tmp.path()).revoke(None, Some("eu-1")).unwrap();
    wait_for(10, "the revoked worker to be cut off", || async {
        (!good.stats.connected.load(Ordering::SeqCst)).then_some(())
    })
    .await;
    let leases = good.stats.leases.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(good.stats.leases.load(Ordering::SeqCst), leases, "no lease after revocation");
    rogue.shutdown().await;
    good.shutdown().await;
}

/// Every stored result of `monitor` (the API pages by 1000), asserting no id appears twice.
pub(crate) async fn all_results(app: &TestApp, monitor: &str) -> Vec<Value> {
    let rs = results(app, monitor).await;
    assert!(rs.len() < 1000, "more results than one page");
    let mut ids = HashSet::new();
    for r in &rs {
        assert!(ids.insert(r["id"].as_str().unwrap().to_owned()), "result {} stored twice", r["id"]);
    }
    rs
}

fn ids_of(rs: &[Value]) -> HashSet<String> {
    rs.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

pub(crate) fn gateway(app: &TestApp) -> SocketAddr {
    app.running.as_ref().unwrap().gateway_addr.unwrap()
}

fn duplicates(app: &TestApp) -> u64 {
    app.running.as_ref().unwrap().metrics.results_duplicate.get()
}

/// One raw HTTP/1.1 request over mTLS with the certificate of `bundle_dir` (the connection
/// closes after the answer): status and JSON body.
pub(crate) async fn raw(
    addr: SocketAddr,
    bundle_dir: &Path,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, Value) {
    let tls = Arc::new(netpulse_checker::worker::link::client_config(bundle_dir).unwrap());
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut s = tokio_rustls::TlsConnector::from(tls).connect(name, tcp).await.unwrap();
    let body = body.to_string();
    let mut head = format!("POST {path} HTTP/1.1\r\nhost: gateway\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    s.write_all(format!("{head}\r\n{body}").as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await; // a missing close_notify is fine: we have the answer
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer: {text}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

pub(crate) const WIRE: &str = "1";

pub(crate) fn lease_body(wait_ms: u32) -> Value {
    json!({"version": WIRE_VERSION, "max_jobs": 100, "wait_ms": wait_ms, "in_flight": 0, "agent": "test"})
}

#[tokio::test]
async fn a_worker_killed_mid_run_loses_no_acknowledged_result() {
    let (app, tmp) = engine(&["eu"]).await;
    let target = Target::start().await;
    target.set_delay_ms(300); // checks are in flight when the worker dies
    let b = tmp.path().join("b-eu");
    bundle(&b, tmp.path(), tmp.path(), "eu", "eu-1");
    // The worker gets a runtime of its own: shutting that down kills every task it has, at
    // whatever point each one is (mid-check, mid-send, between send and ack).
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let w = {
        let _in = rt.enter();
        worker_at(&gateway(&app).to_string(), &b)
    };
    let id = app
        .create_monitor(
            json!({"name": "site", "kind": "http", "url": target.url(), "interval_s": 1, "regions": ["eu"]}),
        )
        .await;
    // Every id seen waiting in the outbox; one gone from it was acknowledged by the gateway.
    let mut seen = HashSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while w.stats.acked.load(Ordering::SeqCst) < 5 || w.stats.in_flight.load(Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "the worker never had 5 acks and a check in flight");
        seen.extend(w.outbox.peek(1000).into_iter().map(|e| e.result.id.as_str().to_owned()));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    seen.extend(w.outbox.peek(1000).into_iter().map(|e| e.result.id.as_str().to_owned()));
    rt.shutdown_background();
    let acked_count = w.stats.acked.load(Ordering::SeqCst);
    let waiting: HashSet<String> = w.outbox.peek(1000).into_iter().map(|e| e.result.id.as_str().to_owned()).collect();
    let acked: Vec<&String> = seen.iter().filter(|i| !waiting.contains(*i)).collect();
    assert!(!acked.is_empty(), "some results were observed before their ack");
    // Acknowledged means accepted by the queue (with Redis) or already stored (in-process).
    app.drain_ingest().await;
    let stored = ids_of(&all_results(&app, &id).await);
    let lost: Vec<&String> = acked.iter().copied().filter(|a| !stored.contains(*a)).collect();
    assert!(lost.is_empty(), "every acknowledged result stored; missing: {lost:?}");
    assert!(stored.len() as u64 >= acked_count, "{} stored < {acked_count} acknowledged", stored.len());
    drop(w);
}

#[tokio::test]
async fn a_worker_claiming_another_region_gets_only_its_certificates_region() {
    let (app, tmp) = engine(&["eu", "us"]).await;
    let target = Target::start().await;
    let b = tmp.path().join("b-eu");
    bundle(&b, tmp.path(), tmp.path(), "eu", "eu-1");
    let eu_mon = app
        .create_monitor(json!({"name": "eu", "kind": "http", "url": target.url(), "interval_s": 1, "regions": ["eu"]}))
        .await;
    let us_mon = app
        .create_monitor(json!({"name": "us", "kind": "http", "url": target.url(), "interval_s": 1, "regions": ["us"]}))
        .await;
    let mut body = lease_body(1000);
    body["region"] = json!("us");
    let claims = [("x-netpulse-wire", WIRE), ("x-netpulse-region", "us"), ("x-region", "us")];
    let mut jobs = Vec::new();
    for _ in 0..4 {
        let (status, lease) = raw(gateway(&app), &b, "/v1/lease", &claims, &body).await;
        assert_eq!(status, 200, "{lease}");
        assert_eq!(lease["region"], "eu", "{lease}");
        assert_eq!(lease["worker"], "eu/eu-1", "{lease}");
        jobs.extend(lease["jobs"].as_array().unwrap().iter().cloned());
    }
    assert!(!jobs.is_empty(), "the eu monitor's checks were leased");
    for j in &jobs {
        assert_eq!(j["region"], "eu", "{j}");
        assert_eq!(j["monitor_id"].as_str(), Some(eu_mon.as_str()), "{j}");
    }
    // Results claiming the us region (in the result and in a header) are stored as eu.
    let job = &jobs[0];
    let now = netpulse_store::clock::now();
    let result = CheckResult {
        id: ResultId::from_parts(now.millis(), 0x5eed),
        tenant_id: serde_json::from_value(job["tenant_id"].clone()).unwrap(),
        monitor_id: serde_json::from_value(json!(us_mon)).unwrap(),
        region: "us".into(),
        worker: "us/us-1".into(),
        started_at: now,
        finished_at: now,
        outcome: Outcome::Up,
        timings: Timings::default(),
        status_code: Some(200),
        error: None,
        cert_expires_at: None,
        cert_issuer: None,
        provenance: Provenance::Live,
    };
    let mut eu_result = result.clone();
    eu_result.id = ResultId::from_parts(now.millis(), 0x5eee);
    eu_result.monitor_id = serde_json::from_value(json!(eu_mon)).unwrap();
    // A forged tenant: the gateway must take the tenant from the monitor, not from the worker.
    eu_result.tenant_id = netpulse_core::TenantId::from_parts(1, 2);
    let batch = ResultBatch {
        version: WIRE_VERSION,
        results: vec![ResultEnvelope::new(result, now), ResultEnvelope::new(eu_result.clone(), now)],
    };
    let (status, ack) = raw(gateway(&app), &b, "/v1/results", &claims, &serde_json::to_value(&batch).unwrap()).await;
    assert_eq!(status, 200, "{ack}");
    app.drain_ingest().await; // the batch is stored: whatever of it counts for us shows now
    let r = results(&app, &eu_mon).await.into_iter().find(|r| r["id"] == eu_result.id.as_str());
    let r = r.expect("the claimed-us result stored");
    assert_eq!((r["region"].as_str(), r["worker"].as_str()), (Some("eu"), Some("eu/eu-1")), "{r}");
    assert!(results(&app, &us_mon).await.iter().all(|r| r["region"] != "us"), "no result counts for region us");
    assert!(
        results(&app, &us_mon)
            .await
            .iter()
            .all(|r| r["id"] != "res_0000000000000000000000000" && r["worker"] != "eu/eu-1"),
        "an eu worker cannot report results for a monitor that does not check from eu"
    );
}

/// An up result of worker `eu/eu-1` for monitor `mon` (its id as the API shows it),
/// started at `at`.
fn eu_result(mon: &str, at: netpulse_core::Timestamp, n: u128, timings: Timings) -> CheckResult {
    CheckResult {
        id: ResultId::from_parts(at.millis(), n),
        tenant_id: netpulse_core::TenantId::from_parts(1, 2),
        monitor_id: serde_json::from_value(json!(mon)).unwrap(),
        region: "eu".into(),
        worker: "eu/eu-1".into(),
        started_at: at,
        finished_at: at,
        outcome: Outcome::Up,
        timings,
        status_code: None,
        error: None,
        cert_expires_at: None,
        cert_issuer: None,
        provenance: Provenance::Live,
    }
}

/// Post `results` as one batch through the gateway as the worker of bundle `b`; the gateway
/// must accept all but one and list that one as refused. Returns the ack and the refusal.
async fn post_refusing_one(
    app: &TestApp,
    b: &Path,
    now: netpulse_core::Timestamp,
    results: &[&CheckResult],
) -> (Value, Value) {
    let batch = ResultBatch {
        version: WIRE_VERSION,
        results: results.iter().map(|r| ResultEnvelope::new((*r).clone(), now)).collect(),
    };
    let body = serde_json::to_value(&batch).unwrap();
    let (status, ack) = raw(gateway(app), b, "/v1/results", &[("x-netpulse-wire", WIRE)], &body).await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["accepted"], results.len() - 1, "{ack}");
    let refused = ack["refused"].as_array().unwrap_or_else(|| panic!("refusals listed: {ack}"));
    assert_eq!(refused.len(), 1, "{ack}");
    let refusal = refused[0].clone();
    (ack, refusal)
}

/// A worker delivering a result older than the raw-retention horizon (say, after 40 days
/// offline) is told, per result, that it is refused as too old; the batch's other results are
/// stored and the worker may forget the whole batch.
#[tokio::test]
async fn a_result_older_than_raw_retention_is_refused_at_the_gateway_and_the_worker_told() {
    let (app, tmp) = engine(&["eu"]).await;
    let b = tmp.path().join("b-eu");
    bundle(&b, tmp.path(), tmp.path(), "eu", "eu-1");
    let mon = app
        .create_monitor(json!({"name": "eu", "kind": "tcp", "host": "127.0.0.1", "port": 9, "regions": ["eu"]}))
        .await;
    let now = netpulse_store::clock::now();
    let result = |at: netpulse_core::Timestamp, n: u128| eu_result(&mon, at, n, Timings::default());
    let (old, fresh) = (result(now.minus_ms(40 * 86_400_000), 1), result(now, 2));
    let (ack, refused) = post_refusing_one(&app, &b, now, &[&old, &fresh]).await;
    assert_eq!((refused["id"].as_str(), refused["code"].as_str()), (Some(old.id.as_str()), Some("too_old")));
    assert!(refused["message"].as_str().unwrap().contains("raw-retention horizon"), "{ack}");
    app.drain_ingest().await;
    let stored = results(&app, &mon).await;
    assert!(stored.iter().any(|r| r["id"] == fresh.id.as_str()), "the fresh result stored: {stored:?}");
    assert_eq!(app.running.as_ref().unwrap().metrics.results_too_old.get(), 1);
}

/// A worker reporting a timing no check can take (3,000,000,000 ms would wrap negative in
/// the stores' int4 columns) is told, per result, that it is refused and which timing; the
/// batch's sane result is stored with its timings as sent.
#[tokio::test]
async fn a_result_with_a_timing_longer_than_a_day_is_refused_at_the_gateway_and_the_worker_told() {
    let (app, tmp) = engine(&["eu"]).await;
    let b = tmp.path().join("b-eu");
    bundle(&b, tmp.path(), tmp.path(), "eu", "eu-1");
    let mon = app
        .create_monitor(json!({"name": "eu", "kind": "tcp", "host": "127.0.0.1", "port": 9, "regions": ["eu"]}))
        .await;
    let now = netpulse_store::clock::now();
    let result = |n: u128, total_ms: u32| {
        eu_result(&mon, now, n, Timings { connect_ms: Some(12), total_ms: Some(total_ms), ..Timings::default() })
    };
    let (wild, sane) = (result(1, 3_000_000_000), result(2, Timings::MAX_MS));
    let (ack, refused) = post_refusing_one(&app, &b, now, &[&wild, &sane]).await;
    assert_eq!(
        (refused["id"].as_str(), refused["code"].as_str()),
        (Some(wild.id.as_str()), Some("implausible_timing"))
    );
    assert!(refused["message"].as_str().unwrap().contains("total_ms 3000000000"), "{ack}");
    app.drain_ingest().await;
    let stored = results(&app, &mon).await.into_iter().find(|r| r["id"] == sane.id.as_str());
    let stored = stored.expect("the sane result stored");
    assert_eq!(stored["timings"]["total_ms"], json!(Timings::MAX_MS), "{stored}");

    // The same result straight into the queue (as a node whose gateway predates the check
    // would publish it): ingest refuses it too.
    let running = app.running.as_ref().unwrap();
    let tenant = running
        .store
        .authenticate(&netpulse_store::clock::token_hash(crate::harness::TOKEN))
        .await
        .unwrap()
        .unwrap()
        .tenant_id;
    let (wild, later) =
        (CheckResult { tenant_id: tenant.clone(), ..wild }, CheckResult { tenant_id: tenant, ..result(3, 40) });
    let q = &running.results;
    q.publish(ResultEnvelope::new(wild.clone(), now)).await.unwrap();
    q.publish(ResultEnvelope::new(later.clone(), now)).await.unwrap();
    app.drain_ingest().await;
    assert!(results(&app, &mon).await.iter().any(|r| r["id"] == later.id.as_str()), "the later result stored");
    assert!(results(&app, &mon).await.iter().all(|r| r["id"] != wild.id.as_str()), "the wild result is not stored");
}

#[tokio::test]
async fn a_wire_version_mismatch_gets_409_with_a_clear_message() {
    let (app, tmp) = engine(&["eu"]).await;
    let b = tmp.path().join("b-eu");
    bundle(&b, tmp.path(), tmp.path(), "eu", "eu-1");
    let (status, e) = raw(gateway(&app), &b, "/v1/lease", &[("x-netpulse-wire", "99")], &lease_body(100)).await;
    assert_eq!(status, 409, "{e}");
    assert_eq!(e["code"], "wire_version", "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("v99") && msg.contains(&format!("v{WIRE_VERSION}")) && msg.contains("upgrade"), "{msg}");
    let mut body = lease_body(100);
    body["version"] = json!(7);
    let (status, e) = raw(gateway(&app), &b, "/v1/lease", &[("x-netpulse-wire", WIRE)], &body).await;
    assert_eq!((status, e["code"].as_str()), (409, Some("wire_version")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("v7"), "{e}");
    let (status, e) = raw(gateway(&app), &b, "/v1/results", &[], &json!({"version": 1, "results": []})).await;
    assert_eq!(status, 409, "{e}");
    assert!(e["message"].as_str().unwrap().contains(WIRE_HEADER), "a missing header is named: {e}");
}

#[tokio::test]
async fn a_region_whose_only_worker_stops_is_offline_and_marks_nothing_down() {
    let (app, tmp) = engine(&["eu"]).await;
    let target = Target::start().await;
    let b = tmp.path().join("b-eu");
    bundle(&b, tmp.path(), tmp.path(), "eu", "eu-1");
    let w = worker(&app, &b, false);
    let only_eu = app
        .create_monitor(json!({"name": "eu", "kind": "http", "url": target.url(), "interval_s": 1, "regions": ["eu"]}))
        .await;
    let both = app
        .create_monitor(json!({"name": "both", "kind": "http", "url": target.url(), "interval_s": 1,
            "regions": ["eu", "local"]}))
        .await;
    let region = |status: &'static str| {
        let app = &app;
        move || async move {
            let (_, v) = app.api("GET", "/api/v1/regions", None).await;
            let eu = v["data"].as_array()?.iter().find(|r| r["region"] == "eu")?.clone();
            (eu["status"] == status).then_some(eu)
        }
    };
    wait_for(10, "eu online", region("online")).await;
    wait_for(20, "results from eu", || async { (results(&app, &only_eu).await.len() >= 2).then_some(()) }).await;
    w.shutdown().await;
    let eu = wait_for(10, "eu offline", region("offline")).await;
    assert_eq!(eu["live_workers"], 0, "{eu}");
    let local_before = results(&app, &both).await.iter().filter(|r| r["region"] == "local").count();
    tokio::time::sleep(Duration::from_secs(3)).await;
    for m in [&only_eu, &both] {
        let v = app.monitor(m).await;
        assert_ne!(v["status"]["health"], "down", "{v}");
        assert!(v["status"]["open_incident"].is_null(), "{v}");
        assert!(app.incidents(m).await.is_empty(), "{m}");
    }
    let local_after = results(&app, &both).await.iter().filter(|r| r["region"] == "local").count();
    assert!(local_after > local_before, "the local region keeps checking");
}

#[tokio::test]
async fn a_target_down_from_every_region_opens_exactly_one_incident() {
    let (app, tmp) = engine(&["eu", "us"]).await;
    let target = Target::start().await;
    let hooks = Receiver::start().await;
    app.create_webhook(&hooks).await;
    let (eu, us) = eu_and_us(&app, &tmp, false);
    let id = app
        .create_monitor(json!({"name": "site", "kind": "http", "url": target.url(), "interval_s": 1,
            "regions": ["eu", "us", "local"]}))
        .await;
    wait_for(20, "up results from every region", || async {
        let rs = results(&app, &id).await;
        ["eu", "us", "local"].iter().all(|r| rs.iter().any(|x| x["region"] == *r && x["outcome"] == "up")).then_some(())
    })
    .await;
    target.set_status(503);
    assert_eq!(hooks.wait_for_events(1, 20).await, ["opened"]);
    let before = target.hits.load(std::sync::atomic::Ordering::SeqCst);
    wait_for(20, "more checks from every region", || async {
        (target.hits.load(std::sync::atomic::Ordering::SeqCst) >= before + 9).then_some(())
    })
    .await;
    assert_eq!(hooks.events(), ["opened"], "three regions failing, one page");
    assert_eq!(app.incidents(&id).await.len(), 1);
    target.set_status(200);
    assert_eq!(hooks.wait_for_events(2, 20).await, ["opened", "resolved"]);
    eu.shutdown().await;
    us.shutdown().await;
}

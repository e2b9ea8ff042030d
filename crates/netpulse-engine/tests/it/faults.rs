//! Fault tests with real processes and services (PostgreSQL, PgBouncer, Redis), each bounded
//! in time:
//! - a PRIVATE PgBouncer (own ini in a temp dir, random port, run as user postgres) is
//!   stopped for ~10 s under load: results wait in Redis and land afterwards exactly once,
//!   the API answers 503 with the one JSON error shape meanwhile, and no engine task ends;
//! - an ingest-only node is aborted while it holds a batch (read, not acknowledged) and
//!   another ingest node runs: the other reclaims the entries (XAUTOCLAIM) and every
//!   accepted result is stored exactly once.

use crate::harness::*;
use netpulse_core::wire::ResultEnvelope;
use netpulse_core::{CheckResult, MonitorId, Outcome, Provenance, TenantId, Timings};
use netpulse_engine::roles::Roles;
use netpulse_pipeline::queue::{publish_retrying, ResultQueue};
use netpulse_store::clock;
use netpulse_store::testing::{admin, direct_addr, pg_url, PgDatabase};
use netpulse_store::DatabaseUrl;
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A PgBouncer of this test only: transaction mode in front of the test PostgreSQL.
struct PrivateBouncer {
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivateBouncer {
    fn start_new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let direct = direct_addr();
        let (host, pg_port) = direct.rsplit_once(':').expect("host:port");
        let d = dir.path().display();
        let ini = format!(
            "[databases]\n* = host={host} port={pg_port}\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
             unix_socket_dir =\npool_mode = transaction\nmax_client_conn = 2000\ndefault_pool_size = 10\n\
             auth_type = trust\nauth_file = {d}/userlist.txt\nignore_startup_parameters = extra_float_digits\n\
             logfile = {d}/pgbouncer.log\npidfile = {d}/pgbouncer.pid\n"
        );
        std::fs::write(dir.path().join("pgbouncer.ini"), ini).unwrap();
        std::fs::write(dir.path().join("userlist.txt"), "\"netpulse\" \"\"\n\"postgres\" \"\"\n").unwrap();
        let chown = std::process::Command::new("chown").arg("-R").arg("postgres:postgres").arg(dir.path()).status();
        assert!(chown.is_ok_and(|s| s.success()), "chown of the PgBouncer dir to postgres");
        let b = PrivateBouncer { dir, port };
        b.start();
        b
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn ini(&self) -> PathBuf {
        self.dir.path().join("pgbouncer.ini")
    }

    fn listening(&self) -> bool {
        std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
    }

    fn start(&self) {
        let cmd = format!("pgbouncer -d {}", self.ini().display());
        let status = std::process::Command::new("su").args(["postgres", "-s", "/bin/sh", "-c", &cmd]).status();
        assert!(status.is_ok_and(|s| s.success()), "pgbouncer starts (is it installed? run scripts/services.sh)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.listening() {
            assert!(Instant::now() < deadline, "private pgbouncer did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM (immediate shutdown) to the pid in its pidfile; waits until it is gone.
    fn stop(&self) {
        let Ok(pid) = std::fs::read_to_string(self.dir.path().join("pgbouncer.pid")) else { return };
        let pid = pid.trim().to_owned();
        let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::path::Path::new(&format!("/proc/{pid}")).exists() || self.listening() {
            assert!(Instant::now() < deadline, "private pgbouncer {pid} did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PrivateBouncer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn synthetic(tenant: &TenantId, monitor: &MonitorId) -> CheckResult {
    let now = clock::now();
    CheckResult {
        id: clock::fresh(),
        tenant_id: tenant.clone(),
        monitor_id: monitor.clone(),
        region: "local".into(),
        worker: "faults".into(),
        started_at: now,
        finished_at: now,
        outcome: Outcome::Up,
        timings: Timings { total_ms: Some(3), ..Timings::default() },
        status_code: Some(200),
        error: None,
        cert_expires_at: None,
        cert_issuer: None,
        provenance: Provenance::Synthetic,
    }
}

/// Paused monitors (nothing scheduled) and the owner's tenant.
pub(crate) async fn monitors(app: &TestApp, n: usize) -> (TenantId, Vec<MonitorId>) {
    let mut ids = Vec::new();
    for i in 0..n {
        let body = json!({ "name": format!("m{i}"), "kind": "tcp", "host": "127.0.0.1", "port": 9, "paused": true });
        ids.push(MonitorId::parse(&app.create_monitor(body).await).unwrap());
    }
    let store = &app.running.as_ref().unwrap().store;
    let tenant = store.authenticate(&clock::token_hash(TOKEN)).await.unwrap().expect("owner token").tenant_id;
    (tenant, ids)
}

/// How many of `ids` are stored, and how many rows there are in all (direct connection).
pub(crate) async fn stored(db: &PgDatabase, ids: &[String]) -> (i64, i64) {
    let (c, conn) = tokio_postgres::connect(&pg_url(&direct_addr(), &db.name), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let found: i64 =
        c.query_one("SELECT count(*) FROM check_results WHERE id = ANY($1)", &[&ids]).await.unwrap().get(0);
    let all: i64 = c.query_one("SELECT count(*) FROM check_results", &[]).await.unwrap().get(0);
    (found, all)
}

async fn xlen(stream: &str) -> usize {
    let mut c = redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    redis::cmd("XLEN").arg(stream).query_async(&mut c).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_pgbouncer_away_10s_results_wait_in_redis_land_once_and_api_says_503() {
    let _ = admin().await; // fail early, with the hint, when PostgreSQL is down
    let bouncer = PrivateBouncer::start_new();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    let db = use_backends(&mut config, "postgres", "redis").await.expect("a PostgreSQL database");
    config.storage.postgres.url = DatabaseUrl::new(pg_url(&bouncer.addr(), &db.name));
    config.queue.redis.partitions = 1; // one stream, `{prefix}:results`
    let stream = format!("{}:results", config.queue.redis.prefix);
    let mut app = spawn_app_with(config).await;
    let (tenant, ms) = monitors(&app, 5).await;
    let queue: Arc<dyn ResultQueue> = app.running.as_ref().unwrap().results.clone();

    // Load: 4 publishers, one result each per 2 ms, recording what the queue accepted.
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut pubs = Vec::new();
    for p in 0..4 {
        let (queue, accepted, stop, tenant, ms) =
            (queue.clone(), accepted.clone(), stop.clone(), tenant.clone(), ms.clone());
        pubs.push(tokio::spawn(async move {
            let mut n = p;
            while !stop.load(Ordering::Relaxed) {
                let r = synthetic(&tenant, &ms[n % ms.len()]);
                let id = r.id.as_str().to_owned();
                if publish_retrying(queue.as_ref(), ResultEnvelope::new(r, clock::now()), Duration::from_secs(30))
                    .await
                    .is_ok()
                {
                    accepted.lock().unwrap().push(id);
                }
                n += 4;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    let snapshot = || accepted.lock().unwrap().clone();
    wait_for(20, "results stored before the outage", || async {
        (stored(&db, &snapshot()).await.0 > 100).then_some(())
    })
    .await;

    bouncer.stop();
    let away = Instant::now();
    let backlog_at_stop = xlen(&stream).await;
    let mut answers = Vec::new();
    while away.elapsed() < Duration::from_secs(10) {
        let (status, body) = app.api("GET", "/api/v1/monitors", None).await;
        answers.push(status);
        assert_eq!(status, 503, "API while PgBouncer is away: {body}");
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        assert_eq!(body.as_object().map(|o| o.len()), Some(1), "only the error object: {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let backlog_at_end = xlen(&stream).await;
    let stored_during = stored(&db, &snapshot()).await.1;
    assert!(
        backlog_at_end > backlog_at_stop + 1000,
        "results wait in Redis while the database is away ({backlog_at_stop} → {backlog_at_end})"
    );
    assert!(app.running.as_ref().unwrap().finished_tasks().is_empty(), "an engine task ended during the outage");

    let outage = away.elapsed();
    bouncer.start();
    wait_for(30, "the API to answer again", || async {
        (app.api("GET", "/api/v1/monitors", None).await.0 == 200).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for p in pubs {
        p.await.unwrap();
    }
    let accepted = snapshot();
    let (found, all) = wait_for(60, "every accepted result to land", || async {
        let (found, all) = stored(&db, &accepted).await;
        (found == accepted.len() as i64).then_some((found, all))
    })
    .await;
    println!(
        "PgBouncer away {} ms: {} API answers, all 503; backlog {backlog_at_stop} → {backlog_at_end}; \
         {} accepted, {found} stored by id, {all} rows in all ({stored_during} before recovery)",
        outage.as_millis(),
        answers.len(),
        accepted.len()
    );
    assert_eq!(all, accepted.len() as i64, "exactly once: no row that was not accepted, none twice");
    let running = app.running.as_ref().unwrap();
    assert!(running.finished_tasks().is_empty(), "an engine task ended: {:?}", running.finished_tasks());
    wait_for(20, "the queue to drain", || async { (xlen(&stream).await == 0).then_some(()) }).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_ingest_node_killed_mid_batch_every_accepted_result_stored_once() {
    let _ = admin().await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut config_a = test_config(dirs[0].path());
    let db = use_backends(&mut config_a, "pgbouncer", "redis").await.expect("a PostgreSQL database");
    config_a.roles = Roles::parse("api,dashboard,scheduler,alerts,checker").unwrap();
    // One stream, `{prefix}:results`: B owns it (it starts first), C takes it when B dies.
    config_a.queue.redis.partitions = 1;
    let ingest_node = |d: &tempfile::TempDir| {
        let mut c = test_config(d.path());
        c.storage.backend = config_a.storage.backend;
        c.storage.postgres = config_a.storage.postgres.clone();
        c.queue = config_a.queue.clone();
        c.roles = Roles::parse("ingest").unwrap();
        c.ingest.batch_size = 500;
        c
    };
    let (config_b, config_c) = (ingest_node(&dirs[1]), ingest_node(&dirs[2]));
    let stream = format!("{}:results", config_a.queue.redis.prefix);
    let mut a = spawn_app_with(config_a).await;
    let (tenant, ms) = monitors(&a, 10).await;
    let queue = a.running.as_ref().unwrap().results.clone();

    // 20,000 accepted results waiting in the stream, published by 100 tasks.
    let mut pubs = Vec::new();
    for p in 0..100 {
        let (queue, tenant, ms) = (queue.clone(), tenant.clone(), ms.clone());
        pubs.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..200 {
                let r = synthetic(&tenant, &ms[(p + n) % ms.len()]);
                let id = r.id.as_str().to_owned();
                publish_retrying(queue.as_ref(), ResultEnvelope::new(r, clock::now()), Duration::from_secs(30))
                    .await
                    .expect("accepted");
                ids.push(id);
            }
            ids
        }));
    }
    let mut accepted = Vec::new();
    for p in pubs {
        accepted.extend(p.await.unwrap());
    }

    let mut b = spawn_app_with(config_b).await;
    let mut c = spawn_app_with(config_c).await;
    let b_running = b.running.as_ref().unwrap();
    let b_name = b_running.node_id.clone();
    // Abort B while it holds entries it read but has not acknowledged (a batch in flight).
    let mut rc = redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let mut in_flight = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while in_flight == 0 || b_running.metrics.ingest_batches.get() < 1 {
        assert!(Instant::now() < deadline, "node B never held a batch");
        let info: redis::streams::StreamInfoConsumersReply =
            redis::cmd("XINFO").arg("CONSUMERS").arg(&stream).arg("ingest").query_async(&mut rc).await.unwrap();
        in_flight = info.consumers.iter().find(|c| c.name == b_name).map_or(0, |c| c.pending);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let b_batches = b_running.metrics.ingest_batches.get();
    b.running.take().unwrap().abort();
    let killed = Instant::now();

    let (found, all) = wait_for(60, "every accepted result to be stored", || async {
        let (found, all) = stored(&db, &accepted).await;
        (found == accepted.len() as i64).then_some((found, all))
    })
    .await;
    wait_for(30, "the stream to drain (B's entries reclaimed and acked)", || async {
        (xlen(&stream).await == 0).then_some(())
    })
    .await;
    let info: redis::streams::StreamInfoConsumersReply =
        redis::cmd("XINFO").arg("CONSUMERS").arg(&stream).arg("ingest").query_async(&mut rc).await.unwrap();
    let b_left = info.consumers.iter().find(|c| c.name == b_name).map_or(0, |c| c.pending);
    let c_metrics = &c.running.as_ref().unwrap().metrics;
    println!(
        "ingest node B aborted after {b_batches} batches with {in_flight} entries in flight; all {} accepted results \
         stored ({found} by id, {all} rows) {} ms later; C skipped {} redelivered duplicates; B pending now {b_left}",
        accepted.len(),
        killed.elapsed().as_millis(),
        c_metrics.results_duplicate.get()
    );
    assert_eq!(all, accepted.len() as i64, "exactly once");
    assert_eq!(b_left, 0, "the dead node's entries were reclaimed");
    c.stop().await;
    a.stop().await;
}

//! The test harness: `spawn_app()` starts the real engine on 127.0.0.1:0 with a fresh
//! database, plus local HTTP servers standing in for monitored sites and alert receivers.
//!
//! Backends: `NETPULSE_TEST_DB=sqlite|postgres|pgbouncer` (default sqlite; PostgreSQL gets a
//! fresh database per test) and `NETPULSE_TEST_QUEUE=memory|redis` (default memory; Redis at
//! `NETPULSE_TEST_REDIS`, default redis://127.0.0.1:6379, with a fresh key prefix per test).
//!
//! Waiting: what a test caused itself (results it published, a heartbeat or a worker batch it
//! posted, notices of those or of an API call) it waits for by draining the running engine
//! ([`TestApp::drain_ingest`], [`TestApp::dispatch_alerts`]); [`wait_for`] polls for what no
//! drain covers: progress in real time (checks at their interval, timers, workers, other
//! nodes) and other background work (account mails, page caches, event streams).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;
use axum::Router;
use netpulse_checker::{HttpClient, HttpRequest, Resolver, SsrfGuard};
use netpulse_engine::app::{start, Running};
use netpulse_engine::config::Config;
use netpulse_pipeline::queue::QueueBackend;
use netpulse_store::config::StorageBackend;
use netpulse_store::testing::{direct_addr, pg_url, pooled_addr, PgDatabase};
use netpulse_store::{DatabaseUrl, Secret};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "np_test_owner_token_0123456789abcdef";

/// A running engine and a client for its API.
pub struct TestApp {
    pub running: Option<Running>,
    pub addr: SocketAddr,
    pub client: HttpClient,
    _tmp: Option<tempfile::TempDir>,
    _db: Option<PgDatabase>,
}

/// Point `c` at the chosen store and queue: `db` is sqlite, postgres or pgbouncer (a fresh,
/// migrated PostgreSQL database, returned so it lives as long as the test), `queue` memory
/// or redis (a fresh stream prefix).
pub async fn use_backends(c: &mut Config, db: &str, queue: &str) -> Option<PgDatabase> {
    let pg = match db {
        "sqlite" => None,
        "postgres" | "pgbouncer" => {
            let pg = PgDatabase::create().await;
            let addr = if db == "pgbouncer" { pooled_addr() } else { direct_addr() };
            c.storage.backend = StorageBackend::Postgres;
            c.storage.postgres.url = DatabaseUrl::new(pg_url(&addr, &pg.name));
            c.storage.postgres.migrate_url = DatabaseUrl::new(pg_url(&direct_addr(), &pg.name));
            c.storage.postgres.pool_size = 4;
            Some(pg)
        }
        other => panic!("NETPULSE_TEST_DB={other}: use sqlite, postgres or pgbouncer"),
    };
    match queue {
        "memory" => {}
        "redis" => {
            c.queue.backend = QueueBackend::Redis;
            c.queue.redis.url = DatabaseUrl::new(redis_url());
            c.queue.redis.prefix = format!("np_test_{:016x}", netpulse_store::clock::random_u128() as u64);
            c.queue.redis.claim_idle_ms = 2_000;
        }
        other => panic!("NETPULSE_TEST_QUEUE={other}: use memory or redis"),
    }
    pg
}

/// The shared Redis the tests use (`scripts/services.sh` starts it).
pub fn redis_url() -> String {
    std::env::var("NETPULSE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn test_config(data_dir: &Path) -> Config {
    let mut c = Config::for_test(data_dir);
    c.admin_token = Some(Secret::new(TOKEN));
    c
}

/// A configuration on the backends chosen by `NETPULSE_TEST_DB` and `NETPULSE_TEST_QUEUE`,
/// with the temp data dir and the PostgreSQL database it points at. A test that changes
/// settings edits `config`; a restart test spawns the same configuration again.
pub struct TestEnv {
    pub config: Config,
    dir: tempfile::TempDir,
    db: Option<PgDatabase>,
}

/// A fresh [`TestEnv`]: new data dir, new database, new Redis prefix.
pub async fn test_env() -> TestEnv {
    let dir = tempfile::tempdir().expect("temp dir");
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    let mut config = test_config(dir.path());
    let db = use_backends(&mut config, &env("NETPULSE_TEST_DB", "sqlite"), &env("NETPULSE_TEST_QUEUE", "memory")).await;
    TestEnv { config, dir, db }
}

impl TestEnv {
    /// The data dir (SQLite file, CA, keys).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The name of the fresh PostgreSQL database, when the backend is PostgreSQL.
    pub fn database(&self) -> Option<&str> {
        self.db.as_ref().map(|d| d.name.as_str())
    }

    /// Start an engine on this configuration; the data survives for the next `spawn`.
    pub async fn spawn(&self) -> TestApp {
        spawn_app_with(self.config.clone()).await
    }

    /// Start an engine that owns this environment (it is dropped with the app).
    pub async fn into_app(self) -> TestApp {
        let mut app = self.spawn().await;
        app._tmp = Some(self.dir);
        app._db = self.db;
        app
    }
}

/// Start the engine on a fresh database.
pub async fn spawn_app() -> TestApp {
    test_env().await.into_app().await
}

/// Start the engine on a fresh database with settings changed by `adjust`.
pub async fn spawn_app_adjusted(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut env = test_env().await;
    adjust(&mut env.config);
    env.into_app().await
}

/// Start the engine with a given configuration (e.g. the data dir of a stopped engine).
pub async fn spawn_app_with(config: Config) -> TestApp {
    app_of(start(config).await.expect("engine starts"))
}

/// A client for an engine started elsewhere (e.g. on a runtime of its own).
pub fn app_of(running: Running) -> TestApp {
    let client = HttpClient::new(SsrfGuard::allow_all(), Resolver::from_system());
    TestApp { addr: running.addr, running: Some(running), client, _tmp: None, _db: None }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Call the API with the owner token; returns status and JSON body (Null when empty).
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, path, body, Some(TOKEN)).await
    }

    /// Each of `cases` — (monitor fields, the field the error must name, text its message must
    /// contain) — posted as a `kind` monitor named `name` is refused with 422 naming that
    /// field, and no monitor was created by any of them.
    pub async fn assert_monitor_fields_refused(&self, kind: &str, name: &str, cases: Vec<(Value, &str, &str)>) {
        for (mut body, field, says) in cases {
            body["name"] = Value::from(name);
            body["kind"] = Value::from(kind);
            let (status, e) = self.api("POST", "/api/v1/monitors", Some(body.clone())).await;
            assert_eq!((status, e["error"]["field"].as_str()), (422, Some(field)), "{body} → {e}");
            assert!(e["error"]["message"].as_str().unwrap().contains(says), "{body} → {e}");
        }
        let (_, list) = self.api("GET", "/api/v1/monitors", None).await;
        assert_eq!(list["data"].as_array().map(Vec::len), Some(0), "nothing was created: {list}");
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>, token: Option<&str>) -> (u16, Value) {
        let mut req = HttpRequest::new(
            method.parse().expect("method"),
            self.url(path).parse().expect("url"),
            Duration::from_secs(10),
        );
        if let Some(t) = token {
            req.headers.push(("authorization".into(), format!("Bearer {t}")));
        }
        if let Some(b) = body {
            req.headers.push(("content-type".into(), "application/json".into()));
            req.body = Some(b.to_string().into());
        }
        let resp = self.client.send(req).await.expect("API answers");
        let json =
            if resp.body.is_empty() { Value::Null } else { serde_json::from_slice(&resp.body).unwrap_or(Value::Null) };
        (resp.status, json)
    }

    /// Send a request with extra headers (and a JSON body); returns status, body text and
    /// headers (for pages, cookies and redirects). Redirects are not followed.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, String, http::HeaderMap) {
        let body = body.map(|b| ("application/json", b.to_string()));
        self.send_text(method, path, body, headers).await
    }

    /// `POST` an HTML form (`application/x-www-form-urlencoded`), like a browser.
    pub async fn post_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (u16, String, http::HeaderMap) {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        self.send_text("POST", path, Some(("application/x-www-form-urlencoded", body)), headers).await
    }

    pub async fn send_text(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, String)>,
        headers: &[(&str, &str)],
    ) -> (u16, String, http::HeaderMap) {
        let mut req = HttpRequest::new(
            method.parse().expect("method"),
            self.url(path).parse().expect("url"),
            Duration::from_secs(10),
        );
        req.follow_redirects = false;
        for (k, v) in headers {
            req.headers.push(((*k).into(), (*v).into()));
        }
        if let Some((kind, b)) = body {
            req.headers.push(("content-type".into(), kind.into()));
            req.body = Some(b.into());
        }
        let resp = self.client.send(req).await.expect("the engine answers");
        (resp.status, String::from_utf8_lossy(&resp.body).into_owned(), resp.headers)
    }

    /// Create a monitor, asserting success; returns its id.
    pub async fn create_monitor(&self, body: Value) -> String {
        let (status, json) = self.api("POST", "/api/v1/monitors", Some(body)).await;
        assert_eq!(status, 201, "create monitor: {json}");
        json["id"].as_str().expect("id").to_owned()
    }

    /// Create a webhook channel pointing at `receiver`; returns (id, secret).
    pub async fn create_webhook(&self, receiver: &Receiver) -> (String, String) {
        let body = serde_json::json!({ "name": "ops", "kind": "webhook", "url": receiver.url() });
        let (status, json) = self.api("POST", "/api/v1/channels", Some(body)).await;
        assert_eq!(status, 201, "create channel: {json}");
        (json["id"].as_str().unwrap().to_owned(), json["secret"].as_str().unwrap().to_owned())
    }

    /// The policy-editing fixture: a webhook channel on a fresh receiver and an HTTP monitor
    /// "Checkout" (60 s) that escalates to it after 300 s unacknowledged and reminds every
    /// 600 s. Returns (monitor id, channel id, the receiver: keep it alive).
    pub async fn create_escalating_monitor(&self) -> (String, String, Receiver) {
        let oncall = Receiver::start().await;
        let (channel, _) = self.create_webhook(&oncall).await;
        let id = self
            .create_monitor(serde_json::json!({
                "name": "Checkout", "kind": "http", "url": "http://127.0.0.1:9/", "interval_s": 60,
                "policy": { "escalate_after_s": 300, "escalate_to": [channel], "reminder_interval_s": 600 },
            }))
            .await;
        (id, channel, oncall)
    }

    pub async fn monitor(&self, id: &str) -> Value {
        let (status, json) = self.api("GET", &format!("/api/v1/monitors/{id}"), None).await;
        assert_eq!(status, 200, "{json}");
        json
    }

    /// Monitor `id` once its last check's outcome is `outcome` (`up`, `down`, `error`, …).
    pub async fn wait_for_outcome(&self, id: &str, outcome: &str) -> Value {
        wait_for(20, &format!("the monitor to be {outcome}"), || async {
            let m = self.monitor(id).await;
            (m["status"]["last_outcome"] == outcome).then_some(m)
        })
        .await
    }

    /// The newest result of monitor `id`.
    pub async fn last_result(&self, id: &str) -> Value {
        let (_, results) = self.api("GET", &format!("/api/v1/monitors/{id}/results?limit=1"), None).await;
        results["data"][0].clone()
    }

    pub async fn incidents(&self, monitor: &str) -> Vec<Value> {
        let (_, json) = self.api("GET", &format!("/api/v1/incidents?monitor_id={monitor}"), None).await;
        json["data"].as_array().cloned().unwrap_or_default()
    }

    /// Store every result the engine's queue accepted so far and publish its changes
    /// ([`Running::drain_ingest`]): a test that published results, posted a heartbeat or
    /// delivered a worker's batch calls this instead of polling until they show.
    pub async fn drain_ingest(&self) {
        let running = self.running.as_ref().expect("the engine runs");
        bounded("ingest to store what is queued", running.drain_ingest()).await;
    }

    /// Deliver every notice due now, each sent or scheduled for a retry
    /// ([`Running::dispatch_alerts`]); notices of results still queued need [`Self::drain_ingest`] first.
    pub async fn dispatch_alerts(&self) {
        let running = self.running.as_ref().expect("the engine runs");
        bounded("the dispatcher to deliver what is due", running.dispatch_alerts()).await;
    }

    /// Graceful shutdown (keeps the data dir for a restart).
    /// Keep `dir` (the engine's data dir) until the app is dropped.
    pub fn keep_dir(&mut self, dir: tempfile::TempDir) {
        self._tmp = Some(dir);
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

/// Run a drain, or panic when it has not finished after 30 s (a stuck store or queue).
async fn bounded(what: &str, drain: impl std::future::Future<Output = ()>) {
    let limit = Duration::from_secs(30);
    tokio::time::timeout(limit, drain).await.unwrap_or_else(|_| panic!("timed out after 30 s waiting for {what}"));
}

/// Poll `probe` every 50 ms until it returns `Some`, or panic after `secs`.
pub async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.ok() });
    addr
}

/// A monitored site: answers with the status set by the test (200 by default) and counts hits.
/// A script of statuses, if set, is played one per request, then the last one repeats.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    status: Arc<AtomicU16>,
    script: Arc<Mutex<Vec<u16>>>,
    delay_ms: Arc<AtomicU16>,
    pub hits: Arc<AtomicUsize>,
}

impl Target {
    pub async fn start() -> Self {
        let t = Target {
            addr: "0.0.0.0:0".parse().unwrap(),
            status: Arc::new(AtomicU16::new(200)),
            script: Arc::default(),
            delay_ms: Arc::default(),
            hits: Arc::default(),
        };
        let router = Router::new().fallback(any(target_answer)).with_state(t.clone());
        Target { addr: serve(router).await, ..t }
    }
    pub fn url(&self) -> String {
        format!("http://{}/health", self.addr)
    }
    pub fn set_status(&self, s: u16) {
        self.status.store(s, Ordering::SeqCst);
    }
    /// Answer every request only after `ms` milliseconds.
    pub fn set_delay_ms(&self, ms: u16) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }
    pub fn play(&self, statuses: &[u16]) {
        *self.script.lock().unwrap() = statuses.iter().rev().copied().collect();
    }
}

async fn target_answer(State(t): State<Target>) -> impl IntoResponse {
    t.hits.fetch_add(1, Ordering::SeqCst);
    let delay = t.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay.into())).await;
    }
    let scripted = {
        let mut s = t.script.lock().unwrap();
        let next = s.pop();
        if s.is_empty() {
            if let Some(last) = next {
                t.status.store(last, Ordering::SeqCst);
            }
        }
        next
    };
    let code = scripted.unwrap_or_else(|| t.status.load(Ordering::SeqCst));
    (StatusCode::from_u16(code).unwrap(), "service says hello")
}

/// One request received by a [`Receiver`].
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub method: axum::http::Method,
    /// Path and query as sent (`/v2/alerts/inc_1/close?identifierType=alias`).
    pub uri: axum::http::Uri,
    pub headers: HeaderMap,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
    /// The body as `application/x-www-form-urlencoded` pairs.
    pub fn form(&self) -> std::collections::HashMap<String, String> {
        url::form_urlencoded::parse(self.body.as_bytes()).into_owned().collect()
    }
    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    }
}

/// A scripted answer: status and optional `Retry-After` value.
pub type Reply = (u16, Option<&'static str>);

/// An alert receiver (webhook endpoint) that records every request. Responses can be
/// scripted: each queued `(status, retry_after)` answers one request, then 200.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    pub got: Arc<Mutex<Vec<Received>>>,
    replies: Arc<Mutex<Vec<Reply>>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let r = Receiver { addr: "0.0.0.0:0".parse().unwrap(), got: Arc::default(), replies: Arc::default() };
        let router = Router::new().fallback(any(receive)).with_state(r.clone());
        Receiver { addr: serve(router).await, ..r }
    }
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }
    pub fn reply_with(&self, replies: &[Reply]) {
        *self.replies.lock().unwrap() = replies.iter().rev().copied().collect();
    }
    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
    /// The `event` field of every delivery, in order.
    pub fn events(&self) -> Vec<String> {
        self.received().iter().map(|r| r.json()["event"].as_str().unwrap_or("?").to_owned()).collect()
    }
    pub async fn wait_for_events(&self, n: usize, secs: u64) -> Vec<String> {
        wait_for(secs, &format!("{n} webhook deliveries"), || async {
            let e = self.events();
            (e.len() >= n).then_some(e)
        })
        .await
    }
}

async fn receive(
    State(r): State<Receiver>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    r.got.lock().unwrap().push(Received { at: Instant::now(), method, uri, headers, body });
    let (code, retry_after) = r.replies.lock().unwrap().pop().unwrap_or((200, None));
    let mut h = HeaderMap::new();
    if let Some(ra) = retry_after {
        h.insert("retry-after", ra.parse().unwrap());
    }
    (StatusCode::from_u16(code).unwrap(), h, "")
}

/// Unix seconds now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

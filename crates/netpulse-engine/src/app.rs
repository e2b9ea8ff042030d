//! Starting and stopping the engine: builds the store, queue, scheduler, checker, ingest,
//! alert dispatcher and HTTP server from a [`Config`], and shuts them down in the order that
//! loses nothing: stop accepting work → finish checks in flight → store every queued result
//! → stop the dispatcher.

use crate::api::{self, AppState};
use crate::config::Config;
use crate::roles::Role;
use anyhow::Context;
use netpulse_checker::http::HttpClient;
use netpulse_checker::probe::ProbeContext;
use netpulse_checker::resolver::Resolver;
use netpulse_pipeline::alerts::{self, Dispatcher};
use netpulse_pipeline::gateway::{fleet::Fleet, Gateway};
use netpulse_pipeline::ingest::Ingest;
use netpulse_pipeline::lease::Lease;
use netpulse_pipeline::live::LiveBus;
use netpulse_pipeline::local_checker::LocalChecker;
use netpulse_pipeline::metrics::Metrics;
use netpulse_pipeline::queue::ResultQueue;
use netpulse_pipeline::region_router::RegionRouter;
use netpulse_pipeline::scheduler::Scheduler;
use netpulse_store::clock;
use netpulse_store::config::StorageBackend;
use netpulse_store::postgres::{self, PgStore};
use netpulse_store::sqlite::SqliteStore;
use netpulse_store::Store;
use std::net::SocketAddr;

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

/// A running engine.
pub struct Running {
    /// This node's name: its Redis consumer and lease holder name.
    pub node_id: String,
    pub addr: SocketAddr,
    pub base_url: String,
    /// The owner token, when it was generated at this start or given in the config.
    pub admin_token: Option<String>,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    /// Remote regions and their workers (empty when the gateway is off).
    pub fleet: Arc<Fleet>,
    /// Where workers connect, when `gateway.enabled`.
    pub gateway_addr: Option<SocketAddr>,
    gateway: Option<Gateway>,
    /// The result queue (benchmarks publish synthetic results into it).
    pub results: Arc<dyn ResultQueue>,
    /// The live bus (closed at shutdown so dashboard streams end).
    pub live: LiveBus,
    stop_intake: watch::Sender<bool>,
    stop_ingest: watch::Sender<bool>,
    stop_alerts: watch::Sender<bool>,
    http: JoinHandle<()>,
    scheduler: JoinHandle<()>,
    checker: JoinHandle<()>,
    ingest: JoinHandle<()>,
    dispatcher: JoinHandle<()>,
    /// Shares worker health through Redis (with the Redis queue).
    census: Option<JoinHandle<()>>,
}

/// The owner token: from config, or generated on first start and written to a 0600 file.
async fn bootstrap(store: &dyn Store, config: &Config) -> anyhow::Result<Option<String>> {
    let now = clock::now();
    if let Some(token) = &config.admin_token {
        let hash = clock::token_hash(token.expose());
        let (tenant, created) = store.bootstrap(&hash, now).await?;
        if !created {
            store.set_bootstrap_token(&tenant, &hash, now).await?;
        }
        return Ok(Some(token.expose().to_owned()));
    }
    let token = clock::secret_token("np_");
    let (_, created) = store.bootstrap(&clock::token_hash(&token), now).await?;
    if !created {
        return Ok(None);
    }
    netpulse_store::write_secret_file(&config.storage.data_dir.join("admin-token"), &token)?;
    Ok(Some(token))
}

/// Open the configured store; for PostgreSQL, migrate first when `migrate_on_start` is set.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    match config.storage.backend {
        StorageBackend::Sqlite => {
            Ok(Arc::new(SqliteStore::open(&config.storage.database_path()).with_context(|| {
                format!("cannot open the database at {}", config.storage.database_path().display())
            })?))
        }
        StorageBackend::Postgres => {
            let pg = &config.storage.postgres;
            std::fs::create_dir_all(&config.storage.data_dir)
                .with_context(|| format!("cannot create {} (storage.data_dir)", config.storage.data_dir.display()))?;
            if pg.migrate_on_start {
                postgres::schema::migrate(pg.migrate_url()).await.context("cannot migrate the PostgreSQL schema")?;
            }
            let store = PgStore::connect(pg.url.expose(), pg.pool_size)
                .await
                .context("cannot open the PostgreSQL store (storage.postgres.url)")?;
            Ok(Arc::new(store))
        }
    }
}

/// Bring the configured database's schema up to date (`netpulse migrate`); says which.
pub async fn migrate(config: &Config) -> anyhow::Result<String> {
    match config.storage.backend {
        StorageBackend::Sqlite => {
            SqliteStore::open(&config.storage.database_path())
                .with_context(|| format!("cannot open the database at {}", config.storage.database_path().display()))?;
            Ok(format!("database {} is up to date", config.storage.database_path().display()))
        }
        StorageBackend::Postgres => {
            let version = postgres::schema::migrate(config.storage.postgres.migrate_url()).await?;
            Ok(format!("PostgreSQL schema is up to date (version {version})"))
        }
    }
}

/// Start every part of the engine.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let config = Arc::new(config);
    let store = open_store(&config).await?;
    let admin_token = bootstrap(store.as_ref(), &config).await?;
    if let (Some(email), Some(pass)) = (&config.admin_email, &config.admin_password) {
        crate::accounts::bootstrap_owner(store.as_ref(), email, pass.expose()).await?;
    }
    if config.accounts.demo {
        // After `bootstrap`, so the bootstrap organisation stays the oldest tenant.
        let seeded =
            netpulse_store::demo::seed::seed(store.as_ref(), &config.monitors.local_region, clock::now()).await;
        seeded.context("cannot seed the demo organisation (accounts.demo)")?;
    }
    tokio::spawn(crate::accounts::password::warm_up());
    let metrics = Arc::new(Metrics::default());
    let badge_key = crate::dashboard::badges::BadgeKey::load_or_create(&config.storage.data_dir)?;
    let node_id = node_id();
    let roles = config.roles.clone();
    let live = start_live_bus(&config, &node_id).await?;
    // Several nodes share a PostgreSQL store: leases keep one scheduler and one dispatcher.
    let shared = config.storage.backend == StorageBackend::Postgres;
    let queue = netpulse_pipeline::queue::open(&config.queue, &node_id).await?;
    let queue: Arc<dyn ResultQueue> =
        Arc::new(netpulse_pipeline::live::announcing::Announcing { inner: queue, live: live.clone() });
    tracing::info!(node = %node_id, %roles, queue = ?config.queue.backend, "starting engine node");
    let guard = config.ssrf.guard();
    let http = HttpClient::new(guard, Resolver::from_system());

    let listener = match roles.serves_http() {
        true => Some(
            tokio::net::TcpListener::bind(config.http.listen)
                .await
                .with_context(|| format!("cannot listen on {} (http.listen)", config.http.listen))?,
        ),
        false => None,
    };
    let addr = match &listener {
        Some(l) => l.local_addr()?,
        None => config.http.listen,
    };
    let base_url = config.public_url(addr);

    let (stop_intake, intake_rx) = watch::channel(false);
    let (stop_ingest, ingest_rx) = watch::channel(false);
    let (stop_alerts, alerts_rx) = watch::channel(false);
    let changed = Arc::new(Notify::new());
    let (jobs_tx, jobs_rx) = mpsc::channel(config.checker.concurrency * 4);
    let mut router = RegionRouter::single(config.monitors.local_region.clone(), jobs_tx);
    let gateway_regions = if config.gateway.enabled { config.gateway.regions.clone() } else { Vec::new() };
    let lease_period = Duration::from_millis(config.gateway.lease_wait_ms);
    // The in-process queue loses what it holds in a crash: the gateway then acknowledges a
    // worker's results only once ingest stored them (Redis with AOF is durable at XADD).
    let commits = (config.queue.backend == netpulse_pipeline::queue::QueueBackend::Memory && roles.has(Role::Ingest))
        .then(|| Arc::new(netpulse_pipeline::queue::durable::CommitWatch::default()));
    let fleet =
        Arc::new(Fleet::new(&config.monitors.local_region, &gateway_regions, lease_period, clock::now(), &mut router));
    let (recheck_tx, recheck_rx) = mpsc::channel(1024);
    // With Redis, worker health is shared so every node's views show every gateway's workers.
    let census = match config.queue.backend {
        netpulse_pipeline::queue::QueueBackend::Redis => {
            let census = netpulse_pipeline::gateway::census::Census::connect(&config.queue.redis, &node_id).await?;
            Some(tokio::spawn(census.run(fleet.clone(), intake_rx.clone())))
        }
        netpulse_pipeline::queue::QueueBackend::Memory => None,
    };

    let scheduler = Scheduler::new(
        store.clone(),
        router,
        queue.clone(),
        metrics.clone(),
        config.monitors.local_region.clone(),
        changed.clone(),
        recheck_rx,
    );
    let scheduler = match shared {
        true => scheduler.with_lease(Lease::new(store.clone(), "scheduler", node_id.clone())),
        false => scheduler,
    };
    let scheduler = spawn_if(roles.has(Role::Scheduler), scheduler.run(intake_rx.clone()));
    let gateway = match config.gateway.enabled {
        true => Some(
            Gateway::start(
                &config.gateway,
                &config.storage.data_dir,
                netpulse_pipeline::gateway::Wiring {
                    fleet: fleet.clone(),
                    results: queue.clone(),
                    store: store.clone(),
                    live: live.clone(),
                    commits: commits.clone(),
                    retention: config.retention,
                    metrics: metrics.clone(),
                },
                intake_rx.clone(),
            )
            .await?,
        ),
        false => None,
    };
    let checker = LocalChecker {
        ctx: ProbeContext::new(http.clone()),
        results: queue.clone(),
        metrics: metrics.clone(),
        concurrency: config.checker.concurrency,
        worker: "engine/local".into(),
        fleet: fleet.clone(),
    };
    let checker = spawn_if(roles.has(Role::Checker), checker.run(jobs_rx));
    let ingest = Ingest {
        store: store.clone(),
        queue: queue.clone(),
        metrics: metrics.clone(),
        batch_size: config.ingest.batch_size,
        linger: Duration::from_millis(config.ingest.linger_ms),
        rechecks: recheck_tx,
        live: live.clone(),
        commits,
        retention: config.retention,
    };
    let ingest = spawn_if(roles.has(Role::Ingest), ingest.run(ingest_rx, Duration::from_secs(10)));
    let sender = alerts::Sender {
        http,
        base_url: base_url.clone(),
        timeout: Duration::from_millis(config.alerts.timeout_ms),
        smtp: Arc::new(config.smtp.clone()),
    };
    let dispatcher = Dispatcher {
        store: store.clone(),
        sender: sender.clone(),
        metrics: metrics.clone(),
        policy: alerts::RetryPolicy { max_attempts: config.alerts.max_attempts, base_ms: config.alerts.retry_base_ms },
        lease: shared.then(|| Lease::new(store.clone(), "alerts", node_id.clone())),
        storm: netpulse_core::storm::StormPolicy {
            threshold: config.alerts.storm_threshold,
            window_s: config.alerts.storm_window_s,
        },
    };
    let poll = Duration::from_millis(config.alerts.poll_interval_ms);
    let dispatcher = spawn_if(roles.has(Role::Alerts), dispatcher.run(alerts_rx.clone(), poll));

    let retention = netpulse_pipeline::retention::Retention { store: store.clone(), config: config.retention };
    spawn_if(roles.has(Role::Alerts), retention.run(alerts_rx.clone()));
    let maintenance = netpulse_pipeline::maintenance::MaintenanceClock { store: store.clone() };
    spawn_if(roles.has(Role::Alerts), maintenance.run(alerts_rx));

    let state = AppState {
        store: store.clone(),
        config: config.clone(),
        results: queue.clone(),
        metrics: metrics.clone(),
        monitors_changed: changed,
        sender,
        base_url: base_url.clone(),
        live: live.clone(),
        badge_key,
        fleet: fleet.clone(),
        login_throttle: Arc::new(crate::accounts::LoginThrottle::new(&config.accounts)),
        status_cache: Arc::new(crate::dashboard::status_cache::StatusPageCache::new(Duration::from_secs(
            config.http.status_page_cache_s,
        ))),
    };
    let mut app = axum::Router::new();
    if roles.has(Role::Api) {
        app = app.merge(api::router());
    }
    if roles.has(Role::Dashboard) {
        app = app.merge(crate::dashboard::router());
    }
    // Before any handler: the demo visitor's changes are refused (`demo::refuse_mutations`).
    let app = app.layer(axum::middleware::from_fn(crate::demo::refuse_mutations)).with_state(state);
    let mut http_stop = intake_rx;
    let http = tokio::spawn(async move {
        let Some(listener) = listener else { return };
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        // No Nagle: an SSE event is a small write that must leave at once, not wait up to a
        // delayed ACK (~40 ms) behind the previous one (the check-to-dashboard tail).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set on an HTTP connection");
            }
        });
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = http_stop.wait_for(|stop| *stop).await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    Ok(Running {
        node_id,
        addr,
        base_url,
        admin_token,
        store,
        metrics,
        results: queue,
        live,
        fleet,
        gateway_addr: gateway.as_ref().map(|g| g.addr),
        gateway,
        stop_intake,
        stop_ingest,
        stop_alerts,
        http,
        scheduler,
        checker,
        ingest,
        dispatcher,
        census,
    })
}

/// The live bus: in-process alone with the in-process queue; with Redis, relayed to and from
/// the other engine nodes (subscribed only where the API or the dashboard runs).
async fn start_live_bus(config: &Config, node_id: &str) -> anyhow::Result<LiveBus> {
    if config.queue.backend != netpulse_pipeline::queue::QueueBackend::Redis {
        return Ok(LiveBus::default());
    }
    let (live, outbound) = LiveBus::relayed(netpulse_pipeline::live::CAPACITY);
    let (relay, cmd) = netpulse_pipeline::live::relay::LiveRelay::connect(&config.queue.redis, node_id).await?;
    let relay = Arc::new(relay);
    if config.roles.serves_http() {
        relay.clone().subscribe(live.clone()).await.context("cannot subscribe to live events in Redis")?;
    }
    tokio::spawn(relay.publish(outbound, cmd));
    Ok(live)
}

/// Spawn `task` when its role runs here; otherwise drop it (closing its channels) and
/// return a finished handle, so shutdown treats both alike.
fn spawn_if<F: std::future::Future<Output = ()> + Send + 'static>(on: bool, task: F) -> JoinHandle<()> {
    match on {
        true => tokio::spawn(task),
        false => tokio::spawn(async {}),
    }
}

/// A name for this engine node: host name, process id and a random suffix.
fn node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    format!("{host}-{}-{:04x}", std::process::id(), clock::random_u128() as u16)
}

impl Running {
    /// The engine's long-running tasks that have ended (crashed or returned) while the node
    /// runs; names as roles (`http` for the server). A role this node does not run counts
    /// as ended. Used by fault tests: "no task crashed" means this stays as it started.
    pub fn finished_tasks(&self) -> Vec<&'static str> {
        let tasks = [
            ("http", &self.http),
            ("scheduler", &self.scheduler),
            ("checker", &self.checker),
            ("ingest", &self.ingest),
            ("alerts", &self.dispatcher),
        ];
        tasks.into_iter().filter(|(_, t)| t.is_finished()).map(|(n, _)| n).collect()
    }

    /// Stop every loop at once without any cleanup, as if the process died (for fault
    /// tests): leases are not released, queued results and unacked entries stay behind.
    pub fn abort(self) {
        for task in [&self.http, &self.scheduler, &self.checker, &self.ingest, &self.dispatcher] {
            task.abort();
        }
        if let Some(c) = &self.census {
            c.abort();
        }
        let _ = self.stop_alerts.send(true); // retention has no handle; it stops on this flag
    }

    /// Graceful shutdown: nothing accepted is lost.
    pub async fn shutdown(self) {
        let _ = self.stop_intake.send(true);
        let _ = self.scheduler.await; // drops the job sender: the checker sees the end
        let _ = self.checker.await; // checks in flight publish their results
        if let Some(g) = self.gateway {
            g.join().await; // worker connections closed: no more deliveries
        }
        self.live.close(); // dashboard streams end, or the HTTP server would wait for them
        let _ = self.http.await;
        let _ = self.stop_ingest.send(true);
        let _ = self.ingest.await; // stores everything still queued
        let _ = self.stop_alerts.send(true);
        let _ = self.dispatcher.await;
    }
}

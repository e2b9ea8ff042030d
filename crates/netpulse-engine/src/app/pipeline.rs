//! The pipeline layer of an engine node: scheduler → (local checker | gateway to regional
//! workers) → queue → ingest → alert dispatch, with retention and maintenance beside them.
//! Each loop runs when its role does here; one that does not is a finished task, so
//! shutdown treats both alike. Ingest and alert dispatch are also kept in [`Drains`], so a
//! caller can run them to the end of their work while they run.

use super::node::Node;
use crate::config::Config;
use crate::roles::Role;
use netpulse_checker::http::HttpClient;
use netpulse_checker::probe::ProbeContext;
use netpulse_checker::resolver::Resolver;
use netpulse_pipeline::alerts::{self, Dispatcher, RetryPolicy};
use netpulse_pipeline::gateway::census::Census;
use netpulse_pipeline::gateway::{fleet::Fleet, Gateway, Wiring};
use netpulse_pipeline::ingest::Ingest;
use netpulse_pipeline::lease::Lease;
use netpulse_pipeline::local_checker::LocalChecker;
use netpulse_pipeline::maintenance::{self, MaintenanceClock};
use netpulse_pipeline::progress::PassGate;
use netpulse_pipeline::queue::durable::CommitWatch;
use netpulse_pipeline::queue::owners::Owners;
use netpulse_pipeline::queue::{JobStreams, QueueBackend};
use netpulse_pipeline::region_router::RegionRouter;
use netpulse_pipeline::retention::Retention;
use netpulse_pipeline::scheduler::Scheduler;
use netpulse_store::clock;
use netpulse_store::config::StorageBackend;
use netpulse_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

/// The running pipeline: what the web layer reaches, and the loops shutdown waits for.
pub(super) struct Pipeline {
    /// Remote regions and their workers (only the local region when the gateway is off).
    pub fleet: Arc<Fleet>,
    pub gateway: Option<Gateway>,
    /// Sends notices (the API's "send test" uses it too).
    pub sender: alerts::Sender,
    /// Tells the scheduler that monitors changed.
    pub monitors_changed: Arc<Notify>,
    /// Tells the maintenance clock that a window was created or cancelled.
    pub maintenance_changed: Arc<Notify>,
    pub scheduler: JoinHandle<()>,
    pub checker: JoinHandle<()>,
    pub ingest: JoinHandle<()>,
    pub dispatcher: JoinHandle<()>,
    /// Shares worker health through Redis (with the Redis queue).
    pub census: Option<JoinHandle<()>>,
    pub drains: Drains,
}

/// The loops a caller can drain while they run (`Running::drain_ingest`,
/// `Running::dispatch_alerts`); `None` where this node does not run the role.
pub(super) struct Drains {
    pub ingest: Option<Arc<Ingest>>,
    pub alerts: Option<Arc<Dispatcher>>,
}

/// Start the loops of the roles this node runs. `base_url` is what notices link to.
pub(super) async fn start(
    config: &Config,
    store: &Arc<dyn Store>,
    node: &Node,
    base_url: &str,
) -> anyhow::Result<Pipeline> {
    let roles = &config.roles;
    let http = HttpClient::new(config.ssrf.guard(), Resolver::from_system());
    let (jobs_tx, jobs_rx) = mpsc::channel(config.checker.concurrency * 4);
    let mut router = RegionRouter::single(config.monitors.local_region.clone(), jobs_tx);
    let streams = job_streams(config, node, &mut router).await?;
    let fleet = fleet(config, &mut router, streams);
    let census = census(config, node, &fleet).await?;
    let (recheck_tx, recheck_rx) = mpsc::channel(1024);
    let monitors_changed = Arc::new(Notify::new());
    let shard = schedule_shard(config, node).await?;
    let scheduler = scheduler(config, store, node, router, monitors_changed.clone(), recheck_rx, shard);
    let scheduler = spawn_if(roles.has(Role::Scheduler), scheduler.run(node.stops.intake.subscribe()));
    // The in-process queue loses what it holds in a crash: the gateway then acknowledges a
    // worker's results only once ingest stored them (Redis with AOF is durable at XADD).
    let commits = (config.queue.backend == QueueBackend::Memory && roles.has(Role::Ingest))
        .then(|| Arc::new(CommitWatch::default()));
    let gateway = gateway(config, store, node, &fleet, commits.clone()).await?;
    let checker = checker(config, node, &fleet, &http);
    let checker = spawn_if(roles.has(Role::Checker), checker.run(jobs_rx));
    let ingest_on = roles.has(Role::Ingest);
    let outbox_written = Arc::new(Notify::new());
    let ingester = Arc::new(ingest(config, store, node, recheck_tx, commits, outbox_written.clone()));
    let ingest = spawn_if(ingest_on, ingester.clone().run(node.stops.ingest.subscribe(), Duration::from_secs(10)));
    let sender = alerts::Sender {
        http,
        base_url: base_url.to_owned(),
        timeout: Duration::from_millis(config.alerts.timeout_ms),
        smtp: Arc::new(config.smtp.clone()),
    };
    let maintenance_changed = Arc::new(Notify::new());
    let (dispatcher, alerts) =
        spawn_alert_loops(config, store, node, &sender, outbox_written, maintenance_changed.clone());
    let drains = Drains { ingest: ingest_on.then_some(ingester), alerts };
    Ok(Pipeline {
        fleet,
        gateway,
        sender,
        monitors_changed,
        maintenance_changed,
        scheduler,
        checker,
        ingest,
        dispatcher,
        census,
        drains,
    })
}

/// The regions whose workers this node's gateway serves (none when it is off).
fn gateway_regions(config: &Config) -> Vec<String> {
    let local = &config.monitors.local_region;
    let on = config.gateway.enabled;
    config.gateway.regions.iter().filter(|r| on && *r != local).cloned().collect()
}

/// With Redis, regional jobs travel on job streams: this node's scheduler sends every
/// region of `gateway.regions` there (whether or not its own gateway is on) and its
/// gateway, when on, pumps the streams of the regions it serves until the intake stops.
async fn job_streams(
    config: &Config,
    node: &Node,
    router: &mut RegionRouter,
) -> anyhow::Result<Option<Arc<JobStreams>>> {
    if config.queue.backend != QueueBackend::Redis {
        return Ok(None);
    }
    let streams = Arc::new(JobStreams::connect(&config.queue.redis, &node.id, &gateway_regions(config)).await?);
    for region in config.gateway.regions.iter().filter(|r| **r != config.monitors.local_region) {
        router.add_stream(region.clone(), streams.clone());
    }
    streams.clone().run(node.stops.intake.subscribe());
    Ok(Some(streams))
}

/// The regions this node knows: the local one, and the gateway's when it is on.
fn fleet(config: &Config, router: &mut RegionRouter, streams: Option<Arc<JobStreams>>) -> Arc<Fleet> {
    let lease_period = Duration::from_millis(config.gateway.lease_wait_ms);
    let regions = gateway_regions(config);
    Arc::new(Fleet::new(&config.monitors.local_region, &regions, lease_period, clock::now(), router, streams))
}

/// With Redis, worker health is shared so every node's views show every gateway's workers.
async fn census(config: &Config, node: &Node, fleet: &Arc<Fleet>) -> anyhow::Result<Option<JoinHandle<()>>> {
    if config.queue.backend != QueueBackend::Redis {
        return Ok(None);
    }
    let census = Census::connect(&config.queue.redis, &node.id).await?;
    Ok(Some(tokio::spawn(census.run(fleet.clone(), node.stops.intake.subscribe()))))
}

/// Several nodes share a PostgreSQL store: leases keep one scheduler and one dispatcher.
fn lease(config: &Config, store: &Arc<dyn Store>, node: &Node, name: &'static str) -> Option<Lease> {
    let shared = config.storage.backend == StorageBackend::Postgres;
    shared.then(|| Lease::new(store.clone(), name, node.id.clone()))
}

/// With Redis, every scheduler node dispatches the monitors of the partitions it owns for
/// the role `schedule` (same partitions as the result streams, the scheduler lease's TTL).
async fn schedule_shard(config: &Config, node: &Node) -> anyhow::Result<Option<Owners>> {
    if config.queue.backend != QueueBackend::Redis || !config.roles.has(Role::Scheduler) {
        return Ok(None);
    }
    let r = &config.queue.redis;
    let (_, cmd) = netpulse_pipeline::queue::redis::connect_commands(r).await?;
    Ok(Some(Owners::new(cmd, &r.prefix, "schedule", &node.id, r.partitions, netpulse_pipeline::lease::TTL_MS as u64)))
}

fn scheduler(
    config: &Config,
    store: &Arc<dyn Store>,
    node: &Node,
    router: RegionRouter,
    changed: Arc<Notify>,
    rechecks: mpsc::Receiver<netpulse_store::plan::Recheck>,
    shard: Option<Owners>,
) -> Scheduler {
    let local_region = config.monitors.local_region.clone();
    let scheduler = Scheduler::new(
        store.clone(),
        router,
        node.queue.clone(),
        node.metrics.clone(),
        local_region,
        changed,
        rechecks,
    );
    match (shard, lease(config, store, node, "scheduler")) {
        (Some(shard), _) => scheduler.with_shard(shard),
        (None, Some(lease)) => scheduler.with_lease(lease),
        (None, None) => scheduler,
    }
}

/// The mTLS listener for regional workers, when `gateway.enabled`.
async fn gateway(
    config: &Config,
    store: &Arc<dyn Store>,
    node: &Node,
    fleet: &Arc<Fleet>,
    commits: Option<Arc<CommitWatch>>,
) -> anyhow::Result<Option<Gateway>> {
    if !config.gateway.enabled {
        return Ok(None);
    }
    let wiring = Wiring {
        fleet: fleet.clone(),
        results: node.queue.clone(),
        store: store.clone(),
        live: node.live.clone(),
        commits,
        retention: config.retention,
        metrics: node.metrics.clone(),
    };
    let stop = node.stops.intake.subscribe();
    Ok(Some(Gateway::start(&config.gateway, &config.storage.data_dir, wiring, stop).await?))
}

fn checker(config: &Config, node: &Node, fleet: &Arc<Fleet>, http: &HttpClient) -> LocalChecker {
    LocalChecker {
        ctx: ProbeContext::new(http.clone()),
        results: node.queue.clone(),
        metrics: node.metrics.clone(),
        concurrency: config.checker.concurrency,
        worker: "engine/local".into(),
        fleet: fleet.clone(),
    }
}

fn ingest(
    config: &Config,
    store: &Arc<dyn Store>,
    node: &Node,
    rechecks: mpsc::Sender<netpulse_store::plan::Recheck>,
    commits: Option<Arc<CommitWatch>>,
    outbox_written: Arc<Notify>,
) -> Ingest {
    Ingest {
        store: store.clone(),
        queue: node.queue.clone(),
        metrics: node.metrics.clone(),
        batch_size: config.ingest.batch_size,
        linger: Duration::from_millis(config.ingest.linger_ms),
        rechecks,
        live: node.live.clone(),
        commits,
        retention: config.retention,
        passes: PassGate::default(),
        outbox_written,
    }
}

/// The loops of the `alerts` role: dispatch (whose handle is returned, with the dispatcher
/// when the role runs here; `wake` ends its idle sleep), retention and the maintenance clock
/// (which stop on the same signal).
fn spawn_alert_loops(
    config: &Config,
    store: &Arc<dyn Store>,
    node: &Node,
    sender: &alerts::Sender,
    wake: Arc<Notify>,
    maintenance_changed: Arc<Notify>,
) -> (JoinHandle<()>, Option<Arc<Dispatcher>>) {
    let on = config.roles.has(Role::Alerts);
    let dispatcher = Arc::new(Dispatcher {
        store: store.clone(),
        sender: sender.clone(),
        metrics: node.metrics.clone(),
        policy: RetryPolicy { max_attempts: config.alerts.max_attempts, base_ms: config.alerts.retry_base_ms },
        lease: lease(config, store, node, "alerts"),
        storm: config.alerts.storm(),
        passes: PassGate::default(),
        wake,
    });
    let poll = Duration::from_millis(config.alerts.poll_interval_ms);
    let handle = spawn_if(on, dispatcher.clone().run(node.stops.alerts.subscribe(), poll));
    let retention = Retention { store: store.clone(), config: config.retention };
    spawn_if(on, retention.run(node.stops.alerts.subscribe()));
    let poll_max = match config.storage.backend == StorageBackend::Postgres {
        true => maintenance::SHARED_POLL_MAX,
        false => maintenance::ALONE_POLL_MAX,
    };
    let maintenance = MaintenanceClock { store: store.clone(), changed: maintenance_changed, poll_max };
    spawn_if(on, maintenance.run(node.stops.alerts.subscribe()));
    (handle, on.then_some(dispatcher))
}

/// Spawn `task` when its role runs here; otherwise drop it (closing its channels) and
/// return a finished handle, so shutdown treats both alike.
pub(super) fn spawn_if<F: std::future::Future<Output = ()> + Send + 'static>(on: bool, task: F) -> JoinHandle<()> {
    match on {
        true => tokio::spawn(task),
        false => tokio::spawn(async {}),
    }
}

//! The composition root: builds a running engine node from a [`Config`], one layer at a
//! time — the store ([`store`]: opened, migrated when asked, first-start seeding), what the
//! node's layers share ([`node`]: name, metrics, live bus, result queue, stop signals), the
//! pipeline's loops for the roles it runs ([`pipeline`]) and the web server ([`web`]) — and
//! shuts it down in the order that loses nothing: stop accepting work → finish checks in
//! flight → store every queued result → stop the dispatcher → flush the store. While it runs,
//! its ingest and alert dispatch can be drained ([`Running::drain_ingest`],
//! [`Running::dispatch_alerts`]).

mod node;
mod pipeline;
mod store;
mod web;

pub use store::{migrate, open_store};

use crate::config::Config;
use netpulse_pipeline::gateway::{fleet::Fleet, Gateway};
use netpulse_pipeline::live::LiveBus;
use netpulse_pipeline::metrics::Metrics;
use netpulse_pipeline::queue::ResultQueue;
use netpulse_store::Store;
use netpulse_web::base::badge_key::BadgeKey;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
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
    drains: pipeline::Drains,
}

/// Start every part of the engine this node's roles ask for.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let config = Arc::new(config);
    let (store, admin_token) = store::prepare(&config).await?;
    let badge_key = BadgeKey::load_or_create(&config.storage.data_dir)?;
    let node = node::Node::start(&config).await?;
    tracing::info!(node = %node.id, roles = %config.roles, queue = ?config.queue.backend, "starting engine node");
    let listener = web::bind(&config).await?;
    let addr = match &listener {
        Some(l) => l.local_addr()?,
        None => config.http.listen,
    };
    let base_url = config.public_url(addr);
    let pipeline = pipeline::start(&config, &store, &node, &base_url).await?;
    let state = web::state(&config, &store, &node, &pipeline, &base_url, badge_key);
    let http = web::serve(&config, state, &node, listener);
    let node::Node { id: node_id, metrics, live, queue, stops } = node;
    Ok(Running {
        node_id,
        addr,
        base_url,
        admin_token,
        store,
        metrics,
        results: queue,
        live,
        fleet: pipeline.fleet,
        gateway_addr: pipeline.gateway.as_ref().map(|g| g.addr),
        gateway: pipeline.gateway,
        stop_intake: stops.intake,
        stop_ingest: stops.ingest,
        stop_alerts: stops.alerts,
        http,
        scheduler: pipeline.scheduler,
        checker: pipeline.checker,
        ingest: pipeline.ingest,
        dispatcher: pipeline.dispatcher,
        census: pipeline.census,
        drains: pipeline.drains,
    })
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

    /// Store every result the queue accepted so far, and publish its changes on the live bus,
    /// then return (instead of polling until it shows): runs ingest passes alone, after the
    /// loop's passes in flight, until the queue is empty ([`netpulse_pipeline::ingest::Ingest::drain`]).
    /// With Redis, what another node's ingest took is that node's to store. Waits while the
    /// store is unavailable. A node without the `ingest` role returns at once.
    pub async fn drain_ingest(&self) {
        if let Some(ingest) = &self.drains.ingest {
            ingest.drain().await;
        }
    }

    /// Deliver every notice due now — each one sent, scheduled for a retry, or failed for good
    /// — then return: runs dispatcher passes alone, after the loop's pass in flight, until
    /// nothing is due ([`netpulse_pipeline::alerts::Dispatcher::drain`]). A result still queued has
    /// queued no notice yet: [`Running::drain_ingest`] first. A node without the
    /// `alerts` role (or, with several nodes, without the `alerts` lease) returns at once.
    pub async fn dispatch_alerts(&self) {
        if let Some(dispatcher) = &self.drains.alerts {
            dispatcher.drain().await;
        }
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
        let _ = self.stop_intake.send(true); // the gateway and its job pumps: no more workers served
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
        let _ = self.http.await; // requests in progress get at most http.shutdown_drain_s
        let _ = self.stop_ingest.send(true);
        let _ = self.ingest.await; // stores everything still queued
        let _ = self.stop_alerts.send(true);
        let _ = self.dispatcher.await;
        // The last write is done: leave the database whole in its own files (SQLite: the WAL
        // checkpointed into the .db file, so a copy of that file alone holds every result).
        if let Err(e) = self.store.flush().await {
            tracing::warn!(error = %e, "could not flush the store at shutdown");
        }
    }
}

//! What every layer of one engine node shares: its name, its metrics, the live bus, the
//! result queue, and the three signals that stop its loops in order.

use crate::config::Config;
use anyhow::Context;
use netpulse_pipeline::live::announcing::Announcing;
use netpulse_pipeline::live::relay::LiveRelay;
use netpulse_pipeline::live::{LiveBus, CAPACITY};
use netpulse_pipeline::metrics::Metrics;
use netpulse_pipeline::queue::{QueueBackend, ResultQueue};
use netpulse_store::clock;
use std::sync::Arc;
use tokio::sync::watch;

pub(super) struct Node {
    /// This node's name: its Redis consumer and lease holder name.
    pub id: String,
    pub metrics: Arc<Metrics>,
    pub live: LiveBus,
    /// The result queue, announcing each accepted result on the live bus.
    pub queue: Arc<dyn ResultQueue>,
    pub stops: Stops,
}

/// Shutdown in three steps: stop taking work (HTTP, scheduler, gateway, census), then store
/// what is queued (ingest), then deliver and tidy (alerts, retention, maintenance).
pub(super) struct Stops {
    pub intake: watch::Sender<bool>,
    pub ingest: watch::Sender<bool>,
    pub alerts: watch::Sender<bool>,
}

impl Node {
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        let id = node_id();
        let live = live_bus(config, &id).await?;
        let queue = netpulse_pipeline::queue::open(&config.queue, &id).await?;
        let queue: Arc<dyn ResultQueue> = Arc::new(Announcing { inner: queue, live: live.clone() });
        let stops =
            Stops { intake: watch::channel(false).0, ingest: watch::channel(false).0, alerts: watch::channel(false).0 };
        Ok(Self { id, metrics: Arc::new(Metrics::default()), live, queue, stops })
    }
}

/// The live bus: in-process alone with the in-process queue; with Redis, relayed to and from
/// the other engine nodes (subscribed only where the API or the dashboard runs).
async fn live_bus(config: &Config, node_id: &str) -> anyhow::Result<LiveBus> {
    if config.queue.backend != QueueBackend::Redis {
        return Ok(LiveBus::default());
    }
    let (live, outbound) = LiveBus::relayed(CAPACITY);
    let (relay, cmd) = LiveRelay::connect(&config.queue.redis, node_id).await?;
    let relay = Arc::new(relay);
    if config.roles.serves_http() {
        relay.clone().subscribe(live.clone()).await.context("cannot subscribe to live events in Redis")?;
    }
    tokio::spawn(relay.publish(outbound, cmd));
    Ok(live)
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

//! The gateway role: a separate mutual-TLS listener through which regional workers
//! (`netpulse-worker`) lease checks for their region and deliver results.
//!
//! Off unless `gateway.enabled = true`; it then needs the CA (`netpulse ca init`) in
//! `<data_dir>/ca/` and serves the regions listed in `gateway.regions`. A worker's identity
//! and region are read from its verified certificate and nowhere else ([`Identity`]).
//! Handshake refusals (wrong CA, expired, unknown or revoked serial) are logged with the
//! reason; a connection whose certificate is revoked later is dropped within a second.
//!
//! Slow clients: the TLS handshake must finish within [`HANDSHAKE_TIMEOUT`]; then a request
//! head must arrive within, and no byte may stall for longer than, [`GatewayConfig::patience`]
//! (the longest lease wait plus a margin, so a worker's long-poll is never cut); at most
//! `gateway.max_connections` are open at once ([`ConnectionCap`]: past it new ones are closed
//! and a warning is logged).

pub mod census;
pub mod directory;
pub mod fleet;
pub mod health;
pub mod protocol;
pub mod throughput;
pub mod trust;

use crate::ca::Ca;
use crate::listener::{self, ConnectionCap};
use crate::live::LiveBus;
use crate::metrics::Metrics;
use crate::queue::durable::CommitWatch;
use crate::queue::ResultQueue;
use crate::retention::RetentionConfig;
use anyhow::Context;
use fleet::Fleet;
use hyper_util::rt::{TokioIo, TokioTimer};
use netpulse_store::Store;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use trust::Trust;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The mTLS listener for regional workers (`gateway/`).
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// Regions served by remote workers; monitors may name these besides the local region.
    pub regions: Vec<String>,
    /// Longest a lease request waits for jobs; a region is offline after 3 periods unseen.
    pub lease_wait_ms: u64,
    /// DNS names / IPs in the gateway's server certificate (what workers dial).
    pub server_names: Vec<String>,
    /// Worker connections open at once (handshakes included); past it new ones are closed.
    pub max_connections: usize,
}

impl GatewayConfig {
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for r in &self.regions {
            if !netpulse_core::wire::valid_name(r) {
                return Err(("gateway.regions", format!("`{r}`: use 1-63 of a-z, 0-9, - and _")));
            }
        }
        if !(100..=60_000).contains(&self.lease_wait_ms) {
            return Err(("gateway.lease_wait_ms", "must be between 100 and 60000".into()));
        }
        if self.max_connections == 0 {
            return Err(("gateway.max_connections", "must be at least 1".into()));
        }
        Ok(())
    }

    /// How long a worker connection may take to send a request head, and may stay without
    /// moving a byte: the longest lease wait plus [`PATIENCE_MARGIN`], so a long-poll (which
    /// moves nothing until its answer) is never cut, while a stalled peer is.
    pub fn patience(&self) -> Duration {
        Duration::from_millis(self.lease_wait_ms) + PATIENCE_MARGIN
    }
}

/// What [`GatewayConfig::patience`] adds to the lease wait.
pub const PATIENCE_MARGIN: Duration = Duration::from_secs(30);

/// A worker as its certificate names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Lower-case hex serial.
    pub serial: String,
    pub region: String,
    pub name: String,
}

impl Identity {
    /// `region/name`, the `worker` field of its results.
    pub fn worker(&self) -> String {
        format!("{}/{}", self.region, self.name)
    }
}

/// What every connection shares.
pub struct Shared {
    pub fleet: Arc<Fleet>,
    pub trust: Arc<Trust>,
    pub results: Arc<dyn ResultQueue>,
    pub directory: directory::MonitorDirectory,
    /// Set with the in-process queue: results are acknowledged once ingest stored them.
    pub commits: Option<Arc<CommitWatch>>,
    /// Results that started before its raw horizon are refused at acceptance.
    pub retention: RetentionConfig,
    pub metrics: Arc<Metrics>,
}

/// What the gateway hands results to and reports to.
pub struct Wiring {
    pub fleet: Arc<Fleet>,
    pub results: Arc<dyn ResultQueue>,
    pub store: Arc<dyn Store>,
    /// Region offline/online events for the dashboards.
    pub live: LiveBus,
    /// Set with the in-process queue: acknowledge results once ingest stored them.
    pub commits: Option<Arc<CommitWatch>>,
    /// The engine's `[retention]`: results older than its raw horizon are refused.
    pub retention: RetentionConfig,
    pub metrics: Arc<Metrics>,
}

/// The running gateway.
pub struct Gateway {
    pub addr: SocketAddr,
    accept: JoinHandle<()>,
    upkeep: JoinHandle<()>,
}

impl Gateway {
    /// Bind the listener and start accepting workers until `stop` turns true.
    pub async fn start(
        config: &GatewayConfig,
        data_dir: &Path,
        wiring: Wiring,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let Wiring { fleet, results, store, live, commits, retention, metrics } = wiring;
        let ca = Ca::at(data_dir);
        let trust = Arc::new(Trust::load(ca.registry_path()).context("gateway.enabled needs `netpulse ca init`")?);
        let (cert, key) = ca.server_cert(&config.server_names)?;
        let tls = trust::server_config(&ca.cert_pem()?, &cert, &key, trust.clone())
            .map_err(|e| anyhow::anyhow!("gateway TLS configuration: {e}"))?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} (gateway.listen)", config.listen))?;
        let addr = listener.local_addr()?;
        let directory = directory::MonitorDirectory::new(store.clone());
        let shared = Arc::new(Shared {
            fleet: fleet.clone(),
            trust: trust.clone(),
            results,
            directory,
            commits,
            retention,
            metrics,
        });
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        let limits = Limits {
            cap: Arc::new(ConnectionCap::new(config.max_connections, "gateway.max_connections")),
            patience: config.patience(),
        };
        let accept = tokio::spawn(accept_loop(listener, acceptor, shared, limits, stop.clone()));
        let upkeep = tokio::spawn(upkeep(fleet, trust, store, live, stop));
        tracing::info!(%addr, "gateway listening for workers (mTLS)");
        Ok(Self { addr, accept, upkeep })
    }

    /// Wait for the accept loop and upkeep to end (after `stop`).
    pub async fn join(self) {
        let _ = self.accept.await;
        let _ = self.upkeep.await;
    }
}

/// The gateway's hold on slow or too many clients.
#[derive(Clone)]
struct Limits {
    cap: Arc<ConnectionCap>,
    patience: Duration,
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let conn_stop = stop.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Some(slot) = limits.cap.admit(peer) else { continue }; // dropped: closed
                    let (acceptor, shared, stop) = (acceptor.clone(), shared.clone(), conn_stop.clone());
                    tokio::spawn(async move {
                        serve(stream, peer, acceptor, shared, limits.patience, stop).await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "gateway accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = stopped(&mut stop) => return,
        }
    }
}

/// One worker connection: handshake, then HTTP/1.1 until it closes, is revoked or we stop.
async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    patience: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (stream, activity) = listener::watch(stream);
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return tracing::warn!(%peer, reason = %e, "worker refused at the TLS handshake"),
        Err(_) => return tracing::warn!(%peer, "worker refused: TLS handshake timed out"),
    };
    let id = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).and_then(|c| trust::identity_of(c));
    let Some(id) = id.map(Arc::new) else {
        return tracing::warn!(%peer, "worker refused: no identity in its certificate");
    };
    tracing::debug!(%peer, worker = %id.worker(), "worker connected");
    let mut revocations = shared.trust.subscribe();
    let (svc_shared, svc_id) = (shared.clone(), id.clone());
    let service = hyper::service::service_fn(move |req| protocol::handle(svc_shared.clone(), svc_id.clone(), req));
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(patience)
        .serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            () = activity.idle_for(patience) => {
                return tracing::debug!(%peer, worker = %id.worker(), "idle worker connection closed");
            }
            Ok(()) = revocations.changed() => {
                if let Err(r) = shared.trust.check(&id) {
                    return tracing::warn!(%peer, worker = %id.worker(), reason = %r, "live worker connection dropped");
                }
            }
            _ = stopped(&mut stop) => return,
        }
    }
}

/// Every second: reload the registry if it changed; every lease period: region availability.
async fn upkeep(
    fleet: Arc<Fleet>,
    trust: Arc<Trust>,
    store: Arc<dyn Store>,
    live: LiveBus,
    mut stop: watch::Receiver<bool>,
) {
    let mut last_census = netpulse_store::clock::now();
    loop {
        if let Err(e) = trust.reload_if_changed() {
            tracing::warn!(error = %e, "cannot reload the CA registry; keeping the last one");
        }
        let now = netpulse_store::clock::now();
        if now.since(last_census) >= (fleet.lease_period().as_millis() as i64).min(1000) {
            fleet.try_run_once(store.as_ref(), &live, now).await;
            last_census = now;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stopped(&mut stop) => return,
        }
    }
}

/// Resolves once `stop` is true (the watch guard is dropped inside: the future stays `Send`).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

//! The web layer of an engine node: the HTTP listener, the web configuration and state
//! handed to `netpulse-web`, and the server that serves its router until intake stops —
//! hyper's HTTP/1.1 connections under `[http]`'s limits for slow clients: a header-read
//! timeout, an idle timeout, a connection cap (`503` and a log line past it) and a bounded
//! drain at shutdown.

use super::node::Node;
use super::pipeline::Pipeline;
use crate::config::Config;
use crate::roles::Role;
use anyhow::Context;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use netpulse_pipeline::listener::{self, ConnectionCap};
use netpulse_store::Store;
use netpulse_web::base::badge_key::BadgeKey;
use netpulse_web::base::status_cache::StatusPageCache;
use netpulse_web::base::throttle::Throttles;
use netpulse_web::base::visitor_gate::VisitorGate;
use netpulse_web::config::WebConfig;
use netpulse_web::AppState;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::task::{JoinHandle, JoinSet};

/// The HTTP listener, when this node serves the API or the dashboard.
pub(super) async fn bind(config: &Config) -> anyhow::Result<Option<TcpListener>> {
    if !config.roles.serves_http() {
        return Ok(None);
    }
    let listener = TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {} (http.listen)", config.http.listen))?;
    Ok(Some(listener))
}

/// What the handlers read of the configuration.
fn web_config(config: &Config) -> WebConfig {
    WebConfig {
        accounts: config.accounts.clone(),
        trusted_proxies: config.http.trusted_proxies(),
        stream_keep_alive: config.http.stream_keep_alive(),
        monitors: config.monitors.clone(),
        regions: config.regions_served(),
        retention: config.retention,
        smtp: config.smtp.clone(),
        ssrf: config.ssrf.clone(),
        storm: config.alerts.storm(),
    }
}

pub(super) fn state(
    config: &Config,
    store: &Arc<dyn Store>,
    node: &Node,
    pipeline: &Pipeline,
    base_url: &str,
    badge_key: BadgeKey,
) -> AppState {
    AppState {
        store: store.clone(),
        config: Arc::new(web_config(config)),
        results: node.queue.clone(),
        metrics: node.metrics.clone(),
        monitors_changed: pipeline.monitors_changed.clone(),
        maintenance_changed: pipeline.maintenance_changed.clone(),
        sender: pipeline.sender.clone(),
        base_url: base_url.to_owned(),
        live: node.live.clone(),
        visitors: Arc::new(VisitorGate::new()),
        badge_key,
        fleet: pipeline.fleet.clone(),
        throttles: Arc::new(Throttles::new(&config.accounts)),
        status_cache: Arc::new(StatusPageCache::new(Duration::from_secs(config.http.status_page_cache_s))),
    }
}

/// What the HTTP server holds clients to (`[http]`).
#[derive(Clone, Copy)]
struct Limits {
    header_read: Duration,
    idle: Duration,
    max_connections: usize,
    drain: Duration,
}

impl Limits {
    fn of(config: &Config) -> Self {
        let h = &config.http;
        Self {
            header_read: Duration::from_secs(h.header_read_timeout_s),
            idle: Duration::from_secs(h.idle_timeout_s),
            max_connections: h.max_connections,
            drain: Duration::from_secs(h.shutdown_drain_s),
        }
    }
}

/// Serve the routes of this node's roles on `listener` until intake stops, then give
/// requests in progress `http.shutdown_drain_s` to finish and close what is still open.
pub(super) fn serve(config: &Config, state: AppState, node: &Node, listener: Option<TcpListener>) -> JoinHandle<()> {
    let app = netpulse_web::router(state, config.roles.has(Role::Api), config.roles.has(Role::Dashboard));
    let stop = node.stops.intake.subscribe();
    let limits = Limits::of(config);
    tokio::spawn(async move {
        let Some(listener) = listener else { return };
        accept(listener, app, limits, stop).await;
    })
}

/// Accept connections until `stop`, each on a task of its own under the connection cap.
async fn accept(listener: TcpListener, app: Router, limits: Limits, mut stop: watch::Receiver<bool>) {
    let cap = ConnectionCap::new(limits.max_connections, "http.max_connections");
    let (drain, draining) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => match cap.admit(peer) {
                    Some(slot) => {
                        connections.spawn(connection(tcp, peer, app.clone(), limits, draining.clone(), slot));
                    }
                    None => refuse(&tcp),
                },
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some to close.
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = turned_true(&mut stop) => break,
        }
    }
    drop(listener);
    let _ = drain.send(true);
    let finished = tokio::time::timeout(limits.drain, async { while connections.join_next().await.is_some() {} });
    if finished.await.is_err() {
        tracing::warn!(
            open = connections.len(),
            "HTTP connections still busy after http.shutdown_drain_s ({} s); closing them",
            limits.drain.as_secs()
        );
        connections.shutdown().await;
    }
}

/// Tell a client over the cap to come back, in the API's error shape, and close.
fn refuse(tcp: &TcpStream) {
    const BODY: &str = r#"{"error":{"code":"unavailable","message":"too many connections; try again shortly"}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    // A fresh socket's send buffer takes this at once; a client that cannot is not waited for.
    let _ = tcp.try_write(answer.as_bytes());
}

/// One HTTP/1.1 connection: closed when its request head is slower than the header-read
/// timeout, when no byte moves for the idle timeout, or once it is idle after `draining`.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    mut draining: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    // No Nagle: an SSE event is a small write that must leave at once, not wait up to a
    // delayed ACK (~40 ms) behind the previous one (the check-to-dashboard tail).
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY not set on an HTTP connection");
    }
    let (io, activity) = listener::watch(tcp);
    let app = TowerToHyperService::new(app);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        hyper::service::Service::call(&app, req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .max_headers(HYPER_MAX_HEADERS)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut asked_to_finish = false;
    loop {
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(%peer, error = %e, "HTTP connection ended");
                }
                return;
            }
            () = activity.idle_for(limits.idle) => {
                return tracing::debug!(%peer, "HTTP connection idle past http.idle_timeout_s; closed");
            }
            () = turned_true(&mut draining), if !asked_to_finish => {
                conn.as_mut().graceful_shutdown();
                asked_to_finish = true;
            }
        }
    }
}

/// Resolves once `flag` is true (the watch guard is dropped inside: the future stays `Send`).
async fn turned_true(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|f| *f).await;
}

/// Headers hyper reads before answering 431 on its own (without a body): above the web
/// layer's limit, which answers in the API's error shape.
const HYPER_MAX_HEADERS: usize = 4 * netpulse_web::base::input::MAX_HEADERS;

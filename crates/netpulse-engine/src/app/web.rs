//! The web layer of an engine node: the HTTP listener, the web configuration and state
//! handed to `netpulse-web`, and the server that serves its router until intake stops.

use super::node::Node;
use super::pipeline::Pipeline;
use crate::config::Config;
use crate::roles::Role;
use anyhow::Context;
use netpulse_store::Store;
use netpulse_web::base::badge_key::BadgeKey;
use netpulse_web::base::status_cache::StatusPageCache;
use netpulse_web::base::throttle::Throttles;
use netpulse_web::config::WebConfig;
use netpulse_web::AppState;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

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
        sender: pipeline.sender.clone(),
        base_url: base_url.to_owned(),
        live: node.live.clone(),
        badge_key,
        fleet: pipeline.fleet.clone(),
        throttles: Arc::new(Throttles::new(&config.accounts)),
        status_cache: Arc::new(StatusPageCache::new(Duration::from_secs(config.http.status_page_cache_s))),
    }
}

/// Serve the routes of this node's roles on `listener` until intake stops.
pub(super) fn serve(config: &Config, state: AppState, node: &Node, listener: Option<TcpListener>) -> JoinHandle<()> {
    let app = netpulse_web::router(state, config.roles.has(Role::Api), config.roles.has(Role::Dashboard));
    let mut stop = node.stops.intake.subscribe();
    tokio::spawn(async move {
        let Some(listener) = listener else { return };
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        // No Nagle: an SSE event is a small write that must leave at once, not wait up to a
        // delayed ACK (~40 ms) behind the previous one (the check-to-dashboard tail).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut TcpStream| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set on an HTTP connection");
            }
        });
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stop| *stop).await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "HTTP server failed");
        }
    })
}

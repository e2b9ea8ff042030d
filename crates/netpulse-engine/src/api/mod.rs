//! The REST API under `/api/v1`, plus `/healthz`, `/readyz`, `/metrics` and the heartbeat
//! endpoint. Handlers turn input into domain types before any I/O, call the store with the
//! caller's tenant, and answer errors in the one shape of [`error::ApiError`].

pub mod channels;
pub mod error;
pub mod incidents;
pub mod input;
pub mod maintenance;
pub mod monitors;
pub mod regions;
pub mod status_pages;
pub mod system;

use crate::alerts;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::queue::ResultQueue;
use crate::store::{Scope, Store, TokenAuth};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
use std::sync::Arc;
use tokio::sync::Notify;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub results: Arc<dyn ResultQueue>,
    pub metrics: Arc<Metrics>,
    /// Tells the scheduler that monitors changed.
    pub monitors_changed: Arc<Notify>,
    pub sender: alerts::Sender,
    pub base_url: String,
    /// Committed results and state changes, for the dashboard's `/events`.
    pub live: crate::live::LiveBus,
    /// Signs public badge URLs.
    pub badge_key: crate::dashboard::badges::BadgeKey,
    /// Regions served by remote workers and their health.
    pub fleet: Arc<crate::gateway::fleet::Fleet>,
}

/// The authenticated caller.
pub struct Caller(pub TokenAuth);

impl Caller {
    pub fn require_write(&self) -> Result<(), ApiError> {
        match self.0.scope {
            Scope::Write => Ok(()),
            Scope::Read => Err(ApiError::forbidden("this token is read-only; use a token with the write scope")),
        }
    }
    pub fn tenant(&self) -> &netpulse_core::TenantId {
        &self.0.tenant_id
    }
    /// Who did it, for incident timelines.
    pub fn actor(&self) -> String {
        format!("token {}", self.0.token_id)
    }
}

/// The token from `Authorization: Bearer …`, or the dashboard's session cookie.
pub fn presented_token(parts: &Parts) -> Option<String> {
    let bearer = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    bearer.map(str::to_owned).or_else(|| crate::dashboard::session_token(&parts.headers))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = presented_token(parts).ok_or_else(ApiError::unauthorized)?;
        let auth = state.store.authenticate(&crate::clock::token_hash(&token)).await?;
        auth.map(Caller).ok_or_else(|| {
            ApiError::new(http::StatusCode::UNAUTHORIZED, "unauthorized", "unknown or revoked API token")
        })
    }
}

/// All routes of the API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/metrics", get(system::metrics))
        .route("/api/v1/heartbeat/{token}", get(system::heartbeat).post(system::heartbeat))
        .route("/api/v1/monitors", get(monitors::list).post(monitors::create))
        .route("/api/v1/monitors/{id}", get(monitors::get).patch(monitors::update).delete(monitors::delete))
        .route("/api/v1/monitors/{id}/pause", post(monitors::pause))
        .route("/api/v1/monitors/{id}/resume", post(monitors::resume))
        .route("/api/v1/monitors/{id}/results", get(monitors::results))
        .route("/api/v1/monitors/{id}/uptime", get(monitors::uptime))
        .route("/api/v1/regions", get(regions::list))
        .route("/api/v1/monitors/{id}/maintenance", get(maintenance::list).post(maintenance::create))
        .route("/api/v1/maintenance/{id}", axum::routing::delete(maintenance::cancel))
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::get))
        .route("/api/v1/incidents/{id}/acknowledge", post(incidents::acknowledge))
        .route("/api/v1/incidents/{id}/resolve", post(incidents::resolve))
        .route("/api/v1/incidents/{id}/public-message", post(status_pages::public_message))
        .route("/api/v1/status-pages", get(status_pages::list).post(status_pages::create))
        .route(
            "/api/v1/status-pages/{id}",
            get(status_pages::get).patch(status_pages::update).delete(status_pages::delete),
        )
        .route("/api/v1/channels", get(channels::list).post(channels::create))
        .route("/api/v1/channels/{id}", get(channels::get).patch(channels::update).delete(channels::delete))
        .route("/api/v1/channels/{id}/test", post(channels::test))
        .route("/api/v1/channels/{id}/deliveries", get(channels::deliveries))
        .fallback(|| async {
            ApiError::new(http::StatusCode::NOT_FOUND, "not_found", "no such route; see the API overview in the README")
        })
}

/// Parse a path id, answering 404 (not 400) for ids of the wrong shape: an id is either
/// one of yours or it does not exist.
pub fn path_id<T>(
    s: &str,
    parse: fn(&str) -> Result<T, netpulse_core::ids::IdError>,
    what: &str,
) -> Result<T, ApiError> {
    parse(s).map_err(|_| ApiError::not_found(what))
}

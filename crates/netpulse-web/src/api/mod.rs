//! The REST API under `/api/v1` (described by `api/openapi.json`, served at
//! `/api/v1/openapi.json`), plus `/healthz`, `/readyz`, `/metrics`, `/metrics/monitors` and the heartbeat
//! endpoint. Handlers turn input into domain types before any I/O, call the store with the
//! caller's tenant, and answer errors in the one shape of [`ApiError`]. The account
//! endpoints (`/api/v1/auth/*`, members, invitations, tokens) are [`crate::accounts`]' handlers.

pub mod channel_kinds;
pub mod channels;
pub mod deliveries;
pub mod incident_updates;
pub mod incidents;
pub mod maintenance;
pub mod monitor_metrics;
pub mod monitors;
pub mod regions;
pub mod settings;
pub mod status_pages;
pub mod subscribers;
pub mod system;
pub mod visitor_sources;

use crate::accounts;
use crate::base::{ApiError, AppState};
use axum::routing::{get, post};
use axum::Router;

/// All routes of the API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/metrics", get(system::metrics))
        .route("/metrics/monitors", get(monitor_metrics::monitor_metrics))
        .route("/api/v1/openapi.json", get(system::openapi))
        .route("/api/v1/heartbeat/{token}", get(system::heartbeat).post(system::heartbeat))
        .route("/api/v1/auth/register", post(accounts::register))
        .route("/api/v1/auth/verify", get(accounts::verify_link).post(accounts::verify_post))
        .route("/api/v1/auth/login", post(accounts::login))
        .route("/api/v1/auth/logout", post(accounts::logout))
        .route("/api/v1/auth/me", get(accounts::me))
        .route("/api/v1/auth/password", post(accounts::recovery::change_password))
        .route("/api/v1/auth/reset", post(accounts::recovery::request_reset))
        .route("/api/v1/auth/reset/confirm", post(accounts::recovery::confirm_reset))
        .route("/api/v1/auth/resend-verification", post(accounts::recovery::resend_verification))
        .route("/api/v1/auth/organisations", get(accounts::members::organisations))
        .route("/api/v1/auth/switch", post(accounts::members::switch))
        .route("/api/v1/auth/leave", post(accounts::members::leave))
        .route("/api/v1/members", get(accounts::members::list))
        .route(
            "/api/v1/members/{id}",
            axum::routing::patch(accounts::members::set_role).delete(accounts::members::remove),
        )
        .route("/api/v1/invitations", get(accounts::members::pending).post(accounts::members::invite))
        .route("/api/v1/invitations/accept", post(accounts::members::accept))
        .route("/api/v1/invitations/{id}", axum::routing::delete(accounts::members::revoke_invitation))
        .route("/api/v1/tokens", get(accounts::tokens::list).post(accounts::tokens::create))
        .route("/api/v1/tokens/{id}", axum::routing::delete(accounts::tokens::revoke))
        .route("/api/v1/monitors", get(monitors::list).post(monitors::create))
        .route("/api/v1/monitors/{id}", get(monitors::get).patch(monitors::update).delete(monitors::delete))
        .route("/api/v1/monitors/{id}/pause", post(monitors::pause))
        .route("/api/v1/monitors/{id}/resume", post(monitors::resume))
        .route("/api/v1/monitors/{id}/results", get(monitors::results))
        .route("/api/v1/monitors/{id}/uptime", get(monitors::uptime))
        .route("/api/v1/regions", get(regions::list))
        .route("/api/v1/monitors/{id}/maintenance", get(maintenance::list).post(maintenance::create))
        .route("/api/v1/maintenance/{id}", get(maintenance::get).delete(maintenance::cancel))
        .route("/api/v1/monitors/{id}/visitor-sources", get(visitor_sources::list).post(visitor_sources::create))
        .route("/api/v1/visitor-sources/{id}", axum::routing::delete(visitor_sources::delete))
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::get))
        .route("/api/v1/incidents/{id}/acknowledge", post(incidents::acknowledge))
        .route("/api/v1/incidents/{id}/resolve", post(incidents::resolve))
        .route("/api/v1/incidents/{id}/updates", get(incident_updates::list).post(incident_updates::create))
        .route("/api/v1/incidents/{id}/public-message", post(incident_updates::public_message))
        .route("/api/v1/status-pages", get(status_pages::list).post(status_pages::create))
        .route(
            "/api/v1/status-pages/{id}",
            get(status_pages::get).patch(status_pages::update).delete(status_pages::delete),
        )
        .route("/api/v1/status-pages/{id}/subscribers", get(subscribers::list).post(subscribers::create))
        .route("/api/v1/status-pages/{id}/subscribers/{sub}", axum::routing::delete(subscribers::delete))
        .route("/api/v1/channels", get(channels::list).post(channels::create))
        .route("/api/v1/channels/{id}", get(channels::get).patch(channels::update).delete(channels::delete))
        .route("/api/v1/channels/{id}/test", post(channels::test))
        .route("/api/v1/channels/{id}/deliveries", get(channels::deliveries))
        .route("/api/v1/deliveries", get(deliveries::list))
        .route("/api/v1/settings/alerting", get(settings::get).put(settings::put))
        .fallback(|| async {
            ApiError::new(http::StatusCode::NOT_FOUND, "not_found", "no such route; see docs/api.md")
        })
        .layer(axum::middleware::from_fn(crate::base::error::one_shape))
        .layer(axum::middleware::map_response(nosniff))
}

/// Every API answer is `X-Content-Type-Options: nosniff`: a browser never reads JSON (an
/// error echoing input included) as anything else.
async fn nosniff(mut r: axum::response::Response) -> axum::response::Response {
    let nosniff = http::HeaderValue::from_static("nosniff");
    r.headers_mut().entry(http::header::X_CONTENT_TYPE_OPTIONS).or_insert(nosniff);
    r
}

//! The NetPulse web layer: the REST API ([`api`], with the account endpoints of [`accounts`]),
//! the server-rendered [`dashboard`] with its public status pages and badges, over one web
//! [`base`] (state, caller, cookies, errors, input, redaction, caches).
//!
//! The binary builds an [`AppState`] and asks [`router`] for the routes this node serves.

pub mod accounts;
pub mod api;
pub mod base;
pub mod config;
pub mod dashboard;

pub use base::AppState;

/// The routes of this node over `state`: the API when `api`, the dashboard when
/// `dashboard`. A request for a status page's own host name gets only that page
/// ([`dashboard::status_page::custom_domain`]). Before any handler, a request over the size limits is refused
/// ([`base::input::refuse_oversized`]) and every change the demo visitor asks for is refused
/// ([`base::demo::refuse_mutations`]).
pub fn router(state: AppState, api: bool, dashboard: bool) -> axum::Router {
    let mut app = axum::Router::new();
    if api {
        app = app.merge(api::router());
    }
    if dashboard {
        app = app
            .merge(dashboard::router())
            .layer(axum::middleware::from_fn_with_state(state.clone(), dashboard::status_page::custom_domain));
    }
    app.layer(axum::middleware::from_fn(base::demo::refuse_mutations))
        .layer(axum::middleware::from_fn(base::input::refuse_oversized))
        .with_state(state)
}

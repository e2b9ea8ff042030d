//! The REST API under `/api/v1` (described by `api/openapi.json`, served at
//! `/api/v1/openapi.json`), plus `/healthz`, `/readyz`, `/metrics` and the heartbeat
//! endpoint. Handlers turn input into domain types before any I/O, call the store with the
//! caller's tenant, and answer errors in the one shape of [`error::ApiError`].

pub mod audience;
pub mod channels;
pub mod error;
pub mod incidents;
pub mod input;
pub mod maintenance;
pub mod monitors;
pub mod regions;
pub mod settings;
pub mod status_pages;
pub mod system;

use crate::accounts;
use crate::config::Config;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
use netpulse_pipeline::alerts;
use netpulse_pipeline::metrics::Metrics;
use netpulse_pipeline::queue::ResultQueue;
use netpulse_store::{Role, Scope, Store, TokenAuth};
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
    pub live: netpulse_pipeline::live::LiveBus,
    /// Signs public badge URLs.
    pub badge_key: crate::dashboard::badges::BadgeKey,
    /// Regions served by remote workers and their health.
    pub fleet: Arc<netpulse_pipeline::gateway::fleet::Fleet>,
    /// Login attempts per IP address and per account.
    pub login_throttle: Arc<crate::accounts::LoginThrottle>,
    /// Recent readings of public status pages.
    pub status_cache: Arc<crate::dashboard::status_cache::StatusPageCache>,
}

/// The authenticated caller: a tenant, the role it acts with there, and how it proved it.
pub struct Caller {
    pub tenant_id: netpulse_core::TenantId,
    pub role: Role,
    /// Whether the user's e-mail is verified (always true for API tokens).
    pub verified: bool,
    pub via: Via,
}

/// How a caller authenticated.
pub enum Via {
    /// `Authorization: Bearer`, or a pasted token in the dashboard cookie.
    Token { id: netpulse_core::TokenId, scope: Scope, creator: Option<netpulse_core::UserId> },
    /// A login session (cookie), CSRF-checked on every mutation.
    Session { user: netpulse_core::UserId },
    /// The demo visitor (`np_session=demo`): reads the demo organisation, changes nothing.
    Demo,
}

impl Caller {
    /// Changes to monitors, incidents and maintenance: members and up.
    pub fn require_write(&self) -> Result<(), ApiError> {
        if self.is_demo() {
            return Err(crate::demo::read_only());
        }
        if let Via::Token { scope: Scope::Read, .. } = self.via {
            return Err(ApiError::forbidden("this token is read-only; use a token with the write scope"));
        }
        if self.role < Role::Member {
            return Err(ApiError::forbidden(
                "viewers can only read; ask an admin of this organisation for the member role",
            ));
        }
        Ok(())
    }
    /// Channels and tokens: admins and owners.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        self.require_write()?;
        if self.role < Role::Admin {
            return Err(ApiError::forbidden("only admins and owners of this organisation may do this"));
        }
        Ok(())
    }
    /// Creating monitors needs a verified e-mail address.
    pub fn require_verified(&self) -> Result<(), ApiError> {
        if self.verified {
            Ok(())
        } else {
            Err(ApiError::new(
                http::StatusCode::FORBIDDEN,
                "email_not_verified",
                "verify your e-mail address first: open the link we sent you",
            ))
        }
    }
    pub fn tenant(&self) -> &netpulse_core::TenantId {
        &self.tenant_id
    }
    pub fn is_session(&self) -> bool {
        matches!(self.via, Via::Session { .. })
    }
    pub fn is_demo(&self) -> bool {
        matches!(self.via, Via::Demo)
    }
    /// Which results this caller's uptime figures count: the demo visitor reading the demo
    /// organisation sees its sample (`demo`) results; everyone else, live evidence only.
    pub fn evidence(&self) -> netpulse_store::Evidence {
        if self.is_demo() && netpulse_store::demo::is_demo(self.tenant()) {
            netpulse_store::Evidence::Demo
        } else {
            netpulse_store::Evidence::Live
        }
    }
    /// What answers to this caller may show (see [`audience`]).
    pub fn audience(&self) -> audience::Audience {
        audience::Audience::of(self.role, self.is_demo())
    }
    /// The person acting: a session's user, or the member whose API token it is.
    pub fn acting_user(&self) -> Option<&netpulse_core::UserId> {
        match &self.via {
            Via::Session { user } => Some(user),
            Via::Token { creator, .. } => creator.as_ref(),
            Via::Demo => None,
        }
    }
    /// Who did it, for incident timelines.
    pub fn actor(&self) -> String {
        match &self.via {
            Via::Token { id, .. } => format!("token {id}"),
            Via::Session { user } => format!("user {user}"),
            Via::Demo => "demo visitor".into(),
        }
    }
    pub(crate) fn from_token(auth: TokenAuth) -> Self {
        Self {
            tenant_id: auth.tenant_id,
            role: auth.role,
            verified: true,
            via: Via::Token { id: auth.token_id, scope: auth.scope, creator: auth.created_by },
        }
    }
}

fn bearer(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_owned())
}

fn unknown_credentials() -> ApiError {
    ApiError::new(http::StatusCode::UNAUTHORIZED, "unauthorized", "unknown, expired or revoked API token or session")
}

fn csrf_refused() -> ApiError {
    ApiError::new(
        http::StatusCode::FORBIDDEN,
        "csrf_failed",
        "a cookie-authenticated change must send the header X-CSRF-Token with the value of the np_csrf cookie",
    )
}

/// Whether `m` changes something (and so needs a CSRF token when authenticated by cookie).
fn is_mutation(m: &http::Method) -> bool {
    !matches!(*m, http::Method::GET | http::Method::HEAD | http::Method::OPTIONS)
}

/// Constant-time comparison of two secrets.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let now = netpulse_store::clock::now();
        if let Some(token) = bearer(parts) {
            let hash = netpulse_store::clock::token_hash(&token);
            let auth = state.store.authenticate(&hash).await?.ok_or_else(unknown_credentials)?;
            state.store.touch_token(&hash, now).await?;
            return Ok(Caller::from_token(auth));
        }
        let cookie = crate::dashboard::session_token(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        if cookie == crate::demo::COOKIE_VALUE {
            return demo_caller(state, &parts.method);
        }
        let hash = netpulse_store::clock::token_hash(&cookie);
        if cookie.starts_with(crate::accounts::SESSION_PREFIX) {
            let s = state.store.session(&hash, now).await?.ok_or_else(unknown_credentials)?;
            if is_mutation(&parts.method) {
                let sent = parts.headers.get(crate::accounts::CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
                if !same_secret(sent, s.csrf.as_bytes()) {
                    return Err(csrf_refused());
                }
            }
            return Ok(Caller {
                tenant_id: s.tenant_id,
                role: s.role,
                verified: s.verified,
                via: Via::Session { user: s.user },
            });
        }
        // A token pasted into the dashboard's sign-in form: it has no CSRF secret, so by
        // cookie it can only read.
        let auth = state.store.authenticate(&hash).await?.ok_or_else(unknown_credentials)?;
        if is_mutation(&parts.method) {
            return Err(csrf_refused());
        }
        state.store.touch_token(&hash, now).await?;
        Ok(Caller::from_token(auth))
    }
}

/// The demo visitor, when the demo is enabled; it never passes a mutation.
fn demo_caller(state: &AppState, method: &http::Method) -> Result<Caller, ApiError> {
    if !state.config.accounts.demo {
        return Err(unknown_credentials());
    }
    if is_mutation(method) {
        return Err(crate::demo::read_only());
    }
    Ok(Caller { tenant_id: netpulse_store::demo::tenant(), role: Role::Viewer, verified: false, via: Via::Demo })
}

/// All routes of the API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/metrics", get(system::metrics))
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
        .route("/api/v1/settings/alerting", get(settings::get).put(settings::put))
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

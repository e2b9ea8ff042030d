//! Who is asking: the [`Caller`] extractor authenticates a request by bearer token, login
//! session (CSRF-checked on every mutation), a token pasted into the dashboard, or the demo
//! cookie, and answers what the caller may do.

use super::audience;
use super::cookies;
use super::demo;
use super::error::ApiError;
use super::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use netpulse_store::clock;
use netpulse_store::{Role, Scope, TokenAuth};

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
            return Err(demo::read_only());
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
    /// What answers to this caller may show (see [`super::audience`]).
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
    pub fn from_token(auth: TokenAuth) -> Self {
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
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let now = clock::now();
        if let Some(token) = bearer(parts) {
            let hash = clock::token_hash(&token);
            let auth = state.store.authenticate(&hash).await?.ok_or_else(unknown_credentials)?;
            state.store.touch_token(&hash, now).await?;
            return Ok(Caller::from_token(auth));
        }
        let cookie = cookies::session_token(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        if cookie == demo::COOKIE_VALUE {
            return demo_caller(state, &parts.method);
        }
        let hash = clock::token_hash(&cookie);
        if cookie.starts_with(cookies::SESSION_PREFIX) {
            let s = state.store.session(&hash, now).await?.ok_or_else(unknown_credentials)?;
            if is_mutation(&parts.method) {
                let sent = parts.headers.get(cookies::CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
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
        return Err(demo::read_only());
    }
    Ok(Caller { tenant_id: netpulse_store::demo::tenant(), role: Role::Viewer, verified: false, via: Via::Demo })
}

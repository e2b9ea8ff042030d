//! Accounts: registration with e-mail verification, login into cookie sessions with CSRF
//! tokens, logout, and the per-tenant API tokens. Users are not tenant data; a membership
//! gives a user a [`Role`] in a tenant, and a session is bound to one membership.
//!
//! Enumeration safety: registration answers the same whether or not the e-mail is taken,
//! after the same argon2id work, and mails the address either way — a new one its
//! verification link, a taken one a notice that someone tried to register with it (at most
//! one a minute, from a budget of its own that no answer depends on). Login answers the
//! same body for an unknown e-mail and a wrong password, after the same argon2id work (a
//! dummy hash stands in for a missing account).
//!
//! Throttles ([`crate::base::throttle`]), all applied alike to taken and new addresses:
//! sign-ups per IP address, per e-mail address and per destination domain of the mail they
//! send; logins per IP address and per account, where an address that signed in to the
//! account before keeps a budget of its own (wrong guesses from elsewhere cannot lock the
//! owner out); every password hash through the [`password::HashGate`] (`503 busy` beyond
//! it). The client's address is the peer's, or from a trusted proxy its `X-Forwarded-For`
//! ([`ClientIp`]).

pub mod mail;
pub mod members;
pub mod password;
pub mod recovery;
pub mod tokens;

use crate::base::cookies::{
    cleared_cookies, secure_attribute, session_token, CSRF_COOKIE, SESSION_COOKIE, SESSION_PREFIX,
};
use crate::base::input::{parse_field, JsonBody, QueryParams};
use crate::base::throttle::domain_of;
use crate::base::{ApiError, ApiResult, AppState, Caller};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use netpulse_checker::guard::IpCidr;
use netpulse_core::{TenantId, UserId};
use netpulse_store::clock;
use netpulse_store::{EmailPurpose, EmailTokenUse, NewAccount, NewSession, Role, StoreError, UserRecord};
use serde::Deserialize;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// How long a verification link stays valid.
const VERIFY_TTL_MS: i64 = 24 * 3600 * 1000;

/// An e-mail address as stored: trimmed, lower-case, one plain address.
pub fn parse_email(s: &str) -> ApiResult<String> {
    let e = s.trim().to_lowercase();
    netpulse_pipeline::alerts::email::parse_address(&e).map_err(|m| ApiError::invalid("email", m))?;
    if e.len() > 254 {
        return Err(ApiError::invalid("email", "must be at most 254 characters"));
    }
    Ok(e)
}

pub(crate) fn parse_password(s: &str) -> ApiResult<()> {
    let n = s.chars().count();
    if n < password::MIN_LEN {
        return Err(ApiError::invalid("password", format!("must be at least {} characters", password::MIN_LEN)));
    }
    if n > 1024 {
        return Err(ApiError::invalid("password", "must be at most 1024 characters"));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterIn {
    pub email: String,
    pub password: String,
    pub organisation: String,
}

/// `POST /api/v1/auth/register`: 202 and the same body whether or not the e-mail is taken
/// (a taken one gets no new account; its owner gets a notice by mail).
pub async fn register(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r: RegisterIn = parse_field("", serde_json::Value::Object(body))?;
    register_account(&s, &ip, r).await?;
    let body = json!({ "message": "check your e-mail: we sent a message to this address" });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// Register (the API and the sign-up page) from `ip`: the same outcome whether or not the
/// e-mail is taken, except for invalid input; throttled per IP address, per e-mail address
/// and per domain of the mail it sends (`429` with `Retry-After`), hashing through the gate
/// (`503 busy`).
pub async fn register_account(s: &AppState, ip: &str, r: RegisterIn) -> ApiResult<()> {
    let email = parse_email(&r.email)?;
    parse_password(&r.password)?;
    let organisation = r.organisation.trim();
    if organisation.is_empty() || organisation.chars().count() > 100 {
        return Err(ApiError::invalid("organisation", "must be 1 to 100 characters"));
    }
    sign_up_throttled(s, ip, &email)?;
    let now = clock::now();
    let user = UserRecord {
        id: clock::fresh(),
        email,
        password_hash: s.throttles.hashes.hash(r.password).await.map_err(|_| hashing_busy())?,
        verified_at: None,
        created_at: now,
    };
    let acct = NewAccount { user: user.clone(), tenant: clock::fresh(), tenant_name: organisation.to_owned() };
    match s.store.register(&acct, now).await {
        Ok(tenant) => {
            tracing::info!(user = %user.id, %tenant, "account registered");
            send_verification(s, &user.id, &user.email).await?;
        }
        Err(StoreError::Conflict(_)) => {
            // Its own budget: the answers of resends and resets must not depend on it.
            let notice = s.throttles.taken_notice.allow(&user.email, Instant::now());
            tracing::info!(notice_sent = notice, "registration for an e-mail that has an account");
            if notice {
                send_taken_notice(s, &user.email);
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// The sign-up budgets of `ip` and `email` and of the domain its mail goes to, taken the
/// same way whether or not the address has an account.
fn sign_up_throttled(s: &AppState, ip: &str, email: &str) -> ApiResult<()> {
    let (t, now) = (&s.throttles, Instant::now());
    let spent = if !t.register_ip.allow(ip, now) {
        Some(("sign-ups from this address", t.register_ip.retry_after_s()))
    } else if !t.register_address.allow(email, now) {
        Some(("sign-ups with this e-mail address", t.register_address.retry_after_s()))
    } else if !t.mail_domain.allow(domain_of(email), now) {
        Some(("mails to this e-mail domain", t.mail_domain.retry_after_s()))
    } else {
        None
    };
    match spent {
        Some((what, retry)) => {
            tracing::warn!(%ip, what, "sign-up rate limited");
            Err(ApiError::rate_limited(what, retry))
        }
        None => Ok(()),
    }
}

/// `503 busy` while the password-hashing gate is full.
pub(crate) fn hashing_busy() -> ApiError {
    tracing::warn!("password hashing busy: request refused");
    ApiError::busy("checking passwords", password::BUSY_RETRY_S)
}

/// Tell the owner of `email` that someone tried to register with it (instead of telling
/// the one registering that it is taken).
fn send_taken_notice(s: &AppState, email: &str) {
    let text = format!(
        "Someone tried to create a NetPulse account with this e-mail address, which already has one.\n\n\
         If it was you, sign in: {base}/login\n\
         If you forgot your password, reset it: {base}/forgot\n\n\
         If it was not you, ignore this message; nothing was changed.",
        base = s.base_url,
    );
    mail::send_link(&s.config.smtp, email, "Someone tried to register with your NetPulse address", text);
}

/// Store a fresh single-use verification token and mail (or log) its link.
pub(crate) async fn send_verification(s: &AppState, user: &UserId, email: &str) -> ApiResult<()> {
    let token = clock::secret_token("npv_");
    let expires = clock::now().plus_ms(VERIFY_TTL_MS);
    s.store.add_email_token(user, &clock::token_hash(&token), EmailPurpose::Verify, expires).await?;
    let link = format!("{}/verify?token={token}", s.base_url);
    let text = format!(
        "Welcome to NetPulse.\n\nOpen this link within 24 hours to verify your e-mail address:\n\n{link}\n\n\
         If you did not sign up, ignore this message."
    );
    mail::send_link(&s.config.smtp, email, "Verify your NetPulse e-mail address", text);
    Ok(())
}

/// Create the owner account from `NETPULSE_ADMIN_EMAIL`/`NETPULSE_ADMIN_PASSWORD` on an
/// install that has no users yet (it joins the bootstrap tenant, already verified).
pub async fn bootstrap_owner(store: &dyn netpulse_store::Store, email: &str, pass: &str) -> anyhow::Result<()> {
    let email = parse_email(email).map_err(|e| anyhow::anyhow!("NETPULSE_ADMIN_EMAIL: {}", e.message))?;
    parse_password(pass).map_err(|e| anyhow::anyhow!("NETPULSE_ADMIN_PASSWORD: {}", e.message))?;
    if store.user_by_email(&email).await?.is_some() {
        return Ok(());
    }
    let now = clock::now();
    let user = UserRecord {
        id: clock::fresh(),
        email,
        password_hash: password::hash(pass.to_owned()).await,
        verified_at: Some(now),
        created_at: now,
    };
    let acct = NewAccount { user, tenant: clock::fresh(), tenant_name: "default".into() };
    match store.register(&acct, now).await {
        Ok(tenant) => tracing::info!(%tenant, "owner account created from NETPULSE_ADMIN_EMAIL"),
        Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: String,
}

/// `GET /api/v1/auth/verify?token=…` (the mailed link) and `POST` with `{"token"}`.
pub async fn verify_link(
    State(s): State<AppState>,
    QueryParams(q): QueryParams<TokenQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    verify(&s, &q.token).await
}

pub async fn verify_post(State(s): State<AppState>, JsonBody(body): JsonBody) -> ApiResult<Json<serde_json::Value>> {
    let q: TokenQuery = parse_field("", serde_json::Value::Object(body))?;
    verify(&s, &q.token).await
}

pub(crate) async fn verify(s: &AppState, token: &str) -> ApiResult<Json<serde_json::Value>> {
    let gone = |code, message: &str| ApiError::new(StatusCode::GONE, code, message);
    match s.store.use_email_token(&clock::token_hash(token), EmailPurpose::Verify, clock::now()).await? {
        EmailTokenUse::Accepted(user) => {
            tracing::info!(%user, "e-mail verified");
            Ok(Json(json!({ "verified": true, "message": "your e-mail address is verified; you can log in" })))
        }
        EmailTokenUse::Expired => Err(gone(
            "verification_expired",
            "this verification link has expired (links last 24 hours); register again or ask for a new link",
        )),
        EmailTokenUse::AlreadyUsed => Err(gone(
            "verification_used",
            "this verification link was already used; each link works once — log in, or ask for a new link",
        )),
        EmailTokenUse::Unknown => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "verification_unknown",
            "this verification link is not valid; check that it was copied whole",
        )),
    }
}

/// The client's IP address: the peer's, or when the peer is one of `http.trusted_proxies`,
/// the rightmost address of `X-Forwarded-For` that is not a trusted proxy (`unknown` when the
/// server was not started with connect info); an IPv6 one as its /64 ([`rate_key`]), which
/// is what the per-client budgets count.
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(ClientIp("unknown".to_owned()));
        };
        Ok(ClientIp(rate_key(client_ip(peer.ip(), &parts.headers, &s.config.trusted_proxies))))
    }
}

/// A client's address as its per-client budgets count it: an IPv4 address as it is, an IPv6
/// one by its /64 (a single host is usually given a whole /64, so counting its addresses one
/// by one would hand it 2⁶⁴ budgets).
pub fn rate_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        v4 => v4.to_string(),
    }
}

/// Who sent a request that `peer` passed on with `headers` (see [`ClientIp`]).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpCidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| t.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded: Vec<&str> =
        headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in forwarded.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip) => client = ip,
            Ok(ip) => return ip,
            Err(_) => return client, // a hop nobody trusted wrote: go no further
        }
    }
    client
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginIn {
    email: String,
    password: String,
}

/// `429 rate_limited` with `Retry-After: 60`; `what` says what was asked too often.
pub(crate) fn rate_limited_for(what: &str) -> Response {
    ApiError::rate_limited(what, 60).into_response()
}

/// `POST /api/v1/auth/login`: a session cookie, a CSRF cookie, and the CSRF token in the body.
pub async fn login(State(s): State<AppState>, ClientIp(ip): ClientIp, JsonBody(body): JsonBody) -> Response {
    let l: LoginIn = match parse_field("", serde_json::Value::Object(body)) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    match sign_in(&s, &ip, &l.email, l.password).await {
        Ok(opened) => opened.with_cookies(Json(opened.body.clone()).into_response()),
        Err(refused) => refused,
    }
}

/// A session just opened: its two cookies and what the API answers about it.
pub struct Opened {
    pub cookies: [String; 2],
    pub body: serde_json::Value,
}

impl Opened {
    /// `r` with the session's `Set-Cookie` headers.
    pub fn with_cookies(&self, mut r: Response) -> Response {
        for c in &self.cookies {
            r.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(c).expect("cookie is ASCII"));
        }
        r
    }
}

/// Sign in by e-mail and password (the API and the dashboard form): throttled per IP and
/// per account — an address that signed in to the account before has a budget of its own,
/// so guesses from elsewhere do not lock it out; the same refusal for an unknown e-mail and
/// a wrong password.
pub async fn sign_in(s: &AppState, ip: &str, email: &str, password: String) -> Result<Opened, Response> {
    let email = email.trim().to_lowercase();
    let (t, now_i) = (&s.throttles, Instant::now());
    let account_budget = || {
        if t.known.contains(&email, ip) {
            t.known_source.allow(&format!("{email} {ip}"), now_i)
        } else {
            t.account.allow(&email, now_i)
        }
    };
    if !t.ip.allow(ip, now_i) || !account_budget() {
        tracing::warn!(%ip, "login rate limited");
        return Err(rate_limited_for("login attempts"));
    }
    let refused = || ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "wrong e-mail or password");
    let user = s.store.user_by_email(&email).await.map_err(|e| ApiError::from(e).into_response())?;
    let phc = user.as_ref().map(|u| u.password_hash.clone());
    let ok = t.hashes.verify(password, phc).await.map_err(|_| hashing_busy().into_response())?;
    let (Some(user), true) = (user, ok) else {
        return Err(refused().into_response());
    };
    t.known.remember(&email, ip);
    match s.store.first_membership(&user.id).await {
        Ok(Some((tenant, role))) => open_session(s, &user, tenant, role).await.map_err(IntoResponse::into_response),
        Ok(None) => Err(refused().into_response()),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

async fn open_session(s: &AppState, user: &UserRecord, tenant: TenantId, role: Role) -> ApiResult<Opened> {
    let id = clock::secret_token(SESSION_PREFIX);
    let csrf = clock::secret_token("");
    let now = clock::now();
    let days = i64::from(s.config.accounts.session_days);
    let session = NewSession {
        id_hash: clock::token_hash(&id),
        user: user.id.clone(),
        tenant: tenant.clone(),
        csrf: csrf.clone(),
        created_at: now,
        expires_at: now.plus_ms(days * 86_400_000),
    };
    s.store.create_session(&session).await?;
    tracing::info!(user = %user.id, %tenant, "logged in");
    let secure = secure_attribute(&s.base_url);
    let max_age = days * 86_400;
    let body = json!({
        "user": user.id, "tenant": tenant, "role": role,
        "verified": user.verified_at.is_some(), "csrf_token": csrf,
    });
    let cookies = [
        format!("{SESSION_COOKIE}={id}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}"),
        format!("{CSRF_COOKIE}={csrf}; SameSite=Lax; Path=/; Max-Age={max_age}{secure}"),
    ];
    Ok(Opened { cookies, body })
}

/// `POST /api/v1/auth/logout`: revoke the session (CSRF-checked like any mutation).
pub async fn logout(State(s): State<AppState>, caller: Caller, headers: HeaderMap) -> ApiResult<Response> {
    if caller.is_session() {
        if let Some(id) = session_token(&headers) {
            s.store.revoke_session(&clock::token_hash(&id), clock::now()).await?;
        }
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    for c in cleared_cookies() {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(r)
}

/// `GET /api/v1/auth/me`: who the caller is.
pub async fn me(caller: Caller) -> Json<serde_json::Value> {
    Json(
        json!({ "tenant": caller.tenant(), "role": caller.role, "verified": caller.verified, "actor": caller.actor() }),
    )
}

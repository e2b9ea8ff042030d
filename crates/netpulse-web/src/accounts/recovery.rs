//! Getting back in and staying safe: password reset by e-mail (a single-use link valid for
//! an hour; using it sets the new password and revokes every session), password change
//! (revokes the user's other sessions), and resending the verification mail.
//!
//! Requests that name an e-mail address answer `202` the same way whether or not it has an
//! account, and are limited per address ([`MAIL_PER_MINUTE`]), per IP address (the
//! login budget) and per domain of the address (`accounts.mail_per_hour_domain`), whether or
//! not it has one, so neither the answer nor the limit tells.
//!
//! [`MAIL_PER_MINUTE`]: crate::base::throttle::MAIL_PER_MINUTE

use super::{hashing_busy, mail, parse_email, parse_password, rate_limited_for, ClientIp};
use crate::base::input::{parse_field, JsonBody};
use crate::base::throttle::domain_of;
use crate::base::{ApiError, ApiResult};
use crate::base::{AppState, Caller, Via};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use netpulse_store::clock;
use netpulse_store::{EmailPurpose, EmailTokenUse};
use serde::Deserialize;
use serde_json::json;
use std::time::Instant;

/// How long a reset link stays valid.
const RESET_TTL_MS: i64 = 3600 * 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailIn {
    email: String,
}

/// The throttles for a mail asked for `email` from `ip`; `Some(429)` when spent.
fn mail_throttled(s: &AppState, ip: &str, email: &str) -> Option<Response> {
    let (t, now) = (&s.throttles, Instant::now());
    let ok = t.ip.allow(ip, now) && t.mail.allow(email, now) && t.mail_domain.allow(domain_of(email), now);
    (!ok).then(|| rate_limited_for("mails asked for this address"))
}

fn accepted(message: &str) -> Response {
    (StatusCode::ACCEPTED, Json(json!({ "message": message }))).into_response()
}

/// `POST /api/v1/auth/resend-verification {"email"}`: a fresh link for an unverified account.
pub async fn resend_verification(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r: EmailIn = parse_field("", serde_json::Value::Object(body))?;
    let email = parse_email(&r.email)?;
    if let Some(limited) = mail_throttled(&s, &ip, &email) {
        return Ok(limited);
    }
    if let Some(user) = s.store.user_by_email(&email).await?.filter(|u| u.verified_at.is_none()) {
        super::send_verification(&s, &user.id, &user.email).await?;
    }
    Ok(accepted("if this address has an unverified account, a new verification link is on its way"))
}

/// What asking for a mail did.
pub enum Asked {
    /// Answered alike whether or not the address has an account.
    Accepted,
    /// The address or the IP address asked too often.
    Limited,
}

/// Mail a reset link to `email` if it has an account (API and dashboard form).
pub async fn ask_for_reset(s: &AppState, ip: &str, email: &str) -> ApiResult<Asked> {
    let email = parse_email(email)?;
    if mail_throttled(s, ip, &email).is_some() {
        return Ok(Asked::Limited);
    }
    if let Some(user) = s.store.user_by_email(&email).await? {
        let token = clock::secret_token("npr_");
        let expires = clock::now().plus_ms(RESET_TTL_MS);
        s.store.add_email_token(&user.id, &clock::token_hash(&token), EmailPurpose::Reset, expires).await?;
        let link = format!("{}/reset?token={token}", s.base_url);
        let text = format!(
            "Someone asked to reset the password of your NetPulse account.\n\n\
             Open this link within an hour to choose a new one:\n\n{link}\n\n\
             It works once and signs you out everywhere. If you did not ask, ignore this message."
        );
        mail::send_link(&s.config.smtp, &user.email, "Reset your NetPulse password", text);
        tracing::info!(user = %user.id, "password reset link sent");
    }
    Ok(Asked::Accepted)
}

/// `POST /api/v1/auth/reset {"email"}`: mail a reset link.
pub async fn request_reset(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r: EmailIn = parse_field("", serde_json::Value::Object(body))?;
    Ok(match ask_for_reset(&s, &ip, &r.email).await? {
        Asked::Accepted => accepted("if this address has an account, a link to reset its password is on its way"),
        Asked::Limited => rate_limited_for("mails asked for this address"),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetIn {
    token: String,
    password: String,
}

/// Set a new password with a reset token; every session of the user is revoked.
pub async fn reset_with_token(s: &AppState, token: &str, new_password: String) -> ApiResult<()> {
    parse_password(&new_password)?;
    let gone = |code, message: &str| ApiError::new(StatusCode::GONE, code, message);
    let user = match s.store.use_email_token(&clock::token_hash(token), EmailPurpose::Reset, clock::now()).await? {
        EmailTokenUse::Accepted(user) => user,
        EmailTokenUse::Expired => {
            return Err(gone("reset_expired", "this reset link has expired (links last an hour); ask for a new one"))
        }
        EmailTokenUse::AlreadyUsed => {
            return Err(gone(
                "reset_used",
                "this reset link was already used; each link works once — ask for a new one",
            ))
        }
        EmailTokenUse::Unknown => {
            let message = "this reset link is not valid; check that it was copied whole";
            return Err(ApiError::new(StatusCode::NOT_FOUND, "reset_unknown", message));
        }
    };
    let hash = s.throttles.hashes.hash(new_password).await.map_err(|_| hashing_busy())?;
    let revoked = s.store.set_password(&user, &hash, None, clock::now()).await?;
    tracing::info!(%user, revoked, "password reset; sessions revoked");
    Ok(())
}

/// `POST /api/v1/auth/reset/confirm {"token","password"}`.
pub async fn confirm_reset(State(s): State<AppState>, JsonBody(body): JsonBody) -> ApiResult<Json<serde_json::Value>> {
    let r: ResetIn = parse_field("", serde_json::Value::Object(body))?;
    reset_with_token(&s, &r.token, r.password).await?;
    Ok(Json(json!({ "message": "your password is changed and you are signed out everywhere; log in again" })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeIn {
    current_password: String,
    new_password: String,
}

/// `POST /api/v1/auth/password {"current_password","new_password"}` (signed-in people only):
/// the other sessions of the user are revoked, this one stays.
pub async fn change_password(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    let Via::Session { user } = &caller.via else {
        return Err(ApiError::forbidden("only a signed-in person can change a password; API tokens cannot"));
    };
    let c: ChangeIn = parse_field("", serde_json::Value::Object(body))?;
    parse_password(&c.new_password)?;
    if !s.throttles.account.allow(user.as_str(), Instant::now()) {
        return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many attempts; wait a minute"));
    }
    let record = s.store.user_by_id(user).await?.ok_or_else(ApiError::unauthorized)?;
    let verified = s.throttles.hashes.verify(c.current_password, Some(record.password_hash)).await;
    if !verified.map_err(|_| hashing_busy())? {
        let message = "the current password is wrong";
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", message));
    }
    let keep = crate::base::cookies::session_token(&headers).map(|t| clock::token_hash(&t));
    let hash = s.throttles.hashes.hash(c.new_password).await.map_err(|_| hashing_busy())?;
    let revoked = s.store.set_password(user, &hash, keep.as_deref(), clock::now()).await?;
    tracing::info!(%user, revoked, "password changed; other sessions revoked");
    Ok(StatusCode::NO_CONTENT)
}

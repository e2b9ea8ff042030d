//! The read-only demo organisation (`serve --demo`, `accounts.demo`) on the web: a tenant
//! with a fixed id ([`netpulse_store::demo`]), seeded with monitors, a few days of results of
//! provenance `demo` and the incidents they caused, that anyone can browse at `/demo` without
//! an account. The store keeps it apart from real tenants and channels; here:
//! - It is strictly read-only: [`refuse_mutations`] wraps every route and answers
//!   `403 demo_read_only` to any `POST`/`PATCH`/`DELETE`/`PUT` that carries the demo cookie,
//!   before a handler runs; `Caller::require_write` refuses demo callers too.
//! - The demo visitor is a stateless cookie (`np_session=demo`), not a stored session, so
//!   visits write nothing.
//! - Its own dashboard and API count its `demo` results for uptime (`Caller::evidence` is
//!   `store::Evidence::Demo` for the demo visitor only); its status pages and badges, like
//!   every public figure, count live results only, so they show none.

use crate::api::error::ApiError;
use crate::api::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

/// The value of `np_session` that makes a request the demo visitor's.
pub const COOKIE_VALUE: &str = "demo";

/// Whether this request carries the demo cookie.
pub fn is_demo_request(headers: &HeaderMap) -> bool {
    crate::dashboard::session_token(headers).as_deref() == Some(COOKIE_VALUE)
}

/// The refusal every change by the demo visitor gets.
pub fn read_only() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "demo_read_only",
        "this is the read-only demo: nothing can be changed here; register for your own organisation",
    )
}

/// Middleware over every route: a mutation carrying the demo cookie (and no bearer token,
/// which would name its own tenant) is refused before any handler or store call.
pub async fn refuse_mutations(req: Request, next: Next) -> Response {
    let mutation = !matches!(*req.method(), http::Method::GET | http::Method::HEAD | http::Method::OPTIONS);
    let bearer = req.headers().contains_key(header::AUTHORIZATION);
    if mutation && !bearer && is_demo_request(req.headers()) {
        return read_only().into_response();
    }
    next.run(req).await
}

/// The label on every dashboard page the demo visitor sees.
pub fn banner() -> maud::Markup {
    maud::html! {
        p.demo role="status" {
            strong { "Demo organisation — read-only." }
            " Everything here is sample data (provenance " code { "demo" } "); nothing can be changed. "
            a href="/demo/leave" { "Leave the demo" }
        }
    }
}

/// `GET /demo`: become the demo visitor (a cookie) and go to the dashboard. A browser
/// signed in to an organisation stays signed in (sign out first to see the demo): another
/// site's link to `/demo` must not replace a session cookie, which would sign the person out.
pub async fn enter(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if !s.config.accounts.demo {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "the demo is not enabled on this install")
            .into_response();
    }
    if !is_demo_request(&headers) && crate::dashboard::signed_in(&s, &headers).await.is_ok() {
        return Redirect::to("/").into_response();
    }
    let secure = crate::accounts::secure_attribute(&s.base_url);
    let cookie = format!(
        "{}={COOKIE_VALUE}; HttpOnly; SameSite=Lax; Path=/; Max-Age=86400{secure}",
        crate::accounts::SESSION_COOKIE
    );
    let mut r = Redirect::to("/").into_response();
    r.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("cookie is ASCII"));
    r
}

/// `GET /demo/leave`: drop the demo cookie (it changes nothing on the server, so it is a
/// link, not a form the read-only rule would refuse). Any other cookie stays: a link from
/// another site cannot sign anyone out.
pub async fn leave(headers: HeaderMap) -> Response {
    if !is_demo_request(&headers) {
        return Redirect::to("/").into_response();
    }
    let mut r = Redirect::to("/login").into_response();
    let cookie = format!("{}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0", crate::accounts::SESSION_COOKIE);
    r.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("cookie is ASCII"));
    r
}

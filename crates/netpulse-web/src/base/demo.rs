//! The read-only demo organisation (`serve --demo`, `accounts.demo`) on the web: a tenant
//! with a fixed id ([`netpulse_store::demo`]), seeded with monitors, a few days of results of
//! provenance `demo` and the incidents they caused, that anyone can browse at `/demo` without
//! an account. The store keeps it apart from real tenants and channels; the dashboard has its
//! banner and the `/demo` and `/demo/leave` links (`dashboard/demo.rs`); here:
//! - It is strictly read-only: [`refuse_mutations`] wraps every route and answers
//!   `403 demo_read_only` to any `POST`/`PATCH`/`DELETE`/`PUT` that carries the demo cookie,
//!   before a handler runs; `Caller::require_write` refuses demo callers too.
//! - The demo visitor is a stateless cookie (`np_session=demo`), not a stored session, so
//!   visits write nothing.
//! - Its own dashboard and API count its `demo` results for uptime (`Caller::evidence` is
//!   `store::Evidence::Demo` for the demo visitor only); its status pages and badges, like
//!   every public figure, count live results only, so they show none.

use super::error::ApiError;
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The value of `np_session` that makes a request the demo visitor's.
pub const COOKIE_VALUE: &str = "demo";

/// Whether this request carries the demo cookie.
pub fn is_demo_request(headers: &HeaderMap) -> bool {
    super::cookies::session_token(headers).as_deref() == Some(COOKIE_VALUE)
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
/// which would name its own tenant) is refused before any handler or store call. The public
/// status pages' forms (`/status/…`: subscribe, unsubscribe) use no session at all, so a
/// reader who once looked at the demo can still sign up to, and leave, any page.
pub async fn refuse_mutations(req: Request, next: Next) -> Response {
    let mutation = !matches!(*req.method(), http::Method::GET | http::Method::HEAD | http::Method::OPTIONS);
    let bearer = req.headers().contains_key(header::AUTHORIZATION);
    let public = req.uri().path().starts_with("/status/");
    if mutation && !bearer && !public && is_demo_request(req.headers()) {
        return read_only().into_response();
    }
    next.run(req).await
}

//! The demo organisation in the dashboard: the banner on every page the demo visitor sees,
//! `GET /demo` (become the demo visitor) and `GET /demo/leave` (stop being it).

use crate::base::cookies;
use crate::base::demo::{is_demo_request, COOKIE_VALUE};
use crate::base::{ApiError, AppState};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

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
    if !is_demo_request(&headers) && super::signed_in(&s, &headers).await.is_ok() {
        return Redirect::to("/").into_response();
    }
    let secure = cookies::secure_attribute(&s.base_url);
    let cookie =
        format!("{}={COOKIE_VALUE}; HttpOnly; SameSite=Lax; Path=/; Max-Age=86400{secure}", cookies::SESSION_COOKIE);
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
    let cookie = format!("{}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0", cookies::SESSION_COOKIE);
    r.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("cookie is ASCII"));
    r
}

//! The CSRF guard of the signed-out forms — sign-in (by password or by a pasted token),
//! sign-up, "forgot my password", the reset page and the invitation page. No session exists
//! yet whose secret such a form could carry, so the page showing the form sets a short-lived
//! random pre-session cookie (`np_form`: HttpOnly, SameSite=Strict, Secure when the public
//! URL is https) and puts the same value in the form's hidden `csrf` field (a double
//! submit). A submission must carry both, equal, or it is refused with a 403 page before
//! anything is checked, sent or changed. Another site can neither read nor set that cookie,
//! so it cannot sign a victim's browser in to the attacker's account (login CSRF).

use super::page;
use crate::base::caller::same_secret;
use crate::base::AppState;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};
use netpulse_store::clock;

const COOKIE: &str = "np_form";
/// How long a signed-out form stays usable after its page was shown.
const MAX_AGE_S: u32 = 3600;

/// The pre-session secret of one browser's signed-out forms.
pub(crate) struct FormGuard(String);

impl FormGuard {
    /// The guard for a page with signed-out forms: the browser's current one if it holds a
    /// well-formed one (so two open tabs both work), else a fresh random one.
    pub fn for_page(headers: &HeaderMap) -> Self {
        match crate::base::cookies::cookie(headers, COOKIE) {
            Some(v) if v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) => Self(v),
            _ => Self(format!("{:032x}", clock::random_u128())),
        }
    }

    /// The guard of a submission whose hidden `csrf` field is `sent`, if the browser's
    /// cookie holds the same value; else [`Forged`].
    pub fn check(headers: &HeaderMap, sent: &str) -> Result<Self, Forged> {
        match crate::base::cookies::cookie(headers, COOKIE) {
            Some(held) if !sent.is_empty() && same_secret(held.as_bytes(), sent.as_bytes()) => Ok(Self(held)),
            _ => Err(Forged),
        }
    }

    /// The hidden field every signed-out form carries.
    pub fn field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.0); }
    }

    /// `body` answered with `status`, setting (or refreshing) the cookie.
    pub fn respond(&self, s: &AppState, status: StatusCode, body: Html<String>) -> Response {
        let secure = crate::base::cookies::secure_attribute(&s.base_url);
        let cookie = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={MAX_AGE_S}{secure}", self.0);
        let mut r = (status, body).into_response();
        r.headers_mut().append(axum::http::header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("hex is ASCII"));
        r
    }
}

/// A signed-out form sent without its page's token: answered with the "Form expired" page.
pub(crate) struct Forged;

impl IntoResponse for Forged {
    fn into_response(self) -> Response {
        let body = html! {
            h1 { "Form expired" }
            p.error role="alert" { "This form was not sent from this site's page, or it was open too long. Nothing was done." }
            p { "Reload the page and try again." }
        };
        (StatusCode::FORBIDDEN, page("Form expired", None, body)).into_response()
    }
}

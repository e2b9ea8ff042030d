//! The cookies NetPulse sets and reads: the login session (HttpOnly), its CSRF twin (read by
//! the page's script and sent back in a header), and their attributes.

use axum::http::{header, HeaderMap, HeaderValue};

/// The session cookie (HttpOnly) and the CSRF cookie (readable by the page's script).
pub const SESSION_COOKIE: &str = "np_session";
pub const CSRF_COOKIE: &str = "np_csrf";
/// The header a cookie-authenticated mutation must carry, equal to the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Prefix of session cookie values (API tokens start with `np_`).
pub const SESSION_PREFIX: &str = "nps_";
/// The session token from the cookie header, if any.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
}

/// The non-empty value of the cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name && !v.is_empty()).then(|| v.to_owned())
    })
}

/// `Set-Cookie` values that drop the session and CSRF cookies (signing out).
pub fn cleared_cookies() -> [HeaderValue; 2] {
    [SESSION_COOKIE, CSRF_COOKIE].map(|c| {
        HeaderValue::from_str(&format!("{c}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0")).expect("cookie is ASCII")
    })
}

/// The `; Secure` attribute of every cookie NetPulse sets when its public URL is https (the
/// browser then sends them only over TLS); nothing on plain http.
pub fn secure_attribute(public_url: &str) -> &'static str {
    if public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

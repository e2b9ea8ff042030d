//! Dashboard pages of accounts that need no sign-in: signing in by e-mail and password
//! (`POST /login/password`, from the sign-in page), "forgot my password" (`/forgot`, asks
//! for a reset link), the page the link opens (`/reset?token=…`, sets the new password), and
//! the page an invitation link opens (`/invite?token=…`: join, then the session switches).
//! They call the same functions as the API (`accounts::recovery`), so answers, limits and
//! the enumeration-safe wording are the same. Plain HTML forms: they work without script.
//! Each carries the pre-session token of [`FormGuard`] and is refused without it.

use super::form_guard::FormGuard;
use super::{page, SignedIn};
use crate::accounts::recovery::{self, Asked};
use crate::accounts::ClientIp;
use crate::base::AppState;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;

/// The e-mail and password form of the sign-in page.
pub(super) fn password_form(guard: &FormGuard) -> Markup {
    html! {
        h2 { "Or with your e-mail address" }
        form.login method="post" action="/login/password" {
            (guard.field())
            label for="email" { "E-mail address" }
            input #email type="email" name="email" autocomplete="username" required;
            label for="password" { "Password" }
            input #password type="password" name="password" autocomplete="current-password" required;
            button type="submit" { "Sign in" }
        }
        p.sub { a href="/forgot" { "Forgot your password?" } " · " a href="/signup" { "Create an account" } }
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    email: String,
    password: String,
}

/// `POST /login/password`: a login session (the API's cookies), then the overview.
pub async fn password_login(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Response {
    let guard = match FormGuard::check(&headers, &f.csrf) {
        Ok(g) => g,
        Err(forged) => return forged.into_response(),
    };
    match crate::accounts::sign_in(&s, &ip, &f.email, f.password).await {
        Ok(opened) => opened.with_cookies(Redirect::to("/").into_response()),
        Err(refused) => {
            let status = refused.status();
            let message = match status {
                StatusCode::TOO_MANY_REQUESTS => "Too many sign-in attempts; wait a minute and try again.",
                StatusCode::UNAUTHORIZED => "Wrong e-mail or password.",
                _ => "Signing in failed; try again shortly.",
            };
            guard.respond(&s, status, super::login_form(&guard, Some(message)))
        }
    }
}

fn forgot_form(guard: &FormGuard, note: Option<&str>, error: Option<&str>) -> Html<String> {
    page(
        "Forgot password",
        None,
        html! {
            h1 { "Forgot your password?" }
            @if let Some(n) = note { p role="status" { (n) } }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form.login method="post" action="/forgot" {
                (guard.field())
                label for="email" { "E-mail address" }
                input #email type="email" name="email" autocomplete="email" required;
                button type="submit" { "Send me a reset link" }
            }
            p.sub { "The link works once, for an hour, and signs you out everywhere." }
        },
    )
}

/// `GET /forgot`.
pub async fn forgot_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let guard = FormGuard::for_page(&headers);
    guard.respond(&s, StatusCode::OK, forgot_form(&guard, None, None))
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    csrf: String,
    email: String,
}

/// `POST /forgot`: the same answer whether or not the address has an account.
pub async fn forgot(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<ForgotForm>,
) -> Response {
    let guard = match FormGuard::check(&headers, &f.csrf) {
        Ok(g) => g,
        Err(forged) => return forged.into_response(),
    };
    let (status, note, error) = match recovery::ask_for_reset(&s, &ip, &f.email).await {
        Ok(Asked::Accepted) => {
            (StatusCode::OK, Some("If this address has an account, a link to reset its password is on its way."), None)
        }
        Ok(Asked::Limited) => {
            let e = "A link was asked for this address a moment ago; wait a minute and try again.";
            (StatusCode::TOO_MANY_REQUESTS, None, Some(e.to_owned()))
        }
        Err(e) => (e.status, None, Some(e.message)),
    };
    guard.respond(&s, status, forgot_form(&guard, note, error.as_deref()))
}

fn reset_form(guard: &FormGuard, token: &str, error: Option<&str>) -> Html<String> {
    page(
        "Choose a new password",
        None,
        html! {
            h1 { "Choose a new password" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form.login method="post" action="/reset" {
                (guard.field())
                input type="hidden" name="token" value=(token);
                label for="password" { "New password (at least 10 characters)" }
                input #password type="password" name="password" autocomplete="new-password" minlength="10" required;
                button type="submit" { "Set the new password" }
            }
        },
    )
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// `GET /reset?token=…`: the page the mailed link opens.
pub async fn reset_page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<TokenQuery>) -> Response {
    let guard = FormGuard::for_page(&headers);
    guard.respond(&s, StatusCode::OK, reset_form(&guard, &q.token, None))
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    csrf: String,
    token: String,
    password: String,
}

/// `POST /reset`: set the password; a refused link or password says why.
pub async fn reset(State(s): State<AppState>, headers: HeaderMap, Form(f): Form<ResetForm>) -> Response {
    let guard = match FormGuard::check(&headers, &f.csrf) {
        Ok(g) => g,
        Err(forged) => return forged.into_response(),
    };
    match recovery::reset_with_token(&s, &f.token, f.password).await {
        Ok(()) => page(
            "Password changed",
            None,
            html! {
                h1 { "Your password is changed" }
                p { "You are signed out everywhere. " a href="/login" { "Sign in" } " with the new password." }
            },
        )
        .into_response(),
        Err(e) => guard.respond(&s, e.status, reset_form(&guard, &f.token, Some(&e.message))),
    }
}

/// The login session of this request, if it has a live one.
pub(super) async fn login_session(s: &AppState, headers: &HeaderMap) -> Option<netpulse_store::SessionAuth> {
    let token = super::session_token(headers).filter(|t| t.starts_with(crate::base::cookies::SESSION_PREFIX))?;
    s.store.session(&netpulse_store::clock::token_hash(&token), netpulse_store::clock::now()).await.ok()?
}

/// `GET /invite?token=…`: the page the invitation link opens; a used, expired, revoked or
/// unknown invitation says so at once.
pub async fn invite_page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<TokenQuery>) -> Response {
    let session = login_session(&s, &headers).await.map(SignedIn::of_session);
    let signed_in = session.is_some();
    let guard = FormGuard::for_page(&headers);
    let csrf = session.as_ref();
    let role = match crate::accounts::members::pending_role(&s, &q.token).await {
        Ok(role) => role,
        Err(e) => {
            let body = html! { h1 { "Invitation" } p.error role="alert" { (e.message) } };
            return guard.respond(&s, e.status, page("Invitation", csrf, body));
        }
    };
    let shown = page(
        "Invitation",
        csrf,
        html! {
            h1 { "You are invited" }
            p { "The invitation gives the role " strong { (role.as_str()) } "." }
            @if signed_in {
                form.login method="post" action="/invite" {
                    (guard.field())
                    input type="hidden" name="token" value=(q.token);
                    button type="submit" { "Join the organisation" }
                }
            } @else {
                p { a href="/login" { "Sign in" } " (or register an account first), then open the link from the e-mail again." }
            }
        },
    );
    guard.respond(&s, StatusCode::OK, shown)
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    csrf: String,
    token: String,
}

/// `POST /invite`: join, and switch the session to the new organisation.
pub async fn accept_invite(State(s): State<AppState>, headers: HeaderMap, Form(f): Form<InviteForm>) -> Response {
    if let Err(forged) = FormGuard::check(&headers, &f.csrf) {
        return forged.into_response();
    }
    let Some(session) = login_session(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let joined = crate::accounts::members::accept_as(&s, &session.user, &f.token).await;
    let switched = match joined {
        Ok((tenant, _)) => crate::accounts::members::switch_to(&s, &headers, tenant.as_str()).await,
        Err(e) => Err(e),
    };
    match switched {
        Ok(()) => Redirect::to("/").into_response(),
        Err(e) => {
            let body = html! { h1 { "Invitation" } p.error role="alert" { (e.message) } p { a href="/" { "Back" } } };
            (e.status, page("Invitation", Some(&SignedIn::of_session(session)), body)).into_response()
        }
    }
}

fn signup_form(guard: &FormGuard, error: Option<&str>) -> Html<String> {
    page(
        "Sign up",
        None,
        html! {
            h1 { "Create an account" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form.login method="post" action="/signup" {
                (guard.field())
                label for="email" { "E-mail address" }
                input #email type="email" name="email" autocomplete="email" required;
                label for="password" { "Password (at least 10 characters)" }
                input #password type="password" name="password" autocomplete="new-password" minlength="10" required;
                label for="organisation" { "Organisation" }
                input #organisation type="text" name="organisation" maxlength="100" required;
                button type="submit" { "Sign up" }
            }
            p.sub { "We send a link to verify the address. " a href="/login" { "Already have an account? Sign in" } }
        },
    )
}

/// `GET /signup`.
pub async fn signup_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let guard = FormGuard::for_page(&headers);
    guard.respond(&s, StatusCode::OK, signup_form(&guard, None))
}

#[derive(Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    csrf: String,
    email: String,
    password: String,
    organisation: String,
}

/// `POST /signup`: the same page whether or not the address has an account.
pub async fn signup(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<SignupForm>,
) -> Response {
    let guard = match FormGuard::check(&headers, &f.csrf) {
        Ok(g) => g,
        Err(forged) => return forged.into_response(),
    };
    let input = crate::accounts::RegisterIn { email: f.email, password: f.password, organisation: f.organisation };
    match crate::accounts::register_account(&s, &ip, input).await {
        Ok(()) => page(
            "Check your e-mail",
            None,
            html! {
                h1 { "Check your e-mail" }
                p { "We sent a message to that address. A new account's message holds a link that verifies the address; it works once, for 24 hours. Then " a href="/login" { "sign in" } "." }
            },
        )
        .into_response(),
        Err(e) => guard.respond(&s, e.status, signup_form(&guard, Some(&e.message))),
    }
}

/// `GET /verify?token=…`: the page the verification mail links to.
pub async fn verify_page(State(s): State<AppState>, Query(q): Query<TokenQuery>) -> Response {
    let (status, title, message) = match crate::accounts::verify(&s, &q.token).await {
        Ok(_) => (StatusCode::OK, "E-mail verified", "Your e-mail address is verified.".to_owned()),
        Err(e) => (e.status, "Verification failed", e.message),
    };
    let body = html! { h1 { (title) } p { (message) } p { a href="/login" { "Sign in" } } };
    (status, page(title, None, body)).into_response()
}

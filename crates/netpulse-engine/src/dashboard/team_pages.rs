//! Signed-in dashboard pages about the organisation's people and access: `/members`
//! (members and their roles, pending invitations for admins) and `/tokens` (API tokens for
//! admins, with last use). They read through the same store calls as the API and show
//! e-mail addresses only as `api::audience` allows. Two forms on `/members` — inviting by
//! e-mail (admins) and switching to another of one's organisations — carry the session's
//! CSRF token and are checked like the API's cookie-authenticated changes; tokens are
//! created and revoked through the API (`POST/DELETE /api/v1/tokens`).

use super::{page, signed_in};
use crate::api::audience;
use crate::api::error::ApiError;
use crate::api::AppState;
use crate::store::Role;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use netpulse_core::Timestamp;
use serde::Deserialize;

fn when(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "never".into(), |t| t.to_string())
}

/// `GET /members`.
pub async fn members(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let auth = match signed_in(&s, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let admin = auth.caller.role >= Role::Admin && !auth.caller.is_demo();
    let loaded = tokio::try_join!(s.store.list_members(&auth.caller.tenant_id), async {
        if admin {
            s.store.list_invitations(&auth.caller.tenant_id).await
        } else {
            Ok(Vec::new())
        }
    });
    let (members, invitations) = match loaded {
        Ok(x) => x,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let session = super::account_pages::login_session(&s, &headers).await;
    let orgs = match &session {
        Some(sess) => s.store.memberships(&sess.user).await.unwrap_or_default(),
        None => Vec::new(),
    };
    let csrf = session.as_ref().map(|x| x.csrf.clone()).unwrap_or_default();
    let body = html! {
        @if auth.caller.is_demo() { (crate::demo::banner()) }
        h1 { "Members" }
        @if members.is_empty() { p.empty { "No members yet." } }
        table #members hidden[members.is_empty()] {
            thead { tr { th { "E-mail" } th { "Role" } th { "Joined" } } }
            tbody { @for m in &members { tr {
                td { (audience::email(&m.email, auth.caller.audience())) }
                td { (m.role.as_str()) }
                td { (m.joined_at) }
            } } }
        }
        @if admin {
            h2 { "Pending invitations" }
            @if invitations.is_empty() { p.empty { "None." } }
            table #invitations hidden[invitations.is_empty()] {
                thead { tr { th { "E-mail" } th { "Role" } th { "Expires" } } }
                tbody { @for i in &invitations { tr { td { (i.email) } td { (i.role.as_str()) } td { (i.expires_at) } } } }
            }
            @if session.is_some() {
                form.login #invite method="post" action="/members/invite" {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="email" { "Invite by e-mail" }
                    input #email type="email" name="email" required;
                    label for="role" { "Role" }
                    select #role name="role" {
                        @for r in ["viewer", "member", "admin", "owner"] { option value=(r) selected[r == "member"] { (r) } }
                    }
                    button type="submit" { "Send the invitation" }
                }
            }
        }
        @if orgs.len() > 1 {
            h2 { "Your organisations" }
            ul #organisations { @for o in &orgs { li {
                (o.tenant_name) " (" (o.role.as_str()) ") "
                @if o.tenant_id == auth.caller.tenant_id { strong { "current" } } @else {
                    form.inline method="post" action="/members/switch" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="tenant" value=(o.tenant_id);
                        button.link type="submit" { "Switch" }
                    }
                }
            } } }
        }
    };
    page("Members", true, body).into_response()
}

/// `GET /tokens`: for admins and owners.
pub async fn tokens(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let auth = match signed_in(&s, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if auth.caller.role < Role::Admin || auth.caller.is_demo() {
        let body = html! {
            @if auth.caller.is_demo() { (crate::demo::banner()) }
            h1 { "API tokens" }
            p { "Only admins and owners of this organisation see its API tokens." }
        };
        return (http::StatusCode::FORBIDDEN, page("API tokens", true, body)).into_response();
    }
    let tokens = match s.store.list_tokens(&auth.caller.tenant_id).await {
        Ok(t) => t,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let body = html! {
        h1 { "API tokens" }
        table #tokens {
            thead { tr { th { "Name" } th { "Scope" } th { "Acts as" } th { "Created" } th { "Last used" } } }
            tbody { @for t in &tokens { tr {
                td { (t.name) }
                td { (t.scope.as_str()) }
                td { (t.role.as_str()) }
                td { (t.created_at) }
                td { (when(t.last_used_at)) }
            } } }
        }
        p.sub { "Tokens are shown once, when created: " code { "POST /api/v1/tokens {\"name\",\"scope\"}" } "." }
    };
    page("API tokens", true, body).into_response()
}

/// A dashboard form's fields. Bearer tokens get the API's refusal before the body is read.
fn form_of<T>(headers: &HeaderMap, form: Result<Form<T>, FormRejection>) -> Result<T, Box<Response>> {
    if let Some(refused) = super::forms::bearer_refused(headers) {
        return Err(Box::new(refused));
    }
    form.map(|Form(f)| f).map_err(|e| Box::new(failed(ApiError::bad_request(e.body_text()))))
}

/// The signed-in person behind a dashboard form: a live login session whose CSRF token the
/// form carries; without a session, the sign-in page.
async fn form_caller(s: &AppState, headers: &HeaderMap, csrf: &str) -> Result<crate::api::Caller, Response> {
    let Some(session) = super::account_pages::login_session(s, headers).await else {
        return Err(Redirect::to("/login").into_response());
    };
    if !crate::api::same_secret(csrf.as_bytes(), session.csrf.as_bytes()) {
        let body = html! { h1 { "Form expired" } p { "Reload the page and send the form again." } };
        return Err((StatusCode::FORBIDDEN, page("Form expired", true, body)).into_response());
    }
    Ok(crate::api::Caller {
        tenant_id: session.tenant_id,
        role: session.role,
        verified: session.verified,
        via: crate::api::Via::Session { user: session.user },
    })
}

fn failed(e: ApiError) -> Response {
    let body = html! { h1 { "Not done" } p.error role="alert" { (e.message) } p { a href="/members" { "Back" } } };
    (e.status, page("Not done", true, body)).into_response()
}

#[derive(Deserialize)]
pub struct InviteForm {
    csrf: String,
    email: String,
    role: Role,
}

/// `POST /members/invite`.
pub async fn invite(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<InviteForm>, FormRejection>,
) -> Response {
    let f = match form_of(&headers, form) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let caller = match form_caller(&s, &headers, &f.csrf).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match crate::accounts::members::send_invitation(&s, &caller, &f.email, f.role).await {
        Ok(_) => Redirect::to("/members").into_response(),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
pub struct SwitchForm {
    csrf: String,
    tenant: String,
}

/// `POST /members/switch`: the session moves to another of the user's organisations.
pub async fn switch(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<SwitchForm>, FormRejection>,
) -> Response {
    let f = match form_of(&headers, form) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    if let Err(r) = form_caller(&s, &headers, &f.csrf).await {
        return r;
    }
    match crate::accounts::members::switch_to(&s, &headers, &f.tenant).await {
        Ok(()) => Redirect::to("/").into_response(),
        Err(e) => failed(e),
    }
}

//! Signed-in dashboard pages about the organisation's people and access: `/members`
//! (members and their roles, pending invitations for admins) and `/tokens` (API tokens for
//! admins, with last use). They read through the same store calls as the API and show
//! e-mail addresses only as `api::audience` allows. Two forms on `/members` — inviting by
//! e-mail (admins) and switching to another of one's organisations — carry the session's
//! CSRF token and are checked like the API's cookie-authenticated changes; so do the
//! `/tokens` forms, which create (shown once) and revoke through the API's own functions
//! (`accounts::tokens::{create_from, revoke_by_id}`).

use super::forms::{submitted, Submitted};
use super::{page, signed_in, SignedIn};
use crate::api::audience;
use crate::api::error::ApiError;
use crate::api::AppState;
use crate::store::{Role, Scope};
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
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

/// `GET /tokens`: a form to create a token (read only, for viewers); the list with revoke
/// buttons for admins and owners.
pub async fn tokens(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match signed_in(&s, &headers).await {
        Ok(auth) => tokens_page(&s, &auth, StatusCode::OK, None, None).await,
        Err(r) => r,
    }
}

/// `POST /tokens`: create through the API's function; the secret is shown once, here.
pub async fn create_token(State(s): State<AppState>, headers: HeaderMap, form: Submitted) -> Response {
    let (auth, values) = match submitted(&s, &headers, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let name = values.get("name").map(String::as_str).unwrap_or("");
    let scope = if values.get("scope").map(String::as_str) == Some("write") { Scope::Write } else { Scope::Read };
    match crate::accounts::tokens::create_from(&s, &auth.caller, name, scope).await {
        Ok((rec, token)) => tokens_page(&s, &auth, StatusCode::CREATED, Some((&rec.name, &token)), None).await,
        Err(e) => tokens_page(&s, &auth, e.status, None, Some(&e)).await,
    }
}

/// `POST /tokens/{id}/revoke`: through the API's function (admins and owners).
pub async fn revoke_token(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    let (auth, _) = match submitted(&s, &headers, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match crate::accounts::tokens::revoke_by_id(&s, &auth.caller, &id).await {
        Ok(()) => Redirect::to("/tokens").into_response(),
        Err(e) => tokens_page(&s, &auth, e.status, None, Some(&e)).await,
    }
}

async fn tokens_page(
    s: &AppState,
    auth: &SignedIn,
    status: StatusCode,
    created: Option<(&str, &str)>,
    error: Option<&ApiError>,
) -> Response {
    let admin = auth.caller.role >= Role::Admin && !auth.caller.is_demo();
    let tokens = if admin {
        match s.store.list_tokens(&auth.caller.tenant_id).await {
            Ok(t) => t,
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else {
        Vec::new()
    };
    let body = html! {
        @if auth.caller.is_demo() { (crate::demo::banner()) }
        h1 { "API tokens" }
        @if let Some(e) = error { p.error role="alert" { (e.message) } }
        @if let Some((name, token)) = created {
            p #created role="status" { "Token " strong { (name) } " created. Copy it now; it is not shown again: " code { (token) } }
        }
        @if admin {
            table #tokens {
                thead { tr { th { "Name" } th { "Scope" } th { "Acts as" } th { "Created" } th { "Last used" } th {} } }
                tbody { @for t in &tokens { tr {
                    td { (t.name) }
                    td { (t.scope.as_str()) }
                    td { (t.role.as_str()) }
                    td { (t.created_at) }
                    td { (when(t.last_used_at)) }
                    td { form.inline method="post" action={ "/tokens/" (t.id) "/revoke" } {
                        input type="hidden" name="csrf" value=(auth.csrf);
                        button.link type="submit" { "Revoke" }
                    } }
                } } }
            }
        } @else {
            p { "Only admins and owners of this organisation see its API tokens." }
        }
        @if !auth.caller.is_demo() {
            h2 { "New token" }
            form.login #new-token method="post" action="/tokens" {
                input type="hidden" name="csrf" value=(auth.csrf);
                label for="name" { "Name" }
                input #name type="text" name="name" maxlength="100" required;
                label for="scope" { "Scope" }
                select #scope name="scope" {
                    option value="read" { "read" }
                    @if auth.caller.role >= Role::Member { option value="write" { "write" } }
                }
                button type="submit" { "Create the token" }
            }
        }
    };
    (status, page("API tokens", true, body)).into_response()
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

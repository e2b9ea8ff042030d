//! Signed-in dashboard pages about the organisation's people and access: `/members`
//! (members and their roles, pending invitations for admins) and `/tokens` (API tokens for
//! admins, with last use). They read through the same store calls as the API and show
//! e-mail addresses only as `api::audience` allows. The forms on `/members` — inviting by
//! e-mail, changing a member's role, removing a member, revoking an invitation (admins),
//! switching to another of one's organisations and leaving this one — and the `/tokens`
//! forms (create, shown once; revoke) all go through [`submitted`] (CSRF, bearer refusal)
//! and then the API's own functions (`accounts::members`, `accounts::tokens`), so the rules
//! and messages are the API's.

use super::form_fields::FormValues;
use super::forms::{submitted, Submitted};
use super::{page, signed_in, SignedIn};
use crate::accounts::members;
use crate::base::audience;
use crate::base::ApiError;
use crate::base::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use netpulse_core::Timestamp;
use netpulse_store::{MemberChange, Membership, Role, Scope};

fn when(t: Option<Timestamp>) -> maud::Markup {
    super::times::relative_or_never(t, netpulse_store::clock::now())
}

/// `GET /members`.
pub async fn members(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let auth = match signed_in(&s, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let admin = auth.may_admin();
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
    let orgs = match &auth.caller.via {
        crate::base::Via::Session { user } => s.store.memberships(user).await.unwrap_or_default(),
        _ => Vec::new(),
    };
    let body = html! {
        @if auth.caller.is_demo() { (crate::dashboard::demo::banner()) }
        h1 { "Members" }
        @if members.is_empty() { p.empty { "No members yet." } }
        table #members hidden[members.is_empty()] {
            thead { tr { th { "E-mail" } th { "Role" } th { "Joined" } @if admin { th { "Manage" } } } }
            tbody { @for m in &members { tr {
                td { (audience::email(&m.email, auth.caller.audience())) }
                td { (m.role.as_str()) }
                td { (super::times::exact(m.joined_at)) }
                @if admin { td { (member_controls(&auth, m)) } }
            } } }
        }
        @if admin {
            p.sub { "Only owners change or remove owners; the last owner stays until another member is made an owner. A removed member's sessions and API tokens here stop working at once." }
            h2 { "Pending invitations" }
            @if invitations.is_empty() { p.empty { "None." } }
            table #invitations hidden[invitations.is_empty()] {
                thead { tr { th { "E-mail" } th { "Role" } th { "Expires" } th {} } }
                tbody { @for i in &invitations { tr {
                    td { (i.email) } td { (i.role.as_str()) } td { (super::times::exact(i.expires_at)) }
                    td { form.inline method="post" action={ "/invitations/" (i.id) "/revoke" } {
                        input type="hidden" name="csrf" value=(auth.csrf);
                        button.link type="submit" { "Revoke" }
                    } }
                } } }
            }
            form.login #invite method="post" action="/members/invite" {
                input type="hidden" name="csrf" value=(auth.csrf);
                label for="email" { "Invite by e-mail" }
                input #email type="email" name="email" required;
                label for="role" { "Role" }
                select #role name="role" {
                    @for r in grantable(auth.caller.role) { option value=(r.as_str()) selected[r == Role::Member] { (r.as_str()) } }
                }
                button type="submit" { "Send the invitation" }
            }
        }
        @if auth.caller.is_session() { (leave_control(&auth, &members, &orgs)) }
        @if orgs.len() > 1 {
            h2 { "Your organisations" }
            ul #organisations { @for o in &orgs { li {
                (o.tenant_name) " (" (o.role.as_str()) ") "
                @if o.tenant_id == auth.caller.tenant_id { strong { "current" } } @else {
                    form.inline method="post" action="/members/switch" {
                        input type="hidden" name="csrf" value=(auth.csrf);
                        input type="hidden" name="tenant" value=(o.tenant_id);
                        button.link type="submit" { "Switch" }
                    }
                }
            } } }
        }
    };
    page("Members", Some(&auth), body).into_response()
}

/// The roles someone acting as `by` may give: at most their own.
fn grantable(by: Role) -> impl Iterator<Item = Role> {
    [Role::Viewer, Role::Member, Role::Admin, Role::Owner].into_iter().filter(move |r| *r <= by)
}

/// An admin's forms on one member's row: change the role, remove. None on an owner's row
/// for an admin (only owners change owners).
fn member_controls(auth: &SignedIn, m: &netpulse_store::Member) -> maud::Markup {
    if m.role > auth.caller.role {
        return html! { span.sub { "only owners change owners" } };
    }
    html! {
        form.inline method="post" action={ "/members/" (m.user_id) "/role" } {
            input type="hidden" name="csrf" value=(auth.csrf);
            select name="role" aria-label="New role" {
                @for r in grantable(auth.caller.role) { option value=(r.as_str()) selected[r == m.role] { (r.as_str()) } }
            }
            button.link type="submit" { "Change role" }
        }
        " "
        form.inline method="post" action={ "/members/" (m.user_id) "/remove" } {
            input type="hidden" name="csrf" value=(auth.csrf);
            button.link type="submit" { "Remove" }
        }
    }
}

/// The "Leave organisation" form, by the rule the API applies ([`SignedIn::may_leave`]); for
/// the last owner a disabled button with the reason instead.
fn leave_control(auth: &SignedIn, members: &[netpulse_store::Member], orgs: &[Membership]) -> maud::Markup {
    let owners = members.iter().filter(|m| m.role == Role::Owner).count();
    let name =
        orgs.iter().find(|o| o.tenant_id == auth.caller.tenant_id).map_or("this organisation", |o| &o.tenant_name);
    let elsewhere = orgs.len() > 1;
    html! {
        h2 { "Leave " (name) }
        @match auth.may_leave(owners) {
            Ok(()) => form.inline #leave method="post" action="/members/leave" {
                input type="hidden" name="csrf" value=(auth.csrf);
                p.sub { "Your sessions here and the API tokens you made here stop working at once. "
                    @if elsewhere { "You go on in your next organisation." } @else { "It is your only organisation, so you are signed out." } }
                button type="submit" { "Leave organisation" }
            },
            Err(e) => p.sub #leave-refused { button type="button" disabled { "Leave organisation" } " " (e.message) },
        }
    }
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
    let admin = auth.may_admin();
    let tokens = if admin {
        match s.store.list_tokens(&auth.caller.tenant_id).await {
            Ok(t) => t,
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else {
        Vec::new()
    };
    let body = html! {
        @if auth.caller.is_demo() { (crate::dashboard::demo::banner()) }
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
                    td { (super::times::exact(t.created_at)) }
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
        @if auth.may_create_tokens() {
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
    (status, page("API tokens", Some(auth), body)).into_response()
}

fn failed(auth: &SignedIn, e: ApiError) -> Response {
    let body = html! { h1 { "Not done" } p.error role="alert" { (e.message) } p { a href="/members" { "Back" } } };
    (e.status, page("Not done", Some(auth), body)).into_response()
}

/// After a change on the members page: back to it, or the error.
fn done(auth: &SignedIn, r: Result<(), ApiError>) -> Response {
    match r {
        Ok(()) => Redirect::to("/members").into_response(),
        Err(e) => failed(auth, e),
    }
}

/// The `role` field of a members-page form.
fn role_field(values: &FormValues) -> Result<Role, ApiError> {
    let raw = values.get("role").map(String::as_str).unwrap_or("");
    serde_json::from_value(serde_json::Value::String(raw.to_owned()))
        .map_err(|_| ApiError::invalid("role", "must be one of viewer, member, admin, owner"))
}

/// `POST /members/invite`.
pub async fn invite(State(s): State<AppState>, headers: HeaderMap, form: Submitted) -> Response {
    let (auth, values) = match submitted(&s, &headers, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let email = values.get("email").map(String::as_str).unwrap_or("");
    let sent = match role_field(&values) {
        Ok(role) => members::send_invitation(&s, &auth.caller, email, role).await.map(drop),
        Err(e) => Err(e),
    };
    done(&auth, sent)
}

/// `POST /members/switch`: the session moves to another of the user's organisations.
pub async fn switch(State(s): State<AppState>, headers: HeaderMap, form: Submitted) -> Response {
    let (auth, values) = match submitted(&s, &headers, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !auth.caller.is_session() {
        return failed(&auth, ApiError::forbidden("only a signed-in person can switch organisations"));
    }
    let tenant = values.get("tenant").map(String::as_str).unwrap_or("");
    match members::switch_to(&s, &headers, tenant).await {
        Ok(()) => Redirect::to("/").into_response(),
        Err(e) => failed(&auth, e),
    }
}

/// `POST /members/leave`: the signed-in person leaves the current organisation (the API's
/// `leave_current`) and is told where they are now: in their next organisation, or signed
/// out (the cookies cleared) when it was their only one.
pub async fn leave(State(s): State<AppState>, headers: HeaderMap, form: Submitted) -> Response {
    let (auth, _) = match submitted(&s, &headers, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let orgs = match auth.caller.acting_user() {
        Some(user) if auth.caller.is_session() => s.store.memberships(user).await.unwrap_or_default(),
        _ => Vec::new(),
    };
    let left = match members::leave_current(&s, &auth.caller, &headers).await {
        Ok(left) => left,
        Err(e) => return failed(&auth, e),
    };
    let name = |t: &netpulse_core::TenantId| {
        orgs.iter().find(|o| &o.tenant_id == t).map_or_else(|| t.to_string(), |o| o.tenant_name.clone())
    };
    let body = html! {
        h1 #left { "You left " (name(&left.left)) }
        p { "Your sessions there and the API tokens you made there no longer work." }
        @if let Some(next) = &left.now_in {
            p { "You are now in " strong { (name(next)) } ". " a href="/" { "Continue" } }
        } @else {
            p #signed-out { "It was your only organisation, so you are signed out." }
        }
    };
    let mut r = page("Left the organisation", None, body).into_response();
    if left.now_in.is_none() {
        for c in crate::base::cookies::cleared_cookies() {
            r.headers_mut().append(axum::http::header::SET_COOKIE, c);
        }
    }
    r
}

/// `POST /members/{id}/role`: through the API's rules (`accounts::members::change_member`).
pub async fn set_role(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    let (auth, values) = match submitted(&s, &headers, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let changed = async {
        let user = members::member_of(&s, &auth.caller, &id).await?;
        members::change_member(&s, &auth.caller, &user, MemberChange::SetRole(role_field(&values)?)).await
    };
    done(&auth, changed.await)
}

/// `POST /members/{id}/remove`.
pub async fn remove(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    let (auth, _) = match submitted(&s, &headers, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let removed = async {
        let user = members::member_of(&s, &auth.caller, &id).await?;
        members::change_member(&s, &auth.caller, &user, MemberChange::Remove).await
    };
    done(&auth, removed.await)
}

/// `POST /invitations/{id}/revoke`.
pub async fn revoke_invitation(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    let (auth, _) = match submitted(&s, &headers, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    done(&auth, members::revoke_invitation_by_id(&s, &auth.caller, &id).await)
}

//! Signed-in dashboard pages about the organisation's people and access: `/members`
//! (members and their roles, pending invitations for admins) and `/tokens` (API tokens for
//! admins, with last use). They read through the same store calls as the API and show
//! e-mail addresses only as `api::audience` allows; changes go through the API
//! (`POST /api/v1/invitations`, `POST/DELETE /api/v1/tokens`).

use super::{page, signed_in};
use crate::api::audience;
use crate::api::error::ApiError;
use crate::api::AppState;
use crate::store::Role;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;
use netpulse_core::Timestamp;

fn when(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "never".into(), |t| t.to_string())
}

/// `GET /members`.
pub async fn members(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let auth = match signed_in(&s, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let admin = auth.role >= Role::Admin && !auth.demo;
    let loaded = tokio::try_join!(s.store.list_members(&auth.tenant_id), async {
        if admin {
            s.store.list_invitations(&auth.tenant_id).await
        } else {
            Ok(Vec::new())
        }
    });
    let (members, invitations) = match loaded {
        Ok(x) => x,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let body = html! {
        @if auth.demo { (crate::demo::banner()) }
        h1 { "Members" }
        @if members.is_empty() { p.empty { "No members yet." } }
        table #members hidden[members.is_empty()] {
            thead { tr { th { "E-mail" } th { "Role" } th { "Joined" } } }
            tbody { @for m in &members { tr {
                td { (audience::email(&m.email, auth.audience)) }
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
            p.sub { "Invite with " code { "POST /api/v1/invitations {\"email\",\"role\"}" } "; the link is mailed." }
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
    if auth.role < Role::Admin || auth.demo {
        let body = html! {
            @if auth.demo { (crate::demo::banner()) }
            h1 { "API tokens" }
            p { "Only admins and owners of this organisation see its API tokens." }
        };
        return (http::StatusCode::FORBIDDEN, page("API tokens", true, body)).into_response();
    }
    let tokens = match s.store.list_tokens(&auth.tenant_id).await {
        Ok(t) => t,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let body = html! {
        h1 { "API tokens" }
        table #tokens {
            thead { tr { th { "Name" } th { "Scope" } th { "Acts as" } th { "Created" } th { "Last used" } } }
            tbody { @for t in &tokens { tr {
                td { (t.name) }
                td { (if t.scope == crate::store::Scope::Write { "write" } else { "read" }) }
                td { (t.role.as_str()) }
                td { (t.created_at) }
                td { (when(t.last_used_at)) }
            } } }
        }
        p.sub { "Tokens are shown once, when created: " code { "POST /api/v1/tokens {\"name\",\"scope\"}" } "." }
    };
    page("API tokens", true, body).into_response()
}

//! `POST/GET /api/v1/tokens`, `DELETE /api/v1/tokens/{id}`: a tenant's API tokens, named
//! and scoped, shown once at creation and stored as SHA-256 hashes. Anyone may create a
//! read token with a session; a write token needs a verified member, and acts with its
//! creator's role (at most admin). A read token creates no tokens (a leaked one would mint
//! children that outlive its revocation). Listing and revoking a tenant's tokens is for
//! admins and owners.

use crate::base::input::PathParam;
use crate::base::input::{parse_field, path_id, JsonBody};
use crate::base::AppState;
use crate::base::{ApiError, ApiResult};
use crate::base::{Caller, Via};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use netpulse_core::TokenId;
use netpulse_store::clock;
use netpulse_store::{Role, Scope, TokenRecord};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenIn {
    name: String,
    scope: Scope,
}

pub async fn create(State(s): State<AppState>, caller: Caller, JsonBody(body): JsonBody) -> ApiResult<Response> {
    let t: TokenIn = parse_field("", serde_json::Value::Object(body))?;
    let (rec, token) = create_from(&s, &caller, &t.name, t.scope).await?;
    let mut body = serde_json::to_value(&rec).map_err(|e| ApiError::bad_request(e.to_string()))?;
    body["token"] = json!(token);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Whether `caller` may create tokens at all (the scope it may give is checked per token):
/// everyone but a read token and the demo visitor. The dashboard shows its form by this rule.
pub fn may_create(caller: &Caller) -> ApiResult<()> {
    match caller.via {
        Via::Token { scope: Scope::Read, .. } => {
            Err(ApiError::forbidden("a read token cannot create tokens; sign in, or use a token with the write scope"))
        }
        Via::Demo => Err(crate::base::demo::read_only()),
        _ => Ok(()),
    }
}

/// A new token of the caller's tenant and its secret (to be shown once): the API's and the
/// dashboard's `/tokens` form's one way in.
pub async fn create_from(s: &AppState, caller: &Caller, name: &str, scope: Scope) -> ApiResult<(TokenRecord, String)> {
    may_create(caller)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "must be 1 to 100 characters"));
    }
    let role = match scope {
        Scope::Read => Role::Viewer,
        Scope::Write if caller.role >= Role::Member => {
            // A write token counts as verified: only a verified account may make one.
            caller.require_verified()?;
            caller.role.min(Role::Admin)
        }
        Scope::Write => return Err(ApiError::forbidden("viewers can only create read tokens")),
    };
    let token = clock::secret_token("np_");
    let rec = TokenRecord {
        id: clock::fresh(),
        name: name.to_owned(),
        scope,
        role,
        created_at: clock::now(),
        last_used_at: None,
        created_by: caller.acting_user().cloned(),
    };
    s.store.create_token(caller.tenant(), &rec, &clock::token_hash(&token)).await?;
    tracing::info!(token = %rec.id, actor = %caller.actor(), "API token created");
    Ok((rec, token))
}

/// `GET /api/v1/tokens`: the list under `data`, like every list; also under `tokens`, its
/// old key, kept for this release (deprecated; see docs/api.md).
pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<serde_json::Value>> {
    caller.require_admin()?;
    let tokens = s.store.list_tokens(caller.tenant()).await?;
    Ok(Json(json!({ "data": tokens, "tokens": tokens })))
}

pub async fn revoke(State(s): State<AppState>, caller: Caller, PathParam(id): PathParam) -> ApiResult<StatusCode> {
    revoke_by_id(&s, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke the caller's tenant's token `id` (admins and owners); another tenant's is unknown.
pub async fn revoke_by_id(s: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    caller.require_admin()?;
    let id = path_id(id, TokenId::parse, "token")?;
    if s.store.revoke_token(caller.tenant(), &id, clock::now()).await? {
        Ok(())
    } else {
        Err(ApiError::not_found("token"))
    }
}

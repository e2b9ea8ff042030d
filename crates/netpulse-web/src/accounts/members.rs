//! Members of an organisation and invitations by e-mail, and a user's organisations:
//! `GET /api/v1/members`; `PATCH/DELETE /api/v1/members/{id}` (admins and owners) change a
//! member's role or remove them under the owner rules (`store::check_member_change`: only
//! owners touch owners, the last owner stays); `POST/GET /api/v1/invitations` (admins and
//! owners) mail a single-use link valid for 7 days, `DELETE /api/v1/invitations/{id}`
//! revokes one; `POST /api/v1/invitations/accept` makes the signed-in user a member with the
//! invited role, when the user's verified address is the invited one (a link is no proof of
//! owning the address: it can be forwarded or leak); `GET /api/v1/auth/organisations` and `POST /api/v1/auth/switch` move the
//! session between the user's organisations (the API and the dashboard follow the
//! session's current one); `POST /api/v1/auth/leave` takes the signed-in person out of the
//! session's organisation (anyone but the last owner, [`netpulse_store::check_leave`]).

use super::{mail, parse_email};
use crate::base::audience;
use crate::base::input::PathParam;
use crate::base::input::{parse_field, JsonBody};
use crate::base::{ApiError, ApiResult};
use crate::base::{AppState, Caller, Via};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use netpulse_core::{TenantId, UserId};
use netpulse_store::clock;
use netpulse_store::{
    check_leave, Invitation, InvitationState, InvitationUse, LeaveOutcome, MemberChange, MemberChangeOutcome,
    MemberRefusal, Role,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// How long an invitation link stays valid.
const INVITE_TTL_MS: i64 = 7 * 86_400_000;

/// The user of a login session; tokens and the demo have none.
fn session_user(caller: &Caller) -> ApiResult<&UserId> {
    match &caller.via {
        Via::Session { user } => Ok(user),
        _ => Err(ApiError::forbidden("only a signed-in person can do this; API tokens cannot")),
    }
}

/// `GET /api/v1/members`: e-mail addresses are hidden from restricted readers.
pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let a = caller.audience();
    let members = s.store.list_members(caller.tenant()).await?;
    let data: Vec<Value> = members
        .into_iter()
        .map(|m| json!({ "user_id": m.user_id, "email": audience::email(&m.email, a), "role": m.role, "joined_at": m.joined_at }))
        .collect();
    Ok(Json(json!({ "data": data })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteIn {
    email: String,
    role: Role,
}

/// `POST /api/v1/invitations {"email","role"}`: at most the inviter's own role.
pub async fn invite(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    caller.require_admin()?;
    let i: InviteIn = parse_field("", serde_json::Value::Object(body))?;
    let inv = send_invitation(&s, &caller, &i.email, i.role).await?;
    Ok((StatusCode::CREATED, Json(json!(inv))))
}

/// Store an invitation and mail its link (the API and the members page); the caller must
/// be a verified admin, inviting with at most its own role, and its organisation within
/// [`INVITES_PER_MINUTE`].
pub async fn send_invitation(s: &AppState, caller: &Caller, email: &str, role: Role) -> ApiResult<Invitation> {
    caller.require_admin()?;
    caller.require_verified()?;
    let email = parse_email(email)?;
    if role > caller.role {
        return Err(ApiError::invalid("role", format!("can be at most your own role ({})", caller.role.as_str())));
    }
    let (t, now) = (&s.throttles, std::time::Instant::now());
    if !t.invite.allow(caller.tenant().as_str(), now) {
        return Err(ApiError::rate_limited("invitations from this organisation", 60));
    }
    if !t.mail_domain.allow(crate::base::throttle::domain_of(&email), now) {
        return Err(ApiError::rate_limited("mails to this e-mail domain", t.mail_domain.retry_after_s()));
    }
    let now = clock::now();
    let inv = Invitation {
        id: format!("inv_{}", netpulse_core::ids::encode_base32(clock::random_u128())),
        email,
        role,
        invited_by: caller.actor(),
        created_at: now,
        expires_at: now.plus_ms(INVITE_TTL_MS),
    };
    let token = clock::secret_token("npi_");
    s.store.create_invitation(caller.tenant(), &inv, &clock::token_hash(&token)).await?;
    let text = format!(
        "You are invited to an organisation on NetPulse as {role}.\n\n\
         Sign in (or register first), then open this link within 7 days to join:\n\n{base}/invite?token={token}\n\n\
         The link works once. If you did not expect it, ignore this message.",
        role = inv.role.as_str(),
        base = s.base_url,
    );
    mail::send_link(&s.config.smtp, &inv.email, "You are invited to NetPulse", text);
    tracing::info!(invitation = %inv.id, tenant = %caller.tenant(), "invitation sent");
    Ok(inv)
}

/// `GET /api/v1/invitations`: pending invitations.
pub async fn pending(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    Ok(Json(json!({ "data": s.store.list_invitations(caller.tenant()).await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenIn {
    token: String,
}

/// Accept an invitation as `user` (API and dashboard): the organisation and the role.
pub async fn accept_as(s: &AppState, user: &UserId, token: &str) -> ApiResult<(TenantId, Role)> {
    match s.store.accept_invitation(&clock::token_hash(token), user, clock::now()).await? {
        InvitationUse::Accepted { tenant, role } => {
            tracing::info!(%user, %tenant, "invitation accepted");
            Ok((tenant, role))
        }
        InvitationUse::Expired => Err(refused(InvitationState::Expired)),
        InvitationUse::AlreadyUsed => Err(refused(InvitationState::AlreadyUsed)),
        InvitationUse::Revoked => Err(refused(InvitationState::Revoked)),
        InvitationUse::Unknown => Err(refused(InvitationState::Unknown)),
        InvitationUse::OtherAddress => {
            tracing::warn!(%user, "invitation refused: presented by an account of another address");
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "invitation_other_address",
                "this invitation was sent to another e-mail address: sign in with the account of the address \
                 it was sent to (or register one with it), then open the link again",
            ))
        }
        InvitationUse::Unverified => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invitation_unverified",
            "verify your e-mail address first (open the link we mailed you when you registered, or ask for a \
             new one), then open this invitation again",
        )),
    }
}

/// The role an invitation link would give now, or why it cannot be used (the page the
/// link opens says so before anyone signs in).
pub async fn pending_role(s: &AppState, token: &str) -> ApiResult<Role> {
    match s.store.invitation_state(&clock::token_hash(token), clock::now()).await? {
        InvitationState::Pending { role } => Ok(role),
        other => Err(refused(other)),
    }
}

/// Why an invitation cannot be used, in the API's words.
fn refused(state: InvitationState) -> ApiError {
    let gone = |code, message: &str| ApiError::new(StatusCode::GONE, code, message);
    match state {
        InvitationState::Expired => gone("invitation_expired", "this invitation has expired; ask for a new one"),
        InvitationState::AlreadyUsed => gone("invitation_used", "this invitation was already accepted"),
        InvitationState::Revoked => gone(
            "invitation_revoked",
            "this invitation was revoked by an admin of the organisation; ask them for a new one",
        ),
        InvitationState::Unknown | InvitationState::Pending { .. } => ApiError::new(
            StatusCode::NOT_FOUND,
            "invitation_unknown",
            "this invitation link is not valid; check that it was copied whole",
        ),
    }
}

/// `POST /api/v1/invitations/accept {"token"}`: the signed-in user joins.
pub async fn accept(State(s): State<AppState>, caller: Caller, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    let user = session_user(&caller)?;
    let t: TokenIn = parse_field("", serde_json::Value::Object(body))?;
    let (tenant, role) = accept_as(&s, user, &t.token).await?;
    Ok(Json(json!({ "tenant": tenant, "role": role })))
}

/// `GET /api/v1/auth/organisations`: the user's organisations; `current` marks the session's.
pub async fn organisations(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let user = session_user(&caller)?;
    let data: Vec<Value> = s
        .store
        .memberships(user)
        .await?
        .into_iter()
        .map(|m| {
            let current = m.tenant_id == caller.tenant_id;
            json!({ "tenant": m.tenant_id, "name": m.tenant_name, "role": m.role, "current": current })
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchIn {
    tenant: String,
}

/// Move the session of `headers` to `tenant` (API and dashboard); 404 unless a member there.
pub async fn switch_to(s: &AppState, headers: &HeaderMap, tenant: &str) -> ApiResult<()> {
    let tenant = crate::base::input::path_id(tenant, TenantId::parse, "organisation")?;
    let session = crate::base::cookies::session_token(headers).ok_or_else(ApiError::unauthorized)?;
    if s.store.switch_session(&clock::token_hash(&session), &tenant, clock::now()).await? {
        Ok(())
    } else {
        Err(ApiError::not_found("organisation"))
    }
}

/// `POST /api/v1/auth/switch {"tenant"}`.
pub async fn switch(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    session_user(&caller)?;
    let w: SwitchIn = parse_field("", serde_json::Value::Object(body))?;
    switch_to(&s, &headers, &w.tenant).await?;
    Ok(Json(json!({ "tenant": w.tenant })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleIn {
    role: Role,
}

/// `PATCH /api/v1/members/{id} {"role"}`: admins and owners change a member's role.
pub async fn set_role(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let user = member_of(&s, &caller, &id).await?;
    let r: RoleIn = parse_field("", serde_json::Value::Object(body))?;
    change_member(&s, &caller, &user, MemberChange::SetRole(r.role)).await?;
    Ok(Json(json!({ "user_id": user, "role": r.role })))
}

/// `DELETE /api/v1/members/{id}`: admins and owners remove a member; the member's sessions
/// in this organisation and the API tokens they made here stop working at once.
pub async fn remove(State(s): State<AppState>, caller: Caller, PathParam(id): PathParam) -> ApiResult<StatusCode> {
    let user = member_of(&s, &caller, &id).await?;
    change_member(&s, &caller, &user, MemberChange::Remove).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The member `id` of the caller's organisation (admins and owners ask); 404 for anyone
/// else, so another organisation's members cannot be probed.
pub async fn member_of(s: &AppState, caller: &Caller, id: &str) -> ApiResult<UserId> {
    caller.require_admin()?;
    let user = crate::base::input::path_id(id, UserId::parse, "member")?;
    if s.store.list_members(caller.tenant()).await?.iter().any(|m| m.user_id == user) {
        Ok(user)
    } else {
        Err(ApiError::not_found("member"))
    }
}

/// Change the membership of `user` in the caller's organisation (the API and the members
/// page), under the owner rules of [`netpulse_store::check_member_change`].
pub async fn change_member(s: &AppState, caller: &Caller, user: &UserId, change: MemberChange) -> ApiResult<()> {
    caller.require_admin()?;
    if let MemberChange::SetRole(role) = change {
        if role > caller.role {
            return Err(ApiError::invalid("role", format!("can be at most your own role ({})", caller.role.as_str())));
        }
    }
    let outcome = s.store.change_member(caller.tenant(), user, change, caller.role, clock::now()).await?;
    match outcome {
        MemberChangeOutcome::Done { tokens } => {
            tracing::info!(member = %user, tenant = %caller.tenant(), ?change, tokens, actor = %caller.actor(), "membership changed");
            Ok(())
        }
        MemberChangeOutcome::NotMember => Err(ApiError::not_found("member")),
        MemberChangeOutcome::Refused(why) => Err(refusal(why)),
    }
}

/// A refused membership change in the API's words.
fn refusal(why: MemberRefusal) -> ApiError {
    match why {
        MemberRefusal::LastOwner => ApiError::new(
            StatusCode::CONFLICT,
            "last_owner",
            "this is the organisation's last owner: make another member an owner first, then change or remove this one",
        ),
        MemberRefusal::OwnerByNonOwner => ApiError::forbidden("only an owner can change or remove an owner"),
        MemberRefusal::PromoteToOwner => ApiError::invalid("role", "only an owner can make someone an owner"),
    }
}

/// A refused leave in the API's words: the last owner, told what to do instead.
fn leave_refusal(why: MemberRefusal) -> ApiError {
    match why {
        MemberRefusal::LastOwner => ApiError::new(
            StatusCode::CONFLICT,
            "last_owner",
            "you are this organisation's last owner, so you cannot leave it: make another member an owner \
             first, then leave (NetPulse cannot delete an organisation yet)",
        ),
        other => refusal(other),
    }
}

/// Whether the caller may leave its organisation, by the rule the store applies
/// ([`check_leave`], given the organisation's `owners` now): only a signed-in person,
/// and not the last owner. The members page shows its "Leave" control by this.
pub fn may_leave(caller: &Caller, owners: usize) -> ApiResult<()> {
    session_user(caller)?;
    check_leave(caller.role, owners).map_err(leave_refusal)
}

/// Where a person who left an organisation is now.
pub struct Left {
    /// The organisation left.
    pub left: TenantId,
    /// The organisation the session moved to; `None`: the person belongs to no other one and
    /// is signed out.
    pub now_in: Option<TenantId>,
}

/// The caller (a login session in `headers`) leaves its current organisation: its sessions
/// there and the API tokens it made there stop working at once, and this session moves
/// to the person's oldest other organisation or, with none, ends (the API and the dashboard).
pub async fn leave_current(s: &AppState, caller: &Caller, headers: &HeaderMap) -> ApiResult<Left> {
    let user = session_user(caller)?;
    let session = crate::base::cookies::session_token(headers).ok_or_else(ApiError::unauthorized)?;
    let tenant = caller.tenant().clone();
    match s.store.leave(&tenant, user, &clock::token_hash(&session), clock::now()).await? {
        LeaveOutcome::Left { switched_to, tokens } => {
            tracing::info!(%user, %tenant, ?switched_to, tokens, "left the organisation");
            Ok(Left { left: tenant, now_in: switched_to })
        }
        LeaveOutcome::NotMember => Err(ApiError::not_found("membership")),
        LeaveOutcome::Refused(why) => Err(leave_refusal(why)),
    }
}

/// `POST /api/v1/auth/leave`: the signed-in person leaves the session's organisation (see
/// [`leave_current`]); API tokens cannot (403): a token is no person. With no other
/// organisation the answer also clears the session cookies.
pub async fn leave(State(s): State<AppState>, caller: Caller, headers: HeaderMap) -> ApiResult<Response> {
    let left = leave_current(&s, &caller, &headers).await?;
    let signed_out = left.now_in.is_none();
    let body = json!({ "left": left.left, "tenant": left.now_in, "signed_out": signed_out });
    let mut r = Json(body).into_response();
    if signed_out {
        for c in crate::base::cookies::cleared_cookies() {
            r.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    Ok(r)
}

/// `DELETE /api/v1/invitations/{id}`: revoke a pending invitation; its link stops working.
pub async fn revoke_invitation(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> ApiResult<StatusCode> {
    revoke_invitation_by_id(&s, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke the caller's organisation's pending invitation `id` (admins and owners; the API
/// and the members page); another organisation's, or a used one, is unknown.
pub async fn revoke_invitation_by_id(s: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    caller.require_admin()?;
    if s.store.revoke_invitation(caller.tenant(), id, clock::now()).await? {
        tracing::info!(invitation = %id, tenant = %caller.tenant(), actor = %caller.actor(), "invitation revoked");
        Ok(())
    } else {
        Err(ApiError::not_found("invitation"))
    }
}

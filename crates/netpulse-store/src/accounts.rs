//! Accounts: tenants, users, browser sessions, e-mail tokens (verification and password
//! reset) and API tokens, with the roles they act with. Users are not tenant data; a
//! membership ties a user to a tenant (memberships and invitations are the `members` area).

use crate::error::StoreResult;
use async_trait::async_trait;
use netpulse_core::{TenantId, Timestamp, TokenId, UserId};
use serde::{Deserialize, Serialize};

/// What an API token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    /// The stored (and shown) text.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }
    /// From the stored text; anything but `write` reads as read-only.
    pub fn parse(s: &str) -> Self {
        if s == "write" {
            Scope::Write
        } else {
            Scope::Read
        }
    }
}

/// A token that authenticated.
#[derive(Clone, Debug)]
pub struct TokenAuth {
    pub token_id: TokenId,
    pub tenant_id: TenantId,
    pub scope: Scope,
    /// The role the token acts with: a read token is a viewer; a write token has the role
    /// of the member who created it (the bootstrap token: admin).
    pub role: Role,
    /// The person whose token it is (none for the bootstrap token and tokens made before
    /// creators were recorded).
    pub created_by: Option<UserId>,
}

impl TokenAuth {
    /// The role of a token from its stored scope and role column.
    pub fn role_of(scope: Scope, stored: Option<&str>) -> Role {
        match (scope, stored) {
            (Scope::Read, _) => Role::Viewer,
            (Scope::Write, None) => Role::Admin,
            (Scope::Write, Some(r)) => Role::parse(r).min(Role::Admin),
        }
    }
}

/// A member's role in a tenant: viewers read, members also change monitors and incidents,
/// admins and owners also manage channels and tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
    /// From the stored text; anything unknown reads as the least privileged role.
    pub fn parse(s: &str) -> Self {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).unwrap_or(Role::Viewer)
    }
}

/// A person's account.
#[derive(Clone, Debug)]
pub struct UserRecord {
    pub id: UserId,
    /// Lower-case.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub verified_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// A registration: a user and the organisation it creates.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub user: UserRecord,
    pub tenant: TenantId,
    pub tenant_name: String,
}

/// A browser session being opened; `id_hash` is the SHA-256 of the cookie value.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub id_hash: String,
    pub user: UserId,
    pub tenant: TenantId,
    pub csrf: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A live session that authenticated.
#[derive(Clone, Debug)]
pub struct SessionAuth {
    pub user: UserId,
    pub tenant_id: TenantId,
    pub role: Role,
    pub csrf: String,
    pub verified: bool,
}

/// What an e-mail token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailPurpose {
    Verify,
    Reset,
}

impl EmailPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailPurpose::Verify => "verify",
            EmailPurpose::Reset => "reset",
        }
    }
}

/// What presenting an e-mail token did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmailTokenUse {
    /// Accepted now (for `Verify`, the user is verified from now on).
    Accepted(UserId),
    Expired,
    AlreadyUsed,
    Unknown,
}

/// An API token as listed (never its value).
#[derive(Clone, Debug, Serialize)]
pub struct TokenRecord {
    pub id: TokenId,
    pub name: String,
    pub scope: Scope,
    pub role: Role,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    /// The person whose token it is: removing them from the organisation revokes it, and
    /// demoting them lowers its role (none for the bootstrap token).
    pub created_by: Option<UserId>,
}

/// Bootstrap, authentication, accounts, sessions and API tokens.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Create the default tenant and an owner token on an empty database. Returns the
    /// tenant and whether it was created now.
    async fn bootstrap(&self, token_hash: &str, now: Timestamp) -> StoreResult<(TenantId, bool)>;
    /// Create the tenant `t` named `name` unless it exists (the demo organisation, whose id
    /// is fixed). Returns whether it was created now.
    async fn ensure_tenant(&self, t: &TenantId, name: &str, now: Timestamp) -> StoreResult<bool>;
    /// Replace the bootstrap token (when `NETPULSE_ADMIN_TOKEN` is set).
    async fn set_bootstrap_token(&self, tenant: &TenantId, token_hash: &str, now: Timestamp) -> StoreResult<()>;
    async fn authenticate(&self, token_hash: &str) -> StoreResult<Option<TokenAuth>>;
    /// Note that a token was used at `now` (written at most once a minute per token).
    async fn touch_token(&self, token_hash: &str, now: Timestamp) -> StoreResult<()>;

    /// Create a user and its owner membership. The very first user of an install becomes
    /// owner of the oldest (bootstrap) tenant; later ones get `acct.tenant`, created now.
    /// Returns the tenant joined; `Conflict` when the e-mail is taken.
    async fn register(&self, acct: &NewAccount, now: Timestamp) -> StoreResult<TenantId>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    async fn user_by_id(&self, user: &UserId) -> StoreResult<Option<UserRecord>>;
    /// Replace a user's password hash and revoke every session of theirs except `keep` (the
    /// hash of the session that changed it, if any), in one transaction. Returns how many
    /// sessions were revoked.
    async fn set_password(
        &self,
        user: &UserId,
        password_hash: &str,
        keep: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<usize>;
    /// The user's first membership (by joining time).
    async fn first_membership(&self, user: &UserId) -> StoreResult<Option<(TenantId, Role)>>;
    async fn add_email_token(
        &self,
        user: &UserId,
        token_hash: &str,
        purpose: EmailPurpose,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
    /// Use an e-mail token once, atomically; a `Verify` token verifies its user.
    async fn use_email_token(
        &self,
        token_hash: &str,
        purpose: EmailPurpose,
        now: Timestamp,
    ) -> StoreResult<EmailTokenUse>;

    async fn create_session(&self, s: &NewSession) -> StoreResult<()>;
    /// The unexpired, unrevoked session with this hash, with the member's current role.
    async fn session(&self, id_hash: &str, now: Timestamp) -> StoreResult<Option<SessionAuth>>;
    async fn revoke_session(&self, id_hash: &str, now: Timestamp) -> StoreResult<()>;

    /// Add an API token of tenant `t` (stored by its hash only).
    async fn create_token(&self, t: &TenantId, rec: &TokenRecord, token_hash: &str) -> StoreResult<()>;
    async fn list_tokens(&self, t: &TenantId) -> StoreResult<Vec<TokenRecord>>;
    async fn revoke_token(&self, t: &TenantId, id: &TokenId, now: Timestamp) -> StoreResult<bool>;
}

//! Accounts: tenants, users, browser sessions, e-mail tokens (verification and password
//! reset) and API tokens, with the roles they act with. Users are not tenant data; a
//! membership ties a user to a tenant (memberships and invitations are the `members` area).

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

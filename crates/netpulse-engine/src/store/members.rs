//! Store types of tenants' members and invitations: who belongs to an organisation with
//! which role, the organisations a user can switch between, and invitations by e-mail.

use super::Role;
use netpulse_core::{TenantId, Timestamp, UserId};
use serde::Serialize;

/// An invitation as listed (never its token).
#[derive(Clone, Debug, Serialize)]
pub struct Invitation {
    pub id: String,
    /// Lower-case; where the link was sent.
    pub email: String,
    pub role: Role,
    /// Who invited (`user usr_…`, `token tok_…`).
    pub invited_by: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What presenting an invitation token did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvitationUse {
    /// The user is a member now (an existing membership keeps its role).
    Accepted {
        tenant: TenantId,
        role: Role,
    },
    Expired,
    AlreadyUsed,
    Unknown,
}

/// One organisation a user belongs to.
#[derive(Clone, Debug, Serialize)]
pub struct Membership {
    pub tenant_id: TenantId,
    pub tenant_name: String,
    pub role: Role,
}

/// A member of an organisation as listed.
#[derive(Clone, Debug, Serialize)]
pub struct Member {
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    pub joined_at: Timestamp,
}

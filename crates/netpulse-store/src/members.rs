//! Members and invitations: who belongs to an organisation with which role, the
//! organisations a user can switch between, invitations by e-mail, and the owner rules every
//! membership change follows.

use crate::accounts::Role;
use crate::error::StoreResult;
use async_trait::async_trait;
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
    /// An admin revoked it before it was used.
    Revoked,
    Unknown,
    /// It was sent to another e-mail address than the user's: only the invited address joins.
    OtherAddress,
    /// The user's address is the invited one but not verified yet: holding the link is no
    /// proof of owning the address (a link can be forwarded or leak).
    Unverified,
}

/// What an invitation token would do if presented now (read only, for the page its link
/// opens).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvitationState {
    /// It can be accepted, giving `role`.
    Pending {
        role: Role,
    },
    Expired,
    AlreadyUsed,
    Revoked,
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

/// A change of one membership asked for by someone acting with the role `by`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberChange {
    /// Give the member this role.
    SetRole(Role),
    /// Remove the member from the organisation.
    Remove,
}

/// What a membership change did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberChangeOutcome {
    /// Done; `tokens` of the member's API tokens were revoked (removal) or lowered to the
    /// new role (demotion).
    Done {
        tokens: usize,
    },
    /// The user is not a member of this organisation.
    NotMember,
    Refused(MemberRefusal),
}

/// What leaving an organisation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaveOutcome {
    /// Left: the session that asked moved to `switched_to` (the user's oldest other
    /// membership) or, without one, was revoked with the user's other sessions there;
    /// `tokens` of the API tokens they made there were revoked.
    Left {
        switched_to: Option<TenantId>,
        tokens: usize,
    },
    /// The user is not (or no longer) a member of this organisation.
    NotMember,
    Refused(MemberRefusal),
}

/// Why a membership change is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberRefusal {
    /// The organisation would be left without an owner.
    LastOwner,
    /// Only owners change or remove an owner.
    OwnerByNonOwner,
    /// Only owners make someone an owner.
    PromoteToOwner,
}

/// Memberships, session switching between them, members and invitations of a tenant.
#[async_trait]
pub trait MemberStore: Send + Sync {
    /// The organisations `user` belongs to, oldest membership first.
    async fn memberships(&self, user: &UserId) -> StoreResult<Vec<Membership>>;
    /// Move a live session to tenant `t`, if its user is a member there; `false` otherwise.
    async fn switch_session(&self, id_hash: &str, t: &TenantId, now: Timestamp) -> StoreResult<bool>;

    async fn list_members(&self, t: &TenantId) -> StoreResult<Vec<Member>>;
    /// Change `user`'s membership of `t`, asked by someone acting with the role `by`, under
    /// [`check_member_change`] in one transaction. Removal also revokes the user's sessions
    /// in `t` and the API tokens of `t` they created; a demotion lowers those tokens' role.
    async fn change_member(
        &self,
        t: &TenantId,
        user: &UserId,
        change: MemberChange,
        by: Role,
        now: Timestamp,
    ) -> StoreResult<MemberChangeOutcome>;
    /// `user` leaves `t` by themselves under [`check_leave`], in one transaction: the
    /// session `session_hash` moves to their oldest other membership if they have one, then
    /// the membership goes as on removal (their other sessions in `t` and the API tokens of
    /// `t` they created are revoked; so is the asking session when it had nowhere to go).
    async fn leave(&self, t: &TenantId, user: &UserId, session_hash: &str, now: Timestamp)
        -> StoreResult<LeaveOutcome>;

    async fn create_invitation(&self, t: &TenantId, inv: &Invitation, token_hash: &str) -> StoreResult<()>;
    /// Invitations neither accepted nor revoked (expired ones included), oldest first.
    async fn list_invitations(&self, t: &TenantId) -> StoreResult<Vec<Invitation>>;
    /// What the invitation token with this hash would do if presented at `now`.
    async fn invitation_state(&self, token_hash: &str, now: Timestamp) -> StoreResult<InvitationState>;
    /// Revoke a pending invitation of `t`; `false` when `t` has no such pending one.
    async fn revoke_invitation(&self, t: &TenantId, id: &str, now: Timestamp) -> StoreResult<bool>;
    /// Use an invitation once, atomically: mark it accepted by `user` and add the membership.
    /// Only the invited address joins: a user with another address gets
    /// [`InvitationUse::OtherAddress`], one whose address is not verified
    /// [`InvitationUse::Unverified`], and the invitation stays pending.
    async fn accept_invitation(&self, token_hash: &str, user: &UserId, now: Timestamp) -> StoreResult<InvitationUse>;
}

/// The rules of membership changes, applied by each store inside the transaction that
/// makes the change (so two owners demoting each other at once cannot leave none):
/// owners may change anyone, admins may not touch owners nor make one, and the last owner
/// is never demoted or removed. `owners` is the number of owners the organisation has now.
pub fn check_member_change(change: MemberChange, current: Role, owners: usize, by: Role) -> Result<(), MemberRefusal> {
    if by < Role::Owner {
        if current == Role::Owner {
            return Err(MemberRefusal::OwnerByNonOwner);
        }
        if change == MemberChange::SetRole(Role::Owner) {
            return Err(MemberRefusal::PromoteToOwner);
        }
    }
    let stays_owner = change == MemberChange::SetRole(Role::Owner);
    if current == Role::Owner && !stays_owner && owners <= 1 {
        return Err(MemberRefusal::LastOwner);
    }
    Ok(())
}

/// The rule for a member leaving by themselves: their own removal, asked with their own
/// role, so only the last-owner rule of [`check_member_change`] can refuse it.
pub fn check_leave(current: Role, owners: usize) -> Result<(), MemberRefusal> {
    check_member_change(MemberChange::Remove, current, owners, current)
}

/// The stored role names above `role`, for lowering API tokens when their creator is
/// demoted.
pub fn roles_above(role: Role) -> Vec<&'static str> {
    [Role::Viewer, Role::Member, Role::Admin, Role::Owner].into_iter().filter(|r| *r > role).map(Role::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use MemberChange::*;
    use Role::*;

    #[test]
    fn membership_changes_follow_the_owner_rules() {
        let cases = [
            // change, current, owners, by, expected
            (SetRole(Viewer), Member, 1, Admin, Ok(())),
            (Remove, Admin, 1, Admin, Ok(())),
            (SetRole(Owner), Member, 1, Admin, Err(MemberRefusal::PromoteToOwner)),
            (SetRole(Admin), Owner, 2, Admin, Err(MemberRefusal::OwnerByNonOwner)),
            (Remove, Owner, 2, Admin, Err(MemberRefusal::OwnerByNonOwner)),
            (SetRole(Owner), Member, 1, Owner, Ok(())),
            (SetRole(Admin), Owner, 2, Owner, Ok(())),
            (SetRole(Admin), Owner, 1, Owner, Err(MemberRefusal::LastOwner)),
            (Remove, Owner, 1, Owner, Err(MemberRefusal::LastOwner)),
            (SetRole(Owner), Owner, 1, Owner, Ok(())),
            (Remove, Owner, 2, Owner, Ok(())),
        ];
        for (change, current, owners, by, expected) in cases {
            assert_eq!(
                check_member_change(change, current, owners, by),
                expected,
                "{change:?} of {current:?} by {by:?}"
            );
        }
    }

    #[test]
    fn anyone_but_the_last_owner_may_leave() {
        let cases = [
            // current, owners, expected
            (Viewer, 1, Ok(())),
            (Member, 1, Ok(())),
            (Admin, 1, Ok(())),
            (Owner, 2, Ok(())),
            (Owner, 1, Err(MemberRefusal::LastOwner)),
        ];
        for (current, owners, expected) in cases {
            assert_eq!(check_leave(current, owners), expected, "{current:?} leaving, {owners} owner(s)");
        }
    }

    #[test]
    fn roles_above_a_role_are_the_stronger_ones() {
        assert_eq!(roles_above(Member), ["admin", "owner"]);
        assert!(roles_above(Owner).is_empty());
    }
}

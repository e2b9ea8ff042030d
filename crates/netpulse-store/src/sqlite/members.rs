//! Members, memberships, session switching and invitations in SQLite.

use super::SqliteStore;
use crate::members::roles_above;
use crate::*;
use async_trait::async_trait;
use netpulse_core::{TenantId, Timestamp, UserId};
use rusqlite::{params, OptionalExtension};

/// An invitation's tenant, role, expiry, acceptance and revocation times.
type InvitationRow = (String, String, i64, Option<i64>, Option<i64>);

#[async_trait]
impl MemberStore for SqliteStore {
    async fn memberships(&self, user: &UserId) -> StoreResult<Vec<Membership>> {
        let user = user.clone();
        self.read(move |c| {
            let mut st = c.prepare(
                "SELECT m.tenant_id, t.name, m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id \
                 WHERE m.user_id = ?1 ORDER BY m.created_at, m.tenant_id",
            )?;
            let rows = st.query_map([user.as_str()], |r| {
                Ok(Membership {
                    tenant_id: TenantId::from_trusted(r.get(0)?),
                    tenant_name: r.get(1)?,
                    role: Role::parse(&r.get::<_, String>(2)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn switch_session(&self, id_hash: &str, t: &TenantId, now: Timestamp) -> StoreResult<bool> {
        let (id_hash, t) = (id_hash.to_owned(), t.clone());
        self.write(move |c| {
            let n = c.execute(
                "UPDATE sessions SET tenant_id = ?2 WHERE id_hash = ?1 AND revoked_at IS NULL AND expires_at > ?3 \
                 AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = sessions.user_id AND m.tenant_id = ?2)",
                params![id_hash, t.as_str(), now.millis()],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn list_members(&self, t: &TenantId) -> StoreResult<Vec<Member>> {
        let t = t.clone();
        self.read(move |c| {
            let mut st = c.prepare(
                "SELECT u.id, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id \
                 WHERE m.tenant_id = ?1 ORDER BY m.created_at, u.id",
            )?;
            let rows = st.query_map([t.as_str()], |r| {
                Ok(Member {
                    user_id: UserId::from_trusted(r.get(0)?),
                    email: r.get(1)?,
                    role: Role::parse(&r.get::<_, String>(2)?),
                    joined_at: Timestamp::from_millis(r.get(3)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn change_member(
        &self,
        t: &TenantId,
        user: &UserId,
        change: MemberChange,
        by: Role,
        now: Timestamp,
    ) -> StoreResult<MemberChangeOutcome> {
        let (t, user) = (t.clone(), user.clone());
        self.write(move |c| {
            let tx = c.transaction()?;
            let (t, u) = (t.as_str(), user.as_str());
            let current: Option<String> = tx
                .query_row("SELECT role FROM memberships WHERE tenant_id = ?1 AND user_id = ?2", [t, u], |r| r.get(0))
                .optional()?;
            let Some(current) = current else { return Ok(MemberChangeOutcome::NotMember) };
            let owners: i64 =
                tx.query_row("SELECT COUNT(*) FROM memberships WHERE tenant_id = ?1 AND role = 'owner'", [t], |r| {
                    r.get(0)
                })?;
            if let Err(why) = check_member_change(change, Role::parse(&current), owners as usize, by) {
                return Ok(MemberChangeOutcome::Refused(why));
            }
            let tokens = match change {
                MemberChange::SetRole(role) => {
                    tx.execute(
                        "UPDATE memberships SET role = ?3 WHERE tenant_id = ?1 AND user_id = ?2",
                        params![t, u, role.as_str()],
                    )?;
                    let mut lowered = 0;
                    for above in roles_above(role) {
                        lowered += tx.execute(
                            "UPDATE api_tokens SET role = ?3 \
                             WHERE tenant_id = ?1 AND created_by = ?2 AND revoked_at IS NULL AND role = ?4",
                            params![t, u, role.as_str(), above],
                        )?;
                    }
                    lowered
                }
                MemberChange::Remove => remove_membership(&tx, t, u, now)?,
            };
            tx.commit()?;
            Ok(MemberChangeOutcome::Done { tokens })
        })
        .await
    }

    /// SQLite runs one writer at a time, so the owners counted here are the owners when the
    /// membership goes.
    async fn leave(
        &self,
        t: &TenantId,
        user: &UserId,
        session_hash: &str,
        now: Timestamp,
    ) -> StoreResult<LeaveOutcome> {
        let (t, user, session_hash) = (t.clone(), user.clone(), session_hash.to_owned());
        self.write(move |c| {
            let tx = c.transaction()?;
            let (t, u) = (t.as_str(), user.as_str());
            let current: Option<String> = tx
                .query_row("SELECT role FROM memberships WHERE tenant_id = ?1 AND user_id = ?2", [t, u], |r| r.get(0))
                .optional()?;
            let Some(current) = current else { return Ok(LeaveOutcome::NotMember) };
            let owners: i64 =
                tx.query_row("SELECT COUNT(*) FROM memberships WHERE tenant_id = ?1 AND role = 'owner'", [t], |r| {
                    r.get(0)
                })?;
            if let Err(why) = check_leave(Role::parse(&current), owners as usize) {
                return Ok(LeaveOutcome::Refused(why));
            }
            let next: Option<String> = tx
                .query_row(
                    "SELECT tenant_id FROM memberships WHERE user_id = ?1 AND tenant_id <> ?2 \
                     ORDER BY created_at, tenant_id LIMIT 1",
                    [u, t],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(next) = &next {
                tx.execute(
                    "UPDATE sessions SET tenant_id = ?4 \
                     WHERE id_hash = ?3 AND tenant_id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
                    params![t, u, session_hash, next],
                )?;
            }
            let tokens = remove_membership(&tx, t, u, now)?;
            tx.commit()?;
            Ok(LeaveOutcome::Left { switched_to: next.map(TenantId::from_trusted), tokens })
        })
        .await
    }

    async fn create_invitation(&self, t: &TenantId, inv: &Invitation, token_hash: &str) -> StoreResult<()> {
        let (t, i, hash) = (t.clone(), inv.clone(), token_hash.to_owned());
        self.write(move |c| {
            c.execute(
                "INSERT INTO invitations (id, tenant_id, token_hash, email, role, invited_by, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    i.id,
                    t.as_str(),
                    hash,
                    i.email,
                    i.role.as_str(),
                    i.invited_by,
                    i.created_at.millis(),
                    i.expires_at.millis()
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn list_invitations(&self, t: &TenantId) -> StoreResult<Vec<Invitation>> {
        let t = t.clone();
        self.read(move |c| {
            let mut st = c.prepare(
                "SELECT id, email, role, invited_by, created_at, expires_at FROM invitations \
                 WHERE tenant_id = ?1 AND accepted_at IS NULL AND revoked_at IS NULL ORDER BY created_at, id",
            )?;
            let rows = st.query_map([t.as_str()], |r| {
                Ok(Invitation {
                    id: r.get(0)?,
                    email: r.get(1)?,
                    role: Role::parse(&r.get::<_, String>(2)?),
                    invited_by: r.get(3)?,
                    created_at: Timestamp::from_millis(r.get(4)?),
                    expires_at: Timestamp::from_millis(r.get(5)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn invitation_state(&self, token_hash: &str, now: Timestamp) -> StoreResult<InvitationState> {
        let hash = token_hash.to_owned();
        self.read(move |c| {
            let row: Option<InvitationRow> = c
                .query_row(
                    "SELECT tenant_id, role, expires_at, accepted_at, revoked_at FROM invitations WHERE token_hash = ?1",
                    [&hash],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()?;
            Ok(match row {
                None => InvitationState::Unknown,
                Some((_, _, _, Some(_), _)) => InvitationState::AlreadyUsed,
                Some((_, _, _, _, Some(_))) => InvitationState::Revoked,
                Some((_, _, expires_at, _, _)) if expires_at <= now.millis() => InvitationState::Expired,
                Some((_, role, ..)) => InvitationState::Pending { role: Role::parse(&role) },
            })
        })
        .await
    }

    async fn revoke_invitation(&self, t: &TenantId, id: &str, now: Timestamp) -> StoreResult<bool> {
        let (t, id) = (t.clone(), id.to_owned());
        self.write(move |c| {
            let n = c.execute(
                "UPDATE invitations SET revoked_at = ?3 \
                 WHERE tenant_id = ?1 AND id = ?2 AND accepted_at IS NULL AND revoked_at IS NULL",
                params![t.as_str(), id, now.millis()],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn accept_invitation(&self, token_hash: &str, user: &UserId, now: Timestamp) -> StoreResult<InvitationUse> {
        let (hash, user) = (token_hash.to_owned(), user.clone());
        self.write(move |c| {
            let tx = c.transaction()?;
            let row: Option<InvitationRow> = tx
                .query_row(
                    "SELECT tenant_id, role, expires_at, accepted_at, revoked_at FROM invitations WHERE token_hash = ?1",
                    [&hash],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()?;
            let Some((tenant, role, expires_at, accepted_at, revoked_at)) = row else {
                return Ok(InvitationUse::Unknown);
            };
            if accepted_at.is_some() {
                return Ok(InvitationUse::AlreadyUsed);
            }
            if revoked_at.is_some() {
                return Ok(InvitationUse::Revoked);
            }
            if expires_at <= now.millis() {
                return Ok(InvitationUse::Expired);
            }
            let (same_address, verified): (bool, bool) = tx.query_row(
                "SELECT u.email = i.email, u.verified_at IS NOT NULL FROM users u, invitations i \
                 WHERE u.id = ?1 AND i.token_hash = ?2",
                params![user.as_str(), hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if !same_address {
                return Ok(InvitationUse::OtherAddress);
            }
            if !verified {
                return Ok(InvitationUse::Unverified);
            }
            tx.execute(
                "UPDATE invitations SET accepted_at = ?2, accepted_by = ?3 WHERE token_hash = ?1",
                params![hash, now.millis(), user.as_str()],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO memberships (user_id, tenant_id, role, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![user.as_str(), tenant, role, now.millis()],
            )?;
            let role: String = tx.query_row(
                "SELECT role FROM memberships WHERE user_id = ?1 AND tenant_id = ?2",
                params![user.as_str(), tenant],
                |r| r.get(0),
            )?;
            tx.commit()?;
            Ok(InvitationUse::Accepted { tenant: TenantId::from_trusted(tenant), role: Role::parse(&role) })
        })
        .await
    }
}

/// Delete the membership of `u` in `t` and revoke their sessions there and the API tokens
/// they made there; how many tokens.
fn remove_membership(tx: &rusqlite::Transaction<'_>, t: &str, u: &str, now: Timestamp) -> StoreResult<usize> {
    tx.execute("DELETE FROM memberships WHERE tenant_id = ?1 AND user_id = ?2", [t, u])?;
    tx.execute(
        "UPDATE sessions SET revoked_at = ?3 WHERE tenant_id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
        params![t, u, now.millis()],
    )?;
    Ok(tx.execute(
        "UPDATE api_tokens SET revoked_at = ?3 WHERE tenant_id = ?1 AND created_by = ?2 AND revoked_at IS NULL",
        params![t, u, now.millis()],
    )?)
}

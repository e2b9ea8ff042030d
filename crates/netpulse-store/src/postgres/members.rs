//! Members, memberships, session switching and invitations in PostgreSQL (unnamed typed
//! statements inside transactions, so it runs through PgBouncer in transaction mode).

use super::{Param, PgStore};
use crate::members::roles_above;
use crate::*;
use async_trait::async_trait;
use netpulse_core::{TenantId, Timestamp, UserId};
use tokio_postgres::types::Type;
use tokio_postgres::Transaction;

#[async_trait]
impl MemberStore for PgStore {
    async fn memberships(&self, user: &UserId) -> StoreResult<Vec<Membership>> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let rows = tx
                .query_typed(
                    "SELECT m.tenant_id, t.name, m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id \
                     WHERE m.user_id = $1 ORDER BY m.created_at, m.tenant_id",
                    &[(&user.as_str(), Type::TEXT)],
                )
                .await?;
            tx.commit().await?;
            rows.iter()
                .map(|r| {
                    Ok(Membership {
                        tenant_id: TenantId::from_trusted(r.try_get(0)?),
                        tenant_name: r.try_get(1)?,
                        role: Role::parse(r.try_get(2)?),
                    })
                })
                .collect()
        })
    }

    async fn switch_session(&self, id_hash: &str, t: &TenantId, now: Timestamp) -> StoreResult<bool> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let n = tx
                .execute_typed(
                    "UPDATE sessions SET tenant_id = $2 WHERE id_hash = $1 AND revoked_at IS NULL AND expires_at > $3 \
                     AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = sessions.user_id AND m.tenant_id = $2)",
                    &[(&id_hash, Type::TEXT), (&t.as_str(), Type::TEXT), (&now.millis(), Type::INT8)],
                )
                .await?;
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    async fn list_members(&self, t: &TenantId) -> StoreResult<Vec<Member>> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let rows = tx
                .query_typed(
                    "SELECT u.id, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id \
                     WHERE m.tenant_id = $1 ORDER BY m.created_at, u.id",
                    &[(&t.as_str(), Type::TEXT)],
                )
                .await?;
            tx.commit().await?;
            rows.iter()
                .map(|r| {
                    Ok(Member {
                        user_id: UserId::from_trusted(r.try_get(0)?),
                        email: r.try_get(1)?,
                        role: Role::parse(r.try_get(2)?),
                        joined_at: Timestamp::from_millis(r.try_get(3)?),
                    })
                })
                .collect()
        })
    }

    /// The owners of the tenant are locked (`FOR UPDATE`) before they are counted, so
    /// concurrent changes of two owners see each other's result.
    async fn change_member(
        &self,
        t: &TenantId,
        user: &UserId,
        change: MemberChange,
        by: Role,
        now: Timestamp,
    ) -> StoreResult<MemberChangeOutcome> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let (t, u) = (t.as_str(), user.as_str());
            let (owners, current) = locked_membership(&tx, t, u).await?;
            let Some(current) = current else { return Ok(MemberChangeOutcome::NotMember) };
            if let Err(why) = check_member_change(change, current, owners, by) {
                return Ok(MemberChangeOutcome::Refused(why));
            }
            let (tp, up): (Param, Param) = ((&t, Type::TEXT), (&u, Type::TEXT));
            let tokens = match change {
                MemberChange::SetRole(role) => {
                    let role = role.as_str();
                    tx.execute_typed(
                        "UPDATE memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2",
                        &[tp.clone(), up.clone(), (&role, Type::TEXT)],
                    )
                    .await?;
                    let above = roles_above(Role::parse(role));
                    tx.execute_typed(
                        "UPDATE api_tokens SET role = $3 \
                         WHERE tenant_id = $1 AND created_by = $2 AND revoked_at IS NULL AND role = ANY($4)",
                        &[tp.clone(), up.clone(), (&role, Type::TEXT), (&above, Type::TEXT_ARRAY)],
                    )
                    .await?
                }
                MemberChange::Remove => remove_membership(&tx, t, u, now).await?,
            };
            tx.commit().await?;
            Ok(MemberChangeOutcome::Done { tokens: tokens as usize })
        })
    }

    /// The owners are locked before they are counted, as in
    /// [`MemberStore::change_member`], so the last two owners leaving at once leave one.
    async fn leave(
        &self,
        t: &TenantId,
        user: &UserId,
        session_hash: &str,
        now: Timestamp,
    ) -> StoreResult<LeaveOutcome> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let (t, u) = (t.as_str(), user.as_str());
            let (owners, current) = locked_membership(&tx, t, u).await?;
            let Some(current) = current else { return Ok(LeaveOutcome::NotMember) };
            if let Err(why) = check_leave(current, owners) {
                return Ok(LeaveOutcome::Refused(why));
            }
            let next: Option<String> = tx
                .query_typed_opt(
                    "SELECT tenant_id FROM memberships WHERE user_id = $1 AND tenant_id <> $2 \
                     ORDER BY created_at, tenant_id LIMIT 1",
                    &[(&u, Type::TEXT), (&t, Type::TEXT)],
                )
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
            if let Some(next) = &next {
                tx.execute_typed(
                    "UPDATE sessions SET tenant_id = $4 \
                     WHERE id_hash = $3 AND tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
                    &[(&t, Type::TEXT), (&u, Type::TEXT), (&session_hash, Type::TEXT), (next, Type::TEXT)],
                )
                .await?;
            }
            let tokens = remove_membership(&tx, t, u, now).await?;
            tx.commit().await?;
            Ok(LeaveOutcome::Left { switched_to: next.map(TenantId::from_trusted), tokens: tokens as usize })
        })
    }

    async fn create_invitation(&self, t: &TenantId, i: &Invitation, hash: &str) -> StoreResult<()> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            tx.execute_typed(
                "INSERT INTO invitations (id, tenant_id, token_hash, email, role, invited_by, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    (&i.id, Type::TEXT),
                    (&t.as_str(), Type::TEXT),
                    (&hash, Type::TEXT),
                    (&i.email, Type::TEXT),
                    (&i.role.as_str(), Type::TEXT),
                    (&i.invited_by, Type::TEXT),
                    (&i.created_at.millis(), Type::INT8),
                    (&i.expires_at.millis(), Type::INT8),
                ],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn list_invitations(&self, t: &TenantId) -> StoreResult<Vec<Invitation>> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let rows = tx
                .query_typed(
                    "SELECT id, email, role, invited_by, created_at, expires_at FROM invitations \
                     WHERE tenant_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL ORDER BY created_at, id",
                    &[(&t.as_str(), Type::TEXT)],
                )
                .await?;
            tx.commit().await?;
            rows.iter()
                .map(|r| {
                    Ok(Invitation {
                        id: r.try_get(0)?,
                        email: r.try_get(1)?,
                        role: Role::parse(r.try_get(2)?),
                        invited_by: r.try_get(3)?,
                        created_at: Timestamp::from_millis(r.try_get(4)?),
                        expires_at: Timestamp::from_millis(r.try_get(5)?),
                    })
                })
                .collect()
        })
    }

    async fn invitation_state(&self, hash: &str, now: Timestamp) -> StoreResult<InvitationState> {
        pooled!(self, |c| async {
            let row = c
                .query_typed_opt(
                    "SELECT role, expires_at, accepted_at, revoked_at FROM invitations WHERE token_hash = $1",
                    &[(&hash, Type::TEXT)],
                )
                .await?;
            let Some(row) = row else { return Ok(InvitationState::Unknown) };
            Ok(if row.try_get::<_, Option<i64>>(2)?.is_some() {
                InvitationState::AlreadyUsed
            } else if row.try_get::<_, Option<i64>>(3)?.is_some() {
                InvitationState::Revoked
            } else if row.try_get::<_, i64>(1)? <= now.millis() {
                InvitationState::Expired
            } else {
                InvitationState::Pending { role: Role::parse(row.try_get(0)?) }
            })
        })
    }

    async fn revoke_invitation(&self, t: &TenantId, id: &str, now: Timestamp) -> StoreResult<bool> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let n = tx
                .execute_typed(
                    "UPDATE invitations SET revoked_at = $3 \
                     WHERE tenant_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
                    &[(&t.as_str(), Type::TEXT), (&id, Type::TEXT), (&now.millis(), Type::INT8)],
                )
                .await?;
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    async fn accept_invitation(&self, hash: &str, user: &UserId, now: Timestamp) -> StoreResult<InvitationUse> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let row = tx
                .query_typed_opt(
                    "SELECT tenant_id, role, expires_at, accepted_at, revoked_at FROM invitations \
                     WHERE token_hash = $1 FOR UPDATE",
                    &[(&hash, Type::TEXT)],
                )
                .await?;
            let Some(row) = row else { return Ok(InvitationUse::Unknown) };
            let tenant: String = row.try_get(0)?;
            let role: String = row.try_get(1)?;
            if row.try_get::<_, Option<i64>>(3)?.is_some() {
                return Ok(InvitationUse::AlreadyUsed);
            }
            if row.try_get::<_, Option<i64>>(4)?.is_some() {
                return Ok(InvitationUse::Revoked);
            }
            if row.try_get::<_, i64>(2)? <= now.millis() {
                return Ok(InvitationUse::Expired);
            }
            let invitee = tx
                .query_typed_one(
                    "SELECT u.email = i.email, u.verified_at IS NOT NULL FROM users u, invitations i \
                     WHERE u.id = $1 AND i.token_hash = $2",
                    &[(&user.as_str(), Type::TEXT), (&hash, Type::TEXT)],
                )
                .await?;
            if !invitee.try_get::<_, bool>(0)? {
                return Ok(InvitationUse::OtherAddress);
            }
            if !invitee.try_get::<_, bool>(1)? {
                return Ok(InvitationUse::Unverified);
            }
            tx.execute_typed(
                "UPDATE invitations SET accepted_at = $2, accepted_by = $3 WHERE token_hash = $1",
                &[(&hash, Type::TEXT), (&now.millis(), Type::INT8), (&user.as_str(), Type::TEXT)],
            )
            .await?;
            tx.execute_typed(
                "INSERT INTO memberships (user_id, tenant_id, role, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id, tenant_id) DO NOTHING",
                &[
                    (&user.as_str(), Type::TEXT),
                    (&tenant, Type::TEXT),
                    (&role, Type::TEXT),
                    (&now.millis(), Type::INT8),
                ],
            )
            .await?;
            let kept = tx
                .query_typed(
                    "SELECT role FROM memberships WHERE user_id = $1 AND tenant_id = $2",
                    &[(&user.as_str(), Type::TEXT), (&tenant, Type::TEXT)],
                )
                .await?;
            let role = match kept.first() {
                Some(r) => Role::parse(r.try_get(0)?),
                None => Role::parse(&role),
            };
            tx.commit().await?;
            Ok(InvitationUse::Accepted { tenant: TenantId::from_trusted(tenant), role })
        })
    }
}

/// The number of owners of `t` and the role of `u` there (`None`: not a member), with the
/// owners' rows and `u`'s locked (`FOR UPDATE`) until the transaction ends.
async fn locked_membership(tx: &Transaction<'_>, t: &str, u: &str) -> StoreResult<(usize, Option<Role>)> {
    let owners = tx
        .query_typed(
            "SELECT user_id FROM memberships WHERE tenant_id = $1 AND role = 'owner' ORDER BY user_id FOR UPDATE",
            &[(&t, Type::TEXT)],
        )
        .await?
        .len();
    let current = tx
        .query_typed_opt(
            "SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2 FOR UPDATE",
            &[(&t, Type::TEXT), (&u, Type::TEXT)],
        )
        .await?;
    Ok((owners, current.map(|r| r.try_get(0).map(Role::parse)).transpose()?))
}

/// Delete the membership of `u` in `t` and revoke their sessions there and the API tokens
/// they made there; how many tokens.
async fn remove_membership(tx: &Transaction<'_>, t: &str, u: &str, now: Timestamp) -> StoreResult<u64> {
    let ms = now.millis();
    tx.execute_typed(
        "DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2",
        &[(&t, Type::TEXT), (&u, Type::TEXT)],
    )
    .await?;
    let revoke: [Param; 3] = [(&t, Type::TEXT), (&u, Type::TEXT), (&ms, Type::INT8)];
    tx.execute_typed(
        "UPDATE sessions SET revoked_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
        &revoke,
    )
    .await?;
    Ok(tx
        .execute_typed(
            "UPDATE api_tokens SET revoked_at = $3 WHERE tenant_id = $1 AND created_by = $2 AND revoked_at IS NULL",
            &revoke,
        )
        .await?)
}

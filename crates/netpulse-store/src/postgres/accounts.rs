//! Accounts in PostgreSQL: tenants and the bootstrap token, users, sessions, e-mail tokens
//! and API tokens (unnamed typed statements only, so it runs through PgBouncer in
//! transaction mode).

use super::PgStore;
use crate::clock::fresh;
use crate::*;
use async_trait::async_trait;
use netpulse_core::{TenantId, Timestamp, TokenId, UserId};
use tokio_postgres::types::Type;
use tokio_postgres::{GenericClient, Row};

/// Transaction-scoped advisory lock serialising bootstrap across engine nodes.
const BOOTSTRAP_LOCK: i64 = 0x6e70_626f_6f74;

/// Serialises registrations so that exactly one becomes the first user of an install.
const REGISTER_LOCK: i64 = 0x6e70_7573_6572;

#[async_trait]
impl AccountStore for PgStore {
    async fn bootstrap(&self, token_hash: &str, now: Timestamp) -> StoreResult<(TenantId, bool)> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            lock_bootstrap(&tx).await?;
            let existing = tx.query_typed_opt("SELECT id FROM tenants ORDER BY created_at LIMIT 1", &[]).await?;
            if let Some(row) = existing {
                return Ok((TenantId::from_trusted(row.try_get(0)?), false));
            }
            let tenant: TenantId = fresh();
            tx.execute_typed(
                "INSERT INTO tenants (id, name, created_at) VALUES ($1, 'default', $2)",
                &[(&tenant.as_str(), Type::TEXT), (&now.millis(), Type::INT8)],
            )
            .await?;
            insert_token(&tx, &tenant, token_hash, now).await?;
            tx.commit().await?;
            Ok((tenant, true))
        })
    }

    async fn ensure_tenant(&self, t: &TenantId, name: &str, now: Timestamp) -> StoreResult<bool> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let n = tx
                .execute_typed(
                    "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                    &[(&t.as_str(), Type::TEXT), (&name, Type::TEXT), (&now.millis(), Type::INT8)],
                )
                .await?;
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    async fn set_bootstrap_token(&self, tenant: &TenantId, token_hash: &str, now: Timestamp) -> StoreResult<()> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            lock_bootstrap(&tx).await?;
            let exists = tx
                .query_typed_opt("SELECT 1 FROM api_tokens WHERE token_hash = $1", &[(&token_hash, Type::TEXT)])
                .await?
                .is_some();
            if !exists {
                tx.execute_typed(
                    "UPDATE api_tokens SET revoked_at = $2 WHERE tenant_id = $1 AND name = 'admin' AND revoked_at IS NULL",
                    &[(&tenant.as_str(), Type::TEXT), (&now.millis(), Type::INT8)],
                )
                .await?;
                insert_token(&tx, tenant, token_hash, now).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    async fn authenticate(&self, token_hash: &str) -> StoreResult<Option<TokenAuth>> {
        pooled!(self, |c| async {
            let row = c
                .query_typed_opt(
                    "SELECT id, tenant_id, scope, role, created_by FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
                    &[(&token_hash, Type::TEXT)],
                )
                .await?;
            let Some(row) = row else { return Ok(None) };
            let scope = Scope::parse(row.try_get(2)?);
            Ok(Some(TokenAuth {
                token_id: TokenId::from_trusted(row.try_get(0)?),
                tenant_id: TenantId::from_trusted(row.try_get(1)?),
                scope,
                role: TokenAuth::role_of(scope, row.try_get::<_, Option<&str>>(3)?),
                created_by: row.try_get::<_, Option<String>>(4)?.map(UserId::from_trusted),
            }))
        })
    }

    async fn touch_token(&self, token_hash: &str, now: Timestamp) -> StoreResult<()> {
        pooled!(self, |c| async {
            c.execute_typed(
                "UPDATE api_tokens SET last_used_at = $2 \
                 WHERE token_hash = $1 AND (last_used_at IS NULL OR last_used_at < $2 - 60000)",
                &[(&token_hash, Type::TEXT), (&now.millis(), Type::INT8)],
            )
            .await?;
            Ok(())
        })
    }

    async fn register(&self, acct: &NewAccount, now: Timestamp) -> StoreResult<TenantId> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            tx.query_typed("SELECT pg_advisory_xact_lock($1)", &[(&REGISTER_LOCK, Type::INT8)]).await?;
            let u = &acct.user;
            if tx.query_typed_opt("SELECT 1 FROM users WHERE email = $1", &[(&u.email, Type::TEXT)]).await?.is_some() {
                return Err(StoreError::Conflict("an account with this e-mail exists".into()));
            }
            let first_user = tx.query_typed_opt("SELECT 1 FROM users LIMIT 1", &[]).await?.is_none();
            let bootstrap = if first_user {
                tx.query_typed_opt("SELECT id FROM tenants ORDER BY created_at LIMIT 1", &[]).await?
            } else {
                None
            };
            let tenant = match bootstrap {
                Some(row) => TenantId::from_trusted(row.try_get(0)?),
                None => {
                    tx.execute_typed(
                        "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)",
                        &[
                            (&acct.tenant.as_str(), Type::TEXT),
                            (&acct.tenant_name, Type::TEXT),
                            (&now.millis(), Type::INT8),
                        ],
                    )
                    .await?;
                    acct.tenant.clone()
                }
            };
            tx.execute_typed(
                "INSERT INTO users (id, email, password_hash, verified_at, created_at) VALUES ($1, $2, $3, $4, $5)",
                &[
                    (&u.id.as_str(), Type::TEXT),
                    (&u.email, Type::TEXT),
                    (&u.password_hash, Type::TEXT),
                    (&u.verified_at.map(|t| t.millis()), Type::INT8),
                    (&u.created_at.millis(), Type::INT8),
                ],
            )
            .await?;
            tx.execute_typed(
                "INSERT INTO memberships (user_id, tenant_id, role, created_at) VALUES ($1, $2, 'owner', $3)",
                &[(&u.id.as_str(), Type::TEXT), (&tenant.as_str(), Type::TEXT), (&now.millis(), Type::INT8)],
            )
            .await?;
            tx.commit().await?;
            Ok(tenant)
        })
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        pooled!(self, |c| async {
            let row = c
                .query_typed_opt(
                    "SELECT id, email, password_hash, verified_at, created_at FROM users WHERE email = $1",
                    &[(&email, Type::TEXT)],
                )
                .await?;
            row.as_ref().map(user_from).transpose()
        })
    }

    async fn user_by_id(&self, user: &UserId) -> StoreResult<Option<UserRecord>> {
        pooled!(self, |c| async {
            let row = c
                .query_typed_opt(
                    "SELECT id, email, password_hash, verified_at, created_at FROM users WHERE id = $1",
                    &[(&user.as_str(), Type::TEXT)],
                )
                .await?;
            row.as_ref().map(user_from).transpose()
        })
    }

    async fn set_password(&self, user: &UserId, hash: &str, keep: Option<&str>, now: Timestamp) -> StoreResult<usize> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            tx.execute_typed(
                "UPDATE users SET password_hash = $2 WHERE id = $1",
                &[(&user.as_str(), Type::TEXT), (&hash, Type::TEXT)],
            )
            .await?;
            let revoked = tx
                .execute_typed(
                    "UPDATE sessions SET revoked_at = $3 \
                     WHERE user_id = $1 AND revoked_at IS NULL AND id_hash IS DISTINCT FROM $2",
                    &[(&user.as_str(), Type::TEXT), (&keep, Type::TEXT), (&now.millis(), Type::INT8)],
                )
                .await?;
            tx.commit().await?;
            Ok(revoked as usize)
        })
    }

    async fn first_membership(&self, user: &UserId) -> StoreResult<Option<(TenantId, Role)>> {
        pooled!(self, |c| async {
            let row = c
                .query_typed_opt(
                    "SELECT tenant_id, role FROM memberships WHERE user_id = $1 ORDER BY created_at, tenant_id LIMIT 1",
                    &[(&user.as_str(), Type::TEXT)],
                )
                .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some((TenantId::from_trusted(row.try_get(0)?), Role::parse(row.try_get(1)?))))
        })
    }

    async fn add_email_token(
        &self,
        user: &UserId,
        hash: &str,
        purpose: EmailPurpose,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        pooled!(self, |c| async {
            c.execute_typed(
                "INSERT INTO email_tokens (token_hash, user_id, purpose, expires_at) VALUES ($1, $2, $3, $4)",
                &[
                    (&hash, Type::TEXT),
                    (&user.as_str(), Type::TEXT),
                    (&purpose.as_str(), Type::TEXT),
                    (&expires_at.millis(), Type::INT8),
                ],
            )
            .await?;
            Ok(())
        })
    }

    async fn use_email_token(&self, hash: &str, purpose: EmailPurpose, now: Timestamp) -> StoreResult<EmailTokenUse> {
        pooled!(self, |c| async {
            let tx = c.transaction().await?;
            let row = tx
                .query_typed_opt(
                    "SELECT user_id, expires_at, used_at FROM email_tokens \
                     WHERE token_hash = $1 AND purpose = $2 FOR UPDATE",
                    &[(&hash, Type::TEXT), (&purpose.as_str(), Type::TEXT)],
                )
                .await?;
            let Some(row) = row else { return Ok(EmailTokenUse::Unknown) };
            let (user, expires_at, used_at): (String, i64, Option<i64>) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            if used_at.is_some() {
                return Ok(EmailTokenUse::AlreadyUsed);
            }
            if expires_at <= now.millis() {
                return Ok(EmailTokenUse::Expired);
            }
            let at = now.millis();
            tx.execute_typed(
                "UPDATE email_tokens SET used_at = $2 WHERE token_hash = $1",
                &[(&hash, Type::TEXT), (&at, Type::INT8)],
            )
            .await?;
            if purpose == EmailPurpose::Verify {
                tx.execute_typed(
                    "UPDATE users SET verified_at = $2 WHERE id = $1 AND verified_at IS NULL",
                    &[(&user, Type::TEXT), (&at, Type::INT8)],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(EmailTokenUse::Accepted(UserId::from_trusted(user)))
        })
    }

    async fn create_session(&self, s: &NewSession) -> StoreResult<()> {
        pooled!(self, |c| async {
            c.execute_typed(
                "INSERT INTO sessions (id_hash, user_id, tenant_id, csrf, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    (&s.id_hash, Type::TEXT),
                    (&s.user.as_str(), Type::TEXT),
                    (&s.tenant.as_str(), Type::TEXT),
                    (&s.csrf, Type::TEXT),
                    (&s.created_at.millis(), Type::INT8),
                    (&s.expires_at.millis(), Type::INT8),
                ],
            )
            .await?;
            Ok(())
        })
    }

    async fn session(&self, id_hash: &str, now: Timestamp) -> StoreResult<Option<SessionAuth>> {
        pooled!(self, |c| async {
            let row = c
                .query_typed_opt(
                    "SELECT s.user_id, s.tenant_id, m.role, s.csrf, u.verified_at IS NOT NULL \
                     FROM sessions s JOIN memberships m ON m.user_id = s.user_id AND m.tenant_id = s.tenant_id \
                     JOIN users u ON u.id = s.user_id \
                     WHERE s.id_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2",
                    &[(&id_hash, Type::TEXT), (&now.millis(), Type::INT8)],
                )
                .await?;
            let Some(r) = row else { return Ok(None) };
            Ok(Some(SessionAuth {
                user: UserId::from_trusted(r.try_get(0)?),
                tenant_id: TenantId::from_trusted(r.try_get(1)?),
                role: Role::parse(r.try_get(2)?),
                csrf: r.try_get(3)?,
                verified: r.try_get(4)?,
            }))
        })
    }

    async fn revoke_session(&self, id_hash: &str, now: Timestamp) -> StoreResult<()> {
        pooled!(self, |c| async {
            c.execute_typed(
                "UPDATE sessions SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL",
                &[(&id_hash, Type::TEXT), (&now.millis(), Type::INT8)],
            )
            .await?;
            Ok(())
        })
    }

    async fn create_token(&self, t: &TenantId, rec: &TokenRecord, hash: &str) -> StoreResult<()> {
        pooled!(self, |c| async {
            let scope = rec.scope.as_str();
            c.execute_typed(
                "INSERT INTO api_tokens (id, tenant_id, name, scope, token_hash, created_at, role, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    (&rec.id.as_str(), Type::TEXT),
                    (&t.as_str(), Type::TEXT),
                    (&rec.name, Type::TEXT),
                    (&scope, Type::TEXT),
                    (&hash, Type::TEXT),
                    (&rec.created_at.millis(), Type::INT8),
                    (&rec.role.as_str(), Type::TEXT),
                    (&rec.created_by.as_ref().map(UserId::as_str), Type::TEXT),
                ],
            )
            .await?;
            Ok(())
        })
    }

    async fn list_tokens(&self, t: &TenantId) -> StoreResult<Vec<TokenRecord>> {
        pooled!(self, |c| async {
            let rows = c
                .query_typed(
                    "SELECT id, name, scope, created_at, last_used_at, role, created_by FROM api_tokens \
                     WHERE tenant_id = $1 AND revoked_at IS NULL ORDER BY created_at, id",
                    &[(&t.as_str(), Type::TEXT)],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    let scope = Scope::parse(r.try_get(2)?);
                    Ok(TokenRecord {
                        id: TokenId::from_trusted(r.try_get(0)?),
                        name: r.try_get(1)?,
                        scope,
                        role: TokenAuth::role_of(scope, r.try_get::<_, Option<&str>>(5)?),
                        created_at: Timestamp::from_millis(r.try_get(3)?),
                        last_used_at: r.try_get::<_, Option<i64>>(4)?.map(Timestamp::from_millis),
                        created_by: r.try_get::<_, Option<String>>(6)?.map(UserId::from_trusted),
                    })
                })
                .collect()
        })
    }

    async fn revoke_token(&self, t: &TenantId, id: &TokenId, now: Timestamp) -> StoreResult<bool> {
        pooled!(self, |c| async {
            let n = c
                .execute_typed(
                    "UPDATE api_tokens SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
                    &[(&t.as_str(), Type::TEXT), (&id.as_str(), Type::TEXT), (&now.millis(), Type::INT8)],
                )
                .await?;
            Ok(n > 0)
        })
    }
}

async fn lock_bootstrap(c: &impl GenericClient) -> StoreResult<()> {
    c.query_typed("SELECT pg_advisory_xact_lock($1)", &[(&BOOTSTRAP_LOCK, Type::INT8)]).await?;
    Ok(())
}

async fn insert_token(c: &impl GenericClient, tenant: &TenantId, token_hash: &str, now: Timestamp) -> StoreResult<()> {
    let id: TokenId = fresh();
    c.execute_typed(
        "INSERT INTO api_tokens (id, tenant_id, name, scope, token_hash, created_at) \
         VALUES ($1, $2, 'admin', 'write', $3, $4)",
        &[
            (&id.as_str(), Type::TEXT),
            (&tenant.as_str(), Type::TEXT),
            (&token_hash, Type::TEXT),
            (&now.millis(), Type::INT8),
        ],
    )
    .await?;
    Ok(())
}

fn user_from(r: &Row) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: UserId::from_trusted(r.try_get(0)?),
        email: r.try_get(1)?,
        password_hash: r.try_get(2)?,
        verified_at: r.try_get::<_, Option<i64>>(3)?.map(Timestamp::from_millis),
        created_at: Timestamp::from_millis(r.try_get(4)?),
    })
}

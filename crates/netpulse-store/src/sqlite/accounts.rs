//! Accounts in SQLite: tenants and the bootstrap token, users, sessions, e-mail tokens and
//! API tokens.

use super::SqliteStore;
use crate::clock::fresh;
use crate::*;
use async_trait::async_trait;
use netpulse_core::{TenantId, Timestamp, TokenId, UserId};
use rusqlite::{params, Connection, OptionalExtension};

#[async_trait]
impl AccountStore for SqliteStore {
    async fn bootstrap(&self, token_hash: &str, now: Timestamp) -> StoreResult<(TenantId, bool)> {
        let token_hash = token_hash.to_owned();
        self.write(move |c| {
            let tx = c.transaction()?;
            let existing: Option<String> =
                tx.query_row("SELECT id FROM tenants ORDER BY created_at LIMIT 1", [], |r| r.get(0)).optional()?;
            if let Some(id) = existing {
                return Ok((TenantId::from_trusted(id), false));
            }
            let tenant: TenantId = fresh();
            tx.execute(
                "INSERT INTO tenants (id, name, created_at) VALUES (?1, 'default', ?2)",
                params![tenant.as_str(), now.millis()],
            )?;
            insert_token(&tx, &tenant, &token_hash, now)?;
            tx.commit()?;
            Ok((tenant, true))
        })
        .await
    }

    async fn ensure_tenant(&self, t: &TenantId, name: &str, now: Timestamp) -> StoreResult<bool> {
        let (t, name) = (t.clone(), name.to_owned());
        self.write(move |c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![t.as_str(), name, now.millis()],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn set_bootstrap_token(&self, tenant: &TenantId, token_hash: &str, now: Timestamp) -> StoreResult<()> {
        let (tenant, token_hash) = (tenant.clone(), token_hash.to_owned());
        self.write(move |c| {
            let tx = c.transaction()?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM api_tokens WHERE token_hash = ?1)",
                [&token_hash],
                |r| r.get(0),
            )?;
            if !exists {
                tx.execute(
                    "UPDATE api_tokens SET revoked_at = ?2 WHERE tenant_id = ?1 AND name = 'admin' AND revoked_at IS NULL",
                    params![tenant.as_str(), now.millis()],
                )?;
                insert_token(&tx, &tenant, &token_hash, now)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn authenticate(&self, token_hash: &str) -> StoreResult<Option<TokenAuth>> {
        let token_hash = token_hash.to_owned();
        self.read(move |c| {
            let row = c
                .query_row(
                    "SELECT id, tenant_id, scope, role, created_by FROM api_tokens WHERE token_hash = ?1 AND revoked_at IS NULL",
                    [&token_hash],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, Option<String>>(3)?,
                            r.get::<_, Option<String>>(4)?,
                        ))
                    },
                )
                .optional()?;
            Ok(row.map(|(id, tenant, scope, role, created_by)| {
                let scope = Scope::parse(&scope);
                TokenAuth {
                    token_id: TokenId::from_trusted(id),
                    tenant_id: TenantId::from_trusted(tenant),
                    scope,
                    role: TokenAuth::role_of(scope, role.as_deref()),
                    created_by: created_by.map(UserId::from_trusted),
                }
            }))
        })
        .await
    }

    async fn touch_token(&self, token_hash: &str, now: Timestamp) -> StoreResult<()> {
        let token_hash = token_hash.to_owned();
        self.write(move |c| {
            c.execute(
                "UPDATE api_tokens SET last_used_at = ?2 \
                 WHERE token_hash = ?1 AND (last_used_at IS NULL OR last_used_at < ?2 - 60000)",
                params![token_hash, now.millis()],
            )?;
            Ok(())
        })
        .await
    }

    async fn register(&self, acct: &NewAccount, now: Timestamp) -> StoreResult<TenantId> {
        let acct = acct.clone();
        self.write(move |c| {
            let tx = c.transaction()?;
            let u = &acct.user;
            let taken: bool =
                tx.query_row("SELECT EXISTS(SELECT 1 FROM users WHERE email = ?1)", [&u.email], |r| r.get(0))?;
            if taken {
                return Err(StoreError::Conflict("an account with this e-mail exists".into()));
            }
            let first_user: bool = tx.query_row("SELECT NOT EXISTS(SELECT 1 FROM users)", [], |r| r.get(0))?;
            let bootstrap: Option<String> = if first_user {
                tx.query_row("SELECT id FROM tenants ORDER BY created_at LIMIT 1", [], |r| r.get(0)).optional()?
            } else {
                None
            };
            let tenant = match bootstrap {
                Some(id) => TenantId::from_trusted(id),
                None => {
                    tx.execute(
                        "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
                        params![acct.tenant.as_str(), acct.tenant_name, now.millis()],
                    )?;
                    acct.tenant.clone()
                }
            };
            tx.execute(
                "INSERT INTO users (id, email, password_hash, verified_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    u.id.as_str(),
                    u.email,
                    u.password_hash,
                    u.verified_at.map(|t| t.millis()),
                    u.created_at.millis()
                ],
            )?;
            tx.execute(
                "INSERT INTO memberships (user_id, tenant_id, role, created_at) VALUES (?1, ?2, 'owner', ?3)",
                params![u.id.as_str(), tenant.as_str(), now.millis()],
            )?;
            tx.commit()?;
            Ok(tenant)
        })
        .await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        let email = email.to_owned();
        self.read(move |c| {
            let sql = "SELECT id, email, password_hash, verified_at, created_at FROM users WHERE email = ?1";
            Ok(c.query_row(sql, [&email], user_row).optional()?)
        })
        .await
    }

    async fn user_by_id(&self, user: &UserId) -> StoreResult<Option<UserRecord>> {
        let user = user.clone();
        self.read(move |c| {
            let sql = "SELECT id, email, password_hash, verified_at, created_at FROM users WHERE id = ?1";
            Ok(c.query_row(sql, [user.as_str()], user_row).optional()?)
        })
        .await
    }

    async fn set_password(
        &self,
        user: &UserId,
        password_hash: &str,
        keep: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<usize> {
        let (user, hash, keep) = (user.clone(), password_hash.to_owned(), keep.map(str::to_owned));
        self.write(move |c| {
            let tx = c.transaction()?;
            tx.execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![user.as_str(), hash])?;
            let revoked = tx.execute(
                "UPDATE sessions SET revoked_at = ?3 WHERE user_id = ?1 AND revoked_at IS NULL AND id_hash IS NOT ?2",
                params![user.as_str(), keep.as_deref(), now.millis()],
            )?;
            tx.commit()?;
            Ok(revoked)
        })
        .await
    }

    async fn first_membership(&self, user: &UserId) -> StoreResult<Option<(TenantId, Role)>> {
        let user = user.clone();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT tenant_id, role FROM memberships WHERE user_id = ?1 ORDER BY created_at, tenant_id LIMIT 1",
                [user.as_str()],
                |r| Ok((TenantId::from_trusted(r.get(0)?), Role::parse(&r.get::<_, String>(1)?))),
            )
            .optional()?)
        })
        .await
    }

    async fn add_email_token(
        &self,
        user: &UserId,
        token_hash: &str,
        purpose: EmailPurpose,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let (user, hash) = (user.clone(), token_hash.to_owned());
        self.write(move |c| {
            c.execute(
                "INSERT INTO email_tokens (token_hash, user_id, purpose, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![hash, user.as_str(), purpose.as_str(), expires_at.millis()],
            )?;
            Ok(())
        })
        .await
    }

    async fn use_email_token(
        &self,
        token_hash: &str,
        purpose: EmailPurpose,
        now: Timestamp,
    ) -> StoreResult<EmailTokenUse> {
        let hash = token_hash.to_owned();
        self.write(move |c| {
            let tx = c.transaction()?;
            let row: Option<(String, i64, Option<i64>)> = tx
                .query_row(
                    "SELECT user_id, expires_at, used_at FROM email_tokens WHERE token_hash = ?1 AND purpose = ?2",
                    params![hash, purpose.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((user, expires_at, used_at)) = row else { return Ok(EmailTokenUse::Unknown) };
            if used_at.is_some() {
                return Ok(EmailTokenUse::AlreadyUsed);
            }
            if expires_at <= now.millis() {
                return Ok(EmailTokenUse::Expired);
            }
            tx.execute("UPDATE email_tokens SET used_at = ?2 WHERE token_hash = ?1", params![hash, now.millis()])?;
            if purpose == EmailPurpose::Verify {
                tx.execute(
                    "UPDATE users SET verified_at = ?2 WHERE id = ?1 AND verified_at IS NULL",
                    params![user, now.millis()],
                )?;
            }
            tx.commit()?;
            Ok(EmailTokenUse::Accepted(UserId::from_trusted(user)))
        })
        .await
    }

    async fn create_session(&self, s: &NewSession) -> StoreResult<()> {
        let s = s.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO sessions (id_hash, user_id, tenant_id, csrf, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    s.id_hash,
                    s.user.as_str(),
                    s.tenant.as_str(),
                    s.csrf,
                    s.created_at.millis(),
                    s.expires_at.millis()
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn session(&self, id_hash: &str, now: Timestamp) -> StoreResult<Option<SessionAuth>> {
        let id_hash = id_hash.to_owned();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT s.user_id, s.tenant_id, m.role, s.csrf, u.verified_at IS NOT NULL \
                 FROM sessions s JOIN memberships m ON m.user_id = s.user_id AND m.tenant_id = s.tenant_id \
                 JOIN users u ON u.id = s.user_id \
                 WHERE s.id_hash = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2",
                params![id_hash, now.millis()],
                |r| {
                    Ok(SessionAuth {
                        user: UserId::from_trusted(r.get(0)?),
                        tenant_id: TenantId::from_trusted(r.get(1)?),
                        role: Role::parse(&r.get::<_, String>(2)?),
                        csrf: r.get(3)?,
                        verified: r.get(4)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    async fn revoke_session(&self, id_hash: &str, now: Timestamp) -> StoreResult<()> {
        let id_hash = id_hash.to_owned();
        self.write(move |c| {
            c.execute(
                "UPDATE sessions SET revoked_at = ?2 WHERE id_hash = ?1 AND revoked_at IS NULL",
                params![id_hash, now.millis()],
            )?;
            Ok(())
        })
        .await
    }

    async fn create_token(&self, t: &TenantId, rec: &TokenRecord, token_hash: &str) -> StoreResult<()> {
        let (t, rec, hash) = (t.clone(), rec.clone(), token_hash.to_owned());
        self.write(move |c| {
            let scope = rec.scope.as_str();
            c.execute(
                "INSERT INTO api_tokens (id, tenant_id, name, scope, token_hash, created_at, role, created_by) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    rec.id.as_str(),
                    t.as_str(),
                    rec.name,
                    scope,
                    hash,
                    rec.created_at.millis(),
                    rec.role.as_str(),
                    rec.created_by.as_ref().map(UserId::as_str)
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn list_tokens(&self, t: &TenantId) -> StoreResult<Vec<TokenRecord>> {
        let t = t.clone();
        self.read(move |c| {
            let mut st = c.prepare(
                "SELECT id, name, scope, created_at, last_used_at, role, created_by FROM api_tokens \
                 WHERE tenant_id = ?1 AND revoked_at IS NULL ORDER BY created_at, id",
            )?;
            let rows = st.query_map([t.as_str()], |r| {
                let scope = Scope::parse(&r.get::<_, String>(2)?);
                Ok(TokenRecord {
                    id: TokenId::from_trusted(r.get(0)?),
                    name: r.get(1)?,
                    scope,
                    role: TokenAuth::role_of(scope, r.get::<_, Option<String>>(5)?.as_deref()),
                    created_at: Timestamp::from_millis(r.get(3)?),
                    last_used_at: r.get::<_, Option<i64>>(4)?.map(Timestamp::from_millis),
                    created_by: r.get::<_, Option<String>>(6)?.map(UserId::from_trusted),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn revoke_token(&self, t: &TenantId, id: &TokenId, now: Timestamp) -> StoreResult<bool> {
        let (t, id) = (t.clone(), id.clone());
        self.write(move |c| {
            let n = c.execute(
                "UPDATE api_tokens SET revoked_at = ?3 WHERE tenant_id = ?1 AND id = ?2 AND revoked_at IS NULL",
                params![t.as_str(), id.as_str(), now.millis()],
            )?;
            Ok(n > 0)
        })
        .await
    }
}

/// Add a bootstrap token of `tenant` (named `admin`, write scope).
fn insert_token(c: &Connection, tenant: &TenantId, token_hash: &str, now: Timestamp) -> StoreResult<()> {
    let id: TokenId = fresh();
    c.execute(
        "INSERT INTO api_tokens (id, tenant_id, name, scope, token_hash, created_at) VALUES (?1, ?2, 'admin', 'write', ?3, ?4)",
        params![id.as_str(), tenant.as_str(), token_hash, now.millis()],
    )?;
    Ok(())
}

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: UserId::from_trusted(r.get(0)?),
        email: r.get(1)?,
        password_hash: r.get(2)?,
        verified_at: r.get::<_, Option<i64>>(3)?.map(Timestamp::from_millis),
        created_at: Timestamp::from_millis(r.get(4)?),
    })
}

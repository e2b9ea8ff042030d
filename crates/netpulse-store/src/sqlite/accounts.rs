//! Users, memberships, sessions, e-mail tokens and API tokens in SQLite.

use crate::*;
use rusqlite::{params, Connection, OptionalExtension};

pub fn touch_token(c: &Connection, token_hash: &str, now: Timestamp) -> StoreResult<()> {
    c.execute(
        "UPDATE api_tokens SET last_used_at = ?2 \
         WHERE token_hash = ?1 AND (last_used_at IS NULL OR last_used_at < ?2 - 60000)",
        params![token_hash, now.millis()],
    )?;
    Ok(())
}

pub fn ensure_tenant(c: &mut Connection, t: &TenantId, name: &str, now: Timestamp) -> StoreResult<bool> {
    let n = c.execute(
        "INSERT OR IGNORE INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
        params![t.as_str(), name, now.millis()],
    )?;
    Ok(n == 1)
}

pub fn register(c: &mut Connection, acct: &NewAccount, now: Timestamp) -> StoreResult<TenantId> {
    let tx = c.transaction()?;
    let u = &acct.user;
    let taken: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM users WHERE email = ?1)", [&u.email], |r| r.get(0))?;
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
        params![u.id.as_str(), u.email, u.password_hash, u.verified_at.map(|t| t.millis()), u.created_at.millis()],
    )?;
    tx.execute(
        "INSERT INTO memberships (user_id, tenant_id, role, created_at) VALUES (?1, ?2, 'owner', ?3)",
        params![u.id.as_str(), tenant.as_str(), now.millis()],
    )?;
    tx.commit()?;
    Ok(tenant)
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

pub fn user_by_email(c: &Connection, email: &str) -> StoreResult<Option<UserRecord>> {
    let sql = "SELECT id, email, password_hash, verified_at, created_at FROM users WHERE email = ?1";
    Ok(c.query_row(sql, [email], user_row).optional()?)
}

pub fn user_by_id(c: &Connection, user: &UserId) -> StoreResult<Option<UserRecord>> {
    let sql = "SELECT id, email, password_hash, verified_at, created_at FROM users WHERE id = ?1";
    Ok(c.query_row(sql, [user.as_str()], user_row).optional()?)
}

pub fn set_password(
    c: &mut Connection,
    user: &UserId,
    hash: &str,
    keep: Option<&str>,
    now: Timestamp,
) -> StoreResult<usize> {
    let tx = c.transaction()?;
    tx.execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![user.as_str(), hash])?;
    let revoked = tx.execute(
        "UPDATE sessions SET revoked_at = ?3 WHERE user_id = ?1 AND revoked_at IS NULL AND id_hash IS NOT ?2",
        params![user.as_str(), keep, now.millis()],
    )?;
    tx.commit()?;
    Ok(revoked)
}

pub fn first_membership(c: &Connection, user: &UserId) -> StoreResult<Option<(TenantId, Role)>> {
    Ok(c.query_row(
        "SELECT tenant_id, role FROM memberships WHERE user_id = ?1 ORDER BY created_at, tenant_id LIMIT 1",
        [user.as_str()],
        |r| Ok((TenantId::from_trusted(r.get(0)?), Role::parse(&r.get::<_, String>(1)?))),
    )
    .optional()?)
}

pub fn add_email_token(
    c: &Connection,
    user: &UserId,
    hash: &str,
    purpose: EmailPurpose,
    expires_at: Timestamp,
) -> StoreResult<()> {
    c.execute(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash, user.as_str(), purpose.as_str(), expires_at.millis()],
    )?;
    Ok(())
}

pub fn use_email_token(
    c: &mut Connection,
    hash: &str,
    purpose: EmailPurpose,
    now: Timestamp,
) -> StoreResult<EmailTokenUse> {
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
}

pub fn create_session(c: &Connection, s: &NewSession) -> StoreResult<()> {
    c.execute(
        "INSERT INTO sessions (id_hash, user_id, tenant_id, csrf, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![s.id_hash, s.user.as_str(), s.tenant.as_str(), s.csrf, s.created_at.millis(), s.expires_at.millis()],
    )?;
    Ok(())
}

pub fn session(c: &Connection, id_hash: &str, now: Timestamp) -> StoreResult<Option<SessionAuth>> {
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
}

pub fn revoke_session(c: &Connection, id_hash: &str, now: Timestamp) -> StoreResult<()> {
    c.execute(
        "UPDATE sessions SET revoked_at = ?2 WHERE id_hash = ?1 AND revoked_at IS NULL",
        params![id_hash, now.millis()],
    )?;
    Ok(())
}

pub fn create_token(c: &Connection, t: &TenantId, rec: &TokenRecord, hash: &str) -> StoreResult<()> {
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
}

pub fn list_tokens(c: &Connection, t: &TenantId) -> StoreResult<Vec<TokenRecord>> {
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
}

pub fn revoke_token(c: &Connection, t: &TenantId, id: &TokenId, now: Timestamp) -> StoreResult<bool> {
    let n = c.execute(
        "UPDATE api_tokens SET revoked_at = ?3 WHERE tenant_id = ?1 AND id = ?2 AND revoked_at IS NULL",
        params![t.as_str(), id.as_str(), now.millis()],
    )?;
    Ok(n > 0)
}

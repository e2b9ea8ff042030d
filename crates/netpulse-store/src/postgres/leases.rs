//! Leases in PostgreSQL: one row per lease name, taken or renewed by one conditional upsert
//! (an unnamed statement, PgBouncer-safe).

use super::{Param, PgStore};
use crate::*;
use async_trait::async_trait;
use netpulse_core::Timestamp;
use tokio_postgres::types::Type;

#[async_trait]
impl LeaseStore for PgStore {
    /// One unnamed statement: the conflict update only happens when the lease is ours or
    /// expired, so the affected-row count says whether we hold it.
    async fn try_acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64, now: Timestamp) -> StoreResult<bool> {
        let (expires, now) = (now.plus_ms(ttl_ms).millis(), now.millis());
        let params: [Param; 4] =
            [(&name, Type::TEXT), (&holder, Type::TEXT), (&expires, Type::INT8), (&now, Type::INT8)];
        let sql = "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at \
                   WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= $4";
        pooled!(self, |c| async { Ok(c.execute_typed(sql, &params).await? == 1) })
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        let params: [Param; 2] = [(&name, Type::TEXT), (&holder, Type::TEXT)];
        let sql = "DELETE FROM leases WHERE name = $1 AND holder = $2";
        pooled!(self, |c| async { Ok(c.execute_typed(sql, &params).await.map(drop)?) })
    }
}

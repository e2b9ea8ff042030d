//! Leases in SQLite: one row per lease name, taken or renewed by one conditional upsert.

use super::SqliteStore;
use crate::*;
use async_trait::async_trait;
use netpulse_core::Timestamp;

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn try_acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64, now: Timestamp) -> StoreResult<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |c| {
            let changed = c.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4",
                rusqlite::params![name, holder, now.plus_ms(ttl_ms).millis(), now.millis()],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |c| {
            c.execute("DELETE FROM leases WHERE name = ?1 AND holder = ?2", rusqlite::params![name, holder])?;
            Ok(())
        })
        .await
    }
}

//! Leases: a named lease held by one engine node at a time, until its time runs out, so a
//! loop that must run on one node at a time (the scheduler, the alert dispatcher) does so
//! while several nodes share the database.

use crate::error::StoreResult;
use async_trait::async_trait;
use netpulse_core::Timestamp;

/// Taking, renewing and giving up leases.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Take or renew the lease `name` for `holder` until `now + ttl_ms`, atomically: succeeds
    /// when nobody holds it, its holder's time ran out, or `holder` holds it already.
    async fn try_acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64, now: Timestamp) -> StoreResult<bool>;
    /// Give up the lease `name` if `holder` holds it.
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()>;
}

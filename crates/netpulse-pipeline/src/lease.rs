//! Leases: so that of several engine nodes sharing one store, exactly one runs the alert
//! dispatcher at a time, and one the scheduler when the queue is the in-process one (with
//! Redis, schedulers divide the monitors' partitions instead: `queue::owners`).
//!
//! A lease is a row `(name, holder, expires_at)` taken or renewed atomically through
//! [`LeaseStore::try_acquire_lease`](netpulse_store::LeaseStore::try_acquire_lease). A loop asks [`Lease::hold`] before each pass and does
//! nothing while it does not hold the lease. The holder renews every [`RENEW_MS`] (3 s) for
//! [`TTL_MS`] (10 s); it trusts its lease only until `ttl - renew` after the last successful
//! renewal (7 s), so a node whose renewals fail stops acting before anyone else may take over,
//! with 3 s to spare for clock skew between nodes. A node that dies loses the lease at most
//! 10 s after its last renewal; the others try every 3 s, so one takes over within ~13 s
//! (at once after a graceful stop, which releases the lease).

use netpulse_core::Timestamp;
use netpulse_store::Store;
use std::sync::{Arc, Mutex};

/// How long a lease lasts without renewal.
pub const TTL_MS: i64 = 10_000;
/// How often the holder renews it and the others try to take it.
pub const RENEW_MS: i64 = 3_000;

#[derive(Default)]
struct State {
    holding: bool,
    valid_until: Option<Timestamp>,
    last_try: Option<Timestamp>,
}

/// One named lease as seen by one node.
pub struct Lease {
    store: Arc<dyn Store>,
    name: &'static str,
    holder: String,
    state: Mutex<State>,
}

impl Lease {
    /// The lease `name` ("scheduler", "alerts") for the node `holder`.
    pub fn new(store: Arc<dyn Store>, name: &'static str, holder: impl Into<String>) -> Self {
        Self { store, name, holder: holder.into(), state: Mutex::new(State::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this node may act now; takes or renews the lease when due.
    pub async fn hold(&self, now: Timestamp) -> bool {
        let due = self.state().last_try.is_none_or(|t| now.since(t) >= RENEW_MS);
        if due {
            let outcome = self.store.try_acquire_lease(self.name, &self.holder, TTL_MS, now).await;
            let mut s = self.state();
            s.last_try = Some(now);
            match outcome {
                Ok(true) => {
                    if !s.holding {
                        tracing::info!(lease = self.name, holder = %self.holder, "lease acquired; this node runs it");
                    }
                    s.holding = true;
                    s.valid_until = Some(now.plus_ms(TTL_MS - RENEW_MS));
                }
                Ok(false) => {
                    if s.holding {
                        tracing::warn!(lease = self.name, holder = %self.holder, "lease taken by another node");
                    }
                    s.holding = false;
                    s.valid_until = None;
                }
                Err(e) => tracing::warn!(lease = self.name, error = %e, "cannot renew the lease; will retry"),
            }
        }
        let s = self.state();
        s.holding && s.valid_until.is_some_and(|u| now < u)
    }

    /// Give the lease up (graceful stop), so another node takes over at its next try.
    pub async fn release(&self) {
        let was = std::mem::take(&mut *self.state()).holding;
        if was {
            if let Err(e) = self.store.release_lease(self.name, &self.holder).await {
                tracing::warn!(lease = self.name, error = %e, "cannot release the lease; it expires on its own");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netpulse_store::sqlite::SqliteStore;

    #[tokio::test]
    async fn lease_roles_one_holder_until_expiry_then_takeover() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("np.db")).unwrap());
        let (a, b) = (Lease::new(store.clone(), "scheduler", "a"), Lease::new(store.clone(), "scheduler", "b"));
        let t0 = Timestamp::from_millis(1_000_000);
        assert!(a.hold(t0).await);
        assert!(!b.hold(t0).await, "a holds it");
        assert!(a.hold(t0.plus_ms(RENEW_MS)).await, "renewed");
        assert!(!b.hold(t0.plus_ms(RENEW_MS + 1)).await);
        // a dies: its last renewal at t0 + 3 s expires at t0 + 13 s.
        assert!(!b.hold(t0.plus_ms(2 * RENEW_MS + 1)).await);
        let later = t0.plus_ms(RENEW_MS + TTL_MS);
        assert!(b.hold(later).await, "taken over after expiry");
        assert!(!a.hold(later.plus_ms(1)).await, "a, back, sees it lost");
        b.release().await;
        assert!(a.hold(later.plus_ms(RENEW_MS + 2)).await, "released: taken at once");
    }
}

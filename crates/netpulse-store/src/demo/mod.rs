//! The demo organisation as the store knows it: a tenant with a fixed id ([`tenant`]) and
//! its sample data ([`seed`]). What the store and the loops above it must respect:
//! - the demo is its own tenant; no real tenant's data is ever in it, and the scheduler never
//!   checks its monitors (its results are all seeded);
//! - its notices never reach a channel: [`crate::plan::MonitorFacts`] gives demo monitors no
//!   channels, so ingest writes no outbox rows for it.
//!
//! The demo's routes, banner and read-only rule live with the web layer.

pub mod page;
pub mod seed;

use netpulse_core::TenantId;

/// The demo organisation's id: fixed, so seeding finds it again after a restart.
pub fn tenant() -> TenantId {
    TenantId::from_parts(0, 0xde_0000)
}

pub fn is_demo(t: &TenantId) -> bool {
    *t == tenant()
}

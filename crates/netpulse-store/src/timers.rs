//! The timer sweep: reminders and escalation on time, not on the next check.
//!
//! Every state saved by ingest, a command or another observation stores when its next
//! reminder or escalation falls due (`core::incident::next_timer`, column
//! `monitor_state.timer_at`). On each pass the alert dispatcher, while it holds the `alerts` lease
//! (so with several engine nodes one node sweeps), asks the store for the monitors due now
//! and steps each through the pure state machine with [`Observation::Tick`] in its own
//! transaction under the monitor's row lock
//! ([`IncidentStore::observe`](crate::incidents::IncidentStore::observe)). The notice's dedup
//! key comes from the stored state (`inc_…:escalated`, `inc_…:reminder:N`) and the outbox keeps one row
//! per (channel, dedup key), so a check racing the sweep, a restart or a second node never
//! sends one twice. A due timer is at most one dispatcher poll (`alerts.poll_interval_ms`) late.

use crate::{Store, StoreResult};
use netpulse_core::incident::Observation;
use netpulse_core::Timestamp;

/// At most this many monitors per pass (the rest are next pass's, soonest first).
const PER_PASS: usize = 256;

/// Step every monitor whose timer is due at `now`; returns how many made writes.
pub async fn sweep(store: &dyn Store, now: Timestamp) -> StoreResult<usize> {
    let mut fired = 0;
    for (t, m) in store.due_timers(now, PER_PASS).await? {
        let changed = store.observe(&t, &m, Observation::Tick { at: now }, now).await?;
        if changed.is_some_and(|n| n > 0) {
            tracing::info!(monitor = %m, tenant = %t, "reminder or escalation due: queued");
            fired += 1;
        }
    }
    Ok(fired)
}

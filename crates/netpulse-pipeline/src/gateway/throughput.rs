//! Results per second as the engine accepted them: a sliding window of one-second counts,
//! kept per tenant, for worker health and region views.
//!
//! A result counts when the gateway (or the in-process checker) handed it to the result
//! queue: refused results (a monitor that does not check from the worker's region) do not.
//! The rate is the count over the last [`WINDOW_S`] seconds divided by that window, or by
//! the time since counting began when that is shorter, so a worker that just connected is
//! not shown at a sixtieth of its rate. Counts are per tenant: a tenant sees its own rate.

use netpulse_core::{TenantId, Timestamp};
use std::collections::{HashMap, VecDeque};

/// The window results per second are averaged over.
pub const WINDOW_S: i64 = 60;

/// Add `n` to `tenant`'s count, cloning its id only the first time.
fn bump(counts: &mut HashMap<TenantId, u64>, tenant: &TenantId, n: u64) {
    match counts.get_mut(tenant) {
        Some(c) => *c += n,
        None => {
            counts.insert(tenant.clone(), n);
        }
    }
}

/// Accepted results per second of every tenant, over a sliding window.
#[derive(Clone, Debug)]
pub struct Throughput {
    /// (second since the epoch, results accepted in it per tenant), oldest first.
    seconds: VecDeque<(i64, HashMap<TenantId, u64>)>,
    totals: HashMap<TenantId, u64>,
    since: Timestamp,
}

impl Throughput {
    /// A counter that starts counting at `now`.
    pub fn new(now: Timestamp) -> Self {
        Self { seconds: VecDeque::new(), totals: HashMap::new(), since: now }
    }

    /// `n` results of `tenant` accepted at `now`.
    pub fn add(&mut self, tenant: &TenantId, n: u64, now: Timestamp) {
        let sec = now.millis().div_euclid(1000);
        if self.seconds.back().is_none_or(|(s, _)| *s < sec) {
            self.seconds.push_back((sec, HashMap::new()));
        }
        let (_, counts) = self.seconds.back_mut().expect("just pushed");
        bump(counts, tenant, n);
        bump(&mut self.totals, tenant, n);
        self.prune(sec);
    }

    fn prune(&mut self, now_sec: i64) {
        while self.seconds.front().is_some_and(|(s, _)| *s <= now_sec - WINDOW_S) {
            self.seconds.pop_front();
        }
    }

    /// Results per second of `tenant` over the window ending at `now`.
    pub fn per_second(&self, tenant: &TenantId, now: Timestamp) -> f64 {
        let now_sec = now.millis().div_euclid(1000);
        let count: u64 = self
            .seconds
            .iter()
            .filter(|(s, _)| *s > now_sec - WINDOW_S && *s <= now_sec)
            .filter_map(|(_, c)| c.get(tenant))
            .sum();
        let span_ms = now.since(self.since).clamp(1000, WINDOW_S * 1000);
        let rate = count as f64 * 1000.0 / span_ms as f64;
        (rate * 100.0).round() / 100.0
    }

    /// The tenants with results counted.
    pub fn tenants(&self) -> impl Iterator<Item = &TenantId> {
        self.totals.keys()
    }

    /// Every result of `tenant` accepted since counting began.
    pub fn total(&self, tenant: &TenantId) -> u64 {
        self.totals.get(tenant).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000 + s * 1000)
    }

    #[test]
    fn rate_is_the_window_count_per_second_and_per_tenant() {
        let (a, b) = (TenantId::from_trusted("ten_a".into()), TenantId::from_trusted("ten_b".into()));
        let mut t = Throughput::new(at(0));
        for s in 0..120 {
            t.add(&a, 2, at(s));
        }
        t.add(&b, 30, at(119));
        assert_eq!(t.per_second(&a, at(119)), 2.0, "the last 60 s only");
        assert_eq!(t.per_second(&b, at(119)), 0.5);
        assert_eq!(t.total(&a), 240);
        assert_eq!(t.per_second(&a, at(300)), 0.0, "nothing accepted in the window");
    }

    #[test]
    fn a_young_counter_divides_by_its_age() {
        let a = TenantId::from_trusted("ten_a".into());
        let mut t = Throughput::new(at(0));
        for s in 0..10 {
            t.add(&a, 5, at(s));
        }
        assert_eq!(t.per_second(&a, at(10)), 5.0);
        assert_eq!(t.per_second(&TenantId::from_trusted("ten_b".into()), at(10)), 0.0);
    }
}

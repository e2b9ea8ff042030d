//! When checks are due: a pure function of the monitor id, its interval and a time.
//!
//! Each monitor fires on a fixed grid `offset + k·interval` (ms since the epoch), where
//! `offset` is a deterministic hash of the monitor id spread over the whole interval. So
//! 1,000 monitors created in the same second do not fire in the same millisecond, a monitor
//! keeps its phase across engine restarts, and there is no drift: the n-th check of a monitor
//! is due at an exact grid point, however late the previous one ran.

use crate::ids::{fnv1a, MonitorId};
use crate::monitor::Interval;
use crate::time::Timestamp;

/// The monitor's phase within its interval, in `[0, interval)` milliseconds.
pub fn phase_ms(monitor: &MonitorId, interval: Interval) -> i64 {
    (fnv1a(monitor.as_str().as_bytes()) % interval.millis() as u64) as i64
}

/// The first due time strictly after `after`.
pub fn next_due(monitor: &MonitorId, interval: Interval, after: Timestamp) -> Timestamp {
    let iv = interval.millis();
    let phase = phase_ms(monitor, interval);
    let k = (after.millis() - phase).div_euclid(iv) + 1;
    Timestamp::from_millis(phase + k * iv)
}

/// The longest wait before a synchronized re-check round.
pub const MAX_RECHECK_DELAY_MS: i64 = 10_000;

/// When a re-check round asked for at `now` runs: half an interval later (at most
/// [`MAX_RECHECK_DELAY_MS`]), or at once (`at_once`: the parent of a monitor holding its page).
/// The engine's scheduler and the simulator both schedule re-checks with it.
pub fn recheck_due(interval: Interval, at_once: bool, now: Timestamp) -> Timestamp {
    let delay = if at_once { 0 } else { (interval.millis() / 2).min(MAX_RECHECK_DELAY_MS) };
    now.plus_ms(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mon(i: u128) -> MonitorId {
        MonitorId::from_parts(1_700_000_000_000, i)
    }

    #[test]
    fn due_times_sit_on_a_fixed_grid_without_drift() {
        let m = mon(42);
        let iv = Interval::from_trusted(20);
        let start = Timestamp::from_secs(1_800_000_000);
        let mut t = next_due(&m, iv, start);
        let first = t;
        assert!(t > start && t.since(start) <= iv.millis());
        // Six hours of checks, each computed from a late "now" (the previous due + 7 s of lag).
        for n in 1..=1080 {
            t = next_due(&m, iv, t.plus_ms(7_000).minus_ms(7_000));
            assert_eq!(t.since(first), n * iv.millis(), "drifted at check {n}");
        }
    }

    #[test]
    fn next_due_is_strictly_after_even_on_a_grid_point() {
        let m = mon(7);
        let iv = Interval::from_trusted(60);
        let t = next_due(&m, iv, Timestamp::from_secs(0));
        assert_eq!(next_due(&m, iv, t), t.plus_ms(60_000));
        assert_eq!(next_due(&m, iv, t.minus_ms(1)), t);
    }

    #[test]
    fn a_thousand_monitors_are_spread_over_the_interval() {
        let iv = Interval::from_trusted(20);
        let now = Timestamp::from_secs(1_800_000_000);
        let mut per_second = [0u32; 20];
        let mut distinct_ms = std::collections::HashSet::new();
        for i in 0..1000 {
            let due = next_due(&mon(i * 7919), iv, now);
            per_second[(due.since(now) / 1000).min(19) as usize] += 1;
            distinct_ms.insert(due);
        }
        // Uniform would be 50 per second; allow generous statistical slack but no pile-up.
        assert!(per_second.iter().all(|&n| (15..=100).contains(&n)), "{per_second:?}");
        assert!(distinct_ms.len() > 950, "only {} distinct due times", distinct_ms.len());
    }
}

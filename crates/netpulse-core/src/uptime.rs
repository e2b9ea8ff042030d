//! Uptime maths: how results count toward availability.
//!
//! Uptime over a window is the share of checks that were up or degraded among all checks
//! that ran in it. Errors (the check could not be carried out) count as failures, because a
//! monitor that cannot check is not evidence of health. Windows without any result have no
//! uptime (`None`), never 100 %.

use crate::check::Outcome;
use serde::{Deserialize, Serialize};

/// Counts of outcomes over a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub up: u64,
    pub degraded: u64,
    pub down: u64,
    pub error: u64,
}

impl Tally {
    pub fn add(&mut self, outcome: Outcome, n: u64) {
        match outcome {
            Outcome::Up => self.up += n,
            Outcome::Degraded => self.degraded += n,
            Outcome::Down => self.down += n,
            Outcome::Error => self.error += n,
        }
    }
    pub fn total(&self) -> u64 {
        self.up + self.degraded + self.down + self.error
    }
    /// Availability in percent, or `None` without data.
    pub fn uptime_percent(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| (self.up + self.degraded) as f64 * 100.0 / total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_counts_degraded_as_up_and_errors_as_down() {
        let mut t = Tally::default();
        assert_eq!(t.uptime_percent(), None, "no data is not 100 %");
        t.add(Outcome::Up, 6);
        t.add(Outcome::Degraded, 2);
        t.add(Outcome::Down, 1);
        t.add(Outcome::Error, 1);
        assert_eq!(t.uptime_percent(), Some(80.0));
    }
}

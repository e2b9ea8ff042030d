//! Login throttling: an in-memory token bucket per key (an IP address or an account), each
//! refilled at `per_minute` tokens a minute up to `per_minute`. Per engine node; a cluster
//! of N nodes allows at most N times the rate, which still defeats online guessing.

use crate::config::AccountsConfig;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Account mails one address may ask for per minute (resends and reset links together).
pub const MAIL_PER_MINUTE: u32 = 1;
/// Invitation mails an organisation may send a minute (per engine node).
pub const INVITES_PER_MINUTE: u32 = 10;

/// Login throttles, one per IP address and one per account, the throttle of account
/// mail asked for by address (verification resends, reset links), the throttle of
/// invitation mail per organisation, and that of "someone tried to register with your
/// address" notices per address.
pub struct Throttles {
    pub ip: Throttle,
    pub account: Throttle,
    pub mail: Throttle,
    pub invite: Throttle,
    pub taken_notice: Throttle,
}

impl Throttles {
    pub fn new(cfg: &AccountsConfig) -> Self {
        Self {
            ip: Throttle::new(cfg.login_per_minute_ip),
            account: Throttle::new(cfg.login_per_minute_account),
            mail: Throttle::new(MAIL_PER_MINUTE),
            invite: Throttle::new(INVITES_PER_MINUTE),
            taken_notice: Throttle::new(1),
        }
    }
}

/// Buckets keyed by text.
pub struct Throttle {
    per_minute: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

/// Keys kept before idle full buckets are dropped.
const SWEEP_AT: usize = 10_000;

impl Throttle {
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute: f64::from(per_minute), buckets: Mutex::default() }
    }

    /// Take one token for `key`; false when its bucket is empty.
    pub fn allow(&self, key: &str, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > SWEEP_AT {
            let cap = self.per_minute;
            let rate = self.per_minute / 60.0;
            buckets.retain(|_, (level, at)| *level + now.duration_since(*at).as_secs_f64() * rate < cap);
        }
        let (level, at) = buckets.entry(key.to_owned()).or_insert((self.per_minute, now));
        *level = (*level + now.duration_since(*at).as_secs_f64() * self.per_minute / 60.0).min(self.per_minute);
        *at = now;
        if *level >= 1.0 {
            *level -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Throttle;
    use std::time::{Duration, Instant};

    #[test]
    fn a_bucket_empties_and_refills_with_time() {
        let t = Throttle::new(5);
        let start = Instant::now();
        assert!((0..5).all(|_| t.allow("a", start)));
        assert!(!t.allow("a", start), "the sixth attempt within the minute is refused");
        assert!(t.allow("b", start), "other keys have their own bucket");
        assert!(t.allow("a", start + Duration::from_secs(12)), "one token back after 12 s at 5/min");
    }
}

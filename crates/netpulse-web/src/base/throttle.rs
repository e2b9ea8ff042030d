//! Throttles of the account endpoints: in-memory token buckets per key (an IP address, an
//! account, an e-mail address or its domain), each refilled evenly over its window up to its
//! size. Per engine node; a cluster of N nodes allows at most N times the rate, which still
//! defeats online guessing and mass sign-ups. Also the addresses each account signed in from
//! ([`KnownSources`]) and the gate of password hashing ([`HashGate`]).

use crate::accounts::password::HashGate;
use crate::config::AccountsConfig;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Account mails one address may ask for per minute (resends and reset links together).
pub const MAIL_PER_MINUTE: u32 = 1;
/// Invitation mails an organisation may send a minute (per engine node).
pub const INVITES_PER_MINUTE: u32 = 10;
/// Subscription links (confirm, unsubscribe) one IP address may follow per minute.
pub const SUBSCRIBER_LINKS_PER_MINUTE: u32 = 30;
/// Sign-ups one e-mail address may be named in per hour (whether or not it has an account).
pub const REGISTER_PER_HOUR_ADDRESS: u32 = 3;

/// The throttles: login per IP address and per account (and per known address of an
/// account), sign-ups per IP address and per e-mail address, account mail asked for by
/// address (verification resends, reset links), account mail per destination domain,
/// invitation mail per organisation, "someone tried to register with your address" notices
/// per address, status-page subscription sign-ups per IP address and per page; and the
/// password-hashing gate.
pub struct Throttles {
    pub ip: Throttle,
    pub account: Throttle,
    /// Attempts on an account from an address that signed in to it before, per pair: the
    /// account's own budget does not stop these (see [`KnownSources`]).
    pub known_source: Throttle,
    pub known: KnownSources,
    pub register_ip: Throttle,
    pub register_address: Throttle,
    pub mail: Throttle,
    pub mail_domain: Throttle,
    pub invite: Throttle,
    pub taken_notice: Throttle,
    /// Status-page subscription sign-ups per IP address and per page.
    pub subscribe_ip: Throttle,
    pub subscribe_page: Throttle,
    /// Confirmation and unsubscribe links followed per IP address (per minute).
    pub subscriber_links: Throttle,
    /// Subscription confirmation mails per address (apart from account mail, which a
    /// sign-up to a status page must not use up).
    pub subscribe_mail: Throttle,
    pub hashes: HashGate,
}

impl Throttles {
    pub fn new(cfg: &AccountsConfig) -> Self {
        let hour = Duration::from_secs(3600);
        Self {
            ip: Throttle::new(cfg.login_per_minute_ip),
            account: Throttle::new(cfg.login_per_minute_account),
            known_source: Throttle::new(cfg.login_per_minute_account),
            known: KnownSources::default(),
            register_ip: Throttle::over(cfg.register_per_hour_ip, hour),
            register_address: Throttle::over(REGISTER_PER_HOUR_ADDRESS, hour),
            mail: Throttle::new(MAIL_PER_MINUTE),
            mail_domain: Throttle::over(cfg.mail_per_hour_domain, hour),
            invite: Throttle::new(INVITES_PER_MINUTE),
            taken_notice: Throttle::new(1),
            subscribe_ip: Throttle::over(cfg.subscribe_per_hour_ip, hour),
            subscribe_page: Throttle::over(cfg.subscribe_per_hour_page, hour),
            subscriber_links: Throttle::new(SUBSCRIBER_LINKS_PER_MINUTE),
            subscribe_mail: Throttle::new(MAIL_PER_MINUTE),
            hashes: HashGate::new(cfg.password_hashes as usize, cfg.password_hash_queue as usize),
        }
    }
}

/// The domain of an e-mail address (its mail budget's key).
pub fn domain_of(email: &str) -> &str {
    email.rsplit_once('@').map_or(email, |(_, d)| d)
}

/// The addresses each account signed in from successfully (the newest [`KNOWN_PER_ACCOUNT`]),
/// per engine node: once the account's login budget is spent by guesses from elsewhere, these
/// still get a budget of their own, so an attacker cannot lock the owner out cheaply.
#[derive(Default)]
pub struct KnownSources(Mutex<HashMap<String, Vec<String>>>);

/// Addresses remembered per account.
pub const KNOWN_PER_ACCOUNT: usize = 8;
/// Accounts remembered before the memory starts over.
const KNOWN_ACCOUNTS: usize = 100_000;

impl KnownSources {
    pub fn contains(&self, account: &str, ip: &str) -> bool {
        let known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        known.get(account).is_some_and(|ips| ips.iter().any(|i| i == ip))
    }

    /// `ip` signed in to `account`.
    pub fn remember(&self, account: &str, ip: &str) {
        let mut known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= KNOWN_ACCOUNTS && !known.contains_key(account) {
            known.clear();
        }
        let ips = known.entry(account.to_owned()).or_default();
        ips.retain(|i| i != ip);
        if ips.len() >= KNOWN_PER_ACCOUNT {
            ips.remove(0);
        }
        ips.push(ip.to_owned());
    }
}

/// Buckets keyed by text.
pub struct Throttle {
    /// A bucket's size.
    size: f64,
    /// Tokens back per second.
    rate: f64,
    buckets: Mutex<Buckets>,
}

/// The buckets, and the size at which idle full ones are next swept out.
#[derive(Default)]
struct Buckets {
    map: HashMap<String, (f64, Instant)>,
    sweep_at: usize,
}

/// Keys kept before idle full buckets are dropped; the next sweep waits until the map has
/// doubled past what a sweep left, so a map of many busy keys is not scanned per request.
const SWEEP_AT: usize = 10_000;
/// Keys kept at most: past this many busy keys (that many client addresses or /64s at once)
/// the buckets start over rather than grow without bound.
const MAX_KEYS: usize = 200_000;

impl Throttle {
    /// `per_minute` tokens a minute.
    pub fn new(per_minute: u32) -> Self {
        Self::over(per_minute, Duration::from_secs(60))
    }

    /// `count` tokens per `window`.
    pub fn over(count: u32, window: Duration) -> Self {
        let size = f64::from(count);
        Self { size, rate: size / window.as_secs_f64(), buckets: Mutex::default() }
    }

    /// Seconds until a token is back in an empty bucket (a `Retry-After`).
    pub fn retry_after_s(&self) -> u32 {
        (1.0 / self.rate).ceil() as u32
    }

    /// Take one token for `key`; false when its bucket is empty.
    pub fn allow(&self, key: &str, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = &mut *buckets;
        if b.map.len() > b.sweep_at.max(SWEEP_AT) {
            let (size, rate) = (self.size, self.rate);
            b.map.retain(|_, (level, at)| *level + now.duration_since(*at).as_secs_f64() * rate < size);
            if b.map.len() > MAX_KEYS {
                tracing::warn!(keys = b.map.len(), "rate limit buckets start over: too many clients at once");
                b.map.clear();
            }
            b.sweep_at = b.map.len() * 2;
        }
        let bucket = b.map.entry(key.to_owned()).or_insert((self.size, now));
        take_token(bucket, self.size, self.rate, now)
    }
}

/// Take one token from `bucket` (its level and when it was last filled), refilled at `rate`
/// tokens a second up to `size`; false when it is empty.
pub fn take_token(bucket: &mut (f64, Instant), size: f64, rate: f64, now: Instant) -> bool {
    let (level, at) = bucket;
    *level = (*level + now.duration_since(*at).as_secs_f64() * rate).min(size);
    *at = now;
    if *level >= 1.0 {
        *level -= 1.0;
        true
    } else {
        false
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

    #[test]
    fn an_hourly_bucket_refills_over_the_hour() {
        let t = Throttle::over(10, Duration::from_secs(3600));
        let start = Instant::now();
        assert!((0..10).all(|_| t.allow("ip", start)));
        assert!(!t.allow("ip", start + Duration::from_secs(300)), "not back after 5 minutes");
        assert!(t.allow("ip", start + Duration::from_secs(360)), "one back after 6 minutes");
        assert_eq!(t.retry_after_s(), 360);
    }

    #[test]
    fn many_busy_keys_are_held_and_swept_by_doubling_and_never_without_bound() {
        let t = Throttle::new(5);
        let now = Instant::now();
        for i in 0..(super::SWEEP_AT + 10) {
            assert!(t.allow(&format!("k{i}"), now));
        }
        // Every bucket is in use (not full), so a sweep keeps them all and waits for twice as many.
        let sweep_at = t.buckets.lock().unwrap().sweep_at;
        assert_eq!(sweep_at, (super::SWEEP_AT + 1) * 2, "the next sweep after doubling");
        assert!(!(0..5).all(|_| t.allow("k0", now)), "a busy key keeps its (emptied) bucket");
        // Idle buckets refill and go at the next sweep.
        let later = now + Duration::from_secs(120);
        for i in 0..=sweep_at {
            t.allow(&format!("n{i}"), later);
        }
        assert!(t.buckets.lock().unwrap().map.len() <= sweep_at + 1, "the refilled k… buckets were swept");
    }

    #[test]
    fn ipv6_clients_count_by_their_64_and_v4_mapped_ones_as_v4() {
        use crate::accounts::rate_key;
        let a: std::net::IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: std::net::IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        assert_eq!(rate_key(a), "2001:db8:1:2::/64");
        assert_eq!(rate_key(a), rate_key(b));
        assert_ne!(rate_key(a), rate_key("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(rate_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(rate_key("192.0.2.7".parse().unwrap()), "192.0.2.7");
    }

    #[test]
    fn known_sources_keep_the_newest_addresses_of_each_account() {
        let k = super::KnownSources::default();
        for i in 0..=super::KNOWN_PER_ACCOUNT {
            k.remember("ada@example.com", &format!("10.0.0.{i}"));
        }
        assert!(!k.contains("ada@example.com", "10.0.0.0"), "the oldest is forgotten");
        assert!(k.contains("ada@example.com", "10.0.0.1") && !k.contains("bob@example.com", "10.0.0.1"));
    }
}

//! What stands between the public beacon endpoints and the store: signed short-lived page
//! tokens, each good for one beacon; each source's budget of beacons a minute; a cache of
//! sources by site key (unknown keys too), so a flood costs no database reads; and the
//! refused beacons counted per source, written to the store at most every few seconds.
//!
//! All of it is per engine node and in memory: a cluster of N nodes accepts at most N times a
//! source's budget, and a token used on one node could be used once more on another.

use hmac::{Hmac, Mac};
use netpulse_store::{VisitDrops, VisitSource};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a page token is good for after its script was served.
pub const TOKEN_TTL_MS: i64 = 30 * 60 * 1000;
/// Beacons one client address may send (scripts, beacons and pixels together) a minute.
pub const PER_CLIENT_PER_MINUTE: u32 = 600;
/// How long a source read from the store is trusted (a deleted source is refused after this).
const CACHE_TTL: Duration = Duration::from_secs(30);
/// Site keys cached at most (known and unknown); past it the cache starts over.
const CACHE_MAX: usize = 10_000;
/// Tokens remembered as used at most; past it, new tokens are refused until old ones expire.
const USED_MAX: usize = 200_000;
/// How often a source's refused beacons are written at most.
const DROPS_EVERY: Duration = Duration::from_secs(5);

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Not ours, for another source, or altered.
    Forged,
    Expired,
    /// Used for a beacon already.
    Replayed,
}

/// Which count a refused beacon goes to.
#[derive(Clone, Copy, Debug)]
pub enum DropReason {
    Origin,
    Rate,
    Token,
    Bot,
    Malformed,
}

/// The gate (see the module's doc).
pub struct VisitorGate {
    key: [u8; 32],
    used: Mutex<HashMap<[u8; 8], i64>>,
    sources: Mutex<HashMap<String, (Option<VisitSource>, Instant)>>,
    budgets: Mutex<HashMap<String, (f64, Instant)>>,
    drops: Mutex<HashMap<String, (VisitDrops, Instant)>>,
    pub per_client: super::throttle::Throttle,
}

impl VisitorGate {
    /// A gate whose tokens are signed with `key` (derived from the server secret).
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            key,
            used: Mutex::default(),
            sources: Mutex::default(),
            budgets: Mutex::default(),
            drops: Mutex::default(),
            per_client: super::throttle::Throttle::new(PER_CLIENT_PER_MINUTE),
        }
    }

    fn mac(&self, source: &str, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"netpulse visit token v1:");
        mac.update(source.as_bytes());
        mac.update(payload);
        mac
    }

    /// A token for one beacon of `source`, issued at `now_ms`.
    pub fn issue(&self, source: &str, now_ms: i64, nonce: u64) -> String {
        let mut payload = [0u8; 16];
        payload[..8].copy_from_slice(&now_ms.to_be_bytes());
        payload[8..].copy_from_slice(&nonce.to_be_bytes());
        let tag = self.mac(source, &payload).finalize().into_bytes();
        format!("{}{}", hex::encode(payload), hex::encode(&tag[..16]))
    }

    /// Accept `token` for one beacon of `source` at `now_ms`, once.
    pub fn redeem(&self, source: &str, token: &str, now_ms: i64) -> Result<(), TokenRefusal> {
        let bytes = hex::decode(token).map_err(|_| TokenRefusal::Forged)?;
        if bytes.len() != 32 || self.mac(source, &bytes[..16]).verify_truncated_left(&bytes[16..]).is_err() {
            return Err(TokenRefusal::Forged);
        }
        let issued = i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
        let expires = issued.saturating_add(TOKEN_TTL_MS);
        if expires <= now_ms || issued > now_ms + 60_000 {
            return Err(TokenRefusal::Expired);
        }
        let nonce: [u8; 8] = bytes[8..16].try_into().expect("8 bytes");
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        if used.len() >= USED_MAX {
            used.retain(|_, exp| *exp > now_ms);
            if used.len() >= USED_MAX {
                return Err(TokenRefusal::Replayed);
            }
        }
        match used.insert(nonce, expires) {
            Some(_) => Err(TokenRefusal::Replayed),
            None => Ok(()),
        }
    }

    /// The cached reading of `site_key`: `None` when it must be read from the store,
    /// `Some(None)` for a key known not to exist.
    pub fn cached(&self, site_key: &str, now: Instant) -> Option<Option<VisitSource>> {
        let cache = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(site_key).filter(|(_, at)| now.duration_since(*at) < CACHE_TTL).map(|(s, _)| s.clone())
    }

    pub fn remember(&self, site_key: &str, source: Option<VisitSource>, now: Instant) {
        let mut cache = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(site_key.to_owned(), (source, now));
    }

    /// Forget a source (deleted or changed on this node).
    pub fn forget(&self, site_key: &str) {
        self.sources.lock().unwrap_or_else(|p| p.into_inner()).remove(site_key);
    }

    /// Take one beacon from `s`'s budget; false when it is spent.
    pub fn within_budget(&self, s: &VisitSource, now: Instant) -> bool {
        let size = f64::from(s.per_minute.max(1));
        let mut budgets = self.budgets.lock().unwrap_or_else(|p| p.into_inner());
        if budgets.len() >= CACHE_MAX {
            budgets.clear();
        }
        let (level, at) = budgets.entry(s.id.clone()).or_insert((size, now));
        *level = (*level + now.duration_since(*at).as_secs_f64() * size / 60.0).min(size);
        *at = now;
        if *level >= 1.0 {
            *level -= 1.0;
            true
        } else {
            false
        }
    }

    /// Count a refused beacon of source `id`; returns the counts due to be written: the first
    /// refusal at once, then at most every few seconds per source.
    pub fn refused(&self, id: &str, why: DropReason, now: Instant) -> Option<VisitDrops> {
        let mut drops = self.drops.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = !drops.contains_key(id);
        let (d, since) = drops.entry(id.to_owned()).or_insert((VisitDrops::default(), now));
        *match why {
            DropReason::Origin => &mut d.origin,
            DropReason::Rate => &mut d.rate,
            DropReason::Token => &mut d.token,
            DropReason::Bot => &mut d.bot,
            DropReason::Malformed => &mut d.malformed,
        } += 1;
        if !fresh && now.duration_since(*since) < DROPS_EVERY {
            return None;
        }
        *since = now;
        Some(std::mem::take(d))
    }

    /// Refused beacons of source `id` counted here and not written yet.
    pub fn unwritten(&self, id: &str) -> VisitDrops {
        self.drops.lock().unwrap_or_else(|p| p.into_inner()).get(id).map(|(d, _)| *d).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_works_once_for_its_source_until_it_expires() {
        let gate = VisitorGate::new([7; 32]);
        let t = gate.issue("vis_a", 1_000_000, 42);
        assert_eq!(gate.redeem("vis_b", &t, 1_000_500), Err(TokenRefusal::Forged), "another source's");
        assert_eq!(gate.redeem("vis_a", &t, 1_000_500), Ok(()));
        assert_eq!(gate.redeem("vis_a", &t, 1_000_600), Err(TokenRefusal::Replayed));
        let late = gate.issue("vis_a", 1_000_000, 43);
        assert_eq!(gate.redeem("vis_a", &late, 1_000_000 + TOKEN_TTL_MS), Err(TokenRefusal::Expired));
        let mut altered = gate.issue("vis_a", 1_000_000, 44).into_bytes();
        altered[15] = if altered[15] == b'0' { b'1' } else { b'0' };
        assert_eq!(gate.redeem("vis_a", std::str::from_utf8(&altered).unwrap(), 1_000_500), Err(TokenRefusal::Forged));
        assert_eq!(gate.redeem("vis_a", "zz", 1_000_500), Err(TokenRefusal::Forged));
        let other_key = VisitorGate::new([8; 32]);
        assert_eq!(
            other_key.redeem("vis_a", &gate.issue("vis_a", 1_000_000, 45), 1_000_500),
            Err(TokenRefusal::Forged)
        );
    }

    #[test]
    fn refused_beacons_are_written_in_batches() {
        let gate = VisitorGate::new([7; 32]);
        let now = Instant::now();
        let first = gate.refused("vis_a", DropReason::Origin, now).expect("the first is written at once");
        assert_eq!(first.origin, 1);
        for _ in 0..9 {
            assert!(gate.refused("vis_a", DropReason::Rate, now + Duration::from_secs(1)).is_none());
        }
        assert_eq!(gate.unwritten("vis_a").rate, 9);
        let later = gate.refused("vis_a", DropReason::Token, now + DROPS_EVERY).expect("due again");
        assert_eq!((later.rate, later.token, later.total()), (9, 1, 10));
        assert_eq!(gate.unwritten("vis_a").total(), 0);
    }
}

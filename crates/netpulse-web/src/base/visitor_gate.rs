//! What stands between the public beacon endpoints and the store: signed short-lived page
//! tokens, each bound to the client it was served to and good for one beacon; each source's
//! budget of beacons a minute, and a tenth of it per client address; a cache of sources by
//! site key (and of unknown keys apart), so a flood costs no database reads; and the refused
//! beacons counted per source, written at once the first time and then at most every few
//! seconds (a delayed write takes what came in between).
//!
//! Tokens are signed with their source's key, which every engine node reads from the store,
//! so a token served by one node is good on any other. What is here is each node's first line,
//! in memory, that keeps floods from the database; the store has the last word across nodes:
//! a token is spent once per source, and a source stores at most its budget a minute
//! ([`netpulse_store::VisitStore::record_visit`]).

use hmac::{Hmac, Mac};
use netpulse_store::{VisitDrops, VisitSource};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a page token is good for after its script was served.
pub const TOKEN_TTL_MS: i64 = 30 * 60 * 1000;
/// Requests one client address may make to the beacon endpoints a minute (scripts, beacons
/// and pixels together, every source).
pub const PER_CLIENT_PER_MINUTE: u32 = 600;
/// How long a source read from the store is trusted (a deleted source is refused after this
/// on other nodes; at once on the node that deleted it).
const CACHE_TTL: Duration = Duration::from_secs(30);
/// Site keys cached at most, known and unknown each; past it that cache starts over.
const CACHE_MAX: usize = 10_000;
/// Per-client budgets kept at most; past it they start over.
const CLIENTS_MAX: usize = 200_000;
/// How often a source's refused beacons are written at most.
pub const DROPS_EVERY: Duration = Duration::from_secs(5);

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Missing, not ours, for another source or client, or altered.
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

/// What to do with a source's refusal counts after counting one.
#[derive(Debug, PartialEq, Eq)]
pub enum DropWrite {
    /// Write these now.
    Now(VisitDrops),
    /// Write what has come in after [`DROPS_EVERY`] ([`VisitorGate::take_drops`]).
    Later,
    /// A write is due already.
    Pending,
}

/// A token that passed its checks, to be marked used once its beacon is accepted.
pub struct Redeemable {
    nonce: [u8; 8],
    expires: i64,
}

impl Redeemable {
    /// What the store keeps of it to refuse it on every node: its nonce, and when it expires.
    pub fn spend(&self, now_ms: i64) -> netpulse_store::Spend {
        netpulse_store::Spend {
            nonce: hex::encode(self.nonce),
            at: netpulse_core::Timestamp::from_millis(now_ms),
            expires_at: netpulse_core::Timestamp::from_millis(self.expires),
        }
    }
}

/// A source's refusals not written yet, when the last write was, and whether one is due.
#[derive(Default)]
struct Drops {
    counts: VisitDrops,
    /// Taken by a delayed write that has not finished.
    in_flight: VisitDrops,
    written: Option<Instant>,
    scheduled: bool,
}

type Bucket = (f64, Instant);

/// The gate (see the module's doc).
pub struct VisitorGate {
    used: Mutex<HashMap<String, HashMap<[u8; 8], i64>>>,
    sources: Mutex<HashMap<String, (VisitSource, Instant)>>,
    unknown: Mutex<HashMap<String, Instant>>,
    budgets: Mutex<HashMap<String, Bucket>>,
    clients: Mutex<HashMap<(String, String), Bucket>>,
    drops: Mutex<HashMap<String, Drops>>,
    pub per_client: super::throttle::Throttle,
}

/// Take one from a bucket of `size` that refills over a minute; false when it is empty.
fn take(bucket: &mut Bucket, size: f64, now: Instant) -> bool {
    super::throttle::take_token(bucket, size, size / 60.0, now)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Default for VisitorGate {
    fn default() -> Self {
        Self {
            used: Mutex::default(),
            sources: Mutex::default(),
            unknown: Mutex::default(),
            budgets: Mutex::default(),
            clients: Mutex::default(),
            drops: Mutex::default(),
            per_client: super::throttle::Throttle::new(PER_CLIENT_PER_MINUTE),
        }
    }
}

impl VisitorGate {
    pub fn new() -> Self {
        Self::default()
    }

    fn mac(src: &VisitSource, client: &str, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(src.token_key.as_bytes()).expect("HMAC takes any key length");
        mac.update(b"netpulse visit token v1:");
        for part in [src.id.as_str(), client] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac.update(payload);
        mac
    }

    /// A token for one beacon of `src` from `client` (its rate key), issued at `now_ms`.
    pub fn issue(&self, src: &VisitSource, client: &str, now_ms: i64, nonce: u64) -> String {
        let mut payload = [0u8; 16];
        payload[..8].copy_from_slice(&now_ms.to_be_bytes());
        payload[8..].copy_from_slice(&nonce.to_be_bytes());
        let tag = Self::mac(src, client, &payload).finalize().into_bytes();
        format!("{}{}", hex::encode(payload), hex::encode(&tag[..16]))
    }

    /// Check `token` for a beacon of `src` from `client` at `now_ms`: signed with the source's
    /// key for them, unexpired, not used on this node. Nothing is marked: see
    /// [`Self::mark_used`].
    pub fn check(&self, src: &VisitSource, client: &str, token: &str, now_ms: i64) -> Result<Redeemable, TokenRefusal> {
        let bytes = hex::decode(token).map_err(|_| TokenRefusal::Forged)?;
        let keyed = src.token_key.len() >= 32;
        if !keyed
            || bytes.len() != 32
            || Self::mac(src, client, &bytes[..16]).verify_truncated_left(&bytes[16..]).is_err()
        {
            return Err(TokenRefusal::Forged);
        }
        let source = src.id.as_str();
        let issued = i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
        let expires = issued.saturating_add(TOKEN_TTL_MS);
        if expires <= now_ms || issued > now_ms + 60_000 {
            return Err(TokenRefusal::Expired);
        }
        let nonce: [u8; 8] = bytes[8..16].try_into().expect("8 bytes");
        match lock(&self.used).get(source).is_some_and(|u| u.contains_key(&nonce)) {
            true => Err(TokenRefusal::Replayed),
            false => Ok(Redeemable { nonce, expires }),
        }
    }

    /// Mark a checked token of `source` used (its beacon was accepted); false if it was
    /// meanwhile. Each source remembers only its own unexpired tokens, at most as many as its
    /// budget lets through in a token's life.
    pub fn mark_used(&self, source: &str, r: &Redeemable, now_ms: i64) -> bool {
        let mut used = lock(&self.used);
        let mine = used.entry(source.to_owned()).or_default();
        if mine.len() >= 1024 && mine.len().is_power_of_two() {
            mine.retain(|_, exp| *exp > now_ms);
        }
        mine.insert(r.nonce, r.expires).is_none()
    }

    /// The cached reading of `site_key`: `None` when it must be read from the store,
    /// `Some(None)` for a key known not to exist.
    pub fn cached(&self, site_key: &str, now: Instant) -> Option<Option<VisitSource>> {
        let fresh = |at: &Instant| now.duration_since(*at) < CACHE_TTL;
        if lock(&self.unknown).get(site_key).is_some_and(fresh) {
            return Some(None);
        }
        let cache = lock(&self.sources);
        cache.get(site_key).filter(|(_, at)| fresh(at)).map(|(s, _)| Some(s.clone()))
    }

    pub fn remember(&self, site_key: &str, source: Option<VisitSource>, now: Instant) {
        match source {
            Some(s) => {
                let mut cache = lock(&self.sources);
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
                cache.insert(site_key.to_owned(), (s, now));
            }
            None => {
                let mut unknown = lock(&self.unknown);
                if unknown.len() >= CACHE_MAX {
                    unknown.clear();
                }
                unknown.insert(site_key.to_owned(), now);
            }
        }
    }

    /// Forget a source (deleted, or its monitor deleted, on this node): its cached reading,
    /// budgets and unwritten counts.
    pub fn forget(&self, src: &VisitSource) {
        lock(&self.sources).remove(&src.site_key);
        lock(&self.budgets).remove(&src.id);
        lock(&self.drops).remove(&src.id);
        lock(&self.used).remove(&src.id);
    }

    /// Forget a site key just made, in case it was cached as unknown.
    pub fn forget_unknown(&self, site_key: &str) {
        lock(&self.unknown).remove(site_key);
    }

    /// Take one beacon from `s`'s budget and from `client`'s tenth of it; false when either
    /// is spent (a client's refusal leaves the source's budget whole).
    pub fn within_budget(&self, s: &VisitSource, client: &str, now: Instant) -> bool {
        let size = f64::from(s.per_minute.max(1));
        let share = (size / 10.0).ceil().max(2.0).min(size);
        {
            let mut clients = lock(&self.clients);
            if clients.len() >= CLIENTS_MAX {
                clients.clear();
            }
            let bucket = clients.entry((s.id.clone(), client.to_owned())).or_insert((share, now));
            if !take(bucket, share, now) {
                return false;
            }
        }
        let mut budgets = lock(&self.budgets);
        if budgets.len() >= CACHE_MAX {
            budgets.clear();
        }
        take(budgets.entry(s.id.clone()).or_insert((size, now)), size, now)
    }

    /// Count a refused beacon of source `id`, and say when to write the counts: the first
    /// refusal after a quiet spell at once, later ones in one write [`DROPS_EVERY`] after the last.
    pub fn refused(&self, id: &str, why: DropReason, now: Instant) -> DropWrite {
        let mut drops = lock(&self.drops);
        let d = drops.entry(id.to_owned()).or_default();
        *match why {
            DropReason::Origin => &mut d.counts.origin,
            DropReason::Rate => &mut d.counts.rate,
            DropReason::Token => &mut d.counts.token,
            DropReason::Bot => &mut d.counts.bot,
            DropReason::Malformed => &mut d.counts.malformed,
        } += 1;
        if d.scheduled {
            return DropWrite::Pending;
        }
        if d.written.is_none_or(|w| now.duration_since(w) >= DROPS_EVERY) {
            d.written = Some(now);
            return DropWrite::Now(std::mem::take(&mut d.counts));
        }
        d.scheduled = true;
        DropWrite::Later
    }

    /// The counts of source `id` due in a delayed write (see [`DropWrite::Later`]); they
    /// count as unwritten until [`Self::settle`].
    pub fn take_drops(&self, id: &str, now: Instant) -> VisitDrops {
        let mut drops = lock(&self.drops);
        let Some(d) = drops.get_mut(id) else { return VisitDrops::default() };
        d.scheduled = false;
        d.written = Some(now);
        d.in_flight = std::mem::take(&mut d.counts);
        d.in_flight
    }

    /// A delayed write of source `id`'s counts has finished.
    pub fn settle(&self, id: &str) {
        if let Some(d) = lock(&self.drops).get_mut(id) {
            d.in_flight = VisitDrops::default();
        }
    }

    /// Refused beacons of source `id` counted here and not written yet.
    pub fn unwritten(&self, id: &str) -> VisitDrops {
        lock(&self.drops).get(id).map(|d| d.counts.plus(&d.in_flight)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redeem(gate: &VisitorGate, src: &VisitSource, client: &str, token: &str, at: i64) -> Result<(), TokenRefusal> {
        let r = gate.check(src, client, token, at)?;
        assert!(gate.mark_used(&src.id, &r, at));
        Ok(())
    }

    #[test]
    fn a_token_works_once_for_its_source_and_client_until_it_expires() {
        let (gate, a) = (VisitorGate::new(), source());
        let b = VisitSource { id: "vis_b".into(), ..source() };
        let t = gate.issue(&a, "10.0.0.1", 1_000_000, 42);
        assert_eq!(redeem(&gate, &b, "10.0.0.1", &t, 1_000_500), Err(TokenRefusal::Forged), "another source's");
        assert_eq!(redeem(&gate, &a, "10.0.0.2", &t, 1_000_500), Err(TokenRefusal::Forged), "another client's");
        let checked = gate.check(&a, "10.0.0.1", &t, 1_000_500).expect("good until used");
        assert!(gate.check(&a, "10.0.0.1", &t, 1_000_500).is_ok(), "checking uses nothing up");
        assert!(gate.mark_used("vis_a", &checked, 1_000_500));
        assert_eq!(redeem(&gate, &a, "10.0.0.1", &t, 1_000_600), Err(TokenRefusal::Replayed));
        let late = gate.issue(&a, "10.0.0.1", 1_000_000, 43);
        assert_eq!(redeem(&gate, &a, "10.0.0.1", &late, 1_000_000 + TOKEN_TTL_MS), Err(TokenRefusal::Expired));
        let mut altered = gate.issue(&a, "10.0.0.1", 1_000_000, 44).into_bytes();
        altered[15] = if altered[15] == b'0' { b'1' } else { b'0' };
        let altered = std::str::from_utf8(&altered).unwrap();
        assert_eq!(redeem(&gate, &a, "10.0.0.1", altered, 1_000_500), Err(TokenRefusal::Forged));
        assert_eq!(redeem(&gate, &a, "10.0.0.1", "", 1_000_500), Err(TokenRefusal::Forged));
        // Another node reads the same key from the store: the token is good there too.
        let other_node = VisitorGate::new();
        let served = gate.issue(&a, "10.0.0.1", 1_000_000, 45);
        assert!(other_node.check(&a, "10.0.0.1", &served, 1_000_500).is_ok(), "same source, same key");
        let rekeyed = VisitSource { token_key: "f".repeat(64), ..source() };
        assert_eq!(redeem(&other_node, &rekeyed, "10.0.0.1", &served, 1_000_500), Err(TokenRefusal::Forged));
        let unkeyed = VisitSource { token_key: String::new(), ..source() };
        let t = gate.issue(&unkeyed, "10.0.0.1", 1_000_000, 46);
        assert_eq!(redeem(&gate, &unkeyed, "10.0.0.1", &t, 1_000_500), Err(TokenRefusal::Forged), "no key, no token");
    }

    #[test]
    fn one_client_gets_a_tenth_of_a_sources_budget() {
        let gate = VisitorGate::new();
        let src = VisitSource { per_minute: 30, ..source() };
        let now = Instant::now();
        assert_eq!((0..10).filter(|_| gate.within_budget(&src, "10.0.0.1", now)).count(), 3, "a tenth of 30");
        let others: usize =
            (2..20).map(|c| (0..5).filter(|_| gate.within_budget(&src, &format!("10.0.0.{c}"), now)).count()).sum();
        assert_eq!(others, 27, "the rest of the source's 30, however many clients ask");
        assert!(gate.within_budget(&src, "10.0.0.1", now + Duration::from_secs(20)), "refilled: 3 a minute");
    }

    #[test]
    fn refused_beacons_are_written_at_once_then_in_batches() {
        let gate = VisitorGate::new();
        let now = Instant::now();
        let first = gate.refused("vis_a", DropReason::Origin, now);
        assert!(matches!(first, DropWrite::Now(d) if d.origin == 1), "the first is written at once: {first:?}");
        assert_eq!(gate.refused("vis_a", DropReason::Rate, now + Duration::from_secs(1)), DropWrite::Later);
        for _ in 0..8 {
            assert_eq!(gate.refused("vis_a", DropReason::Rate, now + Duration::from_secs(2)), DropWrite::Pending);
        }
        assert_eq!(gate.unwritten("vis_a").rate, 9);
        let due = gate.take_drops("vis_a", now + Duration::from_secs(6));
        assert_eq!((due.rate, due.total()), (9, 9));
        assert_eq!(gate.unwritten("vis_a").total(), 9, "still unwritten while the write runs");
        gate.settle("vis_a");
        assert_eq!(gate.unwritten("vis_a").total(), 0);
        assert_eq!(gate.refused("vis_a", DropReason::Token, now + Duration::from_secs(7)), DropWrite::Later);
    }

    fn source() -> VisitSource {
        VisitSource {
            id: "vis_a".into(),
            tenant_id: netpulse_core::TenantId::from_trusted("ten_a".into()),
            monitor_id: netpulse_core::MonitorId::from_trusted("mon_a".into()),
            site_key: "pk_a".into(),
            origins: vec![],
            sample_one_in: 1,
            per_minute: 60,
            health_url: None,
            on_status_pages: false,
            in_alerts: false,
            created_at: netpulse_core::Timestamp::from_secs(1),
            dropped: VisitDrops::default(),
            token_key: "7".repeat(64),
        }
    }
}

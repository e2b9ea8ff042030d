//! Seeding the demo organisation: six monitors of every probe kind, two channels (which
//! never send: see the `demo` module), and the last [`DAYS`] days of results of provenance
//! `demo`, fed through the real [`ResultStore::ingest`](crate::ResultStore::ingest) so
//! incidents open and resolve by the same state machine as live ones.
//!
//! Everything is a pure function of absolute time: ids are fixed, a result's id, outcome and
//! latency follow from its monitor and its slot on the monitor's interval grid. Seeding
//! again (a restart) stores only the slots that are new since the last run; the rest are
//! duplicates that ingest ignores, so seeding is idempotent.

use crate::{ChannelKind, ChannelRecord, MonitorRecord, Store, StoreResult};
use netpulse_core::monitor::MonitorDraft;
use netpulse_core::{ChannelId, CheckResult, MonitorId, Outcome, Provenance, ResultId, Timestamp, Timings};
use serde_json::json;

/// How many days of results the demo shows.
pub const DAYS: i64 = 3;
/// The demo monitors' interval.
const INTERVAL_S: i64 = 300;
/// Results per ingest call.
const BATCH: usize = 1000;

/// Fixture values that look like credentials. They are in the demo's data so that tests can
/// check that no answer to a demo visitor (or a viewer) ever shows them.
pub const PLANTED_SECRETS: [&str; 4] = [
    "Bearer demo-header-7f3a9c1e5b",
    "demo-api-key-4e8d2b6a",
    "whsec_demo_2c9e7a41f0b3d85e",
    "https://hooks.slack.com/services/TDEMO0000/BDEMO0000/demoXoXoSecretPath",
];

/// One demo monitor and how its results behave.
struct Fixture {
    draft: serde_json::Value,
    /// Typical latency, ms.
    latency_ms: u32,
    /// Every `period` slots, `outage` consecutive slots fail (0: never).
    period: i64,
    outage: i64,
    /// One slot in this many is degraded (slow) (0: never).
    degraded_every: u64,
    failure: (&'static str, Option<u16>),
}

fn fixtures() -> Vec<Fixture> {
    let http = |name: &str, url: &str, headers: serde_json::Value| json!({ "name": name, "spec": { "kind": "http", "url": url, "headers": headers } });
    vec![
        Fixture {
            draft: http(
                "Storefront",
                "https://shop.example.com/",
                json!([{ "name": "Authorization", "value": PLANTED_SECRETS[0] }]),
            ),
            latency_ms: 180,
            period: 701,
            outage: 5,
            degraded_every: 40,
            failure: ("HTTP 503 Service Unavailable", Some(503)),
        },
        Fixture {
            draft: http(
                "Checkout API",
                "https://api.example.com/health",
                json!([{ "name": "X-Api-Key", "value": PLANTED_SECRETS[1] }]),
            ),
            latency_ms: 95,
            period: 409,
            outage: 8,
            degraded_every: 0,
            failure: ("HTTP 502 Bad Gateway", Some(502)),
        },
        Fixture {
            draft: http("Marketing site", "https://www.example.com/", json!([])),
            latency_ms: 420,
            period: 0,
            outage: 0,
            degraded_every: 9,
            failure: ("", None),
        },
        Fixture {
            draft: json!({ "name": "Postgres primary", "spec": { "kind": "tcp", "host": "db.example.com", "port": 5432 } }),
            latency_ms: 4,
            period: 857,
            outage: 4,
            degraded_every: 0,
            failure: ("connection refused", None),
        },
        Fixture {
            draft: json!({ "name": "DNS example.com", "spec": { "kind": "dns", "name": "example.com" } }),
            latency_ms: 12,
            period: 0,
            outage: 0,
            degraded_every: 0,
            failure: ("", None),
        },
        Fixture {
            draft: json!({ "name": "TLS www.example.com", "spec": { "kind": "tls", "host": "www.example.com" } }),
            latency_ms: 60,
            period: 0,
            outage: 0,
            degraded_every: 0,
            failure: ("", None),
        },
    ]
}

/// A well-mixed 64-bit hash (splitmix64), for deterministic jitter.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn monitor_id(i: usize) -> MonitorId {
    MonitorId::from_parts(0, 0xde_0100 + i as u128)
}

fn draft(f: &Fixture, region: &str) -> StoreResult<MonitorDraft> {
    let mut v = f.draft.clone();
    v["interval"] = json!(INTERVAL_S);
    v["timeout_ms"] = json!(10_000);
    v["retries"] = json!(0);
    v["regions"] = json!([region]);
    v["tags"] = json!(["demo"]);
    v["paused"] = json!(false);
    v["policy"] = json!({});
    v["channels"] = json!(null);
    Ok(serde_json::from_value(v)?)
}

/// The result of fixture `i` in slot `slot` (slot × interval = its start, in seconds).
fn result(i: usize, f: &Fixture, slot: i64, region: &str) -> CheckResult {
    let started_at = Timestamp::from_millis((slot * INTERVAL_S + i as i64 * 7) * 1000);
    let h = mix(((i as u64) << 48) ^ slot as u64);
    let down = f.period > 0 && slot.rem_euclid(f.period) < f.outage;
    let degraded = !down && f.degraded_every > 0 && h.is_multiple_of(f.degraded_every);
    let jitter = (h % u64::from(f.latency_ms / 2 + 1)) as u32;
    let latency = if degraded { f.latency_ms * 6 + jitter } else { f.latency_ms + jitter };
    let (outcome, total_ms, status_code, error) = match (down, degraded) {
        (true, _) => (Outcome::Down, Some(latency / 2), f.failure.1, Some(f.failure.0.to_owned())),
        (false, true) => (Outcome::Degraded, Some(latency), f.failure.1.map(|_| 200), None),
        (false, false) => (Outcome::Up, Some(latency), f.failure.1.map(|_| 200), None),
    };
    let http = f.draft["spec"]["kind"] == "http";
    CheckResult {
        id: ResultId::from_parts(started_at.millis(), ((i as u128) << 64) | slot as u128),
        tenant_id: super::tenant(),
        monitor_id: monitor_id(i),
        region: region.to_owned(),
        worker: "demo".into(),
        started_at,
        finished_at: started_at.plus_ms(i64::from(total_ms.unwrap_or(0))),
        outcome,
        timings: Timings { total_ms, ..Timings::default() },
        status_code: if http { status_code.or(Some(200)) } else { None },
        error,
        cert_expires_at: None,
        cert_issuer: None,
        provenance: Provenance::Demo,
    }
}

fn channels(now: Timestamp) -> Vec<ChannelRecord> {
    let ch = |n: u128, name: &str, kind, url: &str, secret: &str| ChannelRecord {
        id: ChannelId::from_parts(0, 0xde_0200 + n),
        tenant_id: super::tenant(),
        name: name.into(),
        kind,
        url: url.into(),
        secret: crate::Secret::new(secret),
        settings: json!({}),
        enabled: true,
        created_at: now,
    };
    vec![
        ch(0, "On-call webhook", ChannelKind::Webhook, "https://hooks.example.com/netpulse/demo", PLANTED_SECRETS[2]),
        ch(1, "#ops on Slack", ChannelKind::Slack, PLANTED_SECRETS[3], ""),
    ]
}

/// What one seeding run stored.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Seeded {
    pub created: bool,
    pub results: usize,
}

/// Create the demo organisation, its monitors and channels if missing, and its results of
/// the last [`DAYS`] days up to `now`.
pub async fn seed(store: &dyn Store, region: &str, now: Timestamp) -> StoreResult<Seeded> {
    let t = super::tenant();
    let created = store.ensure_tenant(&t, "Demo organisation", now).await?;
    let fixtures = fixtures();
    for (i, f) in fixtures.iter().enumerate() {
        let id = monitor_id(i);
        if store.get_monitor(&t, &id).await?.is_none() {
            let draft = draft(f, region)?;
            let rec = MonitorRecord {
                id,
                tenant_id: t.clone(),
                draft,
                heartbeat_token: None,
                created_at: now,
                updated_at: now,
            };
            store.create_monitor(&t, &rec).await?;
        }
    }
    for ch in channels(now) {
        if store.get_channel(&t, &ch.id).await?.is_none() {
            store.create_channel(&t, &ch).await?;
        }
    }
    let last = now.millis() / 1000 / INTERVAL_S;
    let first = last - DAYS * 86_400 / INTERVAL_S;
    let mut batch = Vec::with_capacity(BATCH);
    let mut stored = 0;
    for slot in first..=last {
        let due = fixtures.iter().enumerate().map(|(i, f)| result(i, f, slot, region));
        batch.extend(due.filter(|r| r.started_at <= now));
        if batch.len() >= BATCH || slot == last {
            stored += store.ingest(&batch, now).await?.inserted;
            batch.clear();
        }
    }
    tracing::info!(results = stored, "demo organisation seeded");
    Ok(Seeded { created, results: stored })
}

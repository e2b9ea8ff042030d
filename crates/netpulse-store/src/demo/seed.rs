//! Seeding the demo organisation: seven monitors of every probe kind, two channels (which
//! never send: see the `demo` module), and the last [`DAYS`] days of results of provenance
//! `demo`, fed through the real [`ResultStore::ingest`](crate::ResultStore::ingest) so
//! incidents open and resolve by the same state machine as live ones. What it shows off:
//! two monitors checked from three regions, where one region's own failures stay below the
//! quorum (a majority) and open nothing; a monitor down for the last 40 minutes with its
//! open incident; a TLS certificate inside its 14-day warning (the monitor down since it
//! entered it); the log of who was paged about each open incident (sample attempts recorded
//! in the delivery log, never sent); an announced maintenance window; and a public status
//! page with posted updates and sample real visitors ([`super::page`]).
//!
//! Results are a pure function of absolute time: ids are fixed, a result's id, outcome and
//! latency follow from its monitor, region and slot on the monitor's interval grid, except
//! for what is told relative to the seeding time (the last 40 minutes' outage, the
//! certificate's expiry). Seeding again (a restart) stores only the slots that are new since
//! the last run; the rest are duplicates that ingest ignores, so seeding is idempotent.

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

/// The regions of the monitors checked from several places; the last one has failures of
/// its own ([`Fixture::regional_blips`]).
const REGIONS: [&str; 3] = ["eu-west", "us-east", "ap-south"];
/// How long before the seeding time the "down now" monitor has been failing.
const DOWN_NOW_MS: i64 = 40 * 60_000;
/// The demo certificate expires this long after the seeding time (inside the 14-day warning
/// for the last 2 hours, the monitor down since then).
const CERT_LEFT_MS: i64 = 13 * 86_400_000 + 22 * 3_600_000;
const CERT_WARN_DAYS: i64 = 14;

/// One demo monitor and how its results behave.
struct Fixture {
    draft: serde_json::Value,
    /// Checked from [`REGIONS`] (else from the engine's own region).
    regions: bool,
    /// Every this many slots, the last region alone fails two slots in a row (0: never).
    regional_blips: i64,
    /// Failing for the last [`DOWN_NOW_MS`] before the seeding time.
    down_now: bool,
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
            regions: true,
            regional_blips: 0,
            down_now: false,
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
            regions: true,
            regional_blips: 61,
            down_now: false,
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
            regions: false,
            regional_blips: 0,
            down_now: false,
            draft: http("Marketing site", "https://www.example.com/", json!([])),
            latency_ms: 420,
            period: 0,
            outage: 0,
            degraded_every: 9,
            failure: ("", None),
        },
        Fixture {
            regions: false,
            regional_blips: 0,
            down_now: false,
            draft: json!({ "name": "Postgres primary", "spec": { "kind": "tcp", "host": "db.example.com", "port": 5432 } }),
            latency_ms: 4,
            period: 857,
            outage: 4,
            degraded_every: 0,
            failure: ("connection refused", None),
        },
        Fixture {
            regions: false,
            regional_blips: 0,
            down_now: false,
            draft: json!({ "name": "DNS example.com", "spec": { "kind": "dns", "name": "example.com" } }),
            latency_ms: 12,
            period: 0,
            outage: 0,
            degraded_every: 0,
            failure: ("", None),
        },
        Fixture {
            regions: false,
            regional_blips: 0,
            down_now: false,
            draft: json!({ "name": "TLS www.example.com",
                "spec": { "kind": "tls", "host": "www.example.com", "warn_days": CERT_WARN_DAYS } }),
            latency_ms: 60,
            period: 0,
            outage: 0,
            degraded_every: 0,
            failure: ("", None),
        },
        Fixture {
            regions: false,
            regional_blips: 0,
            down_now: true,
            draft: json!({ "name": "Payments API", "spec": { "kind": "tcp", "host": "payments.example.com", "port": 443 } }),
            latency_ms: 35,
            period: 0,
            outage: 0,
            degraded_every: 0,
            failure: ("connection timed out after 10000 ms", None),
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

pub(super) fn monitor_id(i: usize) -> MonitorId {
    MonitorId::from_parts(0, 0xde_0100 + i as u128)
}

/// Whether a page view of fixture `i`'s site at `at` failed: its checks from the first region
/// were failing then.
pub(super) fn view_failed(i: usize, at: Timestamp, now: Timestamp) -> bool {
    let f = &fixtures()[i];
    let slot = at.millis() / 1000 / INTERVAL_S;
    let region = regions_of(f, "local")[0];
    matches!(result(i, f, slot, (0, region), now).outcome, Outcome::Down | Outcome::Error)
}

/// The regions fixture `f` is checked from.
fn regions_of<'a>(f: &Fixture, local: &'a str) -> Vec<&'a str> {
    if f.regions {
        REGIONS.to_vec()
    } else {
        vec![local]
    }
}

fn draft(f: &Fixture, region: &str) -> StoreResult<MonitorDraft> {
    let mut v = f.draft.clone();
    v["interval"] = json!(INTERVAL_S);
    v["timeout_ms"] = json!(10_000);
    v["retries"] = json!(0);
    v["regions"] = json!(regions_of(f, region));
    v["tags"] = json!(["demo"]);
    v["paused"] = json!(false);
    v["policy"] = json!({});
    v["channels"] = json!(null);
    Ok(serde_json::from_value(v)?)
}

/// The result of fixture `i` in slot `slot` (slot × interval = its start, in seconds) from
/// the `r`-th of its regions, `region`, for a seeding at `now`.
fn result(i: usize, f: &Fixture, slot: i64, (r, region): (usize, &str), now: Timestamp) -> CheckResult {
    let started_at = Timestamp::from_millis((slot * INTERVAL_S + i as i64 * 7 + r as i64 * 3) * 1000);
    let h = mix(((i as u64) << 48) ^ ((r as u64) << 40) ^ slot as u64);
    let blip = f.regional_blips > 0 && r == REGIONS.len() - 1 && slot.rem_euclid(f.regional_blips) < 2;
    let cert = (f.draft["spec"]["kind"] == "tls").then(|| now.plus_ms(CERT_LEFT_MS));
    let cert_days = cert.map(|c| c.since(started_at).div_euclid(86_400_000));
    let cert_warning = cert_days.filter(|d| *d < CERT_WARN_DAYS).map(|d| {
        let date = &cert.map(|c| c.to_rfc3339()).unwrap_or_default()[..10];
        format!("certificate expires in {d} days ({date}), below the {CERT_WARN_DAYS}-day threshold")
    });
    let down = (f.period > 0 && slot.rem_euclid(f.period) < f.outage)
        || blip
        || (f.down_now && started_at.millis() > now.millis() - DOWN_NOW_MS)
        || cert_warning.is_some();
    let degraded = !down && f.degraded_every > 0 && h.is_multiple_of(f.degraded_every);
    let jitter = (h % u64::from(f.latency_ms / 2 + 1)) as u32;
    let latency = if degraded { f.latency_ms * 6 + jitter } else { f.latency_ms + jitter };
    let failure = cert_warning.unwrap_or_else(|| f.failure.0.to_owned());
    let (outcome, total_ms, status_code, error) = match (down, degraded) {
        (true, _) => (Outcome::Down, Some(latency / 2), f.failure.1, Some(failure)),
        (false, true) => (Outcome::Degraded, Some(latency), f.failure.1.map(|_| 200), None),
        (false, false) => (Outcome::Up, Some(latency), f.failure.1.map(|_| 200), None),
    };
    let http = f.draft["spec"]["kind"] == "http";
    CheckResult {
        id: ResultId::from_parts(started_at.millis(), ((i as u128) << 64) | ((r as u128) << 56) | slot as u128),
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
        cert_expires_at: cert,
        cert_issuer: cert.map(|_| "Example Issuing CA R7".to_owned()),
        provenance: Provenance::Demo,
    }
}

fn channels(now: Timestamp) -> [ChannelRecord; 2] {
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
        updated_at: now,
    };
    [
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
        for (i, f) in fixtures.iter().enumerate() {
            let due = regions_of(f, region).into_iter().enumerate().map(|r| result(i, f, slot, r, now));
            batch.extend(due.filter(|r| r.started_at <= now));
        }
        if batch.len() >= BATCH || slot == last {
            stored += store.ingest(&batch, now).await?.inserted;
            batch.clear();
        }
    }
    page_log(store, now).await?;
    announce_maintenance(store, now).await?;
    super::page::seed(store, now).await?;
    tracing::info!(results = stored, "demo organisation seeded");
    Ok(Seeded { created, results: stored })
}

/// Who was paged about each open demo incident, as the delivery log would say it: the
/// webhook delivered at once, Slack answering 503 first and taking the retry. Recorded once
/// per incident (never sent: the demo's channels send nothing).
async fn page_log(store: &dyn Store, now: Timestamp) -> StoreResult<()> {
    let t = super::tenant();
    let open = crate::IncidentFilter { monitor: None, open_only: true };
    let [webhook, slack] = channels(now);
    for inc in store.list_incidents(&t, &open, 20).await? {
        let q = crate::AttemptQuery { incident: Some(inc.id.clone()), limit: 1, ..Default::default() };
        if !store.delivery_attempts(&t, &q).await?.is_empty() {
            continue;
        }
        let attempt = |ch: &ChannelRecord, n: u32, after_ms: i64, outcome, status: u16| crate::DeliveryAttempt {
            id: 0,
            at: inc.opened_at.plus_ms(after_ms),
            channel_id: ch.id.clone(),
            channel_name: ch.name.clone(),
            channel_kind: ch.kind.as_str().to_owned(),
            monitor_id: Some(inc.monitor_id.clone()),
            monitor_name: inc.monitor_name.clone(),
            incident_id: Some(inc.id.clone()),
            event: "opened".into(),
            dedup_key: format!("{}:opened", inc.id),
            attempt: n,
            outcome,
            http_status: Some(status),
            error: (status >= 300).then(|| format!("HTTP {status} Service Unavailable")),
            next_attempt_at: (status >= 300).then(|| inc.opened_at.plus_ms(after_ms + 30_000)),
        };
        use crate::AttemptOutcome::{Delivered, Retrying};
        for a in [
            attempt(&webhook, 1, 1_200, Delivered, 204),
            attempt(&slack, 1, 1_300, Retrying, 503),
            attempt(&slack, 2, 31_300, Delivered, 200),
        ] {
            store.record_test_delivery(&t, &a).await?;
        }
    }
    Ok(())
}

/// An announced maintenance window of the marketing site, the next day 02:00–03:00 UTC, made
/// while the monitor has none to come (so a demo that runs for days keeps showing one).
async fn announce_maintenance(store: &dyn Store, now: Timestamp) -> StoreResult<()> {
    let (t, m) = (super::tenant(), monitor_id(2));
    if store.list_maintenance(&t, &m).await?.iter().any(|w| w.phase != "over") {
        return Ok(());
    }
    let day = 86_400_000;
    let next = now.millis().div_euclid(day) + 1;
    let starts = Timestamp::from_millis(next * day + 2 * 3_600_000);
    let w = crate::MaintenanceWindow {
        id: format!("mw_demo0cdn{next}"),
        monitor_id: m,
        starts_at: starts,
        ends_at: starts.plus_ms(3_600_000),
        repeat_every_s: None,
        reason: "CDN provider migration".into(),
        phase: "scheduled".into(),
        announce: true,
        updated_at: now,
    };
    store.create_maintenance(&t, &w).await
}

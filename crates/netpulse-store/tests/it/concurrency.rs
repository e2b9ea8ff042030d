//! Many tasks ingesting through one store at once must give exactly the result of ingesting
//! everything once, in order: every result stored once, rollups counted once, one incident
//! per confirmed outage and one outbox row per (channel, transition).
//!
//! 32 tasks each walk the same 10 shared batches in time order — so every shared batch is
//! delivered 32 times, concurrently, as a queue redelivering to several ingest nodes would —
//! and each call also carries results of its own for a busy monitor (distinct ids, any order).

use super::{add_channel, add_monitor, draft, hourly_only};
use netpulse_core::incident::Policy;
use netpulse_core::{CheckResult, MonitorId, Outcome, Provenance, ResultId, TenantId, Timestamp, Timings};
use netpulse_store::clock::fresh;
use netpulse_store::testing::{self as backends, Backend};
use netpulse_store::{Evidence, IncidentFilter, IncidentStatus, IngestReport};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

const TASKS: usize = 32;
const MONITORS: usize = 8;
const STEPS: i64 = 30; // results per outage monitor, one a minute
const STEPS_PER_BATCH: i64 = 3;
const OWN_PER_CALL: usize = 5; // distinct results per ingest call for the busy monitor

contract!(concurrent_redelivery_stores_once_and_alerts_once_per_transition);

/// Each outage monitor: up 5, down 5 (incident 1), up 5 (resolved), down 5 (incident 2), up 10.
fn outcome_at(step: i64) -> Outcome {
    match step {
        5..=9 | 15..=19 => Outcome::Down,
        _ => Outcome::Up,
    }
}

fn check(t: &TenantId, m: &MonitorId, salt: u128, at_ms: i64, outcome: Outcome) -> CheckResult {
    CheckResult {
        id: ResultId::from_parts(at_ms, salt),
        tenant_id: t.clone(),
        monitor_id: m.clone(),
        region: "local".into(),
        worker: "concurrency".into(),
        started_at: Timestamp::from_millis(at_ms),
        finished_at: Timestamp::from_millis(at_ms + 10),
        outcome,
        timings: Timings { total_ms: Some(10), ..Timings::default() },
        status_code: None,
        error: outcome.is_failure().then(|| "connection refused".into()),
        cert_expires_at: None,
        cert_issuer: None,
        provenance: Provenance::Live,
    }
}

/// The shared batches: batch k holds steps [3k, 3k+3) of every outage monitor.
fn shared_batches(t: &TenantId, monitors: &[MonitorId]) -> Vec<Vec<CheckResult>> {
    (0..STEPS / STEPS_PER_BATCH)
        .map(|k| {
            let steps = k * STEPS_PER_BATCH..(k + 1) * STEPS_PER_BATCH;
            steps
                .flat_map(|s| {
                    monitors.iter().enumerate().map(move |(i, m)| {
                        check(t, m, (i as u128) << 32 | s as u128, 1_000_000 + s * 60_000, outcome_at(s))
                    })
                })
                .collect()
        })
        .collect()
}

/// How `task` delivers one shared batch: whole, or split by monitor in either order, so
/// transactions overlap on different sets of monitors.
fn deliveries(task: usize, shared: &[CheckResult]) -> Vec<Vec<CheckResult>> {
    let mut ids: Vec<&str> = shared.iter().map(|r| r.monitor_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let pivot = ids[ids.len() / 2];
    let (low, high): (Vec<CheckResult>, Vec<CheckResult>) =
        shared.iter().cloned().partition(|r| r.monitor_id.as_str() < pivot);
    match task % 3 {
        0 => vec![shared.to_vec()],
        1 => vec![low, high],
        _ => vec![high, low],
    }
}

async fn concurrent_redelivery_stores_once_and_alerts_once_per_transition(backend: Backend) {
    let store: Arc<backends::TestStore> = Arc::new(backends::open(backend, 8).await);
    let (t, _) = store.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    add_channel(&**store, &t, "ops").await;
    add_channel(&**store, &t, "oncall").await;
    let policy = Policy { flap_window_s: 0, ..Policy::default() };
    let mut monitors = Vec::new();
    for i in 0..MONITORS {
        monitors.push(add_monitor(&**store, &t, draft(&format!("svc-{i}"), policy.clone())).await);
    }
    let busy = add_monitor(&**store, &t, draft("busy", policy.clone())).await;
    let batches = Arc::new(shared_batches(&t, &monitors));

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (store, batches, t, busy) = (store.clone(), batches.clone(), t.clone(), busy.clone());
        tasks.push(tokio::spawn(async move {
            let mut total = IngestReport::default();
            let (mut delivered, mut call) = (0, 0);
            for shared in batches.iter() {
                for mut batch in deliveries(task, shared) {
                    call += 1;
                    for j in 0..OWN_PER_CALL {
                        let n = (task * 100 + call) * OWN_PER_CALL + j;
                        batch.push(check(&t, &busy, 1 << 40 | n as u128, 5_000_000 + n as i64, Outcome::Up));
                    }
                    delivered += batch.len();
                    let r = store.ingest(&batch, Timestamp::from_secs(100_000)).await.expect("ingest");
                    total.inserted += r.inserted;
                    total.duplicates += r.duplicates;
                    total.notices += r.notices;
                }
            }
            (total, delivered)
        }));
    }
    let (mut total, mut delivered) = (IngestReport::default(), 0);
    for task in tasks {
        let (r, n) = task.await.expect("task");
        delivered += n;
        total.inserted += r.inserted;
        total.duplicates += r.duplicates;
        total.notices += r.notices;
    }

    let shared = MONITORS * STEPS as usize;
    let own = delivered - TASKS * shared;
    assert_eq!(total.inserted, shared + own, "{backend:?}: every result inserted exactly once");
    assert_eq!(total.duplicates, (TASKS - 1) * shared, "{backend:?}: every redelivery counted a duplicate");
    assert_eq!(total.notices, MONITORS * 4, "{backend:?}: opened + resolved, twice, per monitor");

    let window = (Timestamp::from_secs(0), Timestamp::from_secs(1_000_000));
    for m in &monitors {
        let page = store.list_results(&t, m, window.0, window.1, 1000, None).await.unwrap();
        assert_eq!(page.results.len(), STEPS as usize, "{backend:?}: results of {m}");
        let raw = store.tally(&t, m, window.0, window.1, Evidence::Live).await.unwrap();
        let rolled = store.tally_window(&t, m, &hourly_only(window.0, window.1), Evidence::Live).await.unwrap();
        assert_eq!((raw.up, raw.down), (20, 10), "{backend:?}: raw tally of {m}");
        assert_eq!((rolled.up, rolled.down), (20, 10), "{backend:?}: rollup of {m} counts each result once");
    }
    let busy_page = store.list_results(&t, &busy, window.0, window.1, 10_000, None).await.unwrap();
    assert_eq!(busy_page.results.len(), own, "{backend:?}: the busy monitor's own results");
    let busy_rolled = store.tally_window(&t, &busy, &hourly_only(window.0, window.1), Evidence::Live).await.unwrap();
    assert_eq!(busy_rolled.up as usize, own, "{backend:?}: the busy monitor's rollup");
    let newest = busy_page.results.iter().map(|r| r.started_at).max();
    let busy_view = store.get_monitor(&t, &busy).await.unwrap().unwrap();
    assert_eq!(busy_view.status.last_checked_at, newest, "{backend:?}: no lost update of a busy monitor's status");

    let incidents = store.list_incidents(&t, &IncidentFilter::default(), 1000).await.unwrap();
    assert_eq!(incidents.len(), MONITORS * 2, "{backend:?}: one incident per confirmed outage");
    assert!(incidents.iter().all(|i| i.status == IncidentStatus::Resolved && !i.flapping), "{backend:?}");
    let mut per_monitor: HashMap<&MonitorId, usize> = HashMap::new();
    for i in &incidents {
        *per_monitor.entry(&i.monitor_id).or_default() += 1;
    }
    assert!(monitors.iter().all(|m| per_monitor.get(m) == Some(&2)), "{backend:?}: {per_monitor:?}");
    for m in &monitors {
        let view = store.get_monitor(&t, m).await.unwrap().unwrap();
        assert_eq!(view.status.last_outcome, Some(Outcome::Up), "{backend:?}");
        assert_eq!(view.status.last_checked_at, Some(Timestamp::from_millis(1_000_000 + (STEPS - 1) * 60_000)));
        assert!(view.status.open_incident.is_none(), "{backend:?}");
    }

    let due = store.claim_outbox(Timestamp::from_secs(200_000), 10_000, 60_000).await.unwrap();
    assert_eq!(due.len(), MONITORS * 4 * 2, "{backend:?}: one outbox row per channel and transition");
    let keys: HashSet<(String, String)> =
        due.iter().map(|d| (d.channel.id.as_str().to_owned(), d.event.dedup_key.clone())).collect();
    assert_eq!(keys.len(), due.len(), "{backend:?}: no (channel, dedup key) twice");

    let other: TenantId = fresh();
    assert!(store.list_monitors(&other).await.unwrap().is_empty(), "{backend:?}");
    assert!(store.list_incidents(&other, &IncidentFilter::default(), 100).await.unwrap().is_empty());
    assert!(store.tallies_since(&other, window.0, Evidence::Live).await.unwrap().is_empty(), "{backend:?}");
    for m in monitors.iter().chain([&busy]) {
        let page = store.list_results(&other, m, window.0, window.1, 100, None).await.unwrap();
        assert!(page.results.is_empty(), "{backend:?}: another tenant reads no results");
        assert!(store.get_monitor(&other, m).await.unwrap().is_none(), "{backend:?}");
        assert_eq!(store.tally(&other, m, window.0, window.1, Evidence::Live).await.unwrap().up, 0, "{backend:?}");
    }
}

//! Retention as an API client sees it: a monitor with more than a year of history answers
//! the same uptime for 24 h … 365 d before and after the engine's retention job ages its raw
//! results out, each figure equals a count of the stored live results, and the answer names
//! the tables it read. Runs on the backend chosen by `NETPULSE_TEST_DB`.

use crate::harness::*;
use netpulse_core::{CheckResult, MonitorId, Outcome, Provenance, TenantId, Timestamp};
use netpulse_engine::config::Config;
use netpulse_pipeline::progress::Progress;
use netpulse_pipeline::retention::{Retention, RetentionConfig};
use netpulse_store::clock;
use serde_json::{json, Value};

const DAY: i64 = 86_400_000;
/// One result every 6 h 7 min 13 s, so results fall at every time of day.
const EVERY: i64 = (6 * 60 + 7) * 60_000 + 13_000;

fn history(t: &TenantId, m: &MonitorId, now: Timestamp) -> Vec<CheckResult> {
    (0..380 * DAY / EVERY)
        .map(|i| {
            let at = now.minus_ms(30_000 + i * EVERY);
            let outcome = [Outcome::Up, Outcome::Down, Outcome::Up, Outcome::Degraded, Outcome::Up][i as usize % 5];
            let provenance = if i % 11 == 0 { Provenance::Demo } else { Provenance::Live };
            let mut r = crate::status_pages::result(t, m, at, outcome, provenance, "refused");
            r.finished_at = at.plus_ms(100);
            r.timings.total_ms = Some(40 + (i % 7) as u32);
            r
        })
        .collect()
}

/// The engine's `[retention]` as the harness configures it (the defaults).
fn retention_config() -> RetentionConfig {
    Config::for_test(std::path::Path::new("unused")).retention
}

async fn uptime(app: &TestApp, id: &str, from: Timestamp, to: Timestamp) -> Value {
    let path = format!("/api/v1/monitors/{id}/uptime?from={}&to={}", from.millis(), to.millis());
    let (status, body) = app.api("GET", &path, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_years_uptime_reads_the_same_after_retention_ages_raw_results_out() {
    let mut app = spawn_app().await;
    let store = app.running.as_ref().unwrap().store.clone();
    let tenant = store.authenticate(&clock::token_hash(TOKEN)).await.unwrap().unwrap().tenant_id;
    let id = app
        .create_monitor(json!({ "name": "api", "kind": "tcp", "host": "127.0.0.1", "port": 9, "paused": true }))
        .await;
    let now = clock::now();
    let results = history(&tenant, &MonitorId::from_trusted(id.clone()), now);
    for batch in results.chunks(500) {
        store.ingest(batch, now).await.unwrap();
    }

    let windows: Vec<(i64, Timestamp, Timestamp)> =
        [1, 7, 30, 90, 365].iter().map(|&d| (d, now.minus_ms(d * DAY), now)).collect();
    let mut before = Vec::new();
    for &(days, from, to) in &windows {
        let body = uptime(&app, &id, from, to).await;
        let w = retention_config().window(from, to, clock::now());
        assert_eq!(
            (body["from"].as_str(), body["to"].as_str()),
            (Some(&*w.from.to_rfc3339()), Some(&*w.to.to_rfc3339()))
        );
        let live_in_range = results
            .iter()
            .filter(|r| r.provenance == Provenance::Live && r.started_at >= w.from && r.started_at < w.to)
            .count() as u64;
        let checks = &body["checks"];
        let total: u64 = ["up", "degraded", "down", "error"].iter().map(|k| checks[*k].as_u64().unwrap()).sum();
        assert_eq!(total, live_in_range, "{days} d: every live result in the counted range, once: {body}");
        assert!(checks["down"].as_u64().unwrap() > 0, "{days} d: {body}");
        before.push(body);
    }
    assert_eq!(before[0]["sources"], json!(["results"]), "24 h is read from raw results");
    assert_eq!(before[3]["sources"], json!(["results", "minute_rollup", "hourly_rollup"]));
    assert_eq!(before[4]["sources"], json!(["results", "minute_rollup", "hourly_rollup", "daily_rollup"]));

    let retention = Retention { store: store.clone(), config: retention_config() };
    while retention.try_run_once().await == Progress::Progressed {}

    let old = format!(
        "/api/v1/monitors/{id}/results?from={}&to={}",
        now.minus_ms(400 * DAY).millis(),
        now.minus_ms(31 * DAY).millis()
    );
    let (status, page) = app.api("GET", &old, None).await;
    assert_eq!(
        (status, page["data"].as_array().map(Vec::len)),
        (200, Some(0)),
        "raw results past 30 days are gone: {page}"
    );
    let recent = format!("/api/v1/monitors/{id}/results?from={}&to={}", now.minus_ms(DAY).millis(), now.millis());
    let (_, page) = app.api("GET", &recent, None).await;
    assert!(!page["data"].as_array().unwrap().is_empty(), "recent raw results stay");

    for (&(days, from, to), was) in windows.iter().zip(&before) {
        assert_eq!(&uptime(&app, &id, from, to).await, was, "{days} d: the same answer after retention");
    }
    app.stop().await;
}

/// A result delivered again after retention folded its raw row into the minute rollups and
/// deleted it is new to the id check; ingest refuses it (it started before the raw horizon)
/// instead of counting it a second time, and counts the refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_redelivered_after_retention_is_refused_and_counted_once() {
    let mut app = spawn_app().await;
    let running = app.running.as_ref().unwrap();
    let store = running.store.clone();
    let tenant = store.authenticate(&clock::token_hash(TOKEN)).await.unwrap().unwrap().tenant_id;
    let id = app
        .create_monitor(json!({ "name": "api", "kind": "tcp", "host": "127.0.0.1", "port": 9, "paused": true }))
        .await;
    let m = MonitorId::from_trusted(id.clone());
    let now = clock::now();
    // Delivered when it was fresh, 40 days ago, then aged out by retention.
    let old = crate::status_pages::result(&tenant, &m, now.minus_ms(40 * DAY), Outcome::Down, Provenance::Live, "x");
    store.ingest(std::slice::from_ref(&old), old.started_at).await.unwrap();
    let retention = Retention { store: store.clone(), config: retention_config() };
    while retention.try_run_once().await == Progress::Progressed {}
    let (from, to) = (now.minus_ms(90 * DAY), now.minus_ms(DAY));
    let before = uptime(&app, &id, from, to).await;
    assert_eq!(before["checks"]["down"], 1, "{before}");

    // The queue delivers it again (a worker's buffer, a reclaimed stream entry), then a fresh one.
    let fresh = crate::status_pages::result(&tenant, &m, clock::now(), Outcome::Up, Provenance::Live, "");
    let q = &running.results;
    q.publish(netpulse_core::wire::ResultEnvelope::new(old.clone(), clock::now())).await.unwrap();
    q.publish(netpulse_core::wire::ResultEnvelope::new(fresh.clone(), clock::now())).await.unwrap();
    let recent = format!(
        "/api/v1/monitors/{id}/results?from={}&to={}",
        now.minus_ms(DAY).millis(),
        clock::now().plus_ms(1000).millis()
    );
    app.drain_ingest().await;
    let (_, page) = app.api("GET", &recent, None).await;
    assert!(
        page["data"].as_array().is_some_and(|d| d.iter().any(|r| r["id"] == fresh.id.as_str())),
        "the fresh result stored: {page}"
    );

    assert_eq!(uptime(&app, &id, from, to).await["checks"], before["checks"], "the old check is counted once");
    let metrics = &running.metrics;
    assert_eq!((metrics.results_too_old.get(), metrics.results_ingested.get()), (1, 1), "refused and counted");
    app.stop().await;
}

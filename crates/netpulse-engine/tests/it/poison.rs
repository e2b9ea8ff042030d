//! A poison result — one the database refuses for good — among good ones: the good ones are
//! stored and shown, the poison one is quarantined (counted in
//! `netpulse_results_quarantined_total`, kept whole in `quarantined_results`), and ingest goes
//! on with later batches instead of retrying the batch forever. Runs on the backends chosen
//! by `NETPULSE_TEST_DB` and `NETPULSE_TEST_QUEUE`.
//!
//! The refusal is real on both: PostgreSQL runs the engine's database in LATIN1, which
//! cannot hold the CJK characters of the poison result's error text (SQLSTATE 22P05, a data
//! exception; a UTF8 database accepts every text a result can carry, see docs/design/poison-results.md);
//! SQLite accepts any text, so there a trigger raises `RAISE(ABORT)` for that text, as a
//! CHECK-like constraint of an operator's would.

use crate::harness::*;
use netpulse_core::wire::ResultEnvelope;
use netpulse_core::{CheckResult, MonitorId, Outcome, Provenance, ResultId, TenantId, Timestamp, Timings};
use netpulse_store::clock;
use netpulse_store::testing::admin;
use serde_json::{json, Value};

/// The poison: a keyword check quoting the page's text.
const POISON_ERROR: &str = "keyword `価格` not found";

/// Recreate the (still empty) test database in LATIN1, before the engine migrates it.
async fn latin1(db: &str) {
    let admin = admin().await;
    admin.batch_execute(&format!("DROP DATABASE {db}")).await.expect("drop the empty test database");
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {db} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        ))
        .await
        .expect("recreate the test database in LATIN1");
}

/// SQLite stores any text: make it refuse the poison's as a constraint would.
fn refuse_in_sqlite(path: &std::path::Path) {
    let c = rusqlite::Connection::open(path).expect("open the engine's SQLite file");
    c.execute_batch(
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON check_results WHEN NEW.error LIKE '%価格%' \
         BEGIN SELECT RAISE(ABORT, 'text not allowed'); END;",
    )
    .expect("create the trigger");
}

fn result(t: &TenantId, m: &MonitorId, at: Timestamp, outcome: Outcome) -> CheckResult {
    CheckResult {
        id: ResultId::from_parts(at.millis(), clock::random_u128()),
        tenant_id: t.clone(),
        monitor_id: m.clone(),
        region: "local".into(),
        worker: "test".into(),
        started_at: at,
        finished_at: at.plus_ms(20),
        outcome,
        timings: Timings { total_ms: Some(20), ..Timings::default() },
        status_code: Some(200),
        error: outcome.is_failure().then(|| "connection refused".into()),
        cert_expires_at: None,
        cert_issuer: None,
        provenance: Provenance::Live,
    }
}

async fn stored_ids(app: &TestApp, monitor: &str) -> Vec<String> {
    let to = clock::now().plus_ms(60_000).millis();
    let path = format!("/api/v1/monitors/{monitor}/results?from=0&to={to}&limit=100");
    let (status, body) = app.api("GET", &path, None).await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

async fn metric(app: &TestApp, name: &str) -> u64 {
    let (_, text, _) = app.raw("GET", "/metrics", None, &[]).await;
    let line = text.lines().find(|l| l.split(' ').next() == Some(name)).unwrap_or_else(|| panic!("{name} in {text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_result_is_quarantined_and_the_good_ones_and_later_batches_are_stored() {
    let env = test_env().await;
    if let Some(db) = env.database() {
        latin1(db).await;
    }
    let sqlite = env.config.storage.database_path();
    let is_sqlite = env.database().is_none();
    let app = env.into_app().await;
    if is_sqlite {
        refuse_in_sqlite(&sqlite);
    }
    let running = app.running.as_ref().unwrap();
    let tenant = running.store.authenticate(&clock::token_hash(TOKEN)).await.unwrap().unwrap().tenant_id;
    let id = app
        .create_monitor(json!({ "name": "shop", "kind": "tcp", "host": "127.0.0.1", "port": 9, "paused": true }))
        .await;
    let m = MonitorId::from_trusted(id.clone());

    let now = clock::now();
    let mut batch: Vec<CheckResult> =
        (0..9).map(|i| result(&tenant, &m, now.minus_ms(60_000 - i * 5_000), Outcome::Up)).collect();
    let mut poison = result(&tenant, &m, now.minus_ms(30_000), Outcome::Down);
    poison.error = Some(POISON_ERROR.into());
    batch.insert(4, poison.clone());
    let envelopes = batch.iter().map(|r| ResultEnvelope::new(r.clone(), now)).collect();
    running.results.publish_many(envelopes).await.expect("the queue takes the batch");

    let good: Vec<String> = batch.iter().filter(|r| r.id != poison.id).map(|r| r.id.as_str().to_owned()).collect();
    app.drain_ingest().await;
    let shown = stored_ids(&app, &id).await;
    let mut expected = good.clone();
    expected.sort();
    let mut shown_sorted = shown.clone();
    shown_sorted.sort();
    assert_eq!(shown_sorted, expected, "every good result once, the poison one not");

    assert_eq!(metric(&app, "netpulse_results_quarantined_total").await, 1);
    let kept = running.store.quarantined_results(10).await.unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].result_id, poison.id);
    assert_eq!(kept[0].monitor_id, m);
    assert_eq!(kept[0].parse().as_ref(), Some(&poison), "kept whole: {}", kept[0].result);
    let why = if is_sqlite { "text not allowed" } else { "22P05" };
    assert!(kept[0].reason.contains(why), "the database's reason: {}", kept[0].reason);

    // Ingest goes on: a later batch is stored and moves the monitor's status.
    let later = result(&tenant, &m, clock::now(), Outcome::Down);
    running.results.publish(ResultEnvelope::new(later.clone(), clock::now())).await.unwrap();
    app.drain_ingest().await;
    assert!(stored_ids(&app, &id).await.contains(&later.id.as_str().to_owned()), "a later batch stored");
    let view: Value = app.monitor(&id).await;
    assert_eq!(view["status"]["last_outcome"], "down", "{view}");
    assert_eq!(metric(&app, "netpulse_results_quarantined_total").await, 1);
}

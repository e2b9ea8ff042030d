//! PostgreSQL keeps raw results and minute rollups in one partition per UTC day
//! (`check_results_YYYYMMDD`, `uptime_minute_YYYYMMDD`, each table with a default partition for
//! a day that has none): retention folds a day of results wholly past the raw horizon into a
//! new minute-rollup partition and drops its partition in one transaction, and drops minute
//! rollups by whole days. These tests look at the partitions themselves, directly and through
//! PgBouncer: rows of a day without a partition wait in the default one and move when their
//! day's partition is made; a redelivered result is still stored once; a dropped day is counted
//! exactly once in the rollups, also with four nodes running retention while readers and ingest
//! go on; migration 17 keeps every row of populated tables.

use super::{add_channel, add_monitor, draft};
use netpulse_core::incident::Policy;
use netpulse_core::retention::{Horizons, RetentionDays, UptimeWindow};
use netpulse_core::uptime::Tally;
use netpulse_core::{CheckResult, MonitorId, Outcome, Provenance, ResultId, TenantId, Timestamp, Timings};
use netpulse_store::postgres::{schema, PgStore};
use netpulse_store::prelude::*;
use netpulse_store::testing::{direct_addr, pg_url, pooled_addr, Backend, PgDatabase};
use netpulse_store::{Evidence, RetentionPass, Store};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_postgres::{Client, NoTls};

const MIN: i64 = 60_000;
const DAY: i64 = 86_400_000;
/// A UTC midnight long before the real now (its days have no partition until retention makes them).
const D0: i64 = 20_000 * DAY;
const NOW: i64 = D0 + 13 * 3_600_000 + 17 * MIN + 4_321;
const DAYS: RetentionDays = RetentionDays { raw: 30, minute: 60, hour: 100, day: 400 };
/// One result every 7 min 13 s over four days from `D0`.
const EVERY: i64 = 7 * MIN + 13_000;
const COUNT: i64 = 4 * DAY / EVERY;
/// The first result of day 2.
const DAY_2: i64 = (2 * DAY - 1_000) / EVERY + 1;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// Result `i` of monitor `m`: two regions, a mix of outcomes, some synthetic (never counted).
fn nth(t: &TenantId, m: &MonitorId, salt: u128, i: i64) -> CheckResult {
    let started = D0 + 1_000 + i * EVERY;
    let outcome = match i % 11 {
        0 | 4 => Outcome::Down,
        7 => Outcome::Degraded,
        _ => Outcome::Up,
    };
    CheckResult {
        id: ResultId::from_parts(started, salt << 32 | i as u128),
        tenant_id: t.clone(),
        monitor_id: m.clone(),
        region: if i % 2 == 0 { "eu" } else { "us" }.into(),
        worker: "test".into(),
        started_at: at(started),
        finished_at: at(started + 150),
        outcome,
        timings: Timings { total_ms: Some((i % 300) as u32 + 5), ..Timings::default() },
        status_code: None,
        error: outcome.is_failure().then(|| "refused".into()),
        cert_expires_at: None,
        cert_issuer: None,
        provenance: if i % 13 == 0 { Provenance::Synthetic } else { Provenance::Live },
    }
}

/// A direct connection to the test database, for looking at its catalog.
async fn direct(db: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(&pg_url(&direct_addr(), db), NoTls).await.expect("direct connection");
    tokio::spawn(conn);
    client
}

async fn store(backend: Backend, db: &str) -> PgStore {
    let addr = if backend == Backend::PgBouncer { pooled_addr() } else { direct_addr() };
    PgStore::connect(&pg_url(&addr, db), 4).await.expect("store")
}

/// The names of `table`'s partitions, sorted.
async fn partitions_of(sql: &Client, table: &str) -> Vec<String> {
    let rows = sql
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = $1::text::regclass ORDER BY 1",
            &[&table],
        )
        .await
        .expect("partitions");
    rows.iter().map(|r| r.get(0)).collect()
}

async fn partitions(sql: &Client) -> Vec<String> {
    partitions_of(sql, "check_results").await
}

/// `check_results_YYYYMMDD` of the UTC day starting at `day`.
fn day_partition(day: i64) -> String {
    format!("check_results_{}", at(day).to_rfc3339()[..10].replace('-', ""))
}

/// `uptime_minute_YYYYMMDD` of the UTC day starting at `day`.
fn minute_partition(day: i64) -> String {
    format!("uptime_minute_{}", at(day).to_rfc3339()[..10].replace('-', ""))
}

async fn rows_in(sql: &Client, table: &str) -> i64 {
    sql.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[]).await.expect("count").get(0)
}

/// Windows over the four days, planned at `h`: all of them, each day, and one across the
/// boundary between the days retention drops and the ones it keeps.
fn windows(h: &Horizons) -> Vec<UptimeWindow> {
    let plan = |from: i64, to: i64| UptimeWindow::plan(at(from), at(to), h);
    let mut out = vec![plan(D0, D0 + 4 * DAY), plan(D0 + DAY + 5 * 3_600_000, D0 + 2 * DAY + 7 * 3_600_000)];
    out.extend((0..4).map(|d| plan(D0 + d * DAY, D0 + (d + 1) * DAY)));
    out
}

async fn figures(store: &dyn Store, t: &TenantId, m: &MonitorId, h: &Horizons) -> Vec<Tally> {
    let mut out = Vec::new();
    for w in windows(h) {
        out.push(store.tally_window(t, m, &w, Evidence::Live).await.unwrap());
    }
    out
}

async fn drain(store: &dyn Store, h: &Horizons, limit: usize) -> RetentionPass {
    let mut sum = RetentionPass::default();
    loop {
        let p = store.apply_retention(h, limit).await.unwrap();
        sum = sum.plus(p);
        if !p.more_left(limit) {
            return sum;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_drops_a_day_partition_and_counts_each_result_once() {
    a_day_partition_is_folded_and_dropped_whole_counting_each_result_once(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbouncer_drops_a_day_partition_and_counts_each_result_once() {
    a_day_partition_is_folded_and_dropped_whole_counting_each_result_once(Backend::PgBouncer).await
}

async fn a_day_partition_is_folded_and_dropped_whole_counting_each_result_once(backend: Backend) {
    let db = PgDatabase::create().await;
    schema::migrate(&pg_url(&direct_addr(), &db.name)).await.expect("migrations run directly");
    let sql = direct(&db.name).await;
    let store = Arc::new(store(backend, &db.name).await);
    let (t, _) = store.bootstrap("hash", at(1)).await.unwrap();
    let m = add_monitor(&*store, &t, draft("api", Policy::default())).await;
    let busy = add_monitor(&*store, &t, draft("busy", Policy::default())).await;
    add_channel(&*store, &t, "ops").await;
    let all: Vec<CheckResult> = (0..COUNT).map(|i| nth(&t, &m, 1, i)).collect();
    let on_day =
        |d: i64| all.iter().filter(move |r| r.started_at >= at(D0 + d * DAY) && r.started_at < at(D0 + (d + 1) * DAY));

    // Day 1's results arrive before any of these days has a partition: they wait in the default one.
    let early: Vec<CheckResult> = on_day(1).cloned().collect();
    store.ingest(&early, at(NOW)).await.unwrap();
    assert_eq!(rows_in(&sql, "check_results_default").await, early.len() as i64, "{backend:?}");

    // A retention step at NOW makes the partitions of NOW's day and the days after it, moving
    // day 1's results into theirs; then everything is (re)delivered.
    let h0 = Horizons::at(at(NOW), &DAYS);
    drain(&*store, &h0, 400).await;
    let names = partitions(&sql).await;
    for d in 0..4 {
        assert!(names.contains(&day_partition(D0 + d * DAY)), "{backend:?}: day {d} has a partition: {names:?}");
    }
    assert_eq!(rows_in(&sql, "check_results_default").await, 0, "{backend:?}: day 1 moved out of the default");
    assert_eq!(rows_in(&sql, &day_partition(D0 + DAY)).await, early.len() as i64, "{backend:?}");
    for batch in all.chunks(500) {
        store.ingest(batch, at(NOW)).await.unwrap();
    }
    for d in 0..4 {
        let n = on_day(d).count() as i64;
        assert_eq!(rows_in(&sql, &day_partition(D0 + d * DAY)).await, n, "{backend:?}: day {d} stored once");
    }
    // And results of a day 43 days before: in the default partition, folded row by row into
    // minute rollups past the minute horizon, which are deleted row by row — only those.
    let old: Vec<CheckResult> = (0..50).map(|i| nth(&t, &m, 4, i - (43 * DAY) / EVERY)).collect();
    store.ingest(&old, at(NOW)).await.unwrap();

    // 32 days later days 0 and 1 are wholly past the raw horizon (whole UTC days).
    let h = Horizons::at(at(NOW + 32 * DAY), &DAYS);
    assert_eq!(h.raw, at(D0 + 2 * DAY), "the raw horizon is a UTC midnight");
    let before = figures(&*store, &t, &m, &h).await;
    for (w, tally) in windows(&h).iter().zip(&before) {
        let raw = store.tally(&t, &m, w.from, w.to, Evidence::Live).await.unwrap();
        assert_eq!(*tally, raw, "{backend:?}: the planned read equals the raw count while raw results exist");
    }
    assert!(before[0].down > 0 && before[0].up > before[0].down, "{before:?}");

    // Four nodes run retention while a reader checks every figure and ingest goes on.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = tokio::spawn({
        let (store, t, m, stop, reads, before) =
            (store.clone(), t.clone(), m.clone(), stop.clone(), reads.clone(), before.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(figures(&*store, &t, &m, &h).await, before, "a read during retention");
                reads.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let writer = tokio::spawn({
        let (store, t, busy, stop) = (store.clone(), t.clone(), busy.clone(), stop.clone());
        async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                // Days 2 and 3 of another monitor: partitions retention keeps.
                let batch: Vec<CheckResult> = (i..i + 20).map(|j| nth(&t, &busy, 2, DAY_2 + j)).collect();
                store.ingest(&batch, at(NOW)).await.expect("ingest goes on while partitions are dropped");
                i = (i + 20) % (COUNT - DAY_2 - 20);
            }
        }
    });
    let mut nodes = Vec::new();
    for _ in 0..4 {
        let node = self::store(backend, &db.name).await;
        nodes.push(tokio::spawn(async move { drain(&node, &h, 150).await }));
    }
    let mut pass = RetentionPass::default();
    for node in nodes {
        pass = pass.plus(node.await.expect("retention node"));
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    reader.await.expect("every read during retention counted each check once");
    writer.await.expect("ingest during retention");
    assert!(reads.load(Ordering::Relaxed) > 0);

    let gone = (on_day(0).count() + on_day(1).count() + old.len()) as i64;
    assert_eq!(pass.results_rolled as i64, gone, "{backend:?}: days 0 and 1 folded once: {pass:?}");
    assert_eq!(pass.partitions_dropped, 2, "{backend:?}: as two whole partitions: {pass:?}");
    assert!(pass.minutes_deleted > 0, "{backend:?}: the old results' minute rows: {pass:?}");
    let minutes = partitions_of(&sql, "uptime_minute").await;
    for d in 0..2 {
        assert!(minutes.contains(&minute_partition(D0 + d * DAY)), "{backend:?}: day {d}'s minute rows: {minutes:?}");
    }
    let names = partitions(&sql).await;
    for d in 0..2 {
        assert!(!names.contains(&day_partition(D0 + d * DAY)), "{backend:?}: day {d} dropped: {names:?}");
    }
    for d in 2..4 {
        assert!(names.contains(&day_partition(D0 + d * DAY)), "{backend:?}: day {d} kept: {names:?}");
    }
    assert!(names.contains(&day_partition(D0 + 32 * DAY)), "{backend:?}: made ahead at the new now: {names:?}");
    let stored = (all.len() + old.len()) as i64;
    assert_eq!(rows_in(&sql, "check_results").await, stored - gone + rows_of(&sql, &busy).await);
    assert_eq!(figures(&*store, &t, &m, &h).await, before, "{backend:?}: every figure the same after retention");
    assert_eq!(drain(&*store, &h, 150).await, RetentionPass::default(), "{backend:?}: nothing left to do");

    // Another 30 days on, days 0 and 1 are past the minute horizon's day: their minute
    // partitions are dropped (the hourly rollups count them), days 2 and 3 are folded.
    let h = Horizons::at(at(NOW + 62 * DAY), &DAYS);
    let before = figures(&*store, &t, &m, &h).await;
    let pass = drain(&*store, &h, 150).await;
    let minutes = partitions_of(&sql, "uptime_minute").await;
    for d in 0..2 {
        assert!(!minutes.contains(&minute_partition(D0 + d * DAY)), "{backend:?}: day {d} dropped: {minutes:?}");
    }
    assert!(minutes.contains(&minute_partition(D0 + 3 * DAY)), "{backend:?}: {minutes:?}");
    assert!(pass.partitions_dropped >= 4, "{backend:?}: {pass:?}");
    assert_eq!(figures(&*store, &t, &m, &h).await, before, "{backend:?}: every figure the same after that");
}

async fn rows_of(sql: &Client, m: &MonitorId) -> i64 {
    sql.query_one("SELECT COUNT(*) FROM check_results WHERE monitor_id = $1", &[&m.as_str()])
        .await
        .expect("count")
        .get(0)
}

/// Migration 17 on a populated table: every row stays (in place: the table becomes the
/// partition `check_results_legacy`, up to the end of the day of its newest result), a
/// redelivered result is still stored once, retention folds the legacy partition's old rows
/// row by row while it straddles the raw horizon and drops it whole once it is wholly past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_populated_results_table_becomes_the_legacy_partition_without_losing_a_row() {
    let db = PgDatabase::create().await;
    let url = pg_url(&direct_addr(), &db.name);
    assert_eq!(schema::migrate_to(&url, 16).await.expect("the schema before partitions"), 16);
    let sql = direct(&db.name).await;
    let now = netpulse_store::clock::now();
    let (t, m) = (TenantId::from_trusted("ten_legacy".into()), MonitorId::from_trusted("mon_legacy".into()));
    // A result every 10 minutes for the 40 days up to now, and one ten days ahead (a worker's
    // clock far off): the legacy partition must take it too.
    let first = now.millis() - 40 * DAY;
    sql.execute(
        "INSERT INTO check_results (id, tenant_id, monitor_id, region, worker, started_at, finished_at, outcome, \
           total_ms, provenance) \
         SELECT 'res_legacy_' || g, $1, $2, 'eu', 'test', s, s + 40, CASE WHEN g % 7 = 0 THEN 'down' ELSE 'up' END, \
           (g % 100)::int, 'live' \
         FROM generate_series(0, 5759) AS g, LATERAL (SELECT $3::BIGINT + g::BIGINT * 600000 AS s) AS at \
         UNION ALL SELECT 'res_legacy_ahead', $1, $2, 'eu', 'test', $4::BIGINT, $4::BIGINT + 40, 'up', 5, 'live'",
        &[&t.as_str(), &m.as_str(), &first, &(now.millis() + 10 * DAY)],
    )
    .await
    .expect("seed the v16 table");
    let seeded = rows_in(&sql, "check_results").await;
    assert_eq!(seeded, 5761);
    // Minute rollups of 100 minutes 35 days ago (their raw results long gone).
    sql.execute(
        "INSERT INTO uptime_minute (tenant_id, monitor_id, minute_start, region, up) \
         SELECT $1, $2, ($3::BIGINT / 60000 + g) * 60000, 'eu', 1 FROM generate_series(1, 100) AS g",
        &[&t.as_str(), &m.as_str(), &(now.millis() - 35 * DAY)],
    )
    .await
    .expect("seed the v16 minute rollups");

    assert_eq!(schema::migrate_to(&url, 17).await.expect("migration 17 on a populated table"), 17);
    assert_eq!(schema::migrate_to(&url, 17).await.expect("run again: nothing to do"), 17);
    assert_eq!(rows_in(&sql, "check_results").await, seeded, "no row lost");
    assert_eq!(rows_in(&sql, "check_results_legacy").await, seeded, "no row copied: the table is the partition");
    let names = partitions(&sql).await;
    assert!(names.contains(&"check_results_legacy".to_owned()) && names.contains(&"check_results_default".to_owned()));
    let minutes = partitions_of(&sql, "uptime_minute").await;
    assert_eq!(minutes, ["uptime_minute_default", "uptime_minute_legacy"]);
    assert_eq!(rows_in(&sql, "uptime_minute_legacy").await, 100);
    schema::migrate(&url).await.expect("the migrations after 17");

    let store = store(Backend::PgBouncer, &db.name).await;
    let again = CheckResult {
        id: ResultId::from_trusted("res_legacy_5".into()),
        tenant_id: t.clone(),
        monitor_id: m.clone(),
        region: "eu".into(),
        worker: "test".into(),
        started_at: at(first + 5 * 600_000),
        finished_at: at(first + 5 * 600_000 + 40),
        outcome: Outcome::Up,
        timings: Timings::default(),
        status_code: None,
        error: None,
        cert_expires_at: None,
        cert_issuer: None,
        provenance: Provenance::Live,
    };
    let report = store.ingest(std::slice::from_ref(&again), now).await.unwrap();
    assert_eq!((report.inserted, report.duplicates), (0, 1), "a redelivered result is stored once");

    // Retention now: the legacy partition straddles the raw horizon, its old rows go row by row.
    let h = Horizons::at(now, &DAYS);
    let recent = UptimeWindow::plan(at(first), now, &h);
    let before = store.tally_window(&t, &m, &recent, Evidence::Live).await.unwrap();
    let pass = drain(&store, &h, 400).await;
    let old: i64 = sql
        .query_one(
            "SELECT COUNT(*) FROM generate_series(0, 5759) AS g WHERE $1::BIGINT + g::BIGINT * 600000 < $2",
            &[&first, &h.raw.millis()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!((pass.results_rolled as i64, pass.partitions_dropped), (old, 0), "{pass:?}");
    assert_eq!(rows_in(&sql, "check_results_legacy").await, seeded - old);
    assert_eq!(store.tally_window(&t, &m, &recent, Evidence::Live).await.unwrap(), before);

    // Fifty days later it is wholly past the horizon: folded and dropped whole; so are the
    // minute rollups' legacy partition, wholly past the minute horizon's day.
    let h = Horizons::at(now.plus_ms(50 * DAY), &DAYS);
    let tail = UptimeWindow::plan(h.minute.plus_ms(3_600_000), now.plus_ms(11 * DAY), &h);
    let before = store.tally_window(&t, &m, &tail, Evidence::Live).await.unwrap();
    assert!(before.up > 0 && before.down > 0, "{before:?}");
    let pass = drain(&store, &h, 400).await;
    assert_eq!((pass.results_rolled as i64, pass.partitions_dropped), (seeded - old, 2), "{pass:?}");
    assert!(!partitions(&sql).await.contains(&"check_results_legacy".to_owned()));
    assert!(!partitions_of(&sql, "uptime_minute").await.contains(&"uptime_minute_legacy".to_owned()));
    assert_eq!(rows_in(&sql, "check_results").await, 0);
    assert_eq!(store.tally_window(&t, &m, &tail, Evidence::Live).await.unwrap(), before, "counted once, in rollups");
}

/// A result routed to the default partition in the instant its day's partition is attached
/// fails with a partition-constraint violation; the store reports it as retryable (not as
/// data the database refuses for good, which would quarantine it), and sent again it is stored
/// in the new partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_routed_to_the_default_partition_as_its_day_is_made_is_retried_not_refused() {
    let db = PgDatabase::create().await;
    schema::migrate(&pg_url(&direct_addr(), &db.name)).await.expect("migrations run directly");
    let store = Arc::new(store(Backend::PgBouncer, &db.name).await);
    let (t, _) = store.bootstrap("hash", at(1)).await.unwrap();
    let m = add_monitor(&*store, &t, draft("api", Policy::default())).await;
    let r = nth(&t, &m, 3, 10);

    let mut maker = direct(&db.name).await;
    let tx = maker.transaction().await.unwrap();
    netpulse_store::postgres::days::make(&tx, D0).await.expect("make day 0, not committed yet");
    let ingest = tokio::spawn({
        let (store, r) = (store.clone(), r.clone());
        async move { store.ingest(&[r], at(NOW)).await }
    });
    let watcher = direct(&db.name).await;
    let mut waiting = false;
    for _ in 0..100 {
        let n: i64 = watcher
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            waiting = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(waiting, "the ingest waits for the default partition's lock");
    tx.commit().await.unwrap();
    let err = ingest.await.unwrap().expect_err("routed to the default partition before the attach");
    assert!(err.is_retryable() && !err.is_permanent(), "{err}");
    let report = store.ingest(std::slice::from_ref(&r), at(NOW)).await.expect("sent again");
    assert_eq!(report.inserted, 1);
    assert_eq!(rows_in(&watcher, &day_partition(D0)).await, 1);
}

//! Retention contract: a year and more of results, aged out at a virtual `now`. Raw results
//! past raw retention are gone afterwards, the rollups hold them, and every uptime figure —
//! 24 h to 365 d, and windows that only minute, hourly or daily rollups cover — is the same
//! before and after retention, and equal to the figure counted from raw results while those
//! still existed. A second run changes nothing; several nodes running retention at once
//! count each result once. Checks made during maintenance stay counted apart once their
//! hours are folded into days.

use super::{add_channel, add_monitor, draft, result};
use netpulse_core::incident::Policy;
use netpulse_core::latency::{bin_of, series, Buckets, CellKind, LatencyCell};
use netpulse_core::retention::{Horizons, RetentionDays, UptimeWindow};
use netpulse_core::uptime::Tally;
use netpulse_core::{CheckResult, MonitorId, Outcome, Provenance, ResultId, TenantId, Timestamp, Timings};
use netpulse_store::testing::{self as backends, Backend, TestStore};
use netpulse_store::{Evidence, MaintenanceWindow, RetentionPass, Store};
use std::sync::Arc;

const MIN: i64 = 60_000;
const DAY: i64 = 86_400_000;
/// On no minute, hour or day boundary, more than 420 days after the epoch.
const NOW: i64 = 20_000 * DAY + 13 * 3_600_000 + 17 * MIN + 4_321;
const DAYS: RetentionDays = RetentionDays { raw: 30, minute: 60, hour: 100, day: 400 };

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// Result `i` of a monitor: every 97 minutes and 13 s back from now for 420 days, from two
/// regions, with a mix of outcomes, latencies and a few synthetic results (never counted).
fn nth(t: &TenantId, m: &MonitorId, i: i64) -> CheckResult {
    let started = NOW - 1_000 - i * (97 * MIN + 13_000);
    let outcome = match i % 13 {
        0 | 5 => Outcome::Down,
        3 => Outcome::Degraded,
        8 => Outcome::Error,
        _ => Outcome::Up,
    };
    CheckResult {
        id: ResultId::from_parts(started, (i as u128) << 8 | 7),
        tenant_id: t.clone(),
        monitor_id: m.clone(),
        region: if i % 2 == 0 { "eu" } else { "us" }.into(),
        worker: "test".into(),
        started_at: at(started),
        finished_at: at(started + 200),
        outcome,
        timings: Timings { total_ms: (i % 3 != 0).then_some((i % 400) as u32 + 10), ..Timings::default() },
        status_code: None,
        error: outcome.is_failure().then(|| "refused".into()),
        cert_expires_at: None,
        cert_issuer: None,
        provenance: if i % 17 == 0 { Provenance::Synthetic } else { Provenance::Live },
    }
}

const COUNT: i64 = 420 * DAY / (97 * MIN + 13_000);

async fn seeded(backend: Backend) -> (TestStore, TenantId, MonitorId) {
    let store = backends::open(backend, 8).await;
    let (t, _) = store.bootstrap("hash", at(1)).await.unwrap();
    let m = add_monitor(&*store, &t, draft("api", Policy::default())).await;
    add_channel(&*store, &t, "ops").await;
    let all: Vec<CheckResult> = (0..COUNT).rev().map(|i| nth(&t, &m, i)).collect();
    for batch in all.chunks(500) {
        store.ingest(batch, at(NOW)).await.unwrap();
    }
    (store, t, m)
}

/// Windows a user would ask for: the status-page and SLA ranges up to now, and past ranges
/// that only minute (45–35 d ago), hourly (95–62 d) or daily (300–150 d) rollups cover.
fn windows(h: &Horizons) -> Vec<(&'static str, UptimeWindow)> {
    let upto = |days: i64| UptimeWindow::plan(at(NOW - days * DAY), at(NOW + 1), h);
    let past = |a: i64, b: i64| UptimeWindow::plan(at(NOW - a * DAY), at(NOW - b * DAY), h);
    vec![
        ("24h", upto(1)),
        ("7d", upto(7)),
        ("30d", upto(30)),
        ("90d", upto(90)),
        ("365d", upto(365)),
        ("minutes", past(45, 35)),
        ("hours", past(95, 62)),
        ("days", past(300, 150)),
    ]
}

async fn figures(store: &dyn Store, t: &TenantId, m: &MonitorId, h: &Horizons) -> Vec<(&'static str, Tally)> {
    let mut out = Vec::new();
    for (label, w) in windows(h) {
        out.push((label, store.tally_window(t, m, &w, Evidence::Live).await.unwrap()));
    }
    out
}

/// Retention steps at `h` until nothing is left; returns the steps and what they did.
async fn drain(store: &dyn Store, h: &Horizons, limit: usize) -> (usize, RetentionPass) {
    let (mut steps, mut sum) = (0, RetentionPass::default());
    loop {
        let p = store.apply_retention(h, limit).await.unwrap();
        steps += 1;
        sum = sum.plus(p);
        if !p.more_left(limit) {
            return (steps, sum);
        }
    }
}

async fn raw_count(store: &dyn Store, t: &TenantId, m: &MonitorId, from: Timestamp, to: Timestamp) -> usize {
    let (mut n, mut after) = (0, None);
    loop {
        let page = store.list_results(t, m, from, to, 1000, after.as_deref()).await.unwrap();
        n += page.results.len();
        match page.next {
            Some(next) => after = Some(next),
            None => return n,
        }
    }
}

pub async fn retention_keeps_every_uptime_figure_after_raw_results_are_gone(backend: Backend) {
    let (store, t, m) = seeded(backend).await;
    let h = Horizons::at(at(NOW), &DAYS);
    let before = figures(&*store, &t, &m, &h).await;
    for ((label, w), (_, tally)) in windows(&h).iter().zip(&before) {
        let raw = store.tally(&t, &m, w.from, w.to, Evidence::Live).await.unwrap();
        assert_eq!(*tally, raw, "{backend:?} {label}: the planned read equals the raw count while raw results exist");
        assert!(tally.down > 0 && tally.up > tally.down, "{backend:?} {label}: a real mix of outcomes: {tally:?}");
    }
    let old = (0..COUNT).filter(|&i| nth(&t, &m, i).started_at < h.raw).count();
    let recent = COUNT as usize - old;

    let (steps, pass) = drain(&*store, &h, 400).await;
    assert!(steps > 1, "{backend:?}: retention works in bounded steps, took {steps}");
    assert_eq!(pass.results_rolled, old, "{backend:?}: every raw result past 30 days folded once");
    assert!(pass.hours_rolled > 0 && pass.minutes_deleted > 0 && pass.days_deleted > 0, "{pass:?}");
    assert_eq!(raw_count(&*store, &t, &m, at(0), h.raw).await, 0, "{backend:?}: old raw results are gone");
    assert_eq!(raw_count(&*store, &t, &m, h.raw, at(NOW + 1)).await, recent, "{backend:?}: recent ones stay");

    let after = figures(&*store, &t, &m, &h).await;
    assert_eq!(after, before, "{backend:?}: every window counts the same after retention");

    let (_, again) = drain(&*store, &h, 400).await;
    assert_eq!(again, RetentionPass::default(), "{backend:?}: a second run finds nothing to do");
    assert_eq!(figures(&*store, &t, &m, &h).await, before, "{backend:?}: and changes no figure");

    assert!(store.delete_monitor(&t, &m).await.unwrap());
    for (label, tally) in figures(&*store, &t, &m, &h).await {
        assert_eq!(tally, Tally::default(), "{backend:?} {label}: a deleted monitor's rollups go with it");
    }
}

pub async fn concurrent_retention_counts_each_result_once(backend: Backend) {
    let (store, t, m) = seeded(backend).await;
    let store: Arc<TestStore> = Arc::new(store);
    let h = Horizons::at(at(NOW), &DAYS);
    let before = figures(&**store, &t, &m, &h).await;
    let nodes: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { drain(&**store, &h, 150).await.1 })
        })
        .collect();
    let mut folded = 0;
    for node in nodes {
        folded += node.await.expect("task").results_rolled;
    }
    let old = (0..COUNT).filter(|&i| nth(&t, &m, i).started_at < h.raw).count();
    assert_eq!(folded, old, "{backend:?}: four nodes together fold each old result once");
    assert_eq!(figures(&**store, &t, &m, &h).await, before, "{backend:?}: no result counted twice or lost");
}

/// A monitor's results of one day 150 days ago (past hour retention), every 20 minutes from
/// 06:00 to 18:00 UTC, a quarter of them down, two hours of them inside a maintenance window.
/// Its year's uptime counts the window's checks as maintenance only and the others by outcome,
/// the same before and after retention folds that day's hours into a daily rollup.
pub async fn maintenance_counts_stay_when_hours_fold_into_days(backend: Backend) {
    let store = backends::open(backend, 8).await;
    let (t, _) = store.bootstrap("hash", at(1)).await.unwrap();
    let m = add_monitor(&*store, &t, draft("api", Policy::default())).await;
    let day = (NOW / DAY - 150) * DAY;
    let hour = 3_600_000;
    let window = MaintenanceWindow {
        id: "mw_fold".into(),
        monitor_id: m.clone(),
        starts_at: at(day + 10 * hour),
        ends_at: at(day + 12 * hour),
        repeat_every_s: None,
        reason: "upgrade".into(),
        phase: "over".into(),
        announce: false,
        updated_at: Timestamp::from_secs(1),
    };
    store.create_maintenance(&t, &window).await.unwrap();
    let results: Vec<CheckResult> = (0..36)
        .map(|i| {
            let outcome = if i % 4 == 0 { Outcome::Down } else { Outcome::Up };
            result(&t, &m, (day + 6 * hour + i * 20 * MIN) / 1000, outcome)
        })
        .collect();
    store.ingest(&results, at(NOW)).await.unwrap();
    let inside = |r: &CheckResult| r.started_at >= window.starts_at && r.started_at < window.ends_at;
    let outside = |o: Outcome| results.iter().filter(|r| !inside(r) && r.outcome == o).count() as u64;
    let expected = Tally {
        up: outside(Outcome::Up),
        down: outside(Outcome::Down),
        maintenance: results.iter().filter(|r| inside(r)).count() as u64,
        ..Tally::default()
    };
    assert_eq!((expected.maintenance, expected.up, expected.down), (6, 23, 7), "the seed is what this test says");

    let h = Horizons::at(at(NOW), &DAYS);
    let year = UptimeWindow::plan(at(NOW - 365 * DAY), at(NOW + 1), &h);
    let before = store.tally_window(&t, &m, &year, Evidence::Live).await.unwrap();
    assert_eq!(before, expected, "{backend:?}: the year before retention (hourly rollups)");
    assert_eq!(year.sources(&h), ["results", "minute_rollup", "hourly_rollup", "daily_rollup"]);

    let (_, pass) = drain(&*store, &h, 400).await;
    assert_eq!(pass.hours_rolled, 12, "{backend:?}: the day's twelve hours folded into a daily rollup: {pass:?}");
    let after = store.tally_window(&t, &m, &year, Evidence::Live).await.unwrap();
    assert_eq!(after, expected, "{backend:?}: the year after retention (daily rollup) counts the same");
    assert_eq!(after.uptime_percent(), Some(23.0 * 100.0 / 30.0), "{backend:?}: maintenance counts for neither");
}

/// The latency chart's cells of a range as the definition has them: each live result of the
/// seeded monitor in `b` counted into its bucket, region and latency bin.
fn expected_cells(t: &TenantId, m: &MonitorId, b: &Buckets) -> Vec<LatencyCell> {
    (0..COUNT)
        .map(|i| nth(t, m, i))
        .filter(|r| r.provenance == Provenance::Live && r.started_at >= b.from && r.started_at < b.to())
        .map(|r| {
            let answered = !r.outcome.is_failure();
            let ms = r.timings.total_ms;
            LatencyCell {
                bucket: ((r.started_at.millis() - b.from.millis()) / b.width_ms) as u32,
                region: r.region.clone(),
                kind: if answered { CellKind::Answered } else { CellKind::Failed },
                bin: ms.filter(|_| answered).map(bin_of),
                checks: 1,
                latency_count: u64::from(ms.is_some()),
                latency_sum_ms: ms.map_or(0, u64::from),
                latency_max_ms: ms,
            }
        })
        .collect()
}

/// A 45-day latency chart of the seeded monitor (two regions, a mix of outcomes and latencies,
/// synthetic results among them): while every result is raw it reads exactly what the results
/// say — checks, failures, mean, slowest and the percentiles — and after retention folded
/// the older 15 days into minute rollups, every day still counts the same checks and failures,
/// the folded days with a mean and no percentiles, the recent ones unchanged.
pub async fn latency_over_a_range_reads_raw_results_then_their_rollups(backend: Backend) {
    let (store, t, m) = seeded(backend).await;
    let h = Horizons::at(at(NOW), &DAYS);
    let b = Buckets::new(at(NOW - 45 * DAY), at(NOW), 45);
    assert_eq!((b.width_ms, b.count), (DAY, 45));
    let expected = series(&expected_cells(&t, &m, &b), &b);
    let before = series(&store.latency_cells(&t, &m, &b, Evidence::Live).await.unwrap(), &b);
    assert_eq!(before, expected, "{backend:?}: the store's cells are the results' own");
    assert_eq!(before.iter().map(|s| s.region.as_str()).collect::<Vec<_>>(), ["eu", "us"]);
    assert!(before.iter().all(|s| s.total.failed > 0 && s.total.p95_ms > s.total.p50_ms), "{before:?}");
    let demo = store.latency_cells(&t, &m, &b, Evidence::Demo).await.unwrap();
    assert!(demo.is_empty(), "{backend:?}: live results are not demo evidence");

    drain(&*store, &h, 400).await;
    let after = series(&store.latency_cells(&t, &m, &b, Evidence::Live).await.unwrap(), &b);
    let mut folded = 0;
    for (was, now) in before.iter().zip(&after) {
        assert_eq!(was.region, now.region);
        for (k, (x, y)) in was.buckets.iter().zip(&now.buckets).enumerate() {
            let (x, y) = (x.clone().unwrap_or_default(), y.clone().unwrap_or_default());
            assert_eq!((x.checks, x.failed), (y.checks, y.failed), "{backend:?} {} day {k}", was.region);
            let (start, end) = (b.start(k as u32), b.start(k as u32 + 1));
            if end <= h.raw && y.checks > 0 {
                folded += 1;
                assert!(y.rolled && y.p50_ms.is_none() && y.mean_ms.is_some(), "{backend:?} day {k}: {y:?}");
            } else if start >= h.raw {
                assert_eq!(x, y, "{backend:?} day {k}: a day within raw retention reads the same");
            }
        }
    }
    assert!(folded >= 20, "{backend:?}: most of the older 15 days of both regions were folded: {folded}");
}

//! `netpulse loadtest retention`: how fast retention retires a backlog of raw results on
//! PostgreSQL, what it costs ingest and readers meanwhile, and whether it counts every
//! result once.
//!
//! On a fresh database (created and migrated over the direct URL, dropped at the end) it
//! makes the day partitions of the `--days` whole UTC days before the raw horizon (unless
//! `--in-default`: then the results sit in the default partition and are folded row by row,
//! the way every raw result was before partitions) and writes `--rows` live raw results of
//! `--monitors` monitors spread evenly over those days, and the hourly rollups ingest would
//! have written for them (a result in the 03:00 UTC hour of a day falls in a nightly
//! maintenance window: counted in `maintenance`, not by outcome), with one
//! `INSERT … SELECT` over `generate_series` on the direct connection. Then `--nodes` tasks,
//! each with its own store pool through PgBouncer like separate engine nodes, run retention
//! steps ([`Store::apply_retention`], [`CHUNK`] rows per kind outside day partitions) at the
//! default horizons until none is left, while two probes go on through PgBouncer: one
//! ingests batches of 100 fresh synthetic results, one reads a monitor's uptime over the
//! backlog's days. It reports the partitions retired and how fast, the duration of every
//! step that did something (p50, p99, max), the probes' latencies (a partition's drop holds
//! `check_results` exclusively for an instant: the probes wait behind it), and checks that
//! no raw result before the horizon is left and the rollups hold exactly the results they
//! should, the maintenance counts included.

use super::{direct, user_of, with_db};
use netpulse_core::retention::{Horizons, RetentionDays, UptimeWindow};
use netpulse_core::{CheckResult, MonitorId, Outcome, Provenance, ResultId, TenantId, Timestamp, Timings};
use netpulse_pipeline::retention::CHUNK;
use netpulse_store::clock;
use netpulse_store::postgres::{days, schema, PgStore};
use netpulse_store::{Evidence, RetentionPass, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `netpulse loadtest retention`.
#[derive(clap::Args, Debug, Clone)]
pub struct RetentionArgs {
    /// Direct PostgreSQL server (database creation, migrations, seeding, checks).
    #[arg(long, default_value = "postgres://netpulse@127.0.0.1:5432/postgres")]
    pub pg_direct: String,
    /// PgBouncer (transaction mode) in front of the same server: host:port.
    #[arg(long, default_value = "127.0.0.1:6432")]
    pub pg_pooled: String,
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: i64,
    #[arg(long, default_value_t = 1_000)]
    pub monitors: i64,
    /// Whole UTC days the results are spread over, ending at the raw horizon.
    #[arg(long, default_value_t = 99)]
    pub days: i64,
    /// Leave the results in the default partition (no day partitions): folded row by row.
    #[arg(long)]
    pub in_default: bool,
    /// Engine nodes running retention at the same time.
    #[arg(long, default_value_t = 2)]
    pub nodes: usize,
}

const DAY: i64 = 86_400_000;
const DAYS: RetentionDays = RetentionDays { raw: 30, minute: 60, hour: 100, day: 400 };
/// Seeded results in this hour of a UTC day count as checks made during maintenance.
const IN_MAINTENANCE: &str = "((started_at / 3600000) % 24 = 3)";

/// Run the benchmark and print its report.
pub async fn retention(a: RetentionArgs) -> anyhow::Result<()> {
    let db = format!("np_loadtest_ret_{}_{:04x}", std::process::id(), clock::random_u128() as u16);
    let admin = direct(&a.pg_direct).await?;
    admin.batch_execute(&format!("CREATE DATABASE {db}")).await?;
    let outcome = run(&a, &db).await;
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await;
    outcome
}

async fn run(a: &RetentionArgs, db: &str) -> anyhow::Result<()> {
    anyhow::ensure!(a.days >= 1 && a.rows >= 1 && a.monitors >= 1, "--days, --rows and --monitors must be positive");
    let direct_url = with_db(&a.pg_direct, db)?;
    schema::migrate(&direct_url).await?;
    let mut pg = direct(&direct_url).await?;
    let now = clock::now();
    let h = Horizons::at(now, &DAYS);
    let from = h.raw.millis() - a.days * DAY;
    let t0 = Instant::now();
    if !a.in_default {
        let tx = pg.transaction().await?;
        for d in 0..a.days {
            days::make(&tx, from + d * DAY).await?;
        }
        tx.commit().await?;
    }
    pg.batch_execute(&format!(
        "INSERT INTO check_results (id, tenant_id, monitor_id, region, worker, started_at, finished_at, outcome, \
           total_ms, provenance) \
         SELECT 'res_bench_' || g, 'ten_bench', 'mon_bench_' || (g % {m}), CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, \
           'bench', {from} + g::BIGINT * {span} / {n}, {from} + g::BIGINT * {span} / {n} + 40, \
           CASE WHEN g % 97 = 13 THEN 'down' ELSE 'up' END, (g % 300)::int, 'live' \
         FROM generate_series(0, {n} - 1) AS g; \
         INSERT INTO uptime_hourly (monitor_id, hour_start, tenant_id, up, degraded, down, error, maintenance) \
         SELECT monitor_id, (started_at / 3600000) * 3600000, tenant_id, \
           COUNT(*) FILTER (WHERE outcome = 'up' AND NOT {IN_MAINTENANCE}), 0, \
           COUNT(*) FILTER (WHERE outcome = 'down' AND NOT {IN_MAINTENANCE}), 0, \
           COUNT(*) FILTER (WHERE {IN_MAINTENANCE}) FROM check_results GROUP BY 1, 2, 3; \
         ANALYZE;",
        m = a.monitors,
        n = a.rows,
        span = a.days * DAY,
    ))
    .await?;
    let seed_s = t0.elapsed().as_secs_f64();
    let pg = &pg;
    let count = |sql: String| async move { anyhow::Ok(pg.query_one(&sql, &[]).await?.get::<_, i64>(0)) };
    let in_default = count("SELECT COUNT(*) FROM check_results_default".into()).await?;
    let fine_expected =
        count(format!("SELECT COUNT(*) FROM check_results WHERE started_at >= {}", h.minute.millis())).await?;
    let maintenance_expected = count(format!("SELECT COUNT(*) FROM check_results WHERE {IN_MAINTENANCE}")).await?;

    let pooled_url = format!("postgres://{}@{}/{db}", user_of(&a.pg_direct), a.pg_pooled);
    let probe: Arc<dyn Store> = Arc::new(PgStore::connect(&pooled_url, 2).await?);
    let stop = Arc::new(AtomicBool::new(false));
    let window = UptimeWindow::plan(Timestamp::from_millis(from), now, &h);
    let reader = spawn_probe(stop.clone(), {
        let probe = probe.clone();
        move |_| {
            let probe = probe.clone();
            async move {
                let (t, m) =
                    (TenantId::from_trusted("ten_bench".into()), MonitorId::from_trusted("mon_bench_0".into()));
                probe.tally_window(&t, &m, &window, Evidence::Live).await.map(drop)
            }
        }
    });
    let writer = spawn_probe(stop.clone(), move |i| {
        let probe = probe.clone();
        async move { probe.ingest(&fresh_batch(i), clock::now()).await.map(drop) }
    });
    let t1 = Instant::now();
    let mut nodes = Vec::new();
    for _ in 0..a.nodes {
        let store: Arc<dyn Store> = Arc::new(PgStore::connect(&pooled_url, 2).await?);
        nodes.push(tokio::spawn(async move { drain(&*store, &h).await }));
    }
    let (mut steps, mut sum, mut idle, mut retiring) = (Vec::new(), RetentionPass::default(), 0, Duration::ZERO);
    for node in nodes {
        let (s, i) = node.await??;
        for (took, p) in s {
            steps.push(took);
            sum = sum.plus(p);
            if p.partitions_dropped > 0 {
                retiring += took;
            }
        }
        idle += i;
    }
    let run_s = t1.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (mut reads, mut writes) = (reader.await??, writer.await??);

    let raw_left = count(format!("SELECT COUNT(*) FROM check_results WHERE started_at < {}", h.raw.millis())).await?;
    let fine = count("SELECT COALESCE(SUM(up + degraded + down + error), 0)::BIGINT FROM uptime_minute".into()).await?;
    let coarse_sum = |columns: &str| {
        format!(
            "SELECT (SELECT COALESCE(SUM({columns}), 0) FROM uptime_hourly)::BIGINT \
             + (SELECT COALESCE(SUM({columns}), 0) FROM uptime_daily)::BIGINT"
        )
    };
    let coarse = count(coarse_sum("up + degraded + down + error + maintenance")).await?;
    let maintenance = count(coarse_sum("maintenance")).await?;
    println!(
        "netpulse loadtest retention: {} raw results of {} monitors over {} UTC days before the raw horizon, {}; \
         {} nodes via PgBouncer",
        a.rows,
        a.monitors,
        a.days,
        if a.in_default { "in the default partition (folded row by row)" } else { "one partition per day" },
        a.nodes
    );
    println!("seed (direct: partitions, INSERT … SELECT, hourly rollups): {seed_s:.1} s; {in_default} in the default partition");
    println!(
        "retention: {} raw results folded, {} day partitions dropped, {} minute rows deleted, {} hourly rows folded \
         into days; {} steps (+{idle} empty: another node stepping, or done) over {run_s:.1} s = {:.0} raw results/s",
        sum.results_rolled,
        sum.partitions_dropped,
        sum.minutes_deleted,
        sum.hours_rolled,
        steps.len(),
        sum.results_rolled as f64 / run_s
    );
    if sum.partitions_dropped > 0 && !a.in_default {
        let (n, s) = (a.days as f64, retiring.as_secs_f64());
        println!(
            "day partitions: {} days folded and dropped by steps taking {s:.2} s in all: {:.2} s per day of {:.0} results",
            a.days,
            s / n,
            a.rows as f64 / n
        );
    }
    println!("steps that did something (≤ {CHUNK} rows per kind outside day partitions): {}", pcts(&mut steps));
    println!(
        "probe reads (a monitor's uptime over those days) during retention: {} reads, {}",
        reads.len(),
        pcts(&mut reads)
    );
    println!(
        "probe ingest (100 fresh results per batch) during retention: {} batches, {}",
        writes.len(),
        pcts(&mut writes)
    );
    let exact = raw_left == 0
        && fine == fine_expected
        && coarse == a.rows
        && maintenance == maintenance_expected
        && sum.results_rolled as i64 == a.rows;
    println!(
        "check: raw left before the horizon {raw_left}; minute rollups hold {fine} (expected {fine_expected}); \
         hourly + daily hold {coarse} (expected {}), {maintenance} of them in maintenance (expected \
         {maintenance_expected}): {}",
        a.rows,
        if exact { "exact" } else { "MISMATCH" }
    );
    anyhow::ensure!(exact, "retention lost or doubled results");
    Ok(())
}

/// `p50 …, p99 …, max …` of `d` in ms.
fn pcts(d: &mut [Duration]) -> String {
    if d.is_empty() {
        return "none".into();
    }
    d.sort();
    let pct = |p: f64| d[((d.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0;
    format!("p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", pct(0.5), pct(0.99), pct(1.0))
}

/// Run `op(i)` for i = 0, 1, … until `stop`, timing each call.
fn spawn_probe<F, Fut>(stop: Arc<AtomicBool>, op: F) -> tokio::task::JoinHandle<anyhow::Result<Vec<Duration>>>
where
    F: Fn(u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = netpulse_store::StoreResult<()>> + Send,
{
    tokio::spawn(async move {
        let mut out = Vec::new();
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            op(i).await?;
            out.push(t.elapsed());
            i += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(out)
    })
}

/// 100 synthetic results started now (of a monitor with no row: stored, not stepped).
fn fresh_batch(i: u64) -> Vec<CheckResult> {
    let now = clock::now();
    (0..100)
        .map(|k| CheckResult {
            id: ResultId::from_parts(now.millis(), u128::from(i) << 32 | k),
            tenant_id: TenantId::from_trusted("ten_bench".into()),
            monitor_id: MonitorId::from_trusted("mon_probe".into()),
            region: "eu".into(),
            worker: "probe".into(),
            started_at: now,
            finished_at: now,
            outcome: Outcome::Up,
            timings: Timings::default(),
            status_code: None,
            error: None,
            cert_expires_at: None,
            cert_issuer: None,
            provenance: Provenance::Synthetic,
        })
        .collect()
}

/// Steps until five steps in a row find nothing (either nothing is left, or another node
/// is stepping: that node carries on): each step that did something, timed, and how many
/// did nothing.
async fn drain(store: &dyn Store, h: &Horizons) -> anyhow::Result<(Vec<(Duration, RetentionPass)>, usize)> {
    let (mut steps, mut idle, mut idle_in_a_row) = (Vec::new(), 0, 0);
    while idle_in_a_row < 5 {
        let t = Instant::now();
        let p = store.apply_retention(h, CHUNK).await?;
        if p.rows() > 0 || p.partitions_dropped > 0 {
            steps.push((t.elapsed(), p));
            idle_in_a_row = 0;
        } else {
            (idle, idle_in_a_row) = (idle + 1, idle_in_a_row + 1);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok((steps, idle))
}

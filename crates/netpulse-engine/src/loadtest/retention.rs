//! `netpulse loadtest retention`: how long retention steps hold their transaction on
//! PostgreSQL, and whether they count every result once.
//!
//! On a fresh database (created and migrated over the direct URL, dropped at the end) it
//! writes `--rows` live raw results of `--monitors` monitors, spread evenly over the days
//! 31–130 before now (all past raw retention, some past minute and hour retention), and the
//! hourly rollups ingest would have written for them (a result in the 03:00 UTC hour of a day
//! falls in a nightly maintenance window: counted in `maintenance`, not by outcome), with one
//! `INSERT … SELECT` over `generate_series` on the direct connection. Then `--nodes` tasks, each with its own store
//! pool through PgBouncer like separate engine nodes, run retention steps
//! ([`Store::apply_retention`], [`CHUNK`] rows per kind) at the default horizons until none
//! is left. It reports the duration of every step (p50, p99, max: how long a step's
//! transaction holds its row locks), the fold rate, and checks that no raw result is left
//! and the rollups hold exactly the results they should, the maintenance counts included.

use super::{direct, user_of, with_db};
use netpulse_core::retention::{Horizons, RetentionDays};
use netpulse_pipeline::retention::CHUNK;
use netpulse_store::clock;
use netpulse_store::postgres::{schema, PgStore};
use netpulse_store::{RetentionPass, Store};
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
    let direct_url = with_db(&a.pg_direct, db)?;
    schema::migrate(&direct_url).await?;
    let pg = direct(&direct_url).await?;
    let now = clock::now();
    let h = Horizons::at(now, &DAYS);
    let (from, span) = (now.millis() - 130 * DAY, 99 * DAY);
    let t0 = Instant::now();
    pg.batch_execute(&format!(
        "INSERT INTO check_results (id, tenant_id, monitor_id, region, worker, started_at, finished_at, outcome, \
           total_ms, provenance) \
         SELECT 'res_bench_' || g, 'ten_bench', 'mon_bench_' || (g % {m}), CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, \
           'bench', {from} + g * {span} / {n}, {from} + g * {span} / {n} + 40, \
           CASE WHEN g % 97 = 13 THEN 'down' ELSE 'up' END, (g % 300)::int, 'live' \
         FROM generate_series(1, {n}) AS g; \
         INSERT INTO uptime_hourly (monitor_id, hour_start, tenant_id, up, degraded, down, error, maintenance) \
         SELECT monitor_id, (started_at / 3600000) * 3600000, tenant_id, \
           COUNT(*) FILTER (WHERE outcome = 'up' AND NOT {IN_MAINTENANCE}), 0, \
           COUNT(*) FILTER (WHERE outcome = 'down' AND NOT {IN_MAINTENANCE}), 0, \
           COUNT(*) FILTER (WHERE {IN_MAINTENANCE}) FROM check_results GROUP BY 1, 2, 3; \
         ANALYZE;",
        m = a.monitors,
        n = a.rows,
    ))
    .await?;
    let seed_s = t0.elapsed().as_secs_f64();
    let count = |sql: String| {
        let pg = &pg;
        async move { anyhow::Ok(pg.query_one(&sql, &[]).await?.get::<_, i64>(0)) }
    };
    let fine_expected =
        count(format!("SELECT COUNT(*) FROM check_results WHERE started_at >= {}", h.minute.millis())).await?;
    let maintenance_expected = count(format!("SELECT COUNT(*) FROM check_results WHERE {IN_MAINTENANCE}")).await?;

    let pooled_url = format!("postgres://{}@{}/{db}", user_of(&a.pg_direct), a.pg_pooled);
    let t1 = Instant::now();
    let mut nodes = Vec::new();
    for _ in 0..a.nodes {
        let store: Arc<dyn Store> = Arc::new(PgStore::connect(&pooled_url, 2).await?);
        nodes.push(tokio::spawn(async move { drain(&*store, &h).await }));
    }
    let (mut steps, mut sum, mut idle) = (Vec::new(), RetentionPass::default(), 0);
    for node in nodes {
        let (s, p, i) = node.await??;
        steps.extend(s);
        sum = sum.plus(p);
        idle += i;
    }
    let run_s = t1.elapsed().as_secs_f64();

    let raw_left = count("SELECT COUNT(*) FROM check_results".into()).await?;
    let fine = count("SELECT COALESCE(SUM(up + degraded + down + error), 0)::BIGINT FROM uptime_minute".into()).await?;
    let coarse_sum = |columns: &str| {
        format!(
            "SELECT (SELECT COALESCE(SUM({columns}), 0) FROM uptime_hourly)::BIGINT \
             + (SELECT COALESCE(SUM({columns}), 0) FROM uptime_daily)::BIGINT"
        )
    };
    let coarse = count(coarse_sum("up + degraded + down + error + maintenance")).await?;
    let maintenance = count(coarse_sum("maintenance")).await?;
    steps.sort();
    let pct = |p: f64| steps[((steps.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0;
    println!(
        "netpulse loadtest retention: {} raw results, {} monitors, {} nodes via PgBouncer",
        a.rows, a.monitors, a.nodes
    );
    println!("seed (direct INSERT … SELECT + hourly rollups): {seed_s:.1} s");
    println!(
        "retention: {} raw results folded, {} minute rows deleted, {} hourly rows folded into days, in {} steps \
         (+{idle} empty: another node stepping, or done) over {run_s:.1} s = {:.0} raw results/s",
        sum.results_rolled,
        sum.minutes_deleted,
        sum.hours_rolled,
        steps.len(),
        sum.results_rolled as f64 / run_s
    );
    println!(
        "step duration (≤ {CHUNK} rows per kind): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    let exact = raw_left == 0
        && fine == fine_expected
        && coarse == a.rows
        && maintenance == maintenance_expected
        && sum.results_rolled as i64 == a.rows;
    println!(
        "check: raw left {raw_left}; minute rollups hold {fine} (expected {fine_expected}); hourly + daily hold {coarse} \
         (expected {}), {maintenance} of them in maintenance (expected {maintenance_expected}): {}",
        a.rows,
        if exact { "exact" } else { "MISMATCH" }
    );
    anyhow::ensure!(exact, "retention lost or doubled results");
    Ok(())
}

/// Steps until five steps in a row find nothing (either nothing is left, or another node
/// is stepping: that node carries on). Empty steps are counted apart, not timed.
async fn drain(store: &dyn Store, h: &Horizons) -> anyhow::Result<(Vec<Duration>, RetentionPass, usize)> {
    let (mut steps, mut sum, mut idle, mut idle_in_a_row) = (Vec::new(), RetentionPass::default(), 0, 0);
    while idle_in_a_row < 5 {
        let t = Instant::now();
        let p = store.apply_retention(h, CHUNK).await?;
        if p.rows() > 0 {
            steps.push(t.elapsed());
            sum = sum.plus(p);
            idle_in_a_row = 0;
        } else {
            (idle, idle_in_a_row) = (idle + 1, idle_in_a_row + 1);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok((steps, sum, idle))
}

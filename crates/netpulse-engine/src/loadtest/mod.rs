//! `netpulse loadtest ingest`: a rerunnable burst benchmark of the scale-out ingest path
//! (`netpulse loadtest retention`, the retention benchmark, is in [`retention`];
//! `netpulse loadtest fleet`, the whole system under W workers, in [`fleet`]).
//!
//! On a fresh PostgreSQL database (created and migrated over the direct URL, dropped at the
//! end) and a fresh Redis stream, it creates `--monitors` paused monitors, then thousands of
//! publisher tasks push `--monitors × --per-monitor` synthetic results (provenance
//! `synthetic`) into the Redis streams (`--partitions` of them, by monitor) while
//! `--ingest-workers` engine [`Ingest`] loops — each a separate ingest node as in production:
//! its own store pool through PgBouncer (and its own memory of monitor states), its own Redis
//! consumer and its own fair share of the partitions, owned through the same owner keys as
//! engine nodes; the shares are settled before the timed part starts, as between nodes that
//! are already running — store them. It samples the queue backlog (`XLEN`), the number of
//! PostgreSQL server connections to the database and the backends among them waiting for a
//! lock (`pg_stat_activity.wait_event_type = 'Lock'`, and ungranted `pg_locks`) every 50 ms,
//! checks at the end
//! that every published id is stored exactly once (none lost: the stored rows are exactly
//! the published ids), and measures in the same run the raw COPY BINARY rate of the machine
//! into a scratch table with the same indexes (`LIKE check_results INCLUDING ALL`, 10,000
//! rows per COPY inside a transaction, one direct connection).

pub mod fleet;
mod retention;
mod sampling;

use anyhow::Context;
use netpulse_core::incident::PolicyLayer;
use netpulse_core::monitor::TcpSpec;
use netpulse_core::wire::ResultEnvelope;
use netpulse_core::{CheckResult, CheckSpec, Interval, MonitorDraft, MonitorId, Outcome, Provenance, Timings};
use netpulse_core::{TenantId, Timestamp};
use netpulse_pipeline::ingest::Ingest;
use netpulse_pipeline::live::LiveBus;
use netpulse_pipeline::metrics::Metrics;
use netpulse_pipeline::queue::{publish_many_retrying, RedisQueue, RedisQueueConfig, ResultQueue};
use netpulse_store::clock;
use netpulse_store::postgres::{copy, days, schema, PgStore};
use netpulse_store::prelude::*;
use netpulse_store::DatabaseUrl;
use netpulse_store::{MonitorRecord, Store};
use sampling::sample;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_postgres::NoTls;

/// `netpulse loadtest …`
#[derive(clap::Subcommand, Debug)]
pub enum LoadtestCommand {
    /// Burst of synthetic results through Redis Streams into PostgreSQL via PgBouncer.
    Ingest(IngestArgs),
    /// Retention steps folding a backlog of raw results into rollups, via PgBouncer.
    Retention(retention::RetentionArgs),
    /// N engine nodes, W regional workers over mTLS and D dashboards, audited end to end.
    Fleet(fleet::FleetArgs),
    /// One child process of `fleet`: a share of its workers (started by `fleet` itself).
    #[command(hide = true)]
    FleetSwarm(fleet::SwarmArgs),
}

impl LoadtestCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            LoadtestCommand::Ingest(a) => ingest(a).await,
            LoadtestCommand::Retention(a) => retention::retention(a).await,
            LoadtestCommand::Fleet(a) => fleet::fleet(a).await,
            LoadtestCommand::FleetSwarm(a) => fleet::run_swarm_child(a).await,
        }
    }
}

/// Options of `netpulse loadtest ingest`.
#[derive(clap::Args, Debug, Clone)]
pub struct IngestArgs {
    /// Direct PostgreSQL server (database creation, migrations, sampling, raw COPY).
    #[arg(long, default_value = "postgres://netpulse@127.0.0.1:5432/postgres")]
    pub pg_direct: String,
    /// PgBouncer (transaction mode) in front of the same server: host:port.
    #[arg(long, default_value = "127.0.0.1:6432")]
    pub pg_pooled: String,
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
    #[arg(long, default_value_t = 10_000)]
    pub monitors: usize,
    #[arg(long, default_value_t = 50)]
    pub per_monitor: usize,
    /// Concurrent publisher tasks.
    #[arg(long, default_value_t = 2_000)]
    pub publishers: usize,
    /// Results each publisher hands to the queue in one call (one Redis script); 1 = one call
    /// per result.
    #[arg(long, default_value_t = 100)]
    pub publish_batch: usize,
    /// Ingest loops (each one its own "node": store pool and Redis consumer).
    #[arg(long, default_value_t = 2)]
    pub ingest_workers: usize,
    /// Result streams by monitor (`queue.redis.partitions`), shared out among the ingest workers.
    #[arg(long, default_value_t = 8)]
    pub partitions: usize,
    /// Results per ingest transaction (`ingest.batch_size`).
    #[arg(long, default_value_t = 5_000)]
    pub batch_size: usize,
    /// Store pool size per ingest worker (`storage.postgres.pool_size`).
    #[arg(long, default_value_t = 2)]
    pub pool_size: usize,
    /// Queue the whole burst before starting ingest, so that the drain is timed alone (the
    /// publishers no longer share the CPU with ingest): a burst the queue absorbed.
    #[arg(long)]
    pub preload: bool,
    /// Skip the raw COPY comparison.
    #[arg(long)]
    pub no_copy: bool,
    /// Give up waiting for the drain after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_s: u64,
}

fn with_db(url: &str, db: &str) -> anyhow::Result<String> {
    let mut u = url::Url::parse(url).context("--pg-direct is not a URL")?;
    u.set_path(&format!("/{db}"));
    Ok(u.to_string())
}

fn user_of(url: &str) -> String {
    url::Url::parse(url).ok().map(|u| u.username().to_owned()).filter(|u| !u.is_empty()).unwrap_or("postgres".into())
}

async fn direct(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) =
        tokio_postgres::connect(url, NoTls).await.with_context(|| format!("cannot connect to {url}"))?;
    tokio::spawn(conn);
    Ok(client)
}

fn synthetic(tenant: &TenantId, monitor: &MonitorId, at: Timestamp, n: usize) -> CheckResult {
    let outcome = if n % 97 == 13 { Outcome::Down } else { Outcome::Up };
    CheckResult {
        id: clock::fresh(),
        tenant_id: tenant.clone(),
        monitor_id: monitor.clone(),
        region: "local".into(),
        worker: "loadtest".into(),
        started_at: at,
        finished_at: Timestamp::from_millis(at.millis() + 12),
        outcome,
        timings: Timings { dns_ms: Some(1), connect_ms: Some(2), tls_ms: None, ttfb_ms: Some(9), total_ms: Some(12) },
        status_code: Some(if outcome == Outcome::Up { 200 } else { 503 }),
        error: (outcome == Outcome::Down).then(|| "HTTP 503".to_owned()),
        cert_expires_at: None,
        cert_issuer: None,
        provenance: Provenance::Synthetic,
    }
}

/// Run the benchmark and print its report.
pub async fn ingest(a: IngestArgs) -> anyhow::Result<()> {
    let db = format!("np_loadtest_{}_{:04x}", std::process::id(), clock::random_u128() as u16);
    let admin = direct(&a.pg_direct).await?;
    admin.batch_execute(&format!("CREATE DATABASE {db}")).await?;
    let outcome = run(&a, &db).await;
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await;
    outcome
}

async fn run(a: &IngestArgs, db: &str) -> anyhow::Result<()> {
    let total = a.monitors * a.per_monitor;
    let direct_url = with_db(&a.pg_direct, db)?;
    schema::migrate(&direct_url).await?;
    make_days(&direct_url, a.per_monitor).await?;
    let pooled_url = format!("postgres://{}@{}/{db}", user_of(&a.pg_direct), a.pg_pooled);
    let setup = PgStore::connect(&pooled_url, a.pool_size * a.ingest_workers).await?;
    let (tenant, _) = setup.bootstrap(&clock::token_hash(&clock::secret_token("np_")), clock::now()).await?;

    // Paused monitors: real rows for ingest to lock and step; nothing scheduled.
    let t0 = Instant::now();
    let setup = Arc::new(setup);
    let mut monitors: Vec<MonitorId> = (0..a.monitors).map(|_| clock::fresh()).collect();
    monitors.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    let monitors = Arc::new(monitors);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (s, ms, next, tenant) = (setup.clone(), monitors.clone(), next.clone(), tenant.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = ms.get(i) else { return Ok::<_, anyhow::Error>(()) };
                let spec = CheckSpec::Tcp(TcpSpec { host: "127.0.0.1".into(), port: 9 });
                let shape = LoadMonitor { name: format!("loadtest {i}"), spec, interval_s: 60, timeout_ms: 1000 };
                store_monitor(&*s, &tenant, id, shape, "local".into(), true).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    drop(setup);
    let setup_s = t0.elapsed().as_secs_f64();

    // The queue and the ingest workers.
    let prefix = format!("np_loadtest_{:016x}", clock::random_u128() as u64);
    let qconf = RedisQueueConfig {
        url: DatabaseUrl::new(a.redis.clone()),
        prefix,
        max_len: (total + 1000).max(1_000_000),
        claim_idle_ms: 30_000,
        job_lease_ms: 60_000,
        partitions: a.partitions,
        timeout_ms: 10_000,
    };
    let publish_q: Arc<RedisQueue> = Arc::new(RedisQueue::connect(&qconf, "loadtest-publisher").await?);
    let streams = publish_q.stream_keys().to_vec();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut workers = Vec::new();
    let mut worker_metrics = Vec::new();
    let mut nodes = Vec::new();
    for w in 0..a.ingest_workers {
        let store: Arc<dyn Store> = Arc::new(PgStore::connect(&pooled_url, a.pool_size).await?);
        let node = Arc::new(RedisQueue::connect(&qconf, &format!("loadtest-ingest-{w}")).await?);
        nodes.push(node.clone());
        let queue: Arc<dyn ResultQueue> = node;
        let metrics = Arc::new(Metrics::default());
        let (rechecks, _) = mpsc::channel(1);
        let ingest = Ingest {
            store,
            queue,
            metrics: metrics.clone(),
            batch_size: a.batch_size,
            linger: Duration::from_millis(20),
            rechecks,
            live: LiveBus::default(),
            commits: None,
            // The default `[retention]`: the synthetic results start within the last days.
            retention: crate::config::Config::load(None, []).expect("the defaults are valid").retention,
            passes: Default::default(),
            outbox_written: Default::default(),
        };
        worker_metrics.push(metrics);
        workers.push(ingest);
    }
    let spawn_workers = |workers: &mut Vec<Ingest>| {
        std::mem::take(workers)
            .into_iter()
            .map(|w| tokio::spawn(Arc::new(w).run(stop_rx.clone(), Duration::from_secs(10))))
            .collect::<Vec<_>>()
    };
    let shares = settle_shares(&nodes, a.partitions).await?;
    let mut running = if a.preload { Vec::new() } else { spawn_workers(&mut workers) };

    // Samplers: queue backlog, PostgreSQL server connections to this database and lock waits.
    let redis_client = redis::Client::open(a.redis.as_str())?;
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn(sample(
        direct(&a.pg_direct).await?,
        redis_client.get_multiplexed_async_connection().await?,
        db.to_owned(),
        streams.clone(),
        sampling.clone(),
    ));

    // The burst: `publishers` tasks, result k goes to monitor k % monitors, the n-th result of
    // a monitor starts n minutes after the base time (so each monitor's results are in order).
    let base = clock::now().millis() - (a.per_monitor as i64 + 1) * 60_000;
    let started = Instant::now();
    let mut pubs = Vec::new();
    for p in 0..a.publishers {
        let (q, ms, tenant) = (publish_q.clone(), monitors.clone(), tenant.clone());
        let (publishers, per_call) = (a.publishers, a.publish_batch.max(1));
        pubs.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(total / publishers + 1);
            let (mut k, mut batch) = (p, Vec::with_capacity(per_call));
            while k < total {
                let (m, n) = (k % ms.len(), k / ms.len());
                let r = synthetic(&tenant, &ms[m], Timestamp::from_millis(base + n as i64 * 60_000), k);
                ids.push(r.id.as_str().to_owned());
                batch.push(ResultEnvelope::new(r, clock::now()));
                k += publishers;
                if batch.len() == per_call || k >= total {
                    publish_many_retrying(q.as_ref(), std::mem::take(&mut batch), Duration::from_secs(120)).await?;
                }
            }
            Ok::<_, anyhow::Error>(ids)
        }));
    }
    let mut published = Vec::with_capacity(total);
    for p in pubs {
        published.extend(p.await??);
    }
    let publish_s = started.elapsed().as_secs_f64();
    let ingested_at_publish_end = worker_metrics.iter().map(|m| m.results_ingested.get()).sum::<u64>() as usize;
    let ingested = || worker_metrics.iter().map(|m| m.results_ingested.get()).sum::<u64>() as usize;
    // With --preload the whole burst is queued before ingest starts: the drain alone is timed,
    // by nodes holding their shares (renewed now: publishing may have outlasted their keys).
    let shares = if a.preload { settle_shares(&nodes, a.partitions).await? } else { shares };
    running.extend(spawn_workers(&mut workers));
    let drain_started = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(a.timeout_s);
    while ingested() < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let end_to_end_s = started.elapsed().as_secs_f64();
    let drain_s = drain_started.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    for w in running {
        let _ = w.await;
    }
    sampling.store(false, Ordering::Relaxed);
    let samples = sampler.await?;

    // Exactly once: the stored rows are exactly the published ids.
    let check = direct(&direct_url).await?;
    let stored: i64 = check.query_one("SELECT count(*) FROM check_results", &[]).await?.get(0);
    let found: i64 =
        check.query_one("SELECT count(*) FROM check_results WHERE id = ANY($1)", &[&published]).await?.get(0);
    let batches: u64 = worker_metrics.iter().map(|m| m.ingest_batches.get()).sum();
    let dups: u64 = worker_metrics.iter().map(|m| m.results_duplicate.get()).sum();
    let errors: u64 = worker_metrics.iter().map(|m| m.ingest_errors.get()).sum();
    let mut redis_conn = redis_client.get_multiplexed_async_connection().await?;
    let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&streams).query_async(&mut redis_conn).await;

    println!("netpulse loadtest ingest: {total} synthetic results ({} monitors x {}), {} publisher tasks (batches of {}) → {} Redis stream(s) → {} ingest node(s) (batch {}, pool {} each) → PgBouncer {} → PostgreSQL",
        a.monitors, a.per_monitor, a.publishers, a.publish_batch.max(1), a.partitions, a.ingest_workers, a.batch_size, a.pool_size, a.pg_pooled);
    println!("setup: {} monitors created in {setup_s:.1} s", a.monitors);
    println!("published:   {total} in {publish_s:.2} s ({:.0} results/s into Redis)", total as f64 / publish_s);
    println!(
        "ingested:    {} in {end_to_end_s:.2} s end to end = {:.0} results/s ({batches} batches, avg {:.0}/batch, {errors} store errors)",
        ingested(),
        ingested() as f64 / end_to_end_s,
        ingested() as f64 / batches.max(1) as f64
    );
    println!(
        "ingest-only: {} results stored in the {drain_s:.2} s after the last publish = {:.0} results/s (backlog drain rate)",
        ingested() - ingested_at_publish_end,
        (ingested() - ingested_at_publish_end) as f64 / drain_s.max(0.001)
    );
    let per_node: Vec<String> = worker_metrics
        .iter()
        .zip(&shares)
        .map(|(m, share)| {
            format!(
                "{} results in {} batches from partitions {share:?}",
                m.results_ingested.get(),
                m.ingest_batches.get()
            )
        })
        .collect();
    println!("nodes:       {}", per_node.join("; "));
    println!("queue lag:   max backlog {} entries; drained {drain_s:.2} s after the last publish", samples.max_backlog);
    println!(
        "exactly once: published {} stored {stored} found-by-id {found} → lost {} duplicated {} (redelivered-and-skipped {dups})",
        published.len(),
        published.len() as i64 - found,
        stored - found
    );
    println!(
        "PostgreSQL server connections to the database (pg_stat_activity, peak over 50 ms samples): {} \
         (store pools: {} x {}; PgBouncer default_pool_size caps it)",
        samples.max_conns, a.ingest_workers, a.pool_size
    );
    println!("{}", samples.lock_line());
    if !a.no_copy {
        let rate = raw_copy(&check, &tenant, &monitors, total.min(500_000)).await?;
        println!("raw COPY BINARY (same machine, same run, same indexes, 10k rows per COPY in a transaction, 1 direct conn): {rate:.0} rows/s");
    }
    if published.len() as i64 != found || stored != found || ingested() < total {
        anyhow::bail!("not exactly once: see above");
    }
    Ok(())
}

/// Make the day partitions of raw results the burst's results fall in before today's (the
/// migration made today's): the first results start `per_monitor` minutes back, so a run just
/// after midnight UTC stores them in a day partition, as a running engine does, not in the
/// default one.
async fn make_days(direct_url: &str, per_monitor: usize) -> anyhow::Result<()> {
    const DAY: i64 = 86_400_000;
    let now = clock::now().millis();
    let (first, today) = ((now - (per_monitor as i64 + 2) * 60_000).div_euclid(DAY) * DAY, now.div_euclid(DAY) * DAY);
    let mut pg = direct(direct_url).await?;
    let tx = pg.transaction().await?;
    for day in (first..today).step_by(DAY as usize) {
        days::make(&tx, day).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Let the ingest nodes share the partitions out through their owner keys, as running engine
/// nodes have: each takes ⌈partitions / nodes⌉ or ⌊…⌋ and together they own every one.
/// Returns each node's partitions.
async fn settle_shares(nodes: &[Arc<RedisQueue>], partitions: usize) -> anyhow::Result<Vec<Vec<usize>>> {
    let fair = partitions.div_ceil(nodes.len().max(1));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut shares = Vec::with_capacity(nodes.len());
        for n in nodes {
            shares.push(n.owned().await);
        }
        let owned: usize = shares.iter().map(Vec::len).sum();
        if owned == partitions && shares.iter().all(|s| s.len() <= fair) {
            return Ok(shares);
        }
        if Instant::now() >= deadline {
            anyhow::bail!("the ingest nodes did not share the {partitions} partitions out within 15 s: {shares:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// COPY `rows` synthetic rows into a scratch table shaped and indexed like `check_results`.
async fn raw_copy(
    c: &tokio_postgres::Client,
    tenant: &TenantId,
    monitors: &[MonitorId],
    rows: usize,
) -> anyhow::Result<f64> {
    c.batch_execute("DROP TABLE IF EXISTS copy_scratch; CREATE TABLE copy_scratch (LIKE check_results INCLUDING ALL)")
        .await?;
    let results: Vec<CheckResult> = (0..rows)
        .map(|k| {
            let at = Timestamp::from_millis(1_700_000_000_000 + (k / monitors.len()) as i64 * 60_000);
            synthetic(tenant, &monitors[k % monitors.len()], at, k)
        })
        .collect();
    let started = Instant::now();
    for chunk in results.chunks(10_000) {
        c.batch_execute("BEGIN").await?;
        let sink = c.copy_in(&copy::statement("copy_scratch")).await?;
        copy::write_results(sink, &chunk.iter().collect::<Vec<_>>()).await?;
        c.batch_execute("COMMIT").await?;
    }
    let secs = started.elapsed().as_secs_f64();
    c.batch_execute("DROP TABLE copy_scratch").await?;
    Ok(rows as f64 / secs)
}

/// A monitor a load test writes straight into the store: what it checks and how often; no
/// policy, tags or channels of its own.
pub(crate) struct LoadMonitor {
    pub name: String,
    pub spec: CheckSpec,
    pub interval_s: u32,
    pub timeout_ms: u32,
}

/// Store `shape` as monitor `id` of `tenant`, checked from `region` (or `paused`).
pub(crate) async fn store_monitor(
    s: &dyn Store,
    tenant: &TenantId,
    id: &MonitorId,
    shape: LoadMonitor,
    region: String,
    paused: bool,
) -> anyhow::Result<()> {
    let draft = MonitorDraft {
        name: shape.name,
        spec: shape.spec,
        interval: Interval::from_trusted(shape.interval_s),
        timeout_ms: shape.timeout_ms,
        retries: 0,
        regions: vec![region],
        tags: vec![],
        paused,
        policy: PolicyLayer::default(),
        channels: None,
        depends_on: None,
        managed_by: None,
    };
    let now = clock::now();
    let rec = MonitorRecord {
        id: id.clone(),
        tenant_id: tenant.clone(),
        draft,
        heartbeat_token: None,
        created_at: now,
        updated_at: now,
    };
    s.create_monitor(tenant, &rec).await?;
    Ok(())
}

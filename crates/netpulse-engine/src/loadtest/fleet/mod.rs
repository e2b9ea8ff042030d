//! `netpulse loadtest fleet`: the whole scale-out system under one load, as one command.
//!
//! On a scratch PostgreSQL database (dropped at the end) and a fresh Redis key prefix it
//! starts `--nodes` engine nodes in this process ([`cluster`]: every role, PgBouncer in
//! transaction mode, a gateway on each), issues `--workers` certificates from the cluster CA
//! and runs that many real regional workers ([`swarm`]) spread over the regions and the
//! nodes' gateways, each leasing, checking (or, with `--synthetic`, answering without
//! probing: provenance `synthetic`) and delivering over its own mTLS connections, while
//! `--dashboards` clients time every result from check end to their `/events` stream
//! ([`dashboards`]). After `--duration-s` of steady state (every worker started) the workers
//! stop as `netpulse-worker` does (delivering what they hold), ingest drains, and the audit
//! ([`audit`]) compares what the workers had acknowledged with what PostgreSQL stored.
//! The report ([`report`]) goes to the terminal, or as JSON to stdout with `--json`, and as
//! a self-contained HTML page with `--html FILE` ([`html`]).

mod audit;
mod cluster;
mod dashboards;
mod html;
mod report;
mod sampler;
mod swarm;

pub use report::Report;

use anyhow::Context;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Options of `netpulse loadtest fleet`.
#[derive(clap::Args, Debug, Clone)]
pub struct FleetArgs {
    /// Regional workers, each with its own certificate and connections.
    #[arg(long, default_value_t = 10_000)]
    pub workers: usize,
    /// Regions the workers and monitors are spread over (`r1` … `rN`).
    #[arg(long, default_value_t = 3)]
    pub regions: usize,
    /// Engine nodes (every role, a gateway each) started in this process.
    #[arg(long, default_value_t = 2)]
    pub nodes: usize,
    /// Active monitors, each checked from one region.
    #[arg(long, default_value_t = 20_000)]
    pub monitors: usize,
    /// Check interval of every monitor, seconds.
    #[arg(long, default_value_t = 1)]
    pub interval_s: u32,
    /// Steady state (after the last worker started), seconds.
    #[arg(long, default_value_t = 120)]
    pub duration_s: u64,
    /// Workers answer without probing (provenance `synthetic`): loads the write path.
    #[arg(long)]
    pub synthetic: bool,
    /// Print the report as JSON on stdout (progress stays on stderr).
    #[arg(long)]
    pub json: bool,
    /// Also write the report as a self-contained HTML page (summary and charts) to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
    /// Dashboard clients on the nodes' `/events` streams.
    #[arg(long, default_value_t = 50)]
    pub dashboards: usize,
    /// Workers started per second (spreads the TLS handshakes).
    #[arg(long, default_value_t = 1_000)]
    pub ramp_per_s: usize,
    /// Store pool size per node (`storage.postgres.pool_size`).
    #[arg(long, default_value_t = 4)]
    pub pool_size: usize,
    /// Direct PostgreSQL server (database creation, migrations, sampling, audit).
    #[arg(long, default_value = "postgres://netpulse@127.0.0.1:5432/postgres")]
    pub pg_direct: String,
    /// PgBouncer (transaction mode) in front of the same server: host:port.
    #[arg(long, default_value = "127.0.0.1:6432")]
    pub pg_pooled: String,
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
}

/// Run the load test, print its report (to stdout as JSON with `--json`), and fail when the
/// audit found a result lost or stored twice.
pub async fn fleet(a: FleetArgs) -> anyhow::Result<()> {
    let report = run(&a).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print();
    }
    if let Some(path) = &a.html {
        std::fs::write(path, html::render(&report)).with_context(|| format!("--html {}", path.display()))?;
    }
    report.audit.verdict()
}

/// Run the load test on a scratch database and Redis prefix (both removed at the end).
pub async fn run(a: &FleetArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(
        a.workers > 0 && a.nodes > 0 && a.regions > 0,
        "--workers, --nodes and --regions must be at least 1"
    );
    anyhow::ensure!(a.monitors >= a.regions, "--monitors must be at least --regions (one per region)");
    let nofile = raise_nofile((a.workers * 4 + a.dashboards * 2 + 4_096) as u64);
    let db = format!("np_fleet_{}_{:04x}", std::process::id(), netpulse_store::clock::random_u128() as u16);
    let admin = super::direct(&a.pg_direct).await?;
    admin.batch_execute(&format!("CREATE DATABASE {db}")).await?;
    let root = std::env::temp_dir().join(&db);
    let outcome = run_on(a, &db, &root, nofile).await;
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await;
    let _ = std::fs::remove_dir_all(&root);
    outcome
}

/// The file-descriptor limit raised to `want` (both limits, up to the kernel's `nr_open`);
/// returns the soft limit in force.
fn raise_nofile(want: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    let cur = now.current.unwrap_or(u64::MAX);
    if cur >= want {
        return cur;
    }
    let cap = std::fs::read_to_string("/proc/sys/fs/nr_open").ok().and_then(|s| s.trim().parse().ok());
    let want = want.min(cap.unwrap_or(want));
    let hard = now.maximum.map_or(want, |m| m.max(want));
    if setrlimit(Resource::Nofile, Rlimit { current: Some(want), maximum: Some(hard) }).is_err() {
        // Not allowed to raise the hard limit: go as far as it.
        let soft = now.maximum.unwrap_or(want).min(want);
        let _ = setrlimit(Resource::Nofile, Rlimit { current: Some(soft), maximum: now.maximum });
    }
    getrlimit(Resource::Nofile).current.unwrap_or(0)
}

fn progress(json: bool, line: &str) {
    use std::io::Write;
    let mut err = std::io::stderr();
    if std::io::IsTerminal::is_terminal(&err) {
        let _ = write!(err, "\r\x1b[2K{line}");
    } else if !json || !line.is_empty() {
        let _ = writeln!(err, "{line}");
    }
    let _ = err.flush();
}

async fn run_on(a: &FleetArgs, db: &str, root: &std::path::Path, nofile: u64) -> anyhow::Result<Report> {
    let t0 = Instant::now();
    let targets = if a.synthetic { Vec::new() } else { swarm::target_farm(4).await? };
    let shared = cluster::prepare(a, db, &targets).await?;
    let setup_s = t0.elapsed().as_secs_f64();
    progress(
        a.json,
        &format!("fleet: {} monitors written in {setup_s:.1} s; issuing {} certificates", a.monitors, a.workers),
    );
    let t1 = Instant::now();
    let (root2, a2) = (root.to_path_buf(), a.clone());
    let bundles = tokio::task::spawn_blocking(move || cluster::issue(&root2, &a2)).await??;
    let issue_s = t1.elapsed().as_secs_f64();
    let nodes = cluster::start(root, a, &shared).await?;
    let gateways: Vec<_> = nodes.iter().filter_map(|n| n.gateway_addr).collect();
    let https: Vec<_> = nodes.iter().map(|n| n.addr).collect();
    let pg = sampler::PgConnections::start(&super::with_db(&a.pg_direct, db)?, db).await?;
    let steady = Arc::new(AtomicBool::new(false));
    let boards = dashboards::Dashboards::open(a.dashboards, &https, &shared.token, steady.clone()).await;

    // The timeline: a row a second, and the progress line.
    let roster: swarm::Roster = Arc::new(Mutex::new(Vec::new()));
    let metrics: Vec<_> = nodes.iter().map(|n| n.metrics.clone()).collect();
    let stored = move || metrics.iter().map(|m| m.results_ingested.get()).sum::<u64>();
    let timeline = Arc::new(Mutex::new(Vec::<sampler::Tick>::new()));
    let ticking = Arc::new(AtomicBool::new(true));
    let ticker = {
        let (roster, timeline, ticking, stored, pg_now, events) =
            (roster.clone(), timeline.clone(), ticking.clone(), stored.clone(), pg.now.clone(), boards.events.clone());
        let (json, workers) = (a.json, a.workers);
        tokio::spawn(async move {
            let (mut cpu, mut last, start) = (sampler::CpuMeter::start(), 0u64, Instant::now());
            while ticking.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let c = swarm::counts(&roster);
                let (cpu_process, cpu_services) = cpu.read();
                let now = stored();
                let tick = sampler::Tick {
                    t_s: start.elapsed().as_secs_f64(),
                    workers_connected: c.connected,
                    acked: c.acked,
                    stored: now,
                    stored_per_s: now.saturating_sub(last) as f64,
                    pg_connections: pg_now.load(Ordering::Relaxed),
                    cpu_process,
                    cpu_services,
                    rss_mib: sampler::rss_mib().0,
                    load1: sampler::load1(),
                };
                last = now;
                progress(json, &format!(
                    "fleet {:>4.0}s: workers {}/{workers} connected | jobs {} acked {} stored {} ({:.0}/s) | dashboard events {} | PG conns {} | CPU {:.2}+{:.2} cores | RSS {} MiB | load {:.1}",
                    tick.t_s, tick.workers_connected, c.jobs, tick.acked, tick.stored, tick.stored_per_s,
                    events.load(Ordering::Relaxed), tick.pg_connections, cpu_process, cpu_services, tick.rss_mib, tick.load1
                ));
                timeline.lock().expect("timeline lock").push(tick);
            }
        })
    };

    let t_ramp = Instant::now();
    let swarm = swarm::Swarm::start(&bundles, &gateways, a.synthetic, a.ramp_per_s, &roster).await?;
    let ramp_s = t_ramp.elapsed().as_secs_f64();
    // Steady state: every worker started; give the last ones a lease period to connect.
    tokio::time::sleep(Duration::from_secs(5)).await;
    steady.store(true, Ordering::Relaxed);
    let (acked0, stored0, cpu0, svc0) =
        (swarm::counts(&roster).acked, stored(), sampler::cpu_ticks(&[]), sampler::cpu_ticks(&sampler::SERVICES));
    let (t_steady, load_start) = (Instant::now(), sampler::load1());
    tokio::time::sleep(Duration::from_secs(a.duration_s)).await;
    let (steady_s, load_end) = (t_steady.elapsed().as_secs_f64(), sampler::load1());
    let during = swarm::counts(&roster);
    let (acked1, stored1) = (during.acked, stored());
    let (cpu1, svc1) = (sampler::cpu_ticks(&[]), sampler::cpu_ticks(&sampler::SERVICES));

    // Stop the workers (they deliver what they hold), then let ingest store everything.
    let t_stop = Instant::now();
    swarm.shutdown().await;
    let after = swarm::counts(&roster);
    for n in &nodes {
        tokio::time::timeout(Duration::from_secs(120), n.drain_ingest())
            .await
            .context("ingest did not drain in 120 s")?;
    }
    let drain_s = t_stop.elapsed().as_secs_f64();
    ticking.store(false, Ordering::Relaxed);
    let _ = ticker.await;
    progress(a.json, "");
    let seen = boards.close().await;
    let pg_peak = pg.stop().await;
    let audit = audit::audit(&super::with_db(&a.pg_direct, db)?, &after, &seen).await?;
    let per_node: Vec<(String, u64)> =
        nodes.iter().map(|n| (n.node_id.clone(), n.metrics.results_ingested.get())).collect();
    for n in nodes {
        n.shutdown().await;
    }
    if let Err(e) = cluster::forget(&a.redis, &shared.prefix).await {
        tracing::warn!(error = %e, "cannot delete the run's Redis keys");
    }
    let timeline = std::mem::take(&mut *timeline.lock().expect("timeline lock"));
    Ok(Report::build(report::Inputs {
        args: a.clone(),
        nofile,
        setup_s,
        issue_s,
        ramp_s,
        steady_s,
        drain_s,
        acked_steady: acked1 - acked0,
        stored_steady: stored1 - stored0,
        during,
        after,
        cpu_process_cores: (cpu1 - cpu0) as f64 / 100.0 / steady_s,
        cpu_services_cores: svc1.saturating_sub(svc0) as f64 / 100.0 / steady_s,
        rss_peak_mib: sampler::rss_mib().1,
        load1: (load_start, load_end),
        pg_peak,
        per_node,
        seen,
        audit,
        timeline,
    }))
}

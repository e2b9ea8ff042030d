//! `netpulse loadtest fleet`: the whole scale-out system under one load, as one command.
//!
//! On a scratch PostgreSQL database (dropped at the end) and a fresh Redis key prefix it
//! starts `--nodes` engine nodes, each its own `netpulse serve` process ([`nodes`]: every
//! role, PgBouncer in transaction mode, a gateway on each), issues `--workers` certificates
//! from the cluster CA ([`cluster`]) and runs that many real regional workers in child
//! processes ([`swarm`]) spread over the regions and the nodes' gateways, each leasing,
//! checking (or, with `--synthetic`, answering without probing: provenance `synthetic`) and
//! delivering over its own mTLS connections, while `--dashboards` clients time every result
//! from check end to their `/events` stream ([`dashboards`]). After `--duration-s` of steady
//! state (every worker started) — with `--chaos`, also until the faults of [`chaos`] have
//! run and the workers came back from each — the workers stop as `netpulse-worker` does
//! (delivering what they hold), ingest drains the Redis streams, and the audit ([`audit`])
//! compares what the workers had acknowledged with what PostgreSQL stored. The report
//! ([`report`]) goes to the terminal, or as JSON to stdout with `--json`, and as a
//! self-contained HTML page with `--html FILE` ([`html`]).

mod alerts;
mod audit;
mod chaos;
mod cluster;
mod dashboards;
mod html;
mod nodes;
mod report;
mod sampler;
mod swarm;

pub use report::{Fault, Report};
pub use swarm::{run_child as run_swarm_child, SwarmArgs};

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
    /// Engine nodes (every role, a gateway each), each a `netpulse serve` process.
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
    /// Redis (with `--chaos` the run starts its own, with the append-only file on).
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
    /// Mid-run faults, one after another, each once the workers came back from the last:
    /// SIGKILL an engine node (restarted 5 s later), restart Redis, pause PgBouncer 10 s,
    /// cut 10 % of the workers off for 30 s.
    #[arg(long)]
    pub chaos: bool,
    /// Workers per child process (a process's file descriptors are limited).
    #[arg(long, default_value_t = 2_500)]
    pub workers_per_process: usize,
    /// The `netpulse` binary the nodes and worker processes run (default: this one).
    #[arg(long, hide = true)]
    pub engine_bin: Option<std::path::PathBuf>,
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
    report.audit.verdict()?;
    match &report.alerts {
        Some(a) if !a.ok() => anyhow::bail!("alert audit failed: {a:?}"),
        _ => Ok(()),
    }
}

/// Run the load test on a scratch database and Redis prefix (both removed at the end).
pub async fn run(a: &FleetArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(
        a.workers > 0 && a.nodes > 0 && a.regions > 0,
        "--workers, --nodes and --regions must be at least 1"
    );
    anyhow::ensure!(a.monitors >= a.regions, "--monitors must be at least --regions (one per region)");
    anyhow::ensure!(!a.chaos || a.nodes >= 2, "--chaos kills a node: run it with --nodes 2 or more");
    anyhow::ensure!(a.workers_per_process > 0, "--workers-per-process must be at least 1");
    // The worker processes inherit the limit: each holds two connections per worker. This
    // process holds the dashboard streams and, with --chaos, the cut-off workers' proxies.
    let nofile = raise_nofile(
        (a.workers_per_process.min(a.workers) * 4 + a.dashboards * 2 + if a.chaos { a.workers } else { 0 } + 4_096)
            as u64,
    );
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
    let bin = match &a.engine_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe().context("the path of this netpulse binary")?,
    };
    let t0 = Instant::now();
    let targets = if a.synthetic { Vec::new() } else { swarm::target_farm(4).await? };
    let mut redis = match a.chaos {
        true => Some(chaos::RunRedis::start(&root.join("redis")).await?),
        false => None,
    };
    let redis_url = redis.as_ref().map_or_else(|| a.redis.clone(), |r| r.url());
    // Real probes: a target that fails for a while, and a webhook receiver auditing alerts.
    let (flapper, receiver) = match a.synthetic {
        true => (None, None),
        false => (Some(Arc::new(alerts::Flapper::start().await?)), Some(alerts::Receiver::start().await?)),
    };
    let shared = cluster::prepare(a, db, &targets, flapper.as_ref().map(|f| f.url.as_str()), &redis_url).await?;
    let setup_s = t0.elapsed().as_secs_f64();
    progress(
        a.json,
        &format!("fleet: {} monitors written in {setup_s:.1} s; issuing {} certificates", a.monitors, a.workers),
    );
    let t1 = Instant::now();
    let (root2, a2) = (root.to_path_buf(), a.clone());
    tokio::task::spawn_blocking(move || cluster::issue(&root2, &a2)).await??;
    let issue_s = t1.elapsed().as_secs_f64();
    progress(a.json, &format!("fleet: starting {} engine nodes", a.nodes));
    let mut started = Vec::with_capacity(a.nodes);
    for n in 0..a.nodes {
        started.push(nodes::Node::start(&bin, root, n, a, &shared).await?);
    }
    let gateways: Vec<_> = started.iter().map(|n| n.gateway).collect();
    let https: Vec<_> = started.iter().map(|n| n.http).collect();
    let nodes = Arc::new(tokio::sync::Mutex::new(started));
    if let Some(r) = &receiver {
        alerts::add_channel(https[0], &shared.token, r).await?;
    }
    let pg = sampler::PgConnections::start(&super::with_db(&a.pg_direct, db)?, db).await?;
    let clock = dashboards::Clock { t0_ms: dashboards::now_ms(), steady: Arc::new(AtomicBool::new(false)) };
    let boards = dashboards::Dashboards::open(a.dashboards, &https, &shared.token, clock.clone()).await;
    let cutter = match a.chaos {
        true => Some(chaos::Cutter::start(&gateways).await?),
        false => None,
    };
    let via = cutter.as_ref().map(|c| c.addrs.clone()).unwrap_or_default();
    let t_ramp = Instant::now();
    let swarm =
        swarm::Swarm::start(&bin, root, a.workers, a.workers_per_process, &gateways, &via, a.synthetic, a.ramp_per_s)?;
    let view = swarm.view();

    // The timeline: a row a second, and the progress line.
    let timeline = Arc::new(Mutex::new(Vec::<sampler::Tick>::new()));
    let ticking = Arc::new(AtomicBool::new(true));
    let ticker = {
        let (view, nodes, timeline, ticking, pg_now, events) =
            (view.clone(), nodes.clone(), timeline.clone(), ticking.clone(), pg.now.clone(), boards.events.clone());
        let (json, workers, t0_ms) = (a.json, a.workers, clock.t0_ms);
        tokio::spawn(async move {
            let (mut cpu, mut last, mut at) = (sampler::CpuMeter::start(), 0u64, Instant::now());
            let mut node_ticks: Vec<(Option<u32>, u64)> = Vec::new();
            let mut worker_ticks: u64 = view.pids.iter().map(|p| sampler::pid_ticks(*p)).sum();
            while ticking.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let secs = at.elapsed().as_secs_f64();
                at = Instant::now();
                let c = view.counts();
                let (cpu_process, cpu_services) = cpu.read();
                let (mut stored, mut cpu_nodes, mut rss_nodes) = (0, Vec::new(), Vec::new());
                {
                    let mut ns = nodes.lock().await;
                    node_ticks.resize(ns.len(), (None, 0));
                    for (n, before) in ns.iter_mut().zip(node_ticks.iter_mut()) {
                        n.scrape().await;
                        stored += n.stored();
                        let pid = n.pid();
                        let now = pid.map_or(0, sampler::pid_ticks);
                        // A node restarted since the last tick starts counting afresh.
                        let base = if before.0 == pid { before.1 } else { now };
                        cpu_nodes.push(sampler::cores(base, now, secs));
                        rss_nodes.push(pid.map_or(0, sampler::pid_rss_mib));
                        *before = (pid, now);
                    }
                }
                let w_now: u64 = view.pids.iter().map(|p| sampler::pid_ticks(*p)).sum();
                let cpu_workers = sampler::cores(worker_ticks, w_now, secs);
                worker_ticks = w_now;
                let tick = sampler::Tick {
                    t_s: (dashboards::now_ms() - t0_ms) as f64 / 1000.0,
                    workers_connected: c.connected,
                    acked: c.acked,
                    stored,
                    stored_per_s: stored.saturating_sub(last) as f64 / secs.max(0.001),
                    backlog: c.acked.saturating_sub(stored),
                    pg_connections: pg_now.load(Ordering::Relaxed),
                    cpu_workers,
                    cpu_process,
                    cpu_services,
                    rss_workers_mib: view.pids.iter().map(|p| sampler::pid_rss_mib(*p)).sum(),
                    cpu_nodes,
                    rss_nodes_mib: rss_nodes,
                    load1: sampler::load1(),
                    ..sampler::Tick::default()
                };
                last = stored;
                let node_cpu: Vec<String> = tick.cpu_nodes.iter().map(|c| format!("{c:.2}")).collect();
                progress(json, &format!(
                    "fleet {:>4.0}s: workers {}/{}/{workers} started/connected | jobs {} acked {} stored {} ({:.0}/s) backlog {} | dashboard events {} | PG conns {} | CPU nodes {} workers {:.2} services {:.2} | load {:.1}",
                    tick.t_s, c.started, tick.workers_connected, c.jobs, tick.acked, tick.stored, tick.stored_per_s, tick.backlog,
                    events.load(Ordering::Relaxed), tick.pg_connections, node_cpu.join("+"), tick.cpu_workers, cpu_services, tick.load1
                ));
                timeline.lock().expect("timeline lock").push(tick);
            }
        })
    };

    // Ramp: until every worker process started its share.
    while view.counts().started < a.workers {
        tokio::time::sleep(Duration::from_millis(200)).await;
        anyhow::ensure!(t_ramp.elapsed() < Duration::from_secs(600), "the workers did not start in 600 s");
    }
    let ramp_s = t_ramp.elapsed().as_secs_f64();
    // Steady state: every worker started; give the last ones a lease period to connect.
    tokio::time::sleep(Duration::from_secs(5)).await;
    clock.steady.store(true, Ordering::Relaxed);
    let stored_now = |nodes: Arc<tokio::sync::Mutex<Vec<nodes::Node>>>| async move {
        nodes.lock().await.iter().map(nodes::Node::stored).sum::<u64>()
    };
    let lag_now = |nodes: Arc<tokio::sync::Mutex<Vec<nodes::Node>>>| async move {
        nodes.lock().await.iter().fold(nodes::Buckets::default(), |sum, n| sum.plus(&n.dispatch_lag()))
    };
    let reads_now = |nodes: Arc<tokio::sync::Mutex<Vec<nodes::Node>>>| async move {
        nodes.lock().await.iter().fold(nodes::Buckets::default(), |sum, n| sum.plus(&n.scheduler_reads()))
    };
    let (lag0, reads0) = (lag_now(nodes.clone()).await, reads_now(nodes.clone()).await);
    let (acked0, stored0, cpu0, svc0) = (
        view.counts().acked,
        stored_now(nodes.clone()).await,
        sampler::cpu_ticks(&[]),
        sampler::cpu_ticks(&sampler::SERVICES),
    );
    let (t_steady, load_start) = (Instant::now(), sampler::load1());
    let steady_from_s = (dashboards::now_ms() - clock.t0_ms) as f64 / 1000.0;
    // The failing target's outage: from a fifth of the steady state for two fifths of it, and
    // at least three intervals and 10 s, so every failing monitor confirms its incident.
    let outage_from = steady_from_s + (a.duration_s as f64 * 0.2).max(2.0);
    let outage_len = (a.duration_s as f64 * 0.4).max(f64::from(a.interval_s) * 3.0 + 10.0);
    let outage_s = (outage_from, outage_from + outage_len);
    let outage = flapper.clone().map(|f| {
        let (from, to) = (outage_s.0 - steady_from_s, outage_s.1 - steady_from_s);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(from)).await;
            f.set_down(true);
            tokio::time::sleep(Duration::from_secs_f64(to - from)).await;
            f.set_down(false);
        })
    });
    let mut faults = Vec::new();
    if let (Some(redis), Some(cutter)) = (redis.as_mut(), cutter.as_ref()) {
        let faults_run = chaos_run(a, db, &nodes, redis, cutter, &view, clock.t0_ms);
        faults = faults_run.await?;
    }
    if let Some(rest) = Duration::from_secs(a.duration_s).checked_sub(t_steady.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    if let Some(o) = outage {
        o.await?;
    }
    let (steady_s, load_end) = (t_steady.elapsed().as_secs_f64(), sampler::load1());
    let during = view.counts();
    let (acked1, stored1) = (during.acked, stored_now(nodes.clone()).await);
    let dispatch_lag = report::DispatchLag::of(&lag_now(nodes.clone()).await.since(&lag0));
    let scheduler_reads = report::SchedulerReads::of(&reads_now(nodes.clone()).await.since(&reads0));
    let (cpu1, svc1) = (sampler::cpu_ticks(&[]), sampler::cpu_ticks(&sampler::SERVICES));

    // Stop the workers (they deliver what they hold), then let ingest store everything.
    let t_stop = Instant::now();
    let after = swarm.shutdown().await;
    // Not drained in time: the audit below says what is missing.
    let mut undrained = String::new();
    match tokio::time::timeout(Duration::from_secs(180), drained(&redis_url, &shared.prefix, &mut undrained)).await {
        Ok(done) => done.context("reading the result streams' groups")?,
        Err(_) => {
            eprintln!("fleet: ingest did not drain the result streams in 180 s ({undrained}); auditing what was stored")
        }
    }
    let drain_s = t_stop.elapsed().as_secs_f64();
    ticking.store(false, Ordering::Relaxed);
    let _ = ticker.await;
    progress(a.json, "");
    let seen = boards.close().await;
    let pg_peak = pg.stop().await;
    let audit = audit::audit(&super::with_db(&a.pg_direct, db)?, &after, &seen).await?;
    let alerts = match &receiver {
        Some(r) => Some(alerts::audit(&super::with_db(&a.pg_direct, db)?, &shared.failing, outage_s, r).await?),
        None => None,
    };
    let per_node: Vec<(String, u64)> = {
        let mut ns = nodes.lock().await;
        let mut out = Vec::new();
        for n in ns.iter_mut() {
            n.scrape().await;
            out.push((format!("node-{}", n.index), n.stored()));
            // Its database is dropped next: a node still busy after 20 s is killed.
            if !n.stop(Duration::from_secs(20)) {
                eprintln!("node-{} had not stopped 20 s after SIGTERM: killed", n.index);
            }
        }
        out
    };
    if let Err(e) = cluster::forget(&redis_url, &shared.prefix).await {
        tracing::warn!(error = %e, "cannot delete the run's Redis keys");
    }
    drop(redis);
    let timeline = std::mem::take(&mut *timeline.lock().expect("timeline lock"));
    Ok(Report::build(report::Inputs {
        args: a.clone(),
        nofile,
        setup_s,
        issue_s,
        ramp_s,
        steady_s,
        steady_from_s,
        drain_s,
        acked_steady: acked1 - acked0,
        stored_steady: stored1.saturating_sub(stored0),
        dispatch_lag,
        scheduler_reads,
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
        alerts,
        faults,
        timeline,
    }))
}

/// Wait until every result stream of the run is empty (acknowledged entries are deleted) and
/// no group has an entry pending: ingest stored everything. `busy_at` names the streams that
/// were not, at the last look.
async fn drained(redis_url: &str, prefix: &str, busy_at: &mut String) -> anyhow::Result<()> {
    let client = redis::Client::open(redis_url)?;
    loop {
        let mut c = match client.get_multiplexed_async_connection().await {
            Ok(c) => c,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let streams = cluster::scan(&mut c, &format!("{prefix}:results*"), Some("stream")).await?;
        let mut looked = Vec::new();
        for s in &streams {
            let groups: Vec<std::collections::HashMap<String, redis::Value>> =
                redis::cmd("XINFO").arg("GROUPS").arg(s).query_async(&mut c).await?;
            // Acknowledged entries are deleted: a stream's length is what is still to store.
            let len: i64 = redis::cmd("XLEN").arg(s).query_async(&mut c).await?;
            let pending: i64 = groups
                .iter()
                .map(|g| match g.get("pending") {
                    Some(redis::Value::Int(v)) => *v,
                    _ => 0,
                })
                .sum();
            if len > 0 || pending > 0 {
                looked.push(format!("{s}: {len} entries, {pending} pending"));
            }
        }
        if looked.is_empty() {
            return Ok(());
        }
        *busy_at = looked.join("; ");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The faults of `--chaos`, one after another: each once the workers came back from the
/// previous one (or 60 s after it, at most) and 10 s more.
async fn chaos_run(
    a: &FleetArgs,
    db: &str,
    nodes: &tokio::sync::Mutex<Vec<nodes::Node>>,
    redis: &mut chaos::RunRedis,
    cutter: &chaos::Cutter,
    view: &swarm::SwarmView,
    t0_ms: i64,
) -> anyhow::Result<Vec<Fault>> {
    let since = || (dashboards::now_ms() - t0_ms) as f64 / 1000.0;
    let mut faults = Vec::new();
    tokio::time::sleep(Duration::from_secs(10)).await;
    for step in 0..4 {
        let before = view.counts().connected;
        let at_s = since();
        let name = match step {
            0 => {
                let mut ns = nodes.lock().await;
                let victim = ns.last_mut().expect("--chaos needs two nodes");
                victim.kill();
                drop(ns);
                tokio::time::sleep(Duration::from_secs(5)).await;
                let mut ns = nodes.lock().await;
                ns.last_mut().expect("two nodes").spawn().await?;
                format!("SIGKILL engine node-{} (restarted after 5 s)", a.nodes - 1)
            }
            1 => {
                redis.restart().await?;
                "Redis restarted (SHUTDOWN with the append-only file, started again)".to_owned()
            }
            2 => {
                chaos::pause_pgbouncer(&a.pg_pooled, db, Duration::from_secs(10)).await?;
                "PgBouncer paused 10 s (PAUSE / RESUME of the run's database)".to_owned()
            }
            _ => {
                cutter.set_cut(true);
                tokio::time::sleep(Duration::from_secs(30)).await;
                cutter.set_cut(false);
                format!("{} workers (every tenth) cut off for 30 s", a.workers.div_ceil(10))
            }
        };
        let ended_s = since();
        progress(a.json, &format!("fleet: fault {}: {name}", step + 1));
        let ended = Instant::now();
        let mut back_after_s = None;
        while ended.elapsed() < Duration::from_secs(60) {
            if view.counts().connected * 100 >= before * 99 {
                back_after_s = Some(ended.elapsed().as_secs_f64());
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        faults.push(Fault { name, at_s, ended_s, workers_before: before, back_after_s, ..Fault::default() });
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    Ok(faults)
}

/// One HTTP/1.1 request to `addr` (2 s at most): the status and the body.
async fn http_request(
    addr: std::net::SocketAddr,
    method: http::Method,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Option<(u16, String)> {
    use http_body_util::{BodyExt, Full};
    let go = async {
        let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await.ok()?;
        tokio::spawn(conn);
        let mut req = http::Request::builder().method(method).uri(path).header(http::header::HOST, addr.to_string());
        if let Some(t) = token {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(Full::new(bytes::Bytes::from(body.unwrap_or_default()))).ok()?;
        let resp = send.send_request(req).await.ok()?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.ok()?.to_bytes();
        Some((status, String::from_utf8_lossy(&bytes).into_owned()))
    };
    tokio::time::timeout(Duration::from_secs(2), go).await.ok().flatten()
}

/// GET `path` from `addr`: the body when the answer is 2xx.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<String> {
    let (status, body) = http_request(addr, http::Method::GET, path, None, None).await?;
    (200..300).contains(&status).then_some(body)
}

/// POST a JSON `body` to `path` with the owner token: the status.
async fn http_post(addr: std::net::SocketAddr, path: &str, token: &str, body: String) -> Option<u16> {
    Some(http_request(addr, http::Method::POST, path, Some(token), Some(body)).await?.0)
}

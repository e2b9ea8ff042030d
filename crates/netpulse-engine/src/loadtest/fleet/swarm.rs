//! The workers of `netpulse loadtest fleet`: W real regional workers
//! ([`netpulse_checker::worker::Worker`], the code `netpulse-worker` runs) as tasks of this
//! process, each with its own certificate bundle and its own mTLS connections to the gateway
//! of node `i % nodes` (the worker keeps two: one long-polling leases, one delivering
//! results). They are started at `--ramp-per-s` so that the TLS handshakes do not all land
//! in the same second, and the target farm: a few axum servers on 127.0.0.1 answering
//! `200 ok` for the real-probe mode.

use netpulse_checker::worker::outbox::Outbox;
use netpulse_checker::worker::{Worker, WorkerConfig, WorkerStats};
use netpulse_checker::{HttpClient, ProbeContext, Resolver, SsrfGuard};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The running workers.
pub struct Swarm {
    pub workers: Vec<Worker>,
}

/// Each started worker's counters and outbox, readable while more are being started.
pub type Roster = Arc<Mutex<Vec<(Arc<WorkerStats>, Arc<Outbox>)>>>;

/// What the workers say about themselves, summed.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct SwarmCounts {
    /// Workers whose last lease was answered.
    pub connected: usize,
    pub jobs: u64,
    pub produced: u64,
    /// Results the gateways acknowledged (durable in Redis).
    pub acked: u64,
    /// Results waiting in the workers' outboxes.
    pub buffered: usize,
}

impl Swarm {
    /// Start a worker per bundle; worker `i` dials `gateways[i % len]`.
    pub async fn start(
        bundles: &[(PathBuf, String)],
        gateways: &[SocketAddr],
        synthetic: bool,
        ramp_per_s: usize,
        roster: &Roster,
    ) -> anyhow::Result<Self> {
        let probe = ProbeContext::new(HttpClient::new(SsrfGuard::allow_all(), Resolver::from_system()));
        let started = Instant::now();
        let mut workers = Vec::with_capacity(bundles.len());
        for (i, (dir, _region)) in bundles.iter().enumerate() {
            let cfg = WorkerConfig {
                engine: gateways[i % gateways.len()].to_string(),
                server_name: "127.0.0.1".into(),
                bundle: dir.clone(),
                concurrency: if synthetic { 4 } else { 16 },
                buffer_dir: dir.join("buffer"),
                buffer_max: 100_000,
                lease_wait: Duration::from_secs(5),
                probe: probe.clone(),
                synthetic,
            };
            let w = Worker::start(cfg).map_err(|e| anyhow::anyhow!("worker {i}: {e}"))?;
            roster.lock().expect("roster lock").push((w.stats.clone(), w.outbox.clone()));
            workers.push(w);
            let due = Duration::from_secs_f64((i + 1) as f64 / ramp_per_s.max(1) as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        Ok(Self { workers })
    }

    /// Stop every worker the way `netpulse-worker` stops on Ctrl-C: no new leases, checks in
    /// flight finished, every result delivered (or, after 10 s, persisted to its buffer).
    pub async fn shutdown(self) {
        let mut stopping = tokio::task::JoinSet::new();
        for w in self.workers {
            stopping.spawn(w.shutdown());
        }
        while stopping.join_next().await.is_some() {}
    }
}

/// The counters of every worker on the roster, summed.
pub fn counts(roster: &Roster) -> SwarmCounts {
    let mut c = SwarmCounts::default();
    for (s, outbox) in roster.lock().expect("roster lock").iter() {
        c.connected += usize::from(s.connected.load(Ordering::Relaxed));
        c.jobs += s.jobs.load(Ordering::Relaxed);
        c.produced += s.produced.load(Ordering::Relaxed);
        c.acked += s.acked.load(Ordering::Relaxed);
        c.buffered += outbox.len();
    }
    c
}

/// `n` axum servers on 127.0.0.1 answering `200 ok` to every GET: the sites the real-probe
/// mode checks. Returns their URLs; the servers live as long as the runtime.
pub async fn target_farm(n: usize) -> anyhow::Result<Vec<String>> {
    let mut urls = Vec::with_capacity(n);
    for _ in 0..n {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new().fallback(|| async { "ok" });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        urls.push(format!("http://{addr}/health"));
    }
    Ok(urls)
}

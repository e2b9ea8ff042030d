//! The workers of `netpulse loadtest fleet`: W real regional workers
//! ([`netpulse_checker::worker::Worker`], the code `netpulse-worker` runs), each with its own
//! certificate bundle and its own mTLS connections (the worker keeps two: one long-polling
//! leases, one delivering results) to the gateway of node `i % nodes`.
//!
//! They run in child processes of `--workers-per-process` workers each (`netpulse loadtest
//! fleet-swarm`, [`run_child`]): a process's file descriptors are limited, and ten thousand
//! workers hold twenty thousand connections. Each child starts its share at its share of
//! `--ramp-per-s`, prints its summed counters as a JSON line every 250 ms, and when its stdin
//! closes stops its workers as `netpulse-worker` stops (delivering what they hold), prints a
//! last line and exits. With `--chaos`, every tenth worker dials its gateway through the
//! run's cut-off proxy instead ([`super::chaos::Cutter`]).
//!
//! Also the target farm: a few axum servers on 127.0.0.1 answering `200 ok` for the
//! real-probe mode.

use netpulse_checker::worker::{Worker, WorkerConfig};
use netpulse_checker::{HttpClient, ProbeContext, Resolver, SsrfGuard};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the workers say about themselves, summed.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct SwarmCounts {
    /// Workers started so far.
    #[serde(default)]
    pub started: usize,
    /// Workers whose last lease was answered.
    pub connected: usize,
    pub jobs: u64,
    pub produced: u64,
    /// Results the gateways acknowledged (durable in Redis).
    pub acked: u64,
    /// Results waiting in the workers' outboxes.
    pub buffered: usize,
}

impl std::ops::AddAssign for SwarmCounts {
    fn add_assign(&mut self, o: Self) {
        self.started += o.started;
        self.connected += o.connected;
        self.jobs += o.jobs;
        self.produced += o.produced;
        self.acked += o.acked;
        self.buffered += o.buffered;
    }
}

/// Options of the hidden `netpulse loadtest fleet-swarm` (one child of a fleet run).
#[derive(clap::Args, Debug, Clone)]
pub struct SwarmArgs {
    /// The run's directory: worker `i`'s bundle is `<root>/workers/<i>`.
    #[arg(long)]
    pub root: PathBuf,
    /// Workers `from..to` of the run.
    #[arg(long)]
    pub from: usize,
    #[arg(long)]
    pub to: usize,
    /// The nodes' gateways, comma-separated; worker `i` dials `gateways[i % len]` first and
    /// the others when that one stops answering.
    #[arg(long, value_delimiter = ',')]
    pub gateways: Vec<SocketAddr>,
    /// The cut-off proxies in front of the same gateways: every tenth worker dials only these.
    #[arg(long, value_delimiter = ',')]
    pub via: Vec<SocketAddr>,
    #[arg(long)]
    pub synthetic: bool,
    #[arg(long, default_value_t = 1_000)]
    pub ramp_per_s: usize,
}

/// Worker `i` dials through the cut-off proxy (when there is one): every tenth.
pub fn cut_off_worker(i: usize) -> bool {
    i.is_multiple_of(10)
}

/// The child process: run workers `from..to`, report, stop when stdin closes.
pub async fn run_child(a: SwarmArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!a.gateways.is_empty(), "--gateways: at least one gateway address");
    let probe = ProbeContext::new(HttpClient::new(SsrfGuard::allow_all(), Resolver::from_system()));
    let workers: Arc<Mutex<Vec<Worker>>> = Arc::new(Mutex::new(Vec::new()));
    let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let closed = closed.clone();
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            closed.store(true, Ordering::Relaxed);
        });
    }
    let report = |ws: &[Worker]| {
        let mut c = SwarmCounts { started: ws.len(), ..SwarmCounts::default() };
        for w in ws {
            c.connected += usize::from(w.stats.connected.load(Ordering::Relaxed));
            c.jobs += w.stats.jobs.load(Ordering::Relaxed);
            c.produced += w.stats.produced.load(Ordering::Relaxed);
            c.acked += w.stats.acked.load(Ordering::Relaxed);
            c.buffered += w.outbox.len();
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", serde_json::to_string(&c).unwrap_or_default());
        let _ = out.flush();
    };
    let reporter = {
        let (workers, closed) = (workers.clone(), closed.clone());
        tokio::spawn(async move {
            while !closed.load(Ordering::Relaxed) {
                report(&workers.lock().expect("workers lock"));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let started = Instant::now();
    for (k, i) in (a.from..a.to).enumerate() {
        if closed.load(Ordering::Relaxed) {
            break;
        }
        let dir = a.root.join("workers").join(i.to_string());
        // Every gateway, its own node's first: a worker whose node dies moves to the next.
        let list = match cut_off_worker(i) && !a.via.is_empty() {
            true => &a.via,
            false => &a.gateways,
        };
        let engine: Vec<String> = (0..list.len()).map(|k| list[(i + k) % list.len()].to_string()).collect();
        let cfg = WorkerConfig {
            engine: engine.join(","),
            server_name: "127.0.0.1".into(),
            bundle: dir.clone(),
            concurrency: if a.synthetic { 4 } else { 16 },
            buffer_dir: dir.join("buffer"),
            buffer_max: 100_000,
            lease_wait: Duration::from_secs(5),
            probe: probe.clone(),
            synthetic: a.synthetic,
        };
        let w = Worker::start(cfg).map_err(|e| anyhow::anyhow!("worker {i}: {e}"))?;
        workers.lock().expect("workers lock").push(w);
        let due = Duration::from_secs_f64((k + 1) as f64 / a.ramp_per_s.max(1) as f64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    while !closed.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = reporter.await;
    // Stop every worker the way `netpulse-worker` stops on Ctrl-C: no new leases, checks in
    // flight finished, every result delivered (or, after 10 s, persisted to its buffer).
    let ws = std::mem::take(&mut *workers.lock().expect("workers lock"));
    let stats: Vec<_> = ws.iter().map(|w| (w.stats.clone(), w.outbox.clone())).collect();
    let mut stopping = tokio::task::JoinSet::new();
    for w in ws {
        stopping.spawn(w.shutdown());
    }
    while stopping.join_next().await.is_some() {}
    let mut c = SwarmCounts { started: stats.len(), ..SwarmCounts::default() };
    for (s, outbox) in &stats {
        c.jobs += s.jobs.load(Ordering::Relaxed);
        c.produced += s.produced.load(Ordering::Relaxed);
        c.acked += s.acked.load(Ordering::Relaxed);
        c.buffered += outbox.len();
    }
    println!("{}", serde_json::to_string(&c)?);
    Ok(())
}

/// One child process and the last counters it printed.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    counts: Arc<Mutex<SwarmCounts>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// The children's last counters and their process ids.
#[derive(Clone)]
pub struct SwarmView {
    counts: Vec<Arc<Mutex<SwarmCounts>>>,
    pub pids: Vec<u32>,
}

impl SwarmView {
    /// The children's last counters, summed.
    pub fn counts(&self) -> SwarmCounts {
        let mut c = SwarmCounts::default();
        for ch in &self.counts {
            c += *ch.lock().expect("counts lock");
        }
        c
    }
}

/// The running children.
pub struct Swarm {
    children: Vec<Proc>,
}

impl Swarm {
    /// Start `workers` workers in children of `per_process` each, started together at
    /// `ramp_per_s` in all.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        bin: &Path,
        root: &Path,
        workers: usize,
        per_process: usize,
        gateways: &[SocketAddr],
        via: &[SocketAddr],
        synthetic: bool,
        ramp_per_s: usize,
    ) -> anyhow::Result<Self> {
        let per = per_process.max(1);
        let n = workers.div_ceil(per);
        let join = |v: &[SocketAddr]| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        let mut children = Vec::with_capacity(n);
        for c in 0..n {
            let (from, to) = (c * per, ((c + 1) * per).min(workers));
            let mut cmd = Command::new(bin);
            cmd.args(["loadtest", "fleet-swarm", "--root"])
                .arg(root)
                .args(["--from", &from.to_string(), "--to", &to.to_string(), "--gateways", &join(gateways)])
                .args(["--ramp-per-s", &(ramp_per_s.div_ceil(n)).to_string()]);
            if !via.is_empty() {
                cmd.args(["--via", &join(via)]);
            }
            if synthetic {
                cmd.arg("--synthetic");
            }
            let log =
                std::fs::OpenOptions::new().create(true).append(true).open(root.join(format!("swarm-{c}.log")))?;
            let mut child = cmd
                .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into()))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(log)
                .spawn()?;
            let (stdin, stdout) = (child.stdin.take(), child.stdout.take().expect("piped"));
            let counts = Arc::new(Mutex::new(SwarmCounts::default()));
            let into = counts.clone();
            let reader = std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Ok(c) = serde_json::from_str::<SwarmCounts>(&line) {
                        *into.lock().expect("counts lock") = c;
                    }
                }
            });
            children.push(Proc { child, stdin, counts, reader: Some(reader) });
        }
        Ok(Self { children })
    }

    /// What a sampler reads while the workers run: their counters and process ids.
    pub fn view(&self) -> SwarmView {
        SwarmView {
            counts: self.children.iter().map(|c| c.counts.clone()).collect(),
            pids: self.children.iter().map(|c| c.child.id()).collect(),
        }
    }

    /// Stop every child (its workers deliver what they hold) and return their last counters.
    pub async fn shutdown(mut self) -> SwarmCounts {
        for ch in &mut self.children {
            ch.stdin.take();
        }
        let children = std::mem::take(&mut self.children);
        tokio::task::spawn_blocking(move || {
            let mut c = SwarmCounts::default();
            for mut ch in children {
                let _ = ch.child.wait();
                if let Some(r) = ch.reader.take() {
                    let _ = r.join();
                }
                c += *ch.counts.lock().expect("counts lock");
            }
            c
        })
        .await
        .unwrap_or_default()
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        for ch in &mut self.children {
            let _ = ch.child.kill();
            let _ = ch.child.wait();
        }
    }
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

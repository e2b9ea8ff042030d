//! What `netpulse loadtest fleet` samples while it runs: every 250 ms the PostgreSQL server
//! connections to the run's database (`pg_stat_activity`, client backends but the sampler's
//! own: what PgBouncer opened), and every second a timeline row — workers connected, results acknowledged by
//! the gateways and stored by ingest so far, CPU of this process (the nodes, the workers and
//! the dashboard clients together: they share it) and of the services (PostgreSQL,
//! PgBouncer, Redis, from `/proc`), this process's resident memory and the machine's load
//! average (other work on the same cores shows there).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_postgres::types::Type;

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
const TICKS: f64 = 100.0;

/// One second of the run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Tick {
    pub t_s: f64,
    pub workers_connected: usize,
    pub acked: u64,
    pub stored: u64,
    /// Results stored per second over the last tick.
    pub stored_per_s: f64,
    /// Results acknowledged to workers but not yet stored (in the Redis streams).
    pub backlog: u64,
    pub pg_connections: i64,
    /// Cores busy over the last tick: each engine node, the worker processes together, this
    /// process (dashboard clients, proxies), the services.
    pub cpu_nodes: Vec<f64>,
    pub cpu_workers: f64,
    pub cpu_process: f64,
    pub cpu_services: f64,
    /// Resident memory of each engine node and of the worker processes together, MiB.
    pub rss_nodes_mib: Vec<u64>,
    pub rss_workers_mib: u64,
    /// Check→dashboard latency of the results that arrived in this second (the first
    /// dashboard client of each node), ms; 0 when none arrived.
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
    /// The machine's 1-minute load average (runnable tasks, every process on it).
    pub load1: f64,
}

/// The machine's 1-minute load average (`/proc/loadavg`): how many tasks wanted the cores.
pub fn load1() -> f64 {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    s.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

/// CPU ticks (user + system) of the processes named `names`, or of this one when empty.
pub fn cpu_ticks(names: &[&str]) -> u64 {
    if names.is_empty() {
        return stat(std::path::Path::new("/proc/self/stat")).unwrap_or(0);
    }
    let mut total = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if names.contains(&comm.trim()) {
            total += stat(&e.path().join("stat")).unwrap_or(0);
        }
    }
    total
}

/// User + system CPU ticks from a `/proc/<pid>/stat` file.
fn stat(path: &std::path::Path) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    let after = s.rsplit_once(") ")?.1; // the name may hold spaces
    let f: Vec<&str> = after.split(' ').collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// CPU ticks (user + system) of process `pid` (0 when it is gone).
pub fn pid_ticks(pid: u32) -> u64 {
    stat(std::path::Path::new(&format!("/proc/{pid}/stat"))).unwrap_or(0)
}

/// A `Vm…:` field of a `/proc/<pid>/status` file, MiB (0 when absent).
fn status_mib(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// Resident memory of process `pid`, MiB (0 when it is gone).
pub fn pid_rss_mib(pid: u32) -> u64 {
    status_mib(&std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default(), "VmRSS:")
}

/// Cores busy per process between two readings of [`pid_ticks`] `secs` apart.
pub fn cores(before: u64, after: u64, secs: f64) -> f64 {
    after.saturating_sub(before) as f64 / TICKS / secs.max(0.001)
}

pub const SERVICES: [&str; 3] = ["postgres", "pgbouncer", "redis-server"];

/// This process's resident memory now and at its peak, MiB.
pub fn rss_mib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    (status_mib(&s, "VmRSS:"), status_mib(&s, "VmHWM:"))
}

/// The peak of PostgreSQL server connections to `db`, sampled until stopped.
pub struct PgConnections {
    running: Arc<AtomicBool>,
    pub now: Arc<std::sync::atomic::AtomicI64>,
    task: JoinHandle<i64>,
}

impl PgConnections {
    pub async fn start(direct: &str, db: &str) -> anyhow::Result<Self> {
        let client = super::super::direct(direct).await?;
        let running = Arc::new(AtomicBool::new(true));
        let now = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let (r, n, db) = (running.clone(), now.clone(), db.to_owned());
        let task = tokio::spawn(async move {
            let mut peak = 0;
            while r.load(Ordering::Relaxed) {
                let sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()";
                if let Ok(row) = client.query_typed_one(sql, &[(&db, Type::TEXT)]).await {
                    let c: i64 = row.get(0);
                    n.store(c, Ordering::Relaxed);
                    peak = peak.max(c);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            peak
        });
        Ok(Self { running, now, task })
    }

    pub async fn stop(self) -> i64 {
        self.running.store(false, Ordering::Relaxed);
        self.task.await.unwrap_or(0)
    }
}

/// The running CPU meters: ticks at the last reading, to turn into cores busy.
pub struct CpuMeter {
    at: Instant,
    process: u64,
    services: u64,
}

impl CpuMeter {
    pub fn start() -> Self {
        Self { at: Instant::now(), process: cpu_ticks(&[]), services: cpu_ticks(&SERVICES) }
    }

    /// Cores busy (this process, the services) since the last reading.
    pub fn read(&mut self) -> (f64, f64) {
        let (p, s, secs) = (cpu_ticks(&[]), cpu_ticks(&SERVICES), self.at.elapsed().as_secs_f64().max(0.001));
        let out = (
            p.saturating_sub(self.process) as f64 / TICKS / secs,
            (s.saturating_sub(self.services)) as f64 / TICKS / secs,
        );
        *self = Self { at: Instant::now(), process: p, services: s };
        out
    }
}

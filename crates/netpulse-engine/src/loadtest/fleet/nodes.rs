//! The engine nodes of `netpulse loadtest fleet`, each its own `netpulse serve` process (so
//! that its connections, CPU and memory are its own, and `--chaos` can kill it): configured
//! through `NETPULSE_*` variables (every role, PostgreSQL through PgBouncer, the run's Redis
//! prefix, a gateway serving every region, the run's owner token), on ports chosen before it
//! starts so that a node restarted after a kill comes back where its workers dial. A node's
//! log goes to `root/node-<n>.log`.

use super::cluster::{regions, Shared};
use super::FleetArgs;
use anyhow::Context;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One engine node process (absent between a kill and its restart).
pub struct Node {
    pub index: usize,
    pub http: SocketAddr,
    pub gateway: SocketAddr,
    bin: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    /// Results stored by this node's earlier processes (before a kill).
    stored_before: u64,
    /// `netpulse_results_ingested_total` at the last scrape of the running process.
    pub stored_now: u64,
    /// The scheduler's dispatch lag histogram (cumulative counts by bucket bound, seconds):
    /// of earlier processes, and at the last scrape of the running one.
    lag_before: Buckets,
    lag_now: Buckets,
    /// The same of its scheduler's reads of monitors.
    reads_before: Buckets,
    reads_now: Buckets,
}

/// A Prometheus histogram's cumulative buckets: `(le, count)`, bounds ascending, `+Inf` last.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buckets(pub Vec<(f64, u64)>);

impl Buckets {
    /// The buckets of histogram `name` (`<name>_bucket{le="…"} N` lines) in a scrape.
    pub fn parse(text: &str, name: &str) -> Self {
        let prefix = format!("{name}_bucket{{le=\"");
        let mut out: Vec<(f64, u64)> = text
            .lines()
            .filter_map(|l| {
                let (le, n) = l.strip_prefix(&prefix)?.split_once("\"} ")?;
                let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
                Some((le, n.trim().parse::<f64>().ok()? as u64))
            })
            .collect();
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        Self(out)
    }

    /// Bucket by bucket: `self + other` (missing buckets count as zero on either side).
    pub fn plus(&self, other: &Self) -> Self {
        match (self.0.is_empty(), other.0.is_empty()) {
            (true, _) => other.clone(),
            (_, true) => self.clone(),
            _ => Self(self.0.iter().zip(&other.0).map(|(a, b)| (a.0, a.1 + b.1)).collect()),
        }
    }

    /// Bucket by bucket: `self − earlier`, never below zero.
    pub fn since(&self, earlier: &Self) -> Self {
        match earlier.0.is_empty() {
            true => self.clone(),
            false => Self(self.0.iter().zip(&earlier.0).map(|(a, b)| (a.0, a.1.saturating_sub(b.1))).collect()),
        }
    }

    /// Observations counted.
    pub fn count(&self) -> u64 {
        self.0.last().map_or(0, |b| b.1)
    }

    /// The bound of the first bucket holding quantile `q` of the observations (so the
    /// quantile is at most this), in milliseconds; `None` without observations.
    pub fn quantile_le_ms(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = (q * n as f64).ceil().max(1.0) as u64;
        self.0.iter().find(|b| b.1 >= rank).map(|b| b.0 * 1000.0)
    }
}

/// The scheduler's histogram of delays between a check's due time and its dispatch.
const DISPATCH_LAG: &str = "netpulse_scheduler_dispatch_lag_seconds";
/// The scheduler's histogram of its reads of monitors from the store.
const SCHEDULER_READS: &str = "netpulse_scheduler_read_seconds";

/// A free port on 127.0.0.1 (bound and released: the node binds it a moment later).
fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

impl Node {
    /// Start node `index` with its data in `root/node-<index>` (which holds the cluster CA).
    pub async fn start(bin: &Path, root: &Path, index: usize, a: &FleetArgs, s: &Shared) -> anyhow::Result<Self> {
        let (http, gateway) = (free_port()?, free_port()?);
        let list = |v: &[String]| format!("[{}]", v.iter().map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(","));
        let quoted = |v: &str| format!("\"{v}\"");
        let env = vec![
            ("NETPULSE_HTTP__LISTEN", quoted(&http.to_string())),
            ("NETPULSE_HTTP__MAX_CONNECTIONS", (a.dashboards * 2 + 64).max(4096).to_string()),
            ("NETPULSE_STORAGE__DATA_DIR", quoted(&root.join(format!("node-{index}")).display().to_string())),
            ("NETPULSE_STORAGE__BACKEND", quoted("postgres")),
            ("NETPULSE_STORAGE__POSTGRES__URL", quoted(&s.pooled_url)),
            ("NETPULSE_STORAGE__POSTGRES__MIGRATE_URL", quoted(&s.direct_url)),
            ("NETPULSE_STORAGE__POSTGRES__MIGRATE_ON_START", "false".into()),
            ("NETPULSE_STORAGE__POSTGRES__POOL_SIZE", a.pool_size.to_string()),
            ("NETPULSE_QUEUE__BACKEND", quoted("redis")),
            ("NETPULSE_QUEUE__REDIS__URL", quoted(&s.redis_url)),
            ("NETPULSE_QUEUE__REDIS__PREFIX", quoted(&s.prefix)),
            ("NETPULSE_MONITORS__MIN_INTERVAL_S", "1".into()),
            ("NETPULSE_GATEWAY__ENABLED", "true".into()),
            ("NETPULSE_GATEWAY__LISTEN", quoted(&gateway.to_string())),
            ("NETPULSE_GATEWAY__REGIONS", list(&regions(a.regions))),
            ("NETPULSE_GATEWAY__LEASE_WAIT_MS", "5000".into()),
            ("NETPULSE_GATEWAY__MAX_CONNECTIONS", (a.workers * 2 + 100).to_string()),
            ("NETPULSE_ADMIN_TOKEN", s.token.clone()),
        ];
        let mut node = Self {
            index,
            http,
            gateway,
            bin: bin.to_path_buf(),
            env: env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            log: root.join(format!("node-{index}.log")),
            child: None,
            stored_before: 0,
            stored_now: 0,
            lag_before: Buckets::default(),
            lag_now: Buckets::default(),
            reads_before: Buckets::default(),
            reads_now: Buckets::default(),
        };
        node.spawn().await?;
        Ok(node)
    }

    /// Start the process and wait (60 s at most) until it says it is running.
    pub async fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let mut child = Command::new(&self.bin)
            .arg("serve")
            .env_clear()
            .envs(std::env::vars().filter(|(k, _)| !k.starts_with("NETPULSE_") || k.starts_with("NETPULSE_TEST")))
            .envs(self.env.iter().cloned())
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.try_clone()?)
            .spawn()
            .with_context(|| format!("cannot start {} serve", self.bin.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // The node logs to stdout: into its log file too, after the line that says it runs.
        std::thread::spawn(move || {
            let mut log = log;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("NetPulse is running") {
                    let _ = tx.send(());
                }
                let _ = writeln!(log, "{line}");
            }
        });
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            match rx.try_recv() {
                Ok(()) => return Ok(()),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    anyhow::bail!("engine node {} exited at start (its log: {})", self.index, self.log.display())
                }
                Err(std::sync::mpsc::TryRecvError::Empty) if std::time::Instant::now() > deadline => {
                    anyhow::bail!("engine node {} did not start in 60 s (its log: {})", self.index, self.log.display())
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no drain, no goodbye; what it had read but not stored waits in Redis.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.stored_before += std::mem::take(&mut self.stored_now);
        self.lag_before = self.lag_before.plus(&std::mem::take(&mut self.lag_now));
        self.reads_before = self.reads_before.plus(&std::mem::take(&mut self.reads_now));
    }

    /// SIGTERM, and wait up to `grace` for the graceful stop (checks in flight, ingest
    /// drained); then SIGKILL. True when it stopped by itself.
    pub fn stop(&mut self, grace: Duration) -> bool {
        let Some(mut c) = self.child.take() else { return true };
        if let Some(pid) = rustix::process::Pid::from_raw(c.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    /// Results this node stored, over all its processes.
    pub fn stored(&self) -> u64 {
        self.stored_before + self.stored_now
    }

    /// This node's histogram of its scheduler's reads of monitors, over all its processes.
    pub fn scheduler_reads(&self) -> Buckets {
        self.reads_before.plus(&self.reads_now)
    }

    /// This node's scheduler dispatch lag histogram, over all its processes.
    pub fn dispatch_lag(&self) -> Buckets {
        self.lag_before.plus(&self.lag_now)
    }

    /// Read `netpulse_results_ingested_total` and the dispatch lag histogram from the running
    /// process's `/metrics`.
    pub async fn scrape(&mut self) {
        if self.child.is_none() {
            return;
        }
        let Some(text) = super::http_get(self.http, "/metrics").await else { return };
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix("netpulse_results_ingested_total "))
            .and_then(|v| v.trim().parse::<f64>().ok());
        let lag = Buckets::parse(&text, DISPATCH_LAG);
        if !lag.0.is_empty() {
            self.lag_now = lag;
        }
        let reads = Buckets::parse(&text, SCHEDULER_READS);
        if !reads.0.is_empty() {
            self.reads_now = reads;
        }
        if let Some(v) = value {
            self.stored_now = v as u64;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Buckets;

    #[test]
    fn a_histogram_scrape_gives_bucket_bounds_for_its_quantiles() {
        let scrape = "x_bucket{le=\"0.01\"} 5\nnetpulse_lag_seconds_bucket{le=\"0.001\"} 90\n\
                      netpulse_lag_seconds_bucket{le=\"0.05\"} 99\nnetpulse_lag_seconds_bucket{le=\"+Inf\"} 100\n\
                      netpulse_lag_seconds_count 100\n";
        let b = Buckets::parse(scrape, "netpulse_lag_seconds");
        assert_eq!(b.count(), 100);
        assert_eq!(b.quantile_le_ms(0.5), Some(1.0));
        assert_eq!(b.quantile_le_ms(0.99), Some(50.0));
        assert_eq!(b.quantile_le_ms(1.0), Some(f64::INFINITY));
        let earlier = Buckets(vec![(0.001, 80), (0.05, 80), (f64::INFINITY, 80)]);
        let d = b.since(&earlier);
        assert_eq!((d.count(), d.quantile_le_ms(0.5), d.quantile_le_ms(0.95)), (20, Some(1.0), Some(50.0)));
        assert_eq!(b.plus(&earlier).count(), 180);
        assert_eq!(Buckets::default().quantile_le_ms(0.99), None);
    }
}

//! `netpulse loadtest fleet --chaos`: the faults a run survives, each at a reported time of
//! the steady state, and what each needs:
//! - **a node killed**: SIGKILL of the last engine node, restarted 5 s later on the same ports
//!   (as a supervisor would); its workers reconnect, its partitions move and come back;
//! - **Redis restarted**: the run gets its own `redis-server` with the append-only file on
//!   ([`RunRedis`]), restarted with `SHUTDOWN` (which syncs the file) and started again on it;
//! - **PgBouncer paused 10 s**: `PAUSE <db>` / `RESUME <db>` on PgBouncer's admin console, for
//!   the run's database only (other databases on the same PgBouncer are not held);
//! - **10 % of the workers cut off 30 s**: every tenth worker dials its gateway through a
//!   proxy of the run ([`Cutter`]), which drops their connections and refuses new ones.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::AbortHandle;

/// The run's own Redis, with the append-only file on.
pub struct RunRedis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RunRedis {
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut r = Self { port, dir: dir.to_path_buf(), child: None };
        r.spawn().await?;
        Ok(r)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "everysec", "--dir"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("--chaos needs redis-server on PATH: {e}"))?;
        self.child = Some(child);
        let client = redis::Client::open(self.url())?;
        for _ in 0..100 {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await {
                if redis::cmd("PING").query_async::<String>(&mut c).await.is_ok() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the run's redis-server on port {} did not answer in 10 s", self.port)
    }

    /// `SHUTDOWN` (the append-only file is synced), then the same server started again.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if let Ok(mut c) = redis::Client::open(self.url())?.get_multiplexed_async_connection().await {
            let _ = redis::cmd("SHUTDOWN").query_async::<()>(&mut c).await;
        }
        if let Some(mut c) = self.child.take() {
            tokio::task::spawn_blocking(move || c.wait()).await??;
        }
        self.spawn().await
    }
}

impl Drop for RunRedis {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Hold the run's database on PgBouncer for `hold` (`PAUSE db` … `RESUME db` on the admin
/// console, as PgBouncer's `admin_users`, `postgres` in `scripts/services.sh`).
pub async fn pause_pgbouncer(pooled: &str, db: &str, hold: Duration) -> anyhow::Result<()> {
    let url = format!("postgres://postgres@{pooled}/pgbouncer");
    let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .map_err(|e| anyhow::anyhow!("PgBouncer's admin console ({url}): {e}"))?;
    tokio::spawn(conn);
    c.simple_query(&format!("PAUSE {db}")).await?;
    tokio::time::sleep(hold).await;
    c.simple_query(&format!("RESUME {db}")).await?;
    Ok(())
}

/// A TCP proxy per gateway for the workers that can be cut off.
pub struct Cutter {
    pub addrs: Vec<SocketAddr>,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Cutter {
    pub async fn start(gateways: &[SocketAddr]) -> anyhow::Result<Self> {
        let (cut, open) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::<AbortHandle>::new())));
        let mut addrs = Vec::new();
        for g in gateways {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            addrs.push(listener.local_addr()?);
            let (g, cut, open) = (*g, cut.clone(), open.clone());
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if cut.load(Ordering::Relaxed) {
                        continue; // dropped: the connection is refused as it opens
                    }
                    let task = tokio::spawn(async move {
                        if let Ok(mut out) = tokio::net::TcpStream::connect(g).await {
                            let _ = out.set_nodelay(true);
                            let _ = inbound.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        }
                    });
                    let mut o = open.lock().expect("proxy lock");
                    o.retain(|h| !h.is_finished());
                    o.push(task.abort_handle());
                }
            });
        }
        Ok(Self { addrs, cut, open })
    }

    /// Cut every proxied connection and refuse new ones, or let them through again.
    pub fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::Relaxed);
        if cut {
            for h in self.open.lock().expect("proxy lock").drain(..) {
                h.abort();
            }
        }
    }
}

//! The cluster of `netpulse loadtest fleet`: a scratch PostgreSQL database (created and
//! migrated over the direct URL), the bootstrap organisation and its monitors written before
//! any node starts (so every scheduler loads them at once), and the cluster CA with one
//! certificate bundle per worker, copied into every node's data directory. The nodes
//! themselves are processes ([`super::nodes`]).

use super::super::{store_monitor, LoadMonitor};
use super::FleetArgs;
use netpulse_core::monitor::{HttpSpec, TcpSpec};
use netpulse_core::{CheckSpec, MonitorId};
use netpulse_pipeline::ca::Ca;
use netpulse_store::clock;
use netpulse_store::postgres::{schema, PgStore};
use netpulse_store::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The region names of a run: `r1` … `rR`.
pub fn regions(n: usize) -> Vec<String> {
    (1..=n.max(1)).map(|i| format!("r{i}")).collect()
}

/// What the nodes share: the database's URLs, Redis and the run's key prefix, the owner
/// token; and the ids of the monitors that check the failing target.
pub struct Shared {
    pub failing: Vec<String>,
    pub direct_url: String,
    pub pooled_url: String,
    pub redis_url: String,
    pub prefix: String,
    pub token: String,
}

/// How many monitors check the failing target: one per region, at most four (below the
/// storm threshold, so that each incident pages on its own).
pub fn failing_count(regions: usize) -> usize {
    regions.clamp(1, 4)
}

/// Migrate the scratch database and write the organisation and `--monitors` active monitors,
/// spread round-robin over the regions; each probes `targets[i % len]` over HTTP — the first
/// [`failing_count`] probe `failing` instead, when given — or (with no targets:
/// `--synthetic`, nothing is probed) names a TCP port nobody dials.
pub async fn prepare(
    a: &FleetArgs,
    db: &str,
    targets: &[String],
    failing: Option<&str>,
    redis_url: &str,
) -> anyhow::Result<Shared> {
    let direct_url = super::super::with_db(&a.pg_direct, db)?;
    schema::migrate(&direct_url).await?;
    let pooled_url = format!("postgres://{}@{}/{db}", super::super::user_of(&a.pg_direct), a.pg_pooled);
    let setup = Arc::new(PgStore::connect(&pooled_url, 4).await?);
    let token = clock::secret_token("np_");
    let (tenant, _) = setup.bootstrap(&clock::token_hash(&token), clock::now()).await?;
    let regions = regions(a.regions);
    let mut monitors: Vec<MonitorId> = (0..a.monitors).map(|_| clock::fresh()).collect();
    monitors.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    let failing_ids: Vec<String> = match failing {
        Some(_) => monitors.iter().take(failing_count(a.regions)).map(|m| m.as_str().to_owned()).collect(),
        None => Vec::new(),
    };
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..8 {
        let (s, ms, tenant, regions, targets) =
            (setup.clone(), monitors.clone(), tenant.clone(), regions.clone(), targets.to_vec());
        let (failing, n_failing) = (failing.map(str::to_owned), failing_ids.len());
        let interval = a.interval_s;
        tasks.spawn(async move {
            for (i, id) in ms.iter().enumerate().skip(lane).step_by(8) {
                let target = match &failing {
                    Some(url) if i < n_failing => Some(url),
                    _ => targets.get(i % targets.len().max(1)),
                };
                let spec = match target {
                    Some(url) => {
                        CheckSpec::Http(serde_json::from_value::<HttpSpec>(serde_json::json!({ "url": url }))?)
                    }
                    None => CheckSpec::Tcp(TcpSpec { host: "127.0.0.1".into(), port: 9 }),
                };
                let shape = LoadMonitor { name: format!("fleet {i}"), spec, interval_s: interval, timeout_ms: 2_000 };
                store_monitor(&*s, &tenant, id, shape, regions[i % regions.len()].clone(), false).await?;
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(t) = tasks.join_next().await {
        t??;
    }
    let prefix = format!("np_fleet_{:016x}", clock::random_u128() as u64);
    Ok(Shared { failing: failing_ids, direct_url, pooled_url, redis_url: redis_url.to_owned(), prefix, token })
}

/// The CA in `root/node-0/ca` (copied to every other node's data dir) and a bundle directory
/// per worker (`root/workers/<i>`: `worker.pem`, `worker.key`, `ca.pem`); worker `i` is
/// `w<i>` of region `i % regions`. Returns the bundle directories with their regions.
pub fn issue(root: &Path, a: &FleetArgs) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let first = root.join("node-0");
    let ca = Ca::at(&first);
    ca.init()?;
    let regions = regions(a.regions);
    let names: Vec<(String, String)> =
        (0..a.workers).map(|i| (regions[i % regions.len()].clone(), format!("w{i}"))).collect();
    let issued = ca.issue_many(&names, 2)?;
    let ca_pem = ca.cert_pem()?;
    let mut out = Vec::with_capacity(issued.len());
    for (i, (cert, key, entry)) in issued.into_iter().enumerate() {
        let dir = root.join("workers").join(i.to_string());
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("worker.pem"), cert)?;
        std::fs::write(dir.join("worker.key"), key)?;
        std::fs::write(dir.join("ca.pem"), &ca_pem)?;
        out.push((dir, entry.region));
    }
    for n in 1..a.nodes {
        let to = root.join(format!("node-{n}")).join("ca");
        std::fs::create_dir_all(&to)?;
        for f in std::fs::read_dir(ca.dir())? {
            let f = f?;
            std::fs::copy(f.path(), to.join(f.file_name()))?;
        }
    }
    Ok(out)
}

/// Delete every Redis key of the run (`<prefix>:*`: result and job streams, leases).
pub async fn forget(redis_url: &str, prefix: &str) -> anyhow::Result<()> {
    let client = redis::Client::open(redis_url)?;
    let mut c = client.get_multiplexed_async_connection().await?;
    let keys = scan(&mut c, &format!("{prefix}:*"), None).await?;
    for chunk in keys.chunks(500) {
        let _: () = redis::cmd("DEL").arg(chunk).query_async(&mut c).await?;
    }
    Ok(())
}

/// Every key matching `pattern` (of `kind` only, when given: `stream`, `string` …).
pub async fn scan(
    c: &mut redis::aio::MultiplexedConnection,
    pattern: &str,
    kind: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let (mut keys, mut cursor) = (Vec::<String>::new(), 0u64);
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(1000);
        if let Some(kind) = kind {
            cmd.arg("TYPE").arg(kind);
        }
        let (next, found): (u64, Vec<String>) = cmd.query_async(c).await?;
        keys.extend(found);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

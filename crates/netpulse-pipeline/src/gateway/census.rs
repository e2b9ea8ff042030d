//! Worker health shared between engine nodes through Redis (with the Redis queue), so any
//! node's `GET /api/v1/regions` and `/regions` show the workers of every gateway node, and a
//! region is offline only when no node has a live worker for it.
//!
//! Once a second each node writes the workers that spoke to its gateway since the last write
//! — so at most one write per worker per second, however often it leases — as a hash
//! `{prefix}:fleet:worker:{serial}` (name, region, agent, last seen, in flight, and per tenant
//! the results accepted and the rate) with a [`TTL_MS`] expiry, indexed by last seen in the
//! sorted set `{prefix}:fleet:workers`; and the regions its gateway serves (with their queued
//! jobs) in `{prefix}:fleet:regions`. Then it reads what the other nodes wrote into
//! [`Fleet::set_remote`]. A node that cannot reach Redis keeps its last view and logs it.

use super::fleet::Fleet;
use crate::queue::RedisQueueConfig;
use netpulse_core::{TenantId, Timestamp};
use redis::aio::ConnectionManager;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a worker or a served region stays visible to other nodes after its last write.
pub const TTL_MS: i64 = 10 * 60 * 1000;
/// Queued jobs written longer ago than this are not counted (that node stopped writing).
const QUEUED_FRESH_MS: i64 = 5_000;
/// How often the census writes and reads.
const EVERY: Duration = Duration::from_secs(1);

/// A worker as engine nodes share it ([`super::census`]): per tenant, the results the writing
/// node accepted from it and their rate per second when written.
#[derive(Clone, Debug)]
pub struct SharedWorker {
    pub name: String,
    pub region: String,
    pub serial: String,
    pub agent: String,
    pub last_seen: Timestamp,
    pub in_flight: u32,
    pub accepted: HashMap<TenantId, (u64, f64)>,
    /// The writing gateway's lease period: the worker is live for three of them.
    pub lease_period_ms: i64,
}

/// What other engine nodes' gateways last shared: their workers, and the regions they serve
/// with their queued jobs.
#[derive(Debug, Default)]
pub struct RemoteFleet {
    pub workers: Vec<SharedWorker>,
    pub regions: BTreeMap<String, usize>,
}

/// This node's side of the shared worker registry.
pub struct Census {
    cmd: ConnectionManager,
    node: String,
    prefix: String,
}

impl Census {
    /// Connect to the queue's Redis as node `node`.
    pub async fn connect(config: &RedisQueueConfig, node: &str) -> anyhow::Result<Self> {
        let (_, cmd) = crate::queue::redis::connect_commands(config).await?;
        Ok(Self { cmd, node: node.to_owned(), prefix: format!("{}:fleet", config.prefix) })
    }

    fn key(&self, what: &str) -> String {
        format!("{}:{what}", self.prefix)
    }

    /// Write this node's workers seen since `since` and its served regions, then read the
    /// other nodes' into `fleet`.
    pub async fn try_run_once(&self, fleet: &Fleet, since: Timestamp, now: Timestamp) -> redis::RedisResult<()> {
        self.write(fleet.seen_since(since, now), fleet.served(), now).await?;
        let remote = self.read(now).await?;
        fleet.set_remote(remote);
        Ok(())
    }

    async fn write(
        &self,
        workers: Vec<SharedWorker>,
        served: Vec<(String, usize)>,
        now: Timestamp,
    ) -> redis::RedisResult<()> {
        if workers.is_empty() && served.is_empty() {
            return Ok(());
        }
        let (index, regions) = (self.key("workers"), self.key("regions"));
        let mut pipe = redis::pipe();
        for w in &workers {
            let key = self.key(&format!("worker:{}", w.serial));
            pipe.cmd("HSET").arg(&key).arg(fields(w, &self.node)).ignore();
            pipe.cmd("PEXPIRE").arg(&key).arg(TTL_MS).ignore();
            pipe.cmd("ZADD").arg(&index).arg(w.last_seen.millis()).arg(&w.serial).ignore();
        }
        for (region, queued) in &served {
            pipe.cmd("HSET")
                .arg(&regions)
                .arg(format!("{}|{region}", self.node))
                .arg(format!("{} {queued}", now.millis()))
                .ignore();
        }
        pipe.cmd("PEXPIRE").arg(&index).arg(TTL_MS).ignore();
        if !served.is_empty() {
            pipe.cmd("PEXPIRE").arg(&regions).arg(TTL_MS).ignore();
        }
        let mut c = self.cmd.clone();
        pipe.query_async(&mut c).await
    }

    async fn read(&self, now: Timestamp) -> redis::RedisResult<RemoteFleet> {
        let (index, oldest) = (self.key("workers"), now.millis() - TTL_MS);
        let mut c = self.cmd.clone();
        let (serials, served): (Vec<String>, HashMap<String, String>) = redis::pipe()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&index)
            .arg("-inf")
            .arg(format!("({oldest}"))
            .ignore()
            .cmd("ZRANGEBYSCORE")
            .arg(&index)
            .arg(oldest)
            .arg("+inf")
            .cmd("HGETALL")
            .arg(self.key("regions"))
            .query_async(&mut c)
            .await?;
        let mut pipe = redis::pipe();
        for s in &serials {
            pipe.cmd("HGETALL").arg(self.key(&format!("worker:{s}")));
        }
        let rows: Vec<HashMap<String, String>> =
            if serials.is_empty() { Vec::new() } else { pipe.query_async(&mut c).await? };
        let workers = rows.iter().filter_map(parse_worker).filter(|(node, _)| *node != self.node);
        let mut remote = RemoteFleet { workers: workers.map(|(_, w)| w).collect(), regions: Default::default() };
        let mut gone = Vec::new();
        for (field, value) in &served {
            let Some((node, region)) = field.split_once('|') else { continue };
            let (at, queued) = value.split_once(' ').unwrap_or((value, "0"));
            let (at, queued) = (at.parse::<i64>().unwrap_or(0), queued.parse::<usize>().unwrap_or(0));
            if at < oldest {
                gone.push(field.as_str()); // a node that stopped writing long ago
                continue;
            }
            if node == self.node {
                continue;
            }
            let fresh = if now.millis() - at <= QUEUED_FRESH_MS { queued } else { 0 };
            *remote.regions.entry(region.to_owned()).or_default() += fresh;
        }
        if !gone.is_empty() {
            redis::cmd("HDEL").arg(self.key("regions")).arg(gone).query_async::<()>(&mut c).await?;
        }
        Ok(remote)
    }

    /// Every second until `stop`: write, then read.
    pub async fn run(self, fleet: Arc<Fleet>, mut stop: watch::Receiver<bool>) {
        let mut since = Timestamp::from_millis(0);
        let mut failing = false;
        loop {
            let now = netpulse_store::clock::now();
            match self.try_run_once(&fleet, since, now).await {
                Ok(()) => {
                    since = now;
                    failing = false;
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "cannot share worker health through Redis; other nodes' workers may look stale");
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

/// A worker's hash fields.
fn fields(w: &SharedWorker, node: &str) -> Vec<(String, String)> {
    let mut f = vec![
        ("node".to_owned(), node.to_owned()),
        ("name".to_owned(), w.name.clone()),
        ("region".to_owned(), w.region.clone()),
        ("serial".to_owned(), w.serial.clone()),
        ("agent".to_owned(), w.agent.clone()),
        ("last_seen".to_owned(), w.last_seen.millis().to_string()),
        ("in_flight".to_owned(), w.in_flight.to_string()),
        ("lease_period_ms".to_owned(), w.lease_period_ms.to_string()),
    ];
    for (tenant, (total, rate)) in &w.accepted {
        f.push((format!("t:{}", tenant.as_str()), format!("{total} {rate}")));
    }
    f
}

/// The writing node and the worker of a hash, unless it is incomplete.
fn parse_worker(h: &HashMap<String, String>) -> Option<(String, SharedWorker)> {
    let get = |k: &str| h.get(k).cloned();
    let mut accepted = HashMap::new();
    for (k, v) in h {
        let Some(tenant) = k.strip_prefix("t:").and_then(|t| TenantId::parse(t).ok()) else { continue };
        let (total, rate) = v.split_once(' ')?;
        accepted.insert(tenant, (total.parse().ok()?, rate.parse().ok()?));
    }
    let worker = SharedWorker {
        name: get("name")?,
        region: get("region")?,
        serial: get("serial")?,
        agent: get("agent").unwrap_or_default(),
        last_seen: Timestamp::from_millis(get("last_seen")?.parse().ok()?),
        in_flight: get("in_flight")?.parse().ok()?,
        accepted,
        lease_period_ms: get("lease_period_ms")?.parse().ok()?,
    };
    Some((get("node")?, worker))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_survives_its_hash_and_incomplete_hashes_are_skipped() {
        let t = TenantId::from_parts(1_700_000_000_000, 1);
        let w = SharedWorker {
            name: "eu-1".into(),
            region: "eu".into(),
            serial: "0a1b".into(),
            agent: "netpulse-worker 0.1.0".into(),
            last_seen: Timestamp::from_millis(1_700_000_000_123),
            in_flight: 3,
            accepted: HashMap::from([(t.clone(), (42, 1.5))]),
            lease_period_ms: 500,
        };
        let h: HashMap<String, String> = fields(&w, "node-a").into_iter().collect();
        let (node, back) = parse_worker(&h).expect("a worker");
        assert_eq!(
            (node.as_str(), back.name.as_str(), back.in_flight, back.last_seen),
            ("node-a", "eu-1", 3, w.last_seen)
        );
        assert_eq!(back.accepted[&t], (42, 1.5));
        let mut partial = h.clone();
        partial.remove("region");
        assert!(parse_worker(&partial).is_none());
    }
}

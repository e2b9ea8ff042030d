//! Which node owns which partition of the monitors for one role: `results` (which ingest node
//! reads which result stream, [`super::redis`], with a time to live of
//! `queue.redis.claim_idle_ms`) and `schedule` (which scheduler dispatches which monitors'
//! checks, with the scheduler lease's time to live). Each partition is owned by one
//! node at a time through a Redis key `{prefix}:{role}:owner:{p}` holding the node's name
//! with the time to live, renewed at every refresh (at most every third of it, and at most
//! every second). A monitor's partition is [`partition_of`].
//!
//! Membership is a sorted set `{prefix}:{role}:members` (node → last refresh); a node not
//! seen for one time to live is gone. At each refresh a node takes its fair share,
//! ⌈partitions / live nodes⌉: it renews what it owns, gives up partitions beyond its share
//! (only those with no batch in flight here, so nothing it read is still being stored; a
//! busy one beyond the share stops being read, so it is idle and given up at the next
//! refresh), and takes free ones up to its share. So a node joining gets partitions within
//! a second or two of the others noticing it, even while they drain a backlog; a node leaving gracefully ([`Owners::leave`]) frees its
//! partitions at once; a node that dies loses them when their keys expire, and the entries
//! it had read but not acknowledged are claimed by the new owner after `claim_idle_ms`.
//!
//! Ownership keeps nodes from contending: two nodes never read the same partition at once,
//! and partitions align with the store's state partitions, so their transactions do not wait
//! for each other's rows. It is not what keeps results exact: ingest is idempotent on result
//! ids and the store serialises the writers of a monitor, so a node whose key expired while it
//! still worked (a pause) costs a wait, never a double step.

use netpulse_core::MonitorId;
use netpulse_store::clock;
use redis::aio::ConnectionManager;
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"#;
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// The partition of `monitor` among `partitions` (a divisor of 64): its state partition in
/// the store modulo `partitions`, so partitions never share a state-partition row.
pub fn partition_of(monitor: &MonitorId, partitions: usize) -> usize {
    netpulse_store::postgres::state_partition_of(monitor) as usize % partitions.max(1)
}

#[derive(Default)]
struct State {
    owned: BTreeSet<usize>,
    /// Owned partitions beyond the fair share that had a batch in flight at the last
    /// refresh: kept (and renewed) until that batch is stored, but no longer read, so that
    /// the next refresh finds them idle and gives them up.
    leaving: BTreeSet<usize>,
    last: Option<Instant>,
}

/// One node's view of partition ownership.
pub struct Owners {
    cmd: ConnectionManager,
    /// `{prefix}:{role}`.
    prefix: String,
    node: String,
    partitions: usize,
    ttl_ms: u64,
    state: Mutex<State>,
}

impl Owners {
    /// Ownership of `role`'s partitions under the key prefix `prefix`, as node `node`.
    pub fn new(cmd: ConnectionManager, prefix: &str, role: &str, node: &str, partitions: usize, ttl_ms: u64) -> Self {
        let (prefix, node) = (format!("{prefix}:{role}"), node.to_owned());
        Self { cmd, prefix, node, partitions, ttl_ms, state: Mutex::default() }
    }

    fn key(&self, p: usize) -> String {
        format!("{}:owner:{p}", self.prefix)
    }

    fn members(&self) -> String {
        format!("{}:members", self.prefix)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many partitions there are.
    pub fn partitions(&self) -> usize {
        self.partitions
    }

    /// The partitions this node is to read (or dispatch) now, refreshed when due; `busy`
    /// tells which have a batch in flight here. A partition beyond the fair share with a
    /// batch in flight is kept until that batch is stored but left out of the answer, so
    /// that a node joining while the others drain a backlog gets its share after their
    /// batches in flight, not after the backlog.
    pub async fn refresh(&self, busy: impl Fn(usize) -> bool) -> Vec<usize> {
        let every = Duration::from_millis(self.ttl_ms / 3).min(Duration::from_secs(1));
        let due = self.state().last.is_none_or(|t| t.elapsed() >= every);
        if due {
            let owned = self.state().owned.clone();
            match self.rebalance(owned, busy).await {
                Ok((owned, leaving)) => *self.state() = State { owned, leaving, last: Some(Instant::now()) },
                Err(e) => tracing::warn!(error = %e, "cannot renew result partitions; will retry"),
            }
        }
        let state = self.state();
        state.owned.difference(&state.leaving).copied().collect()
    }

    /// Renew, give up and take partitions; returns what is owned and which of it is leaving.
    async fn rebalance(
        &self,
        mut owned: BTreeSet<usize>,
        busy: impl Fn(usize) -> bool,
    ) -> redis::RedisResult<(BTreeSet<usize>, BTreeSet<usize>)> {
        let now = clock::now().millis();
        let mut c = self.cmd.clone();
        let (live,): (usize,) = redis::pipe()
            .cmd("ZADD")
            .arg(self.members())
            .arg(now)
            .arg(&self.node)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(self.members())
            .arg("-inf")
            .arg(now - self.ttl_ms as i64)
            .ignore()
            .cmd("ZCARD")
            .arg(self.members())
            .query_async(&mut c)
            .await?;
        let fair = self.partitions.div_ceil(live.max(1));
        for p in owned.clone() {
            let mut renew = redis::cmd("EVAL");
            renew.arg(RENEW).arg(1).arg(self.key(p)).arg(&self.node).arg(self.ttl_ms);
            let renewed: i64 = renew.query_async(&mut c).await?;
            if renewed == 0 {
                tracing::warn!(partition = p, node = %self.node, "result partition taken by another node");
                owned.remove(&p);
            }
        }
        let spare: Vec<usize> = owned.iter().rev().copied().filter(|p| !busy(*p)).collect();
        for p in spare.into_iter().take(owned.len().saturating_sub(fair)) {
            self.release(&mut c, p).await?;
            owned.remove(&p);
        }
        // Still beyond the share: the busy ones, the highest first, stop being read.
        let surplus = owned.len().saturating_sub(fair);
        let leaving: BTreeSet<usize> = owned.iter().rev().copied().take(surplus).collect();
        let start = self.node.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        for p in (0..self.partitions).map(|i| (start + i) % self.partitions) {
            if owned.len() >= fair {
                break;
            }
            if owned.contains(&p) {
                continue;
            }
            let mut set = redis::cmd("SET");
            set.arg(self.key(p)).arg(&self.node).arg("NX").arg("PX").arg(self.ttl_ms);
            if set.query_async::<Option<String>>(&mut c).await?.is_some() {
                tracing::info!(partition = p, node = %self.node, "result partition taken");
                owned.insert(p);
            }
        }
        Ok((owned, leaving))
    }

    async fn release(&self, c: &mut ConnectionManager, p: usize) -> redis::RedisResult<()> {
        let _: i64 = redis::cmd("EVAL").arg(RELEASE).arg(1).arg(self.key(p)).arg(&self.node).query_async(c).await?;
        tracing::info!(partition = p, node = %self.node, "result partition given up");
        Ok(())
    }

    /// Give every partition up and leave the members (graceful stop): the others take them
    /// at their next refresh.
    pub async fn leave(&self) {
        let owned = std::mem::take(&mut *self.state()).owned;
        let mut c = self.cmd.clone();
        for p in owned {
            if let Err(e) = self.release(&mut c, p).await {
                tracing::warn!(error = %e, partition = p, "cannot give a result partition up; it expires on its own");
            }
        }
        let _: redis::RedisResult<()> =
            redis::cmd("ZREM").arg(self.members()).arg(&self.node).query_async(&mut c).await;
    }
}

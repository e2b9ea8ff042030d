//! The scale-out queue: the result stream split by monitor into `queue.redis.partitions`
//! streams, `{queue.redis.prefix}:results:{p}` (one partition: `{prefix}:results`), each read
//! by the consumer group `ingest`, in which each engine node is a consumer named by its node
//! id. A monitor's partition is its state partition in the store modulo the number of
//! streams, so one stream's monitors share no state-partition row with another's. Each
//! partition is read by the one ingest node that owns it ([`super::owners`]).
//!
//! - `publish` / `publish_many`: one Lua script per call, atomic on the server: refuse the
//!   whole batch with [`QueueError::Full`] when a partition's entries plus the batch's for it
//!   would exceed `max_len`, else `XADD … MAXLEN max_len * env <json>` for each, in order (a
//!   batch larger than `max_len` never fits; workers send at most 500, `max_len` is at least
//!   1000). Acked entries are deleted, so a stream's length is its backlog (waiting +
//!   unacknowledged) and the `MAXLEN` never trims an entry: a full stream pushes back on
//!   producers instead of silently dropping the oldest results. Redis down or slow →
//!   [`QueueError::Unavailable`].
//! - `next_batch`: refresh this node's partitions, then `XAUTOCLAIM` in each entries idle for
//!   more than `claim_idle_ms` (read by an owner that died before acking, or by ourselves
//!   before a failed ack), then one `XREADGROUP … BLOCK wait COUNT max` over the owned
//!   streams, lingering for more up to `linger`. A node that owns none waits.
//! - `ack` (after the store commit): `XACK` + `XDEL` per stream in one `MULTI`, plus `XLEN`
//!   for `depth`. A failed ack is harmless: the entries are claimed again after
//!   `claim_idle_ms` and ingest is idempotent on result ids.
//!
//! Durability is Redis's: an entry is only as safe as Redis's persistence. Run Redis with
//! `appendonly yes` and `appendfsync always` (or `everysec`, accepting up to a second of
//! accepted results lost on a Redis crash); without persistence a Redis restart loses every
//! entry not yet ingested. Two connections: blocking reads get their own, so a `BLOCK` never
//! delays publishes and acks; both have explicit timeouts (the crate's default is 500 ms).

mod claims;

use super::owners::Owners;
use super::{Batch, QueueError, RedisQueueConfig, ResultQueue};
use async_trait::async_trait;
use netpulse_core::wire::ResultEnvelope;
use netpulse_core::MonitorId;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamId, StreamReadReply};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The consumer group every ingest node joins.
pub const GROUP: &str = "ingest";
/// A blocking read waits at most this long per call.
const MAX_BLOCK: Duration = Duration::from_secs(5);

/// KEYS: the streams of the batch's partitions. ARGV: the cap, then per entry the index of
/// its stream in KEYS and the envelope. All or none: every stream's length is checked for
/// the whole batch before the first `XADD`. Returns `{1, len…}` (each stream's new length)
/// or `{0, len}` (the length of the stream that is full).
const PUBLISH: &str = r#"
local n = {}
for i = 2, #ARGV, 2 do
  local k = tonumber(ARGV[i])
  n[k] = (n[k] or 0) + 1
end
local lens = {1}
for k = 1, #KEYS do
  local len = redis.call('XLEN', KEYS[k])
  if len + (n[k] or 0) > tonumber(ARGV[1]) then return {0, len} end
  lens[k + 1] = len + (n[k] or 0)
end
for i = 2, #ARGV, 2 do
  redis.call('XADD', KEYS[tonumber(ARGV[i])], 'MAXLEN', ARGV[1], '*', 'env', ARGV[i + 1])
end
return lens
"#;

/// The Redis Streams implementation of [`ResultQueue`].
pub struct RedisQueue {
    cmd: ConnectionManager,
    reader: Mutex<ConnectionManager>,
    streams: Vec<String>,
    owners: Owners,
    consumer: String,
    max_len: usize,
    claim_idle_ms: u64,
    /// Milliseconds since `started` of the last XAUTOCLAIM.
    last_claim: AtomicU64,
    started: Instant,
    /// Each partition's length as last seen, and the entries read here and not yet acked.
    depths: Vec<AtomicUsize>,
    in_flight: Vec<AtomicUsize>,
    /// The partitions owned at the last read: one owned since is taken over first.
    known: std::sync::Mutex<Vec<usize>>,
    /// Which owned stream a read names first.
    turn: AtomicUsize,
}

fn unavailable(e: redis::RedisError) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

/// The stream keys of `partitions` partitions under `prefix` (one: `{prefix}:results`).
pub fn stream_keys(prefix: &str, partitions: usize) -> Vec<String> {
    match partitions {
        1 => vec![format!("{prefix}:results")],
        n => (0..n).map(|p| format!("{prefix}:results:{p}")).collect(),
    }
}

/// The client for `queue.redis.url` and a reconnecting command connection with the
/// configured timeouts (shared by the queue, the live relay and the worker census).
pub async fn connect_commands(config: &RedisQueueConfig) -> anyhow::Result<(redis::Client, ConnectionManager)> {
    use anyhow::Context;
    let client = redis::Client::open(config.url.expose())
        .with_context(|| format!("queue.redis.url is not a valid Redis URL ({:?})", config.url))?;
    let timeout = Duration::from_millis(config.timeout_ms);
    let base = ConnectionManagerConfig::new().set_connection_timeout(timeout).set_number_of_retries(3);
    let cmd = ConnectionManager::new_with_config(client.clone(), base.set_response_timeout(timeout))
        .await
        .with_context(|| format!("cannot connect to Redis at {:?} (queue.redis.url)", config.url))?;
    Ok((client, cmd))
}

impl RedisQueue {
    /// Connect (both connections), create the groups if missing.
    pub async fn connect(config: &RedisQueueConfig, consumer: &str) -> anyhow::Result<Self> {
        use anyhow::Context;
        let (client, cmd) = connect_commands(config).await?;
        let timeout = Duration::from_millis(config.timeout_ms);
        let base = ConnectionManagerConfig::new().set_connection_timeout(timeout).set_number_of_retries(3);
        let reader = ConnectionManager::new_with_config(client, base.set_response_timeout(timeout + MAX_BLOCK))
            .await
            .with_context(|| format!("cannot connect to Redis at {:?} (queue.redis.url)", config.url))?;
        let n = config.partitions;
        let queue = Self {
            owners: Owners::new(cmd.clone(), &config.prefix, "results", consumer, n, config.claim_idle_ms),
            cmd,
            reader: Mutex::new(reader),
            streams: stream_keys(&config.prefix, n),
            consumer: consumer.to_owned(),
            max_len: config.max_len,
            claim_idle_ms: config.claim_idle_ms,
            last_claim: AtomicU64::new(0),
            started: Instant::now(),
            depths: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            in_flight: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            known: std::sync::Mutex::default(),
            turn: AtomicUsize::new(0),
        };
        queue.ensure_groups().await.context("cannot create the Redis consumer groups")?;
        Ok(queue)
    }

    /// The streams' keys, by partition.
    pub fn stream_keys(&self) -> &[String] {
        &self.streams
    }

    /// The partition of `monitor`'s results: its state partition modulo the streams.
    pub fn partition_of(&self, monitor: &MonitorId) -> usize {
        super::owners::partition_of(monitor, self.streams.len())
    }

    /// The partitions this node reads now (refreshed when due).
    pub async fn owned(&self) -> Vec<usize> {
        self.owners.refresh(|p| self.in_flight[p].load(Ordering::SeqCst) > 0).await
    }

    /// Split entries of partition `p` into envelopes and receipts (`p/id`); unreadable
    /// entries are acked and deleted right away (logged, with their id) so they are not
    /// redelivered forever.
    async fn decode(&self, p: usize, entries: Vec<StreamId>, batch: &mut Batch) {
        let mut poison = Vec::new();
        for e in entries {
            let parsed = e.get::<Vec<u8>>("env").and_then(|b| serde_json::from_slice::<ResultEnvelope>(&b).ok());
            match parsed {
                Some(env) => {
                    batch.items.push(env);
                    batch.receipts.push(format!("{p}/{}", e.id));
                    self.in_flight[p].fetch_add(1, Ordering::SeqCst);
                }
                None => {
                    tracing::error!(entry = %e.id, stream = %self.streams[p], "unreadable queue entry dropped");
                    poison.push(e.id);
                }
            }
        }
        if !poison.is_empty() {
            self.ack_ids(p, &poison).await;
        }
    }

    /// One `XREADGROUP` of at most `count` new entries of the `owned` partitions, blocking up
    /// to `block` (not at all when zero); entries by partition. `COUNT` is per stream, so the
    /// read names at most `count` streams (taking turns) and asks each for its share.
    async fn read(
        &self,
        reader: &mut ConnectionManager,
        owned: &[usize],
        count: usize,
        block: Duration,
    ) -> Result<Vec<(usize, Vec<StreamId>)>, QueueError> {
        let k = owned.len().min(count).max(1);
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        let owned: Vec<usize> = (0..k).map(|i| owned[(turn + i) % owned.len()]).collect();
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(GROUP).arg(&self.consumer).arg("COUNT").arg(count / k);
        let block_ms = block.min(MAX_BLOCK).as_millis() as u64;
        if block_ms > 0 {
            cmd.arg("BLOCK").arg(block_ms);
        }
        cmd.arg("STREAMS");
        for &p in &owned {
            cmd.arg(&self.streams[p]);
        }
        for _ in &owned {
            cmd.arg(">");
        }
        let reply: Option<StreamReadReply> = match cmd.query_async(reader).await {
            Ok(r) => r,
            Err(e) if e.code() == Some("NOGROUP") => {
                // Redis lost the groups (restarted without persistence): recreate them.
                tracing::warn!("consumer group missing; recreating it");
                self.ensure_groups().await?;
                return Ok(Vec::new());
            }
            Err(e) => return Err(unavailable(e)),
        };
        let index: HashMap<&str, usize> = owned.iter().map(|&p| (self.streams[p].as_str(), p)).collect();
        let keys = reply.map(|r| r.keys).unwrap_or_default();
        Ok(keys.into_iter().filter_map(|k| index.get(k.key.as_str()).map(|&p| (p, k.ids))).collect())
    }

    async fn next_batch_inner(&self, max: usize, wait: Duration, linger: Duration) -> Result<Batch, QueueError> {
        let mut batch = Batch::default();
        let owned = self.owned().await;
        if owned.is_empty() {
            tokio::time::sleep(wait.min(Duration::from_secs(1))).await; // another node reads them all
            return Ok(batch);
        }
        let fresh: Vec<usize> = {
            let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            let fresh = owned.iter().copied().filter(|p| !known.contains(p)).collect();
            known.clone_from(&owned);
            fresh
        };
        for p in fresh {
            self.take_over(p, max, &mut batch).await?;
        }
        self.reclaim(&owned, max, &mut batch).await?;
        if !batch.items.is_empty() {
            return Ok(batch);
        }
        let mut reader = self.reader.lock().await;
        let first = self.read(&mut reader, &owned, max, wait).await?;
        if first.iter().all(|(_, ids)| ids.is_empty()) {
            return Ok(batch);
        }
        for (p, ids) in first {
            self.decode(p, ids, &mut batch).await;
        }
        let until = Instant::now() + linger;
        while batch.receipts.len() < max {
            let left = until.saturating_duration_since(Instant::now());
            if left < Duration::from_millis(1) {
                break;
            }
            // A failed linger read ends the batch; what was read is still delivered.
            match self.read(&mut reader, &owned, max - batch.receipts.len(), left).await {
                Ok(more) if more.iter().any(|(_, ids)| !ids.is_empty()) => {
                    for (p, ids) in more {
                        self.decode(p, ids, &mut batch).await;
                    }
                }
                _ => break,
            }
        }
        Ok(batch)
    }

    /// `XACK` + `XDEL` (+ `XLEN` for depth) of partition `p`'s entries in one transaction,
    /// retried a little.
    async fn ack_ids(&self, p: usize, ids: &[String]) {
        let stream = &self.streams[p];
        let mut backoff = Duration::from_millis(50);
        for attempt in 1..=4 {
            let mut c = self.cmd.clone();
            let done: redis::RedisResult<(i64, i64, usize)> = redis::pipe()
                .atomic()
                .cmd("XACK")
                .arg(stream)
                .arg(GROUP)
                .arg(ids)
                .cmd("XDEL")
                .arg(stream)
                .arg(ids)
                .cmd("XLEN")
                .arg(stream)
                .query_async(&mut c)
                .await;
            match done {
                Ok((_, _, len)) => {
                    self.depths[p].store(len, Ordering::Relaxed);
                    return;
                }
                Err(e) if attempt == 4 => {
                    tracing::warn!(error = %e, entries = ids.len(), "ack failed; the entries will be redelivered after queue.redis.claim_idle_ms (ingest is idempotent)");
                }
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
    }
}

#[async_trait]
impl ResultQueue for RedisQueue {
    async fn publish(&self, env: ResultEnvelope) -> Result<(), QueueError> {
        self.publish_many(vec![env]).await
    }

    async fn publish_many(&self, envs: Vec<ResultEnvelope>) -> Result<(), QueueError> {
        if envs.is_empty() {
            return Ok(());
        }
        let mut keys: Vec<usize> = envs.iter().map(|e| self.partition_of(&e.result.monitor_id)).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(PUBLISH).arg(keys.len());
        for &p in &keys {
            cmd.arg(&self.streams[p]);
        }
        cmd.arg(self.max_len);
        for env in &envs {
            let k = keys.binary_search(&self.partition_of(&env.result.monitor_id)).expect("listed") + 1;
            cmd.arg(k);
            cmd.arg(serde_json::to_vec(env).map_err(|e| QueueError::Unavailable(format!("cannot encode: {e}")))?);
        }
        let mut c = self.cmd.clone();
        let reply = cmd.query_async::<Vec<i64>>(&mut c).await.map_err(unavailable)?;
        match reply.as_slice() {
            [1, lens @ ..] if lens.len() == keys.len() => {
                for (&p, &len) in keys.iter().zip(lens) {
                    self.depths[p].store(len.max(0) as usize, Ordering::Relaxed);
                }
                Ok(())
            }
            [0, len] => Err(QueueError::Full { len: (*len).max(0) as usize, max: self.max_len }),
            _ => Err(QueueError::Unavailable("unexpected reply to the publish script".into())),
        }
    }

    async fn next_batch(&self, max: usize, wait: Duration, linger: Duration) -> Batch {
        match self.next_batch_inner(max, wait, linger).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the result queue; will retry");
                tokio::time::sleep(wait.clamp(Duration::from_millis(50), Duration::from_secs(1))).await;
                Batch::default()
            }
        }
    }

    async fn ack(&self, batch: &Batch) {
        let mut by_partition: HashMap<usize, Vec<String>> = HashMap::new();
        for r in &batch.receipts {
            if let Some((p, id)) = r.split_once('/').and_then(|(p, id)| Some((p.parse::<usize>().ok()?, id))) {
                by_partition.entry(p).or_default().push(id.to_owned());
            }
        }
        for (p, ids) in by_partition {
            self.ack_ids(p, &ids).await;
            let _ = self.in_flight[p]
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| Some(n.saturating_sub(ids.len())));
        }
    }

    fn depth(&self) -> usize {
        self.depths.iter().map(|d| d.load(Ordering::Relaxed)).sum()
    }

    async fn leave(&self) {
        self.owners.leave().await;
    }
}

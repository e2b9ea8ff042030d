//! The scale-out queue: one Redis stream, `{queue.redis.prefix}:results`, read by the
//! consumer group `ingest`, in which each engine node is a consumer named by its node id.
//!
//! - `publish` / `publish_many`: one Lua script per call, atomic on the server: refuse the
//!   whole batch with [`QueueError::Full`] when the stream's entries plus the batch would
//!   exceed `max_len`, else `XADD … MAXLEN max_len * env <json>` for each, in order (a batch
//!   larger than `max_len` never fits; workers send at most 500, `max_len` is at least 1000). Acked
//!   entries are deleted, so the length is the backlog (waiting + unacknowledged) and the
//!   `MAXLEN` never trims an entry: a full stream pushes back on producers instead of
//!   silently dropping the oldest results. Redis down or slow → [`QueueError::Unavailable`].
//! - `next_batch`: first `XAUTOCLAIM` entries idle for more than `claim_idle_ms` (read by a
//!   consumer that died before acking, or by ourselves before a failed ack), then
//!   `XREADGROUP … BLOCK wait COUNT max >`, lingering for more up to `linger`.
//! - `ack` (after the store commit): `XACK` + `XDEL` in one `MULTI`, plus `XLEN` for `depth`.
//!   A failed ack is harmless: the entries are claimed again after `claim_idle_ms` and
//!   ingest is idempotent on result ids.
//!
//! Durability is Redis's: an entry is only as safe as Redis's persistence. Run Redis with
//! `appendonly yes` and `appendfsync always` (or `everysec`, accepting up to a second of
//! accepted results lost on a Redis crash); without persistence a Redis restart loses every
//! entry not yet ingested. Two connections: blocking reads get their own, so a `BLOCK` never
//! delays publishes and acks; both have explicit timeouts (the crate's default is 500 ms).

use super::{Batch, QueueError, RedisQueueConfig, ResultQueue};
use async_trait::async_trait;
use netpulse_core::wire::ResultEnvelope;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The consumer group every ingest node joins.
pub const GROUP: &str = "ingest";
/// A blocking read waits at most this long per call.
const MAX_BLOCK: Duration = Duration::from_secs(5);

/// ARGV: the cap, then one envelope per entry. All or none: the length is checked for the
/// whole batch before the first `XADD`.
const PUBLISH: &str = r#"
local len = redis.call('XLEN', KEYS[1])
local n = #ARGV - 1
if len + n > tonumber(ARGV[1]) then return {0, len} end
for i = 2, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'env', ARGV[i])
end
return {1, len + n}
"#;

/// The Redis Streams implementation of [`ResultQueue`].
pub struct RedisQueue {
    cmd: ConnectionManager,
    reader: Mutex<ConnectionManager>,
    stream: String,
    consumer: String,
    max_len: usize,
    claim_idle_ms: u64,
    /// Milliseconds since `started` of the last XAUTOCLAIM.
    last_claim: AtomicU64,
    started: Instant,
    depth: AtomicUsize,
}

fn unavailable(e: redis::RedisError) -> QueueError {
    QueueError::Unavailable(e.to_string())
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
    /// Connect (both connections), create the group if missing.
    pub async fn connect(config: &RedisQueueConfig, consumer: &str) -> anyhow::Result<Self> {
        use anyhow::Context;
        let (client, cmd) = connect_commands(config).await?;
        let timeout = Duration::from_millis(config.timeout_ms);
        let base = ConnectionManagerConfig::new().set_connection_timeout(timeout).set_number_of_retries(3);
        let reader = ConnectionManager::new_with_config(client, base.set_response_timeout(timeout + MAX_BLOCK))
            .await
            .with_context(|| format!("cannot connect to Redis at {:?} (queue.redis.url)", config.url))?;
        let queue = Self {
            cmd,
            reader: Mutex::new(reader),
            stream: format!("{}:results", config.prefix),
            consumer: consumer.to_owned(),
            max_len: config.max_len,
            claim_idle_ms: config.claim_idle_ms,
            last_claim: AtomicU64::new(0),
            started: Instant::now(),
            depth: AtomicUsize::new(0),
        };
        queue.ensure_group().await.context("cannot create the Redis consumer group")?;
        Ok(queue)
    }

    /// The stream's key.
    pub fn stream_key(&self) -> &str {
        &self.stream
    }

    /// `XGROUP CREATE … 0 MKSTREAM`: from the start, so results published before the first
    /// ingest node joined are read too. Already there is fine.
    async fn ensure_group(&self) -> Result<(), QueueError> {
        let mut c = self.cmd.clone();
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut c)
            .await;
        match created {
            Err(e) if e.code() != Some("BUSYGROUP") => Err(unavailable(e)),
            _ => Ok(()),
        }
    }

    /// Split entries into envelopes and receipts; unreadable entries are acked and deleted
    /// right away (logged, with their id) so they are not redelivered forever.
    async fn decode(&self, entries: Vec<StreamId>, batch: &mut Batch) {
        let mut poison = Vec::new();
        for e in entries {
            let parsed = e.get::<Vec<u8>>("env").and_then(|b| serde_json::from_slice::<ResultEnvelope>(&b).ok());
            match parsed {
                Some(env) => {
                    batch.items.push(env);
                    batch.receipts.push(e.id);
                }
                None => {
                    tracing::error!(entry = %e.id, stream = %self.stream, "unreadable queue entry dropped");
                    poison.push(e.id);
                }
            }
        }
        if !poison.is_empty() {
            self.ack_ids(&poison).await;
        }
    }

    /// Claim entries other consumers left unacknowledged for longer than `claim_idle_ms`
    /// (at most every quarter of that, and at most every second).
    async fn reclaim(&self, max: usize, batch: &mut Batch) -> Result<(), QueueError> {
        let now = self.started.elapsed().as_millis() as u64;
        let every = (self.claim_idle_ms / 4).clamp(10, 1000);
        let last = self.last_claim.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < every {
            return Ok(());
        }
        self.last_claim.store(now.max(1), Ordering::Relaxed);
        let mut c = self.cmd.clone();
        let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(&self.stream)
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(self.claim_idle_ms)
            .arg("0-0")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        if !reply.claimed.is_empty() {
            tracing::info!(claimed = reply.claimed.len(), stream = %self.stream, "reclaimed results of a stalled consumer");
        }
        self.decode(reply.claimed, batch).await;
        Ok(())
    }

    /// One `XREADGROUP` of new entries, blocking up to `block` (not at all when zero).
    async fn read(
        &self,
        reader: &mut ConnectionManager,
        count: usize,
        block: Duration,
    ) -> Result<Vec<StreamId>, QueueError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(GROUP).arg(&self.consumer).arg("COUNT").arg(count);
        let block_ms = block.min(MAX_BLOCK).as_millis() as u64;
        if block_ms > 0 {
            cmd.arg("BLOCK").arg(block_ms);
        }
        cmd.arg("STREAMS").arg(&self.stream).arg(">");
        let reply: Option<StreamReadReply> = match cmd.query_async(reader).await {
            Ok(r) => r,
            Err(e) if e.code() == Some("NOGROUP") => {
                // Redis lost the group (restarted without persistence): recreate it.
                tracing::warn!(stream = %self.stream, "consumer group missing; recreating it");
                self.ensure_group().await?;
                return Ok(Vec::new());
            }
            Err(e) => return Err(unavailable(e)),
        };
        Ok(reply.map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect()).unwrap_or_default())
    }

    async fn next_batch_inner(&self, max: usize, wait: Duration, linger: Duration) -> Result<Batch, QueueError> {
        let mut batch = Batch::default();
        self.reclaim(max, &mut batch).await?;
        if !batch.items.is_empty() {
            return Ok(batch);
        }
        let mut reader = self.reader.lock().await;
        let first = self.read(&mut reader, max, wait).await?;
        if first.is_empty() {
            return Ok(batch);
        }
        self.decode(first, &mut batch).await;
        let until = Instant::now() + linger;
        while batch.receipts.len() < max {
            let left = until.saturating_duration_since(Instant::now());
            if left < Duration::from_millis(1) {
                break;
            }
            // A failed linger read ends the batch; what was read is still delivered.
            match self.read(&mut reader, max - batch.receipts.len(), left).await {
                Ok(more) if !more.is_empty() => self.decode(more, &mut batch).await,
                _ => break,
            }
        }
        Ok(batch)
    }

    /// `XACK` + `XDEL` (+ `XLEN` for depth) in one transaction, retried a little.
    async fn ack_ids(&self, ids: &[String]) {
        let mut backoff = Duration::from_millis(50);
        for attempt in 1..=4 {
            let mut c = self.cmd.clone();
            let done: redis::RedisResult<(i64, i64, usize)> = redis::pipe()
                .atomic()
                .cmd("XACK")
                .arg(&self.stream)
                .arg(GROUP)
                .arg(ids)
                .cmd("XDEL")
                .arg(&self.stream)
                .arg(ids)
                .cmd("XLEN")
                .arg(&self.stream)
                .query_async(&mut c)
                .await;
            match done {
                Ok((_, _, len)) => {
                    self.depth.store(len, Ordering::Relaxed);
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
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(PUBLISH).arg(1).arg(&self.stream).arg(self.max_len);
        for env in &envs {
            cmd.arg(serde_json::to_vec(env).map_err(|e| QueueError::Unavailable(format!("cannot encode: {e}")))?);
        }
        let mut c = self.cmd.clone();
        let (accepted, len): (i64, usize) =
            cmd.query_async::<Vec<i64>>(&mut c).await.map_err(unavailable).and_then(|v| match v.as_slice() {
                [a, l] => Ok((*a, (*l).max(0) as usize)),
                _ => Err(QueueError::Unavailable("unexpected reply to the publish script".into())),
            })?;
        self.depth.store(len, Ordering::Relaxed);
        if accepted == 1 {
            Ok(())
        } else {
            Err(QueueError::Full { len, max: self.max_len })
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
        if !batch.receipts.is_empty() {
            self.ack_ids(&batch.receipts).await;
        }
    }

    fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }
}

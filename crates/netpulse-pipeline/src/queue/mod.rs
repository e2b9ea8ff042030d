//! The queue port between checkers and ingest, and its two implementations: the in-process
//! channel ([`memory`], one process) and Redis Streams ([`redis`], several engine nodes).
//!
//! Delivery is at-least-once: a consumer acknowledges results only after the store committed
//! them, and ingest is idempotent on result ids, so a redelivery is harmless.
//!
//! Back-pressure, never silent loss: when the queue cannot take a result — the in-process
//! channel is full, the Redis stream holds `queue.redis.max_len` unacknowledged entries, or
//! Redis does not answer — `publish` either waits (in-process) or returns a [`QueueError`]
//! that says so. Producers retry with backoff ([`publish_retrying`]); the heartbeat endpoint
//! answers 503 so the pinging job retries. Nothing accepted (`Ok`) is dropped by the queue.

pub mod durable;
pub mod jobs;
pub mod memory;
pub mod owners;
pub mod redis;

use async_trait::async_trait;
use netpulse_core::wire::ResultEnvelope;
use netpulse_store::DatabaseUrl;
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::watch;

pub use jobs::JobStreams;
pub use memory::InProcessQueue;
pub use redis::RedisQueue;

/// Why a result was not accepted. Nothing was enqueued; the caller still owns the result.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue is gone (the engine is shutting down).
    #[error("result queue closed")]
    Closed,
    /// The stream is at its configured cap: ingest is behind. Retry later.
    #[error("result queue full ({len} entries waiting, queue.redis.max_len = {max}); ingest is behind")]
    Full { len: usize, max: usize },
    /// The queue server does not answer. Retry later.
    #[error("result queue unavailable: {0}")]
    Unavailable(String),
}

impl QueueError {
    /// Worth retrying (full or unreachable), as opposed to closed for good.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, QueueError::Closed)
    }
}

/// A batch taken from the queue; `ack` it once stored. `receipts` are what the queue needs to
/// confirm it (Redis stream entry ids; empty for the in-process queue).
#[derive(Debug, Default)]
pub struct Batch {
    pub items: Vec<ResultEnvelope>,
    pub receipts: Vec<String>,
}

#[async_trait]
pub trait ResultQueue: Send + Sync + 'static {
    /// Enqueue one result; `Ok` means the queue holds it (durably, for Redis with AOF).
    async fn publish(&self, env: ResultEnvelope) -> Result<(), QueueError>;
    /// Enqueue several results at once, all or none: `Ok` means the queue holds every one,
    /// an error that it took none (Redis: one script call, refused with [`QueueError::Full`]
    /// when the batch does not fit under the cap). The in-process queue waits for room for
    /// each in turn; it only fails when closed, and then nothing it held is read anyway.
    async fn publish_many(&self, envs: Vec<ResultEnvelope>) -> Result<(), QueueError> {
        for env in envs {
            self.publish(env).await?;
        }
        Ok(())
    }
    /// Wait up to `wait` for the first result, then keep collecting for up to `linger`
    /// (or until `max`), so that one transaction stores many results.
    async fn next_batch(&self, max: usize, wait: Duration, linger: Duration) -> Batch;
    /// Wait until a result may be waiting (a read then finds it at once) or `stop` turns
    /// true, so that an idle reader sleeps instead of waking to find nothing. The in-process
    /// queue is told by its publishers; by default it returns at once (a Redis read blocks
    /// on the server instead).
    async fn readable(&self, stop: &mut watch::Receiver<bool>) {
        let _ = stop;
    }
    /// Confirm a batch is durable (call only after the store committed it).
    async fn ack(&self, batch: &Batch);
    /// Results waiting (for Redis: as of the last call that looked).
    fn depth(&self) -> usize;
    /// This node stops reading (graceful stop): what it reads passes to other nodes now.
    async fn leave(&self) {}
}

/// Publish, retrying a full or unreachable queue with backoff (50 ms doubling to 2 s) for up
/// to `patience`. A result still refused after that is reported (returned), not dropped
/// silently: the caller logs it and the next check of the monitor produces a new one.
pub async fn publish_retrying(
    queue: &dyn ResultQueue,
    env: ResultEnvelope,
    patience: Duration,
) -> Result<(), QueueError> {
    publish_many_retrying(queue, vec![env], patience).await
}

/// [`publish_retrying`] for a batch, all or none ([`ResultQueue::publish_many`]).
pub async fn publish_many_retrying(
    queue: &dyn ResultQueue,
    envs: Vec<ResultEnvelope>,
    patience: Duration,
) -> Result<(), QueueError> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut backoff = Duration::from_millis(50);
    loop {
        match queue.publish_many(envs.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_retryable() && tokio::time::Instant::now() + backoff < deadline => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "result not accepted; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Which queue carries results from checkers to ingest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueBackend {
    /// The in-process channel: checker and ingest run in the same process.
    Memory,
    /// Redis Streams (`[queue.redis]`): shared by several engine nodes.
    Redis,
}

/// The `[queue]` section.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub backend: QueueBackend,
    /// Capacity of the in-process channel.
    pub memory_capacity: usize,
    pub redis: RedisQueueConfig,
}

/// The `[queue.redis]` section.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisQueueConfig {
    pub url: DatabaseUrl,
    /// Key prefix: the streams are `{prefix}:results:{p}` (one partition: `{prefix}:results`).
    pub prefix: String,
    /// Streams the results are split into by monitor, each read by one ingest node at a
    /// time; a divisor of 64 (the store's state partitions).
    pub partitions: usize,
    /// Most entries waiting (unacknowledged) in one partition before `publish` refuses with `Full`.
    pub max_len: usize,
    /// Entries a consumer has not acknowledged for this long are claimed by another.
    pub claim_idle_ms: u64,
    /// A check job a worker leased and did not answer for this long is handed to another
    /// worker, once ([`jobs`]); longer than a check takes (timeout × (retries + 1)).
    pub job_lease_ms: u64,
    /// Response timeout of one Redis command (the `redis` crate's default of 500 ms is too
    /// short for a busy server; a blocking read adds its block time to this).
    pub timeout_ms: u64,
}

impl QueueConfig {
    /// Check values, naming the key at fault.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.memory_capacity == 0 || self.memory_capacity > 10_000_000 {
            return Err(("queue.memory_capacity", "must be between 1 and 10000000".into()));
        }
        let r = &self.redis;
        if self.backend == QueueBackend::Redis {
            match url::Url::parse(r.url.expose()) {
                Ok(u) if ["redis", "rediss", "unix", "redis+unix"].contains(&u.scheme()) => {}
                _ => {
                    return Err((
                        "queue.redis.url",
                        "queue.backend = \"redis\" requires a URL like redis://127.0.0.1:6379 \
                         (put a password in NETPULSE_QUEUE__REDIS__URL rather than in a file)"
                            .into(),
                    ))
                }
            }
        }
        if r.prefix.is_empty() || r.prefix.contains(char::is_whitespace) {
            return Err((
                "queue.redis.prefix",
                "must be a non-empty key prefix without spaces, e.g. \"netpulse\"".into(),
            ));
        }
        if !(1..=64).contains(&r.partitions) || 64 % r.partitions != 0 {
            return Err(("queue.redis.partitions", "must divide 64: 1, 2, 4, 8, 16, 32 or 64".into()));
        }
        if r.max_len < 1_000 {
            return Err(("queue.redis.max_len", "must be at least 1000".into()));
        }
        if r.claim_idle_ms < 100 {
            return Err(("queue.redis.claim_idle_ms", "must be at least 100".into()));
        }
        if !(100..=3_600_000).contains(&r.job_lease_ms) {
            return Err(("queue.redis.job_lease_ms", "must be between 100 and 3600000".into()));
        }
        if !(100..=60_000).contains(&r.timeout_ms) {
            return Err(("queue.redis.timeout_ms", "must be between 100 and 60000".into()));
        }
        Ok(())
    }
}

/// Open the configured queue; `consumer` names this node in the Redis consumer group.
pub async fn open(config: &QueueConfig, consumer: &str) -> anyhow::Result<std::sync::Arc<dyn ResultQueue>> {
    Ok(match config.backend {
        QueueBackend::Memory => std::sync::Arc::new(InProcessQueue::new(config.memory_capacity)),
        QueueBackend::Redis => std::sync::Arc::new(RedisQueue::connect(&config.redis, consumer).await?),
    })
}

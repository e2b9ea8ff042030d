//! The queue port between checkers and ingest, and its in-process implementation.
//!
//! Delivery is at-least-once: a consumer acknowledges results only after they are durable,
//! and ingest is idempotent on result ids, so a redelivery is harmless. The in-process queue
//! is a bounded channel: when it is full, publishers wait (back-pressure), nothing is dropped.

use async_trait::async_trait;
use netpulse_core::wire::ResultEnvelope;
use std::time::Duration;
use tokio::sync::{mpsc, Mutex};

/// The queue is gone (the engine is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("result queue closed")]
pub struct QueueClosed;

/// A batch taken from the queue; `ack` it once stored.
pub struct Batch {
    pub items: Vec<ResultEnvelope>,
}

#[async_trait]
pub trait ResultQueue: Send + Sync + 'static {
    async fn publish(&self, env: ResultEnvelope) -> Result<(), QueueClosed>;
    /// Wait up to `wait` for the first result, then keep collecting for up to `linger`
    /// (or until `max`), so that one transaction stores many results.
    async fn next_batch(&self, max: usize, wait: Duration, linger: Duration) -> Batch;
    /// Confirm a batch is durable.
    async fn ack(&self, batch: &Batch);
    /// Results waiting.
    fn depth(&self) -> usize;
}

/// The embedded queue: a bounded in-process channel.
pub struct InProcessQueue {
    tx: mpsc::Sender<ResultEnvelope>,
    rx: Mutex<mpsc::Receiver<ResultEnvelope>>,
}

impl InProcessQueue {
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity);
        Self { tx, rx: Mutex::new(rx) }
    }
}

#[async_trait]
impl ResultQueue for InProcessQueue {
    async fn publish(&self, env: ResultEnvelope) -> Result<(), QueueClosed> {
        self.tx.send(env).await.map_err(|_| QueueClosed)
    }

    async fn next_batch(&self, max: usize, wait: Duration, linger: Duration) -> Batch {
        let mut rx = self.rx.lock().await;
        let mut items = Vec::new();
        if let Ok(Some(first)) = tokio::time::timeout(wait, rx.recv()).await {
            items.push(first);
            let until = tokio::time::Instant::now() + linger;
            while items.len() < max {
                match rx.try_recv() {
                    Ok(env) => items.push(env),
                    Err(_) => match tokio::time::timeout_at(until, rx.recv()).await {
                        Ok(Some(env)) => items.push(env),
                        _ => break,
                    },
                }
            }
        }
        Batch { items }
    }

    async fn ack(&self, _batch: &Batch) {
        // In-process: a batch is removed from the channel when taken; ingest keeps it in
        // memory and retries until it is stored, so there is nothing to confirm.
    }

    fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

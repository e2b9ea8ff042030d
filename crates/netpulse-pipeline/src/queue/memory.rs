//! The embedded queue: a bounded in-process channel between the local checker and ingest.
//!
//! When it is full, publishers wait (back-pressure); nothing is dropped. A batch leaves the
//! channel when taken: ingest keeps it in memory and retries until it is stored, so `ack`
//! has nothing to confirm and `Batch::receipts` stays empty. Results in the channel are lost
//! if the process dies — the price of the embedded mode; Redis Streams are the durable one.
//! So that a regional worker never forgets such a result, the gateway acknowledges workers'
//! results only once ingest stored them ([`super::durable`]).

use super::{Batch, QueueError, ResultQueue};
use async_trait::async_trait;
use netpulse_core::wire::ResultEnvelope;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Mutex, Notify};

/// The embedded queue: a bounded in-process channel.
pub struct InProcessQueue {
    tx: mpsc::Sender<ResultEnvelope>,
    rx: Mutex<mpsc::Receiver<ResultEnvelope>>,
    /// Notified (`notify_one`, so a publish before the reader waits is not missed) after
    /// each publish: the reader's [`ResultQueue::readable`] ends.
    published: Notify,
}

impl InProcessQueue {
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity);
        Self { tx, rx: Mutex::new(rx), published: Notify::new() }
    }
}

#[async_trait]
impl ResultQueue for InProcessQueue {
    async fn publish(&self, env: ResultEnvelope) -> Result<(), QueueError> {
        self.tx.send(env).await.map_err(|_| QueueError::Closed)?;
        self.published.notify_one();
        Ok(())
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
        Batch { items, receipts: Vec::new() }
    }

    async fn readable(&self, stop: &mut watch::Receiver<bool>) {
        while self.depth() == 0 && !*stop.borrow() {
            tokio::select! {
                _ = self.published.notified() => {}
                changed = stop.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }

    async fn ack(&self, _batch: &Batch) {
        // Nothing to confirm: see the module docs.
    }

    fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netpulse_core::{CheckResult, Outcome, Provenance, Timestamp, Timings};

    fn env(n: i64) -> ResultEnvelope {
        let r = CheckResult {
            id: netpulse_store::clock::fresh(),
            tenant_id: netpulse_store::clock::fresh(),
            monitor_id: netpulse_store::clock::fresh(),
            region: "local".into(),
            worker: "test".into(),
            started_at: Timestamp::from_millis(n),
            finished_at: Timestamp::from_millis(n),
            outcome: Outcome::Up,
            timings: Timings::default(),
            status_code: None,
            error: None,
            cert_expires_at: None,
            cert_issuer: None,
            provenance: Provenance::Live,
        };
        ResultEnvelope::new(r, Timestamp::from_millis(n))
    }

    #[tokio::test]
    async fn queue_memory_batches_up_to_max_and_reports_depth() {
        let q = InProcessQueue::new(10);
        for i in 0..5 {
            q.publish(env(i)).await.unwrap();
        }
        assert_eq!(q.depth(), 5);
        let b = q.next_batch(3, Duration::from_millis(10), Duration::ZERO).await;
        assert_eq!(b.items.len(), 3);
        assert!(b.receipts.is_empty());
        let b = q.next_batch(10, Duration::from_millis(10), Duration::from_millis(5)).await;
        assert_eq!(b.items.len(), 2);
        assert_eq!(q.depth(), 0);
    }

    /// An idle reader sleeps in `readable` until a result is published (then the read finds
    /// it at once) or it is told to stop; a result published before it waits is not missed.
    #[tokio::test]
    async fn an_idle_reader_wakes_on_publish_and_on_stop() {
        let q = std::sync::Arc::new(InProcessQueue::new(10));
        let (stop_tx, stop) = watch::channel(false);
        let reader = tokio::spawn({
            let (q, mut stop) = (q.clone(), stop.clone());
            async move { q.readable(&mut stop).await }
        });
        tokio::task::yield_now().await;
        assert!(!reader.is_finished(), "nothing published: the reader sleeps");
        q.publish(env(1)).await.unwrap();
        reader.await.unwrap();
        let b = q.next_batch(10, Duration::ZERO, Duration::ZERO).await;
        assert_eq!(b.items.len(), 1, "the published result is there to read");

        q.publish(env(2)).await.unwrap();
        q.readable(&mut stop.clone()).await;
        assert_eq!(q.next_batch(10, Duration::ZERO, Duration::ZERO).await.items.len(), 1);

        let reader = tokio::spawn({
            let (q, mut stop) = (q.clone(), stop.clone());
            async move { q.readable(&mut stop).await }
        });
        stop_tx.send(true).unwrap();
        reader.await.unwrap();
        assert_eq!(q.depth(), 0, "it returned for the stop, with nothing to read");
    }
}

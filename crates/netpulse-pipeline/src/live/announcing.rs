//! A queue decorator that announces each accepted result on the live bus at once.
//!
//! The dashboard's check-to-dashboard budget (P95 < 10 ms at 5,000 results/s) leaves no room
//! for the ingest transaction, so results are shown when the queue accepts them, before they
//! are stored; health and incident changes are still announced by ingest after commit. A
//! result shown this way is durable as soon as its batch commits (a crash in between loses
//! it from the page on reload, never from an accepted queue). The browser ignores a result
//! id it has already shown, so a redelivery does not add a row twice.

use super::LiveBus;
use crate::queue::{Batch, QueueError, ResultQueue};
use async_trait::async_trait;
use netpulse_core::wire::ResultEnvelope;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub struct Announcing {
    pub inner: Arc<dyn ResultQueue>,
    pub live: LiveBus,
}

#[async_trait]
impl ResultQueue for Announcing {
    async fn publish(&self, env: ResultEnvelope) -> Result<(), QueueError> {
        let announce = self.live.wants_events().then(|| (env.result.clone(), env.sent_at));
        self.inner.publish(env).await?;
        if let Some((result, sent_at)) = announce {
            self.live.result_checked(&result, sent_at);
        }
        Ok(())
    }

    async fn publish_many(&self, envs: Vec<ResultEnvelope>) -> Result<(), QueueError> {
        let announce: Vec<_> = match self.live.wants_events() {
            true => envs.iter().map(|e| (e.result.clone(), e.sent_at)).collect(),
            false => Vec::new(),
        };
        self.inner.publish_many(envs).await?;
        for (result, sent_at) in &announce {
            self.live.result_checked(result, *sent_at);
        }
        Ok(())
    }

    async fn next_batch(&self, max: usize, wait: Duration, linger: Duration) -> Batch {
        self.inner.next_batch(max, wait, linger).await
    }

    async fn readable(&self, stop: &mut watch::Receiver<bool>) {
        self.inner.readable(stop).await
    }

    async fn ack(&self, batch: &Batch) {
        self.inner.ack(batch).await
    }

    fn depth(&self) -> usize {
        self.inner.depth()
    }
}

//! The consumer groups, and claiming results another consumer left unacknowledged in them:
//! all of a partition's at once when this node takes the partition over, and those idle past
//! `claim_idle_ms` as they come.

use super::{unavailable, RedisQueue, GROUP};
use crate::queue::{Batch, QueueError};
use redis::streams::StreamAutoClaimReply;
use std::sync::atomic::Ordering;

impl RedisQueue {
    /// `XGROUP CREATE … 0 MKSTREAM` on every stream: from the start, so results published
    /// before the first ingest node joined are read too. Already there is fine.
    pub(super) async fn ensure_groups(&self) -> Result<(), QueueError> {
        let mut c = self.cmd.clone();
        for stream in &self.streams {
            let created: redis::RedisResult<()> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(stream)
                .arg(GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut c)
                .await;
            match created {
                Err(e) if e.code() != Some("BUSYGROUP") => return Err(unavailable(e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// A partition just taken: every entry its previous owner left unacknowledged, whatever
    /// its idle time, before any new one, so each monitor's results are stepped in order.
    /// (The owner died, or gave the partition up with nothing in flight.)
    pub(super) async fn take_over(&self, p: usize, max: usize, batch: &mut Batch) -> Result<(), QueueError> {
        let mut c = self.cmd.clone();
        let mut cursor = "0-0".to_owned();
        loop {
            let reply = self.autoclaim(&mut c, p, 0, &cursor, max).await?;
            if !reply.claimed.is_empty() {
                tracing::info!(claimed = reply.claimed.len(), stream = %self.streams[p], "took over results of the partition's previous owner");
            }
            self.decode(p, reply.claimed, batch).await;
            if reply.next_stream_id == "0-0" {
                return Ok(());
            }
            cursor = reply.next_stream_id;
        }
    }

    /// Claim entries of the `owned` partitions left unacknowledged for longer than
    /// `claim_idle_ms` (at most every quarter of that, and at most every second).
    pub(super) async fn reclaim(&self, owned: &[usize], max: usize, batch: &mut Batch) -> Result<(), QueueError> {
        let now = self.started.elapsed().as_millis() as u64;
        let every = (self.claim_idle_ms / 4).clamp(10, 1000);
        let last = self.last_claim.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < every {
            return Ok(());
        }
        self.last_claim.store(now.max(1), Ordering::Relaxed);
        let mut c = self.cmd.clone();
        for &p in owned {
            let reply = self.autoclaim(&mut c, p, self.claim_idle_ms, "0-0", max).await?;
            if !reply.claimed.is_empty() {
                tracing::info!(claimed = reply.claimed.len(), stream = %self.streams[p], "reclaimed results of a stalled consumer");
            }
            self.decode(p, reply.claimed, batch).await;
        }
        Ok(())
    }

    /// `XAUTOCLAIM` on partition `p`'s stream for this consumer: up to `max` entries idle for
    /// `idle_ms` or more, from `cursor` on.
    async fn autoclaim(
        &self,
        c: &mut redis::aio::ConnectionManager,
        p: usize,
        idle_ms: u64,
        cursor: &str,
        max: usize,
    ) -> Result<StreamAutoClaimReply, QueueError> {
        redis::cmd("XAUTOCLAIM")
            .arg(&self.streams[p])
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(idle_ms)
            .arg(cursor)
            .arg("COUNT")
            .arg(max)
            .query_async(c)
            .await
            .map_err(unavailable)
    }
}

//! Waiting for results to be durable, for a producer that must not say "received" earlier.
//!
//! The in-process queue holds accepted results in memory until ingest commits them, so an
//! acknowledgement at publish time would be a promise a crash breaks. The gateway (a worker
//! forgets what we acknowledge) registers the result ids of a batch with [`CommitWatch::expect`]
//! *before* publishing them, and answers the worker only once [`Ticket::wait`] sees ingest
//! report every id as stored ([`CommitWatch::committed`], called after the commit; a
//! duplicate of a stored result counts too, and so does a result ingest set aside for good:
//! quarantined, or refused as older than the raw-retention horizon). Redis Streams with AOF are durable at `XADD`,
//! so with Redis the gateway acknowledges at publish, as before.

use netpulse_core::ResultId;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// One batch's wait: how many of its ids are not committed yet.
struct Waiter {
    left: AtomicUsize,
    done: Notify,
}

/// Who waits for which result id.
#[derive(Default)]
pub struct CommitWatch {
    waiting: Mutex<HashMap<ResultId, Vec<Arc<Waiter>>>>,
}

/// The wait for one batch; dropping it forgets the ids.
pub struct Ticket<'a> {
    watch: &'a CommitWatch,
    ids: Vec<ResultId>,
    waiter: Arc<Waiter>,
}

impl CommitWatch {
    /// Start waiting for `ids` (call before publishing them, so no commit is missed).
    pub fn expect(&self, ids: impl IntoIterator<Item = ResultId>) -> Ticket<'_> {
        let ids: Vec<ResultId> = ids.into_iter().collect::<HashSet<_>>().into_iter().collect();
        let waiter = Arc::new(Waiter { left: AtomicUsize::new(ids.len()), done: Notify::new() });
        if ids.is_empty() {
            waiter.done.notify_one();
        }
        let mut waiting = self.waiting.lock().expect("commit watch lock");
        for id in &ids {
            waiting.entry(id.clone()).or_default().push(waiter.clone());
        }
        Ticket { watch: self, ids, waiter }
    }

    /// Ingest is done with these results (stored, already stored, or set aside for good).
    pub fn committed<'a>(&self, ids: impl IntoIterator<Item = &'a ResultId>) {
        let mut waiting = self.waiting.lock().expect("commit watch lock");
        for id in ids {
            for w in waiting.remove(id).unwrap_or_default() {
                if w.left.fetch_sub(1, Ordering::AcqRel) == 1 {
                    w.done.notify_one();
                }
            }
        }
    }

    /// Ids someone waits for (tests, metrics).
    pub fn pending(&self) -> usize {
        self.waiting.lock().expect("commit watch lock").len()
    }
}

impl Ticket<'_> {
    /// Whether every id was committed within `timeout`.
    pub async fn wait(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.waiter.done.notified()).await.is_ok()
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut waiting = self.watch.waiting.lock().expect("commit watch lock");
        for id in &self.ids {
            if let Some(ws) = waiting.get_mut(id) {
                ws.retain(|w| !Arc::ptr_eq(w, &self.waiter));
                if ws.is_empty() {
                    waiting.remove(id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> ResultId {
        ResultId::from_parts(1_700_000_000_000, n)
    }

    #[tokio::test]
    async fn a_ticket_is_done_once_every_id_is_committed() {
        let watch = CommitWatch::default();
        let ticket = watch.expect([id(1), id(2), id(2)]);
        watch.committed(&[id(1)]);
        assert!(!ticket.wait(Duration::from_millis(20)).await, "id 2 is still in the queue");
        watch.committed(&[id(2), id(3)]);
        assert!(ticket.wait(Duration::from_millis(20)).await);
        drop(ticket);
        assert_eq!(watch.pending(), 0);
    }

    #[tokio::test]
    async fn two_batches_waiting_for_one_id_both_hear_it_and_a_dropped_ticket_forgets() {
        let watch = CommitWatch::default();
        let (a, b) = (watch.expect([id(7)]), watch.expect([id(7), id(8)]));
        let gone = watch.expect([id(9)]);
        drop(gone);
        assert_eq!(watch.pending(), 2, "id 9 forgotten");
        watch.committed(&[id(7)]);
        assert!(a.wait(Duration::from_millis(20)).await);
        assert!(!b.wait(Duration::from_millis(20)).await);
        watch.committed(&[id(8)]);
        assert!(b.wait(Duration::from_millis(20)).await);
        assert!(watch.expect([]).wait(Duration::ZERO).await, "nothing to wait for");
    }
}

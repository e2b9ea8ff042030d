//! Results waiting for the gateway's acknowledgement, bounded and kept on disk.
//!
//! Policy: at most `max` results wait; when full, the **oldest** is dropped (newest evidence
//! wins) and counted in [`Outbox::dropped`] with a warning. While results wait unacknowledged
//! the queue is written to `<dir>/outbox.jsonl` (atomically, at most once a second and at
//! shutdown) and reloaded at the next start, so a restart or a long partition loses nothing
//! within the bound. Result ids are unique: a re-send after a lost ack is stored once.
//! Every push wakes the sender ([`Outbox::pushed`]), so a result leaves as soon as the
//! connection is free; what arrives while a batch is in flight goes in the next one.

use netpulse_core::wire::ResultEnvelope;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

const FILE: &str = "outbox.jsonl";

pub struct Outbox {
    queue: Mutex<VecDeque<ResultEnvelope>>,
    dir: PathBuf,
    max: usize,
    pub dropped: AtomicU64,
    filled: tokio::sync::Notify,
}

impl Outbox {
    /// Open (and reload) the outbox in `dir`.
    pub fn open(dir: PathBuf, max: usize) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let mut queue = VecDeque::new();
        if let Ok(text) = std::fs::read_to_string(dir.join(FILE)) {
            queue.extend(text.lines().filter_map(|l| serde_json::from_str::<ResultEnvelope>(l).ok()));
            if !queue.is_empty() {
                tracing::info!(results = queue.len(), "reloaded buffered results from disk");
            }
        }
        let outbox = Self {
            queue: Mutex::new(VecDeque::new()),
            dir,
            max: max.max(1),
            dropped: AtomicU64::new(0),
            filled: tokio::sync::Notify::new(),
        };
        for env in queue {
            outbox.push(env);
        }
        Ok(outbox)
    }

    pub fn push(&self, env: ResultEnvelope) {
        let mut q = self.queue.lock().expect("outbox lock");
        if q.len() >= self.max {
            q.pop_front();
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(dropped_total = n, max = self.max, "outbox full: oldest buffered result dropped");
        }
        q.push_back(env);
        drop(q);
        self.filled.notify_one();
    }

    /// Resolves at the next push, or at once when a push came since the last wake-up.
    pub async fn pushed(&self) {
        self.filled.notified().await;
    }

    /// Up to `n` of the oldest results (they stay until [`Outbox::ack`]).
    pub fn peek(&self, n: usize) -> Vec<ResultEnvelope> {
        self.queue.lock().expect("outbox lock").iter().take(n).cloned().collect()
    }

    /// Forget results the gateway acknowledged (matched by id: drops may have shifted them).
    pub fn ack(&self, sent: &[ResultEnvelope]) {
        let ids: std::collections::HashSet<&str> = sent.iter().map(|e| e.result.id.as_str()).collect();
        self.queue.lock().expect("outbox lock").retain(|e| !ids.contains(e.result.id.as_str()));
    }

    /// When the oldest waiting result was put in (its envelope's `sent_at`).
    pub fn oldest(&self) -> Option<netpulse_core::Timestamp> {
        self.queue.lock().expect("outbox lock").front().map(|e| e.sent_at)
    }

    pub fn len(&self) -> usize {
        self.queue.lock().expect("outbox lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Write what waits to disk (or remove the file when nothing does).
    pub fn persist(&self) -> std::io::Result<()> {
        let path = self.dir.join(FILE);
        let text: String = {
            let q = self.queue.lock().expect("outbox lock");
            if q.is_empty() {
                return match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                };
            }
            q.iter().map(|e| serde_json::to_string(e).expect("serializes") + "\n").collect()
        };
        let tmp = self.dir.join("outbox.jsonl.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(tmp, path)
    }
}

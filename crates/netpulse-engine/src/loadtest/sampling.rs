//! What `netpulse loadtest ingest` samples every 50 ms while it runs: the queue backlog (`XLEN`
//! of every partition's stream), the PostgreSQL server connections to the scratch database,
//! and its backends waiting for a lock (`pg_stat_activity.wait_event_type = 'Lock'`, or
//! holding an ungranted `pg_locks` entry), with the lock each waited for.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::types::Type;

/// One sample of the database: client backends, those waiting for a lock (by either view),
/// and the wait events of the waiting ones.
const DATABASE: &str = "SELECT count(*), count(*) FILTER (WHERE wait_event_type = 'Lock'), \
     (SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity w ON w.pid = l.pid \
      WHERE NOT l.granted AND w.datname = $1), \
     coalesce(string_agg(wait_event, ',') FILTER (WHERE wait_event_type = 'Lock'), '') \
     FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'";

/// What the sampler saw.
#[derive(Debug, Default)]
pub struct Samples {
    pub samples: usize,
    pub max_conns: i64,
    pub max_backlog: usize,
    /// Samples in which at least one backend waited for a lock.
    pub lock_samples: usize,
    /// The most backends waiting for a lock in one sample.
    pub max_waiting: i64,
    /// How often each lock wait event (`transactionid`, `tuple`, `relation`, …) was seen.
    pub wait_events: BTreeMap<String, usize>,
}

impl Samples {
    /// The report's line on lock waits.
    pub fn lock_line(&self) -> String {
        let events = match self.wait_events.is_empty() {
            true => String::new(),
            false => format!(", waiting for {:?}", self.wait_events),
        };
        format!(
            "lock waits: {} samples with a waiting backend (max {} at once){events}, of {} samples every 50 ms \
             (pg_stat_activity wait_event_type 'Lock' or ungranted pg_locks, backends of the database)",
            self.lock_samples, self.max_waiting, self.samples
        )
    }
}

/// Sample every 50 ms until `sampling` is cleared; `pg` is a direct connection to another
/// database of the server, `db` the scratch database, `streams` the partitions' streams.
pub async fn sample(
    pg: tokio_postgres::Client,
    mut redis: redis::aio::MultiplexedConnection,
    db: String,
    streams: Vec<String>,
    sampling: Arc<AtomicBool>,
) -> Samples {
    let mut s = Samples::default();
    while sampling.load(Ordering::Relaxed) {
        s.samples += 1;
        if let Ok(row) = pg.query_typed_one(DATABASE, &[(&db, Type::TEXT)]).await {
            s.max_conns = s.max_conns.max(row.get::<_, i64>(0));
            let waiting = row.get::<_, i64>(1).max(row.get::<_, i64>(2));
            if waiting > 0 {
                s.lock_samples += 1;
                s.max_waiting = s.max_waiting.max(waiting);
            }
            for event in row.get::<_, &str>(3).split(',').filter(|e| !e.is_empty()) {
                *s.wait_events.entry(event.to_owned()).or_default() += 1;
            }
        }
        let mut pipe = redis::pipe();
        for key in &streams {
            pipe.cmd("XLEN").arg(key);
        }
        let lens: redis::RedisResult<Vec<usize>> = pipe.query_async(&mut redis).await;
        if let Ok(lens) = lens {
            s.max_backlog = s.max_backlog.max(lens.iter().sum());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s
}

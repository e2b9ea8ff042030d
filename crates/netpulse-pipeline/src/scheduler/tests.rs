//! A scheduler with a share of the partitions, on a real SQLite store: it holds only its
//! share, drops a partition lost and reads one taken, and runs a re-check asked for a
//! monitor outside its share once, from that monitor read alone.

use super::*;
use crate::queue::memory::InProcessQueue;
use netpulse_core::incident::Policy;
use netpulse_store::testing::{self, draft, Backend};

const OF: usize = 8;

struct Setup {
    scheduler: Scheduler,
    jobs: mpsc::Receiver<CheckJob>,
    rechecks: mpsc::Sender<Recheck>,
    metrics: Arc<Metrics>,
    /// Two monitors in different partitions (of [`OF`]).
    mine: MonitorId,
    other: MonitorId,
    _store: testing::TestStore,
}

async fn setup() -> Setup {
    let store = testing::open(Backend::Sqlite, 2).await;
    let (t, _) = store.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    let mut ids: Vec<MonitorId> = Vec::new();
    while ids.len() < 2 {
        let id: MonitorId = clock::fresh();
        if ids.first().is_some_and(|m| partition_of(m) == partition_of(&id)) {
            continue;
        }
        let now = clock::now();
        let rec = MonitorRecord {
            id: id.clone(),
            tenant_id: t.clone(),
            draft: draft("db", Policy::default()),
            heartbeat_token: None,
            created_at: now,
            updated_at: now,
        };
        store.create_monitor(&t, &rec).await.unwrap();
        ids.push(id);
    }
    let (job_tx, jobs) = mpsc::channel(16);
    let (rechecks, recheck_rx) = mpsc::channel(16);
    let metrics = Arc::new(Metrics::default());
    let scheduler = Scheduler::new(
        Arc::from(store.twin(2).await),
        RegionRouter::single("local", job_tx),
        Arc::new(InProcessQueue::new(16)),
        metrics.clone(),
        "local".into(),
        Arc::new(Notify::new()),
        recheck_rx,
    );
    let other = ids.pop().unwrap();
    let mine = ids.pop().unwrap();
    Setup { scheduler, jobs, rechecks, metrics, mine, other, _store: store }
}

fn partition_of(m: &MonitorId) -> usize {
    crate::queue::owners::partition_of(m, OF)
}

#[tokio::test]
async fn a_share_is_held_alone_and_a_recheck_outside_it_runs_once() {
    let Setup { mut scheduler, mut jobs, rechecks, metrics, mine, other, .. } = setup().await;
    scheduler.follow(&[partition_of(&mine)], OF);
    let now = clock::now();
    scheduler.try_run_once(now).await;
    assert_eq!(metrics.monitors_scheduled.get(), 1, "only the monitor of the partition owned");
    assert!(scheduler.entries.contains_key(&mine));

    // Ingest here asks for a re-check of the other node's monitor: it is read alone, checked
    // once, and not held after.
    rechecks.send(Recheck { monitor: other.clone(), at_once: true }).await.unwrap();
    scheduler.try_run_once(now).await;
    assert!(jobs.try_recv().is_err(), "nothing before the monitor is read");
    scheduler.reload(now).await.unwrap();
    scheduler.try_run_once(now).await;
    let job = jobs.try_recv().expect("the re-check's job");
    assert_eq!(job.monitor_id, other);
    assert!(jobs.try_recv().is_err(), "one job");
    assert!(scheduler.extra.is_empty() && !scheduler.entries.contains_key(&other));
    assert_eq!(metrics.monitors_scheduled.get(), 1);

    // The partition lost is dropped at once; both taken are read at the next reload.
    scheduler.follow(&[], OF);
    assert_eq!(metrics.monitors_scheduled.get(), 0);
    scheduler.follow(&[partition_of(&mine), partition_of(&other)], OF);
    scheduler.reload(now).await.unwrap();
    assert_eq!(metrics.monitors_scheduled.get(), 2);
    assert!(jobs.try_recv().is_err(), "taking a partition dispatches nothing before its monitors are due");
}

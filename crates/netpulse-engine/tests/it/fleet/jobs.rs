//! The job streams' contract on the shared Redis (a fresh key prefix per test), with two
//! gateway nodes and a scheduler as three [`JobStreams`] in one process: a job is handed to
//! one node's worker; unanswered, it goes to the other node once after `job_lease_ms`, and
//! never a third time; an answered job is never handed out again; a job past its time is
//! dropped unseen; a stream nobody reads stays bounded.

use crate::harness::redis_url;
use netpulse_core::monitor::{CheckSpec, TcpSpec};
use netpulse_core::wire::CheckJob;
use netpulse_core::Timestamp;
use netpulse_pipeline::queue::{JobStreams, RedisQueueConfig};
use netpulse_store::{clock, DatabaseUrl};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const LEASE_MS: u64 = 1_000;

fn config(max_len: usize) -> RedisQueueConfig {
    RedisQueueConfig {
        url: DatabaseUrl::new(redis_url()),
        prefix: format!("np_test_{:016x}", clock::random_u128() as u64),
        max_len,
        claim_idle_ms: 2_000,
        job_lease_ms: LEASE_MS,
        partitions: 1,
        timeout_ms: 2_000,
    }
}

fn job(due: Timestamp) -> CheckJob {
    CheckJob {
        tenant_id: clock::fresh(),
        monitor_id: clock::fresh(),
        region: "eu".into(),
        spec: CheckSpec::Tcp(TcpSpec { host: "127.0.0.1".into(), port: 9 }),
        timeout_ms: 500,
        retries: 0,
        due_at: due,
        lease: None,
    }
}

/// A scheduler and two gateway nodes serving `eu`, their pumps running until the sender drops.
async fn nodes(config: &RedisQueueConfig) -> (JobStreams, Arc<JobStreams>, Arc<JobStreams>, watch::Sender<bool>) {
    let connect = |name: &'static str, served: Vec<String>| async move {
        JobStreams::connect(config, name, &served)
            .await
            .unwrap_or_else(|e| panic!("Redis is unreachable ({e:#}); start the services with scripts/services.sh"))
    };
    let scheduler = connect("scheduler", vec![]).await;
    let a = Arc::new(connect("node-a", vec!["eu".into()]).await);
    let b = Arc::new(connect("node-b", vec!["eu".into()]).await);
    let (stop, stop_rx) = watch::channel(false);
    a.clone().run(stop_rx.clone());
    b.clone().run(stop_rx);
    (scheduler, a, b, stop)
}

fn same(a: &CheckJob, b: &CheckJob) -> bool {
    a.monitor_id == b.monitor_id && a.due_at == b.due_at
}

#[tokio::test]
async fn an_unanswered_job_goes_to_another_node_once_and_an_answered_one_never() {
    let cfg = config(10_000);
    let (scheduler, a, b, _stop) = nodes(&cfg).await;
    let now = clock::now();
    let (unanswered, answered) = (job(now), job(now));
    scheduler.queue(unanswered.clone(), now.plus_ms(60_000));
    scheduler.queue(answered.clone(), now.plus_ms(60_000));
    assert_eq!(scheduler.flush().await, 0);

    let first = a.take("eu", 10, Duration::from_secs(3)).await;
    assert_eq!(first.len(), 2, "node a's worker leases both: {first:?}");
    assert!(first.iter().all(|j| j.lease.is_some()), "each job carries its receipt");
    let receipt = first.iter().find(|j| same(j, &answered)).unwrap().lease.clone().unwrap();
    a.done("eu", &[receipt]).await;
    assert!(b.take("eu", 10, Duration::from_millis(300)).await.is_empty(), "nothing while the lease runs");

    tokio::time::sleep(Duration::from_millis(LEASE_MS + 200)).await;
    let again = b.take("eu", 10, Duration::from_secs(3)).await;
    assert_eq!(again.len(), 1, "only the unanswered job is handed out again: {again:?}");
    assert!(same(&again[0], &unanswered));

    tokio::time::sleep(Duration::from_millis(LEASE_MS + 200)).await;
    let third = a.take("eu", 10, Duration::from_millis(1_500)).await;
    assert!(third.is_empty(), "a job handed out twice is not handed out a third time: {third:?}");
    assert!(b.take("eu", 10, Duration::from_millis(500)).await.is_empty());
}

#[tokio::test]
async fn jobs_past_their_time_are_dropped_unseen_and_streams_stay_bounded() {
    let cfg = config(1_000);
    let (scheduler, a, _b, _stop) = nodes(&cfg).await;
    let now = clock::now();
    let (late, fresh) = (job(now.plus_ms(-10_000)), job(now));
    scheduler.queue(late.clone(), now.plus_ms(-1));
    scheduler.queue(fresh.clone(), now.plus_ms(60_000));
    scheduler.flush().await;
    let got = a.take("eu", 10, Duration::from_secs(3)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(same(&got[0], &fresh), "the job past its time is never handed out");

    // Nobody reads region `us`: its stream is trimmed near `max_len`, not grown without end.
    for _ in 0..5_000 {
        scheduler.queue(CheckJob { region: "us".into(), ..job(now) }, now.plus_ms(60_000));
    }
    assert_eq!(scheduler.flush().await, 0);
    let client = redis::Client::open(redis_url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let len: usize = redis::cmd("XLEN").arg(scheduler.key("us")).query_async(&mut c).await.unwrap();
    assert!((1_000..2_000).contains(&len), "{len} jobs kept of 5000 with max_len 1000");
    let left: usize = redis::cmd("XLEN").arg(scheduler.key("eu")).query_async(&mut c).await.unwrap();
    assert_eq!(left, 1, "the late job was deleted; the leased one waits for its answer");
}

//! Result partitions moving between ingest nodes, on PostgreSQL through PgBouncer and Redis:
//! two queues share out the eight partitions, and one leaving hands its share to the other;
//! a node joining while the other drains a backlog gets its share;
//! then, with two engine nodes ingesting (neither schedules: only the test's results step the
//! monitors), every monitor fails until its incident opens, the node owning half of the
//! partitions is killed, and the monitors recover: every result is stored once, and each
//! monitor has one incident, opened and resolved with one notice each.

use crate::faults::{stored, synthetic};
use crate::harness::*;
use netpulse_core::wire::ResultEnvelope;
use netpulse_core::{MonitorId, Outcome, TenantId, Timestamp};
use netpulse_engine::roles::Roles;
use netpulse_pipeline::queue::{publish_retrying, RedisQueue, ResultQueue};
use netpulse_store::clock;
use netpulse_store::testing::admin;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// Each partition's owner (`None`: free), read from Redis.
async fn owners(prefix: &str, partitions: usize) -> Vec<Option<String>> {
    let mut c = redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let mut out = Vec::new();
    for p in 0..partitions {
        out.push(redis::cmd("GET").arg(format!("{prefix}:results:owner:{p}")).query_async(&mut c).await.unwrap());
    }
    out
}

/// The node that schedules `monitor` now: the owner of its `schedule` partition (of 8).
pub(crate) async fn schedule_owner(prefix: &str, monitor: &str) -> Option<String> {
    let p = netpulse_pipeline::queue::owners::partition_of(&MonitorId::parse(monitor).unwrap(), 8);
    let mut c = redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    redis::cmd("GET").arg(format!("{prefix}:schedule:owner:{p}")).query_async(&mut c).await.unwrap()
}

fn count(owners: &[Option<String>], node: &str) -> usize {
    owners.iter().filter(|o| o.as_deref() == Some(node)).count()
}

#[tokio::test]
async fn two_queues_share_the_partitions_out_and_one_leaving_hands_its_share_over_batches_keep_their_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    let _ = use_backends(&mut config, "sqlite", "redis").await;
    let cfg = &config.queue.redis;
    let (a, b) = (RedisQueue::connect(cfg, "node-a").await.unwrap(), RedisQueue::connect(cfg, "node-b").await.unwrap());
    assert_eq!(a.owned().await.len(), 8, "alone, a node reads every partition");
    // A batch spans partitions and still keeps to its size (`COUNT` counts per stream).
    let envs: Vec<ResultEnvelope> =
        (0..64).map(|_| ResultEnvelope::new(synthetic(&clock::fresh(), &clock::fresh()), clock::now())).collect();
    a.publish_many(envs).await.unwrap();
    let batch = a.next_batch(10, Duration::from_secs(2), Duration::from_millis(200)).await;
    assert_eq!(batch.items.len(), 10, "a full batch of 10 from 64 results in 8 streams");
    a.ack(&batch).await;
    b.owned().await;
    // Within a refresh period (2 s / 3) a sees b and gives half up; b takes it.
    let split = wait_for(5, "the partitions shared 4 and 4", || async {
        let (oa, ob) = (a.owned().await, b.owned().await);
        (oa.len() == 4 && ob.len() == 4).then_some((oa, ob))
    })
    .await;
    assert!(split.0.iter().all(|p| !split.1.contains(p)), "no partition read by both: {split:?}");
    assert_eq!(count(&owners(&cfg.prefix, 8).await, "node-a"), 4);
    b.leave().await;
    wait_for(5, "a to own all 8 again", || async { (a.owned().await.len() == 8).then_some(()) }).await;
}

/// The partitions a batch's entries came from (receipts are `partition/entry id`).
fn partitions_of(batch: &netpulse_pipeline::queue::Batch) -> std::collections::BTreeSet<usize> {
    batch.receipts.iter().filter_map(|r| r.split_once('/')?.0.parse().ok()).collect()
}

/// A node draining a backlog always has a batch in flight on the partitions it reads: a node
/// joining then still gets its share once the batch in flight on it is stored, while the first
/// keeps its own share busy, instead of waiting for the backlog to be gone.
#[tokio::test]
async fn a_node_joining_during_a_backlog_gets_its_share_while_the_other_keeps_a_batch_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    let _ = use_backends(&mut config, "sqlite", "redis").await;
    let cfg = &config.queue.redis;
    let (a, b) = (RedisQueue::connect(cfg, "node-a").await.unwrap(), RedisQueue::connect(cfg, "node-b").await.unwrap());
    assert_eq!(a.owned().await.len(), 8, "alone, a node reads every partition");
    // A backlog on every partition (256 results of random monitors; 2 per stream per read).
    let envs: Vec<ResultEnvelope> =
        (0..256).map(|_| ResultEnvelope::new(synthetic(&clock::fresh(), &clock::fresh()), clock::now())).collect();
    a.publish_many(envs).await.unwrap();
    let first = a.next_batch(16, Duration::from_secs(2), Duration::ZERO).await;
    assert_eq!(partitions_of(&first).len(), 8, "the batch in flight spans every partition");
    assert!(b.owned().await.is_empty(), "every partition is a's");
    // a sees b, stops reading the half beyond its share (still in flight there), keeps it owned.
    let kept = wait_for(5, "a to read only its share", || async {
        let oa = a.owned().await;
        (oa.len() == 4).then_some(oa)
    })
    .await;
    assert_eq!(count(&owners(&cfg.prefix, 8).await, "node-a"), 8, "owned until its batch in flight is stored");
    let second = a.next_batch(16, Duration::from_secs(2), Duration::ZERO).await;
    assert!(!second.items.is_empty() && partitions_of(&second).is_subset(&kept.iter().copied().collect()));
    // The first batch is stored; the second stays in flight, as under a steady backlog.
    a.ack(&first).await;
    let split = wait_for(5, "b to take the other half while a's second batch is in flight", || async {
        let (oa, ob) = (a.owned().await, b.owned().await);
        (oa.len() == 4 && ob.len() == 4).then_some((oa, ob))
    })
    .await;
    assert!(split.0.iter().all(|p| !split.1.contains(p)), "no partition read by both: {split:?}");
    let taken = b.next_batch(16, Duration::from_secs(2), Duration::ZERO).await;
    assert!(!taken.items.is_empty() && partitions_of(&taken).is_subset(&split.1.iter().copied().collect()));
    let seen: std::collections::HashSet<_> = first.items.iter().chain(&second.items).map(|e| &e.result.id).collect();
    assert!(taken.items.iter().all(|e| !seen.contains(&e.result.id)), "nothing a read is handed to b");
}

/// Active TCP monitors of the owner (nobody schedules them in this test) and its tenant.
async fn active_monitors(app: &TestApp, n: usize) -> (TenantId, Vec<MonitorId>) {
    let mut ids = Vec::new();
    for i in 0..n {
        let body = json!({ "name": format!("m{i}"), "kind": "tcp", "host": "127.0.0.1", "port": 9, "interval_s": 60 });
        ids.push(MonitorId::parse(&app.create_monitor(body).await).unwrap());
    }
    let store = &app.running.as_ref().unwrap().store;
    let tenant = store.authenticate(&clock::token_hash(TOKEN)).await.unwrap().expect("owner token").tenant_id;
    (tenant, ids)
}

/// Publish `rounds` results of `outcome` for every monitor, a second apart from `from`.
async fn publish(
    queue: &dyn ResultQueue,
    t: &TenantId,
    ms: &[MonitorId],
    from: Timestamp,
    outcome: Outcome,
) -> Vec<String> {
    let mut ids = Vec::new();
    for round in 0..3 {
        for m in ms {
            let at = from.plus_ms(round * 1000);
            let r = netpulse_core::CheckResult { started_at: at, finished_at: at, outcome, ..synthetic(t, m) };
            ids.push(r.id.as_str().to_owned());
            publish_retrying(queue, ResultEnvelope::new(r, clock::now()), Duration::from_secs(10)).await.unwrap();
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_moves_to_the_other_node_when_its_owner_dies_without_loss_or_double_steps() {
    let _ = admin().await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut config_a = test_config(dirs[0].path());
    let db = use_backends(&mut config_a, "pgbouncer", "redis").await.expect("a PostgreSQL database");
    config_a.roles = Roles::parse("api,dashboard,ingest,alerts").unwrap();
    config_a.alerts.storm_threshold = 100; // 16 monitors failing at once: a notice each
    let mut config_b = test_config(dirs[1].path());
    config_b.storage = config_a.storage.clone();
    config_b.storage.data_dir = dirs[1].path().to_path_buf();
    config_b.queue = config_a.queue.clone();
    config_b.roles = Roles::parse("ingest").unwrap();
    let prefix = config_a.queue.redis.prefix.clone();
    let mut a = spawn_app_with(config_a).await;
    let mut b = spawn_app_with(config_b).await;
    let (na, nb) = (a.running.as_ref().unwrap().node_id.clone(), b.running.as_ref().unwrap().node_id.clone());
    wait_for(10, "the two nodes to own 4 partitions each", || async {
        let o = owners(&prefix, 8).await;
        (count(&o, &na) == 4 && count(&o, &nb) == 4).then_some(())
    })
    .await;
    let hooks = Receiver::start().await;
    a.create_webhook(&hooks).await;
    let (tenant, ms) = active_monitors(&a, 16).await;
    let queue = a.running.as_ref().unwrap().results.clone();
    let t0 = clock::now(); // results from before a monitor existed would not step it
    let mut ids = publish(queue.as_ref(), &tenant, &ms, t0, Outcome::Down).await;
    assert_eq!(hooks.wait_for_events(16, 30).await.len(), 16, "an incident opened per monitor");

    b.running.take().unwrap().abort();
    ids.extend(publish(queue.as_ref(), &tenant, &ms, t0.plus_ms(3_000), Outcome::Up).await);
    wait_for(15, "a to take b's partitions", || async { (count(&owners(&prefix, 8).await, &na) == 8).then_some(()) })
        .await;
    let events = hooks.wait_for_events(32, 30).await;
    a.drain_ingest().await;
    a.dispatch_alerts().await;
    let (found, all) = stored(&db, &ids).await;
    assert_eq!((found, all), (ids.len() as i64, ids.len() as i64), "every result stored, once");
    let mut per_kind: HashMap<String, usize> = HashMap::new();
    for e in hooks.events() {
        *per_kind.entry(e).or_default() += 1;
    }
    assert_eq!(per_kind, HashMap::from([("opened".into(), 16), ("resolved".into(), 16)]), "{events:?}");
    for m in &ms {
        let incidents = a.incidents(m.as_str()).await;
        assert_eq!(incidents.len(), 1, "one incident for {m}: {incidents:?}");
        assert_eq!(incidents[0]["status"], "resolved", "{incidents:?}");
    }
    a.stop().await;
}

/// Two engine nodes with every role on one PostgreSQL (through PgBouncer) and one Redis, and
/// their key prefix.
async fn two_nodes() -> (TestApp, TestApp, String, netpulse_store::testing::PgDatabase) {
    let _ = admin().await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut config_a = test_config(dirs[0].path());
    let db = use_backends(&mut config_a, "pgbouncer", "redis").await.expect("a PostgreSQL database");
    let mut config_b = test_config(dirs[1].path());
    config_b.storage = config_a.storage.clone();
    config_b.storage.data_dir = dirs[1].path().to_path_buf();
    config_b.queue = config_a.queue.clone();
    let prefix = config_a.queue.redis.prefix.clone();
    let (mut a, mut b) = (spawn_app_with(config_a).await, spawn_app_with(config_b).await);
    let [dir_a, dir_b] = dirs;
    a.keep_dir(dir_a);
    b.keep_dir(dir_b);
    (a, b, prefix, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_each_dispatch_their_share_and_no_check_twice() {
    let (mut a, b, _prefix, _db) = two_nodes().await;
    let target = Target::start().await;
    for i in 0..16 {
        let body = json!({ "name": format!("m{i}"), "kind": "http", "url": target.url(), "interval_s": 1 });
        a.create_monitor(body).await;
    }
    let lag = |app: &TestApp| app.running.as_ref().unwrap().metrics.dispatch_lag_ms.count();
    wait_for(20, "both nodes dispatching", || async { (lag(&a) > 0 && lag(&b) > 0).then_some(()) }).await;
    let (hits, checks) = (target.hits.load(std::sync::atomic::Ordering::SeqCst), lag(&a) + lag(&b));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let dispatched = lag(&a) + lag(&b) - checks;
    let probed = target.hits.load(std::sync::atomic::Ordering::SeqCst) - hits;
    // 16 monitors at 1 s for 4 s: 64 checks (± one round at each end), never twice as many.
    assert!((40..=90).contains(&dispatched), "{dispatched} checks dispatched in 4 s");
    assert!((probed as u64) <= dispatched + 16, "{probed} probes for {dispatched} dispatched");
    a.stop().await;
}

/// How many of `monitors` each node's scheduler should hold: those whose `schedule`
/// partition it owns now, read from Redis.
async fn shares(prefix: &str, monitors: &[String], nodes: [&TestApp; 2]) -> [u64; 2] {
    let mut held = [0; 2];
    for m in monitors {
        let owner = schedule_owner(prefix, m).await;
        for (i, node) in nodes.iter().enumerate() {
            if owner.as_deref() == Some(node.running.as_ref().unwrap().node_id.as_str()) {
                held[i] += 1;
            }
        }
    }
    held
}

/// Wait until each node's scheduler holds exactly its share of `monitors`
/// (`netpulse_monitors_scheduled`), both shares together every one of them.
async fn wait_for_shares(prefix: &str, monitors: &[String], a: &TestApp, b: &TestApp, what: &str) -> [u64; 2] {
    let held = |app: &TestApp| app.running.as_ref().unwrap().metrics.monitors_scheduled.get();
    wait_for(20, what, || async {
        let want = shares(prefix, monitors, [a, b]).await;
        let agree = want == [held(a), held(b)] && want[0] + want[1] == monitors.len() as u64;
        agree.then_some(want)
    })
    .await
}

/// Each scheduler holds only the monitors of the partitions it owns, and a monitor created,
/// paused, resumed or deleted through the other node is taken up or dropped by its owner
/// within a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_scheduler_holds_only_its_share_and_follows_changes_made_through_the_other_node() {
    let (mut a, b, prefix, _db) = two_nodes().await;
    let target = Target::start().await;
    let body = |i: usize| json!({ "name": format!("m{i}"), "kind": "http", "url": target.url(), "interval_s": 60 });
    let mut monitors = Vec::new();
    for i in 0..16 {
        monitors.push(a.create_monitor(body(i)).await);
    }
    // B joined after A took every partition: A hands half over within a few seconds.
    wait_for(20, "both nodes to own a share", || async {
        let want = shares(&prefix, &monitors, [&a, &b]).await;
        (want[0] > 0 && want[1] > 0).then_some(())
    })
    .await;
    let split = wait_for_shares(&prefix, &monitors, &a, &b, "each scheduler to hold its share").await;
    assert!(split[0] > 0 && split[1] > 0, "both nodes hold a share: {split:?}");

    // Created through A, owned by B: B takes it up.
    let b_id = b.running.as_ref().unwrap().node_id.clone();
    let mut created = None;
    for i in 16..40 {
        let m = a.create_monitor(body(i)).await;
        let owner = schedule_owner(&prefix, &m).await;
        monitors.push(m.clone());
        if owner.as_deref() == Some(b_id.as_str()) {
            created = Some(m);
            break;
        }
    }
    let created = created.expect("a monitor in one of B's partitions");
    let before = wait_for_shares(&prefix, &monitors, &a, &b, "B to take up the monitor created through A").await;

    // Paused through A: B drops it; resumed: B holds it again; deleted: B drops it for good.
    let (status, _) = a.api("POST", &format!("/api/v1/monitors/{created}/pause"), None).await;
    assert_eq!(status, 200);
    let live: Vec<String> = monitors.iter().filter(|m| **m != created).cloned().collect();
    let paused = wait_for_shares(&prefix, &live, &a, &b, "B to drop the monitor paused through A").await;
    assert_eq!(paused, [before[0], before[1] - 1], "only the owner's count moved");
    let (status, _) = a.api("POST", &format!("/api/v1/monitors/{created}/resume"), None).await;
    assert_eq!(status, 200);
    wait_for_shares(&prefix, &monitors, &a, &b, "B to hold the monitor resumed through A").await;
    let (status, _) = a.api("DELETE", &format!("/api/v1/monitors/{created}"), None).await;
    assert!((200..300).contains(&status), "{status}");
    wait_for_shares(&prefix, &live, &a, &b, "B to drop the monitor deleted through A").await;
    a.stop().await;
}

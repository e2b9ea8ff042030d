//! Two store instances ("nodes", each with its own caches) ingesting the same monitors: the
//! rows they leave must be exactly those one node leaves, concurrent steps of one monitor
//! must lose no update, and a command or edit made anywhere reaches a node's next batch (the
//! PostgreSQL store steps monitors from each node's memory, see postgres/hot.rs).

use super::{add_channel, draft, result};
use netpulse_core::incident::Policy;
use netpulse_core::{CheckResult, MonitorId, Outcome, ResultId, TenantId, Timestamp};
use netpulse_store::clock::fresh;
use netpulse_store::testing::{self as backends, Backend};
use netpulse_store::{IncidentCommand, IncidentFilter, MonitorRecord, Store};
use std::sync::Arc;

contract!(
    interleaved_batches_on_two_nodes_leave_the_rows_one_node_leaves,
    two_nodes_stepping_the_same_monitors_at_once_lose_no_update,
    a_policy_edit_reaches_the_next_batch_on_a_node_with_a_warm_cache,
    commands_reach_a_node_that_holds_the_monitor_in_memory,
);

/// Per monitor, one outcome per minute (`U` up, `D` down).
const SCRIPT: [&str; 3] = ["UUDDDUUUUDDDDUUUDDUUUUUU", "UUUUUDDUUUUUDDDDDDUUUUUU", "DDDDUUUUUUDUDUDDDDUUUUUU"];
/// Which node ingests each minute's batch in the two-node run.
const NODES: &str = "AABABBBAABABAAABBBABABBA";

/// What a user can see of the run: each monitor's state, incidents and notices.
#[derive(Debug, PartialEq)]
struct Seen {
    states: Vec<String>,
    incidents: Vec<String>,
    notices: Vec<String>,
}

async fn interleaved_batches_on_two_nodes_leave_the_rows_one_node_leaves(backend: Backend) {
    let ids: Vec<MonitorId> = SCRIPT.iter().map(|_| fresh()).collect();
    let one = backends::open(backend, 4).await;
    let alone = run(&*one, &*one, &ids).await;
    let a = backends::open(backend, 4).await;
    let b = a.twin(4).await;
    let together = run(&*a, &*b, &ids).await;
    assert!(!alone.incidents.is_empty() && !alone.notices.is_empty(), "{backend:?}: the script has transitions");
    assert_eq!(together, alone, "{backend:?}: two nodes taking turns write what one node writes");
}

/// Ingest [`SCRIPT`] minute by minute, each batch on `a` or `b` as [`NODES`] says; on the way
/// node `b` acknowledges the first monitor's incident and lowers the second's threshold.
async fn run(a: &dyn Store, b: &dyn Store, ids: &[MonitorId]) -> Seen {
    let (t, _) = a.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    add_channel(a, &t, "ops").await;
    let policy = Policy { confirm_threshold: 3, recovery_threshold: 2, ..Policy::default() };
    for (i, m) in ids.iter().enumerate() {
        create(a, &t, m, &format!("m{i}"), policy.clone()).await;
    }
    for (minute, node) in NODES.chars().enumerate() {
        let batch: Vec<CheckResult> = SCRIPT
            .iter()
            .zip(ids)
            .enumerate()
            .map(|(i, (script, m))| at(&t, m, i, minute, script.as_bytes()[minute]))
            .collect();
        let node = if node == 'A' { a } else { b };
        node.ingest(&batch, Timestamp::from_secs(minute_s(minute) + 5)).await.unwrap();
        if minute == 5 {
            let open = b.list_incidents(&t, &IncidentFilter::default(), 10).await.unwrap();
            let first = open.iter().find(|i| i.monitor_id == ids[0]).expect("the first monitor is down");
            let ack = IncidentCommand::Acknowledge { by: "on-call".into() };
            b.incident_command(&t, &first.id, ack, Timestamp::from_secs(minute_s(minute) + 10)).await.unwrap();
        }
        if minute == 10 {
            let edited = draft("m1", Policy { confirm_threshold: 2, ..policy.clone() });
            assert!(b.update_monitor(&t, &ids[1], &edited, Timestamp::from_secs(minute_s(minute) + 10)).await.unwrap());
        }
    }
    seen(a, &t, ids).await
}

async fn create(store: &dyn Store, t: &TenantId, m: &MonitorId, name: &str, policy: Policy) {
    let now = Timestamp::from_secs(1);
    let rec = MonitorRecord {
        id: m.clone(),
        tenant_id: t.clone(),
        draft: draft(name, policy),
        heartbeat_token: None,
        created_at: now,
        updated_at: now,
    };
    store.create_monitor(t, &rec).await.unwrap();
}

fn minute_s(minute: usize) -> i64 {
    1_000 + minute as i64 * 60
}

/// Monitor `i`'s result of `minute`, with an id the same in every run.
fn at(t: &TenantId, m: &MonitorId, i: usize, minute: usize, outcome: u8) -> CheckResult {
    let outcome = if outcome == b'U' { Outcome::Up } else { Outcome::Down };
    let mut r = result(t, m, minute_s(minute), outcome);
    r.id = ResultId::from_parts(r.started_at.millis(), (i as u128) << 32 | minute as u128);
    r
}

async fn seen(store: &dyn Store, t: &TenantId, ids: &[MonitorId]) -> Seen {
    let mut states = Vec::new();
    for m in ids {
        let s = store.monitor_state(t, m).await.unwrap().expect("a state");
        let view = store.get_monitor(t, m).await.unwrap().expect("the monitor");
        states.push(format!(
            "{:?} seq {} regions {:?} open {:?} checked {:?}",
            s.health,
            s.incident_seq,
            s.regions,
            s.open.map(|o| (o.opened_at, o.acknowledged)),
            view.status.last_checked_at
        ));
    }
    let mut incidents: Vec<String> = store
        .list_incidents(t, &IncidentFilter::default(), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|i| {
            format!("{} {:?} {:?} {:?} {:?}", i.monitor_name, i.status, i.opened_at, i.acknowledged_at, i.resolved_at)
        })
        .collect();
    incidents.sort();
    let mut notices: Vec<String> = store
        .claim_outbox(Timestamp::from_secs(1_000_000), 1000, 60_000)
        .await
        .unwrap()
        .into_iter()
        .map(|n| format!("{} {:?} {:?} {}", n.event.monitor_name, n.event.kind, n.event.at, n.channel.name))
        .collect();
    notices.sort();
    Seen { states, incidents, notices }
}

const PER_NODE: i64 = 40;
const MONITORS: usize = 30;

/// Node A ingests region `a`'s results and node B region `b`'s, for the same monitors, at the
/// same time, in batches of a few minutes for every monitor. Every result is a failure and
/// confirmation needs one more than each region gets, so each step moves its region's
/// failure count (a change the stored row must get) and a step lost to the other node's
/// overwrite shows.
async fn two_nodes_stepping_the_same_monitors_at_once_lose_no_update(backend: Backend) {
    let a = Arc::new(backends::open(backend, 4).await);
    let b: Arc<dyn Store> = Arc::from(a.twin(4).await);
    let (t, _) = a.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..MONITORS {
        let m: MonitorId = fresh();
        let unconfirmed = Policy { confirm_threshold: PER_NODE as u32 + 1, ..Policy::default() };
        create(&**a, &t, &m, &format!("m{i}"), unconfirmed).await;
        ids.push(m);
    }
    let batches = |region: &'static str, salt: u128| {
        let mut out = Vec::new();
        for minutes in (0..PER_NODE).collect::<Vec<_>>().chunks(4) {
            let mut batch = Vec::new();
            for (i, m) in ids.iter().enumerate() {
                for &k in minutes {
                    let mut r = result(&t, m, 1_000 + k * 60, Outcome::Down);
                    r.region = region.into();
                    r.id = ResultId::from_parts(r.started_at.millis(), salt << 48 | (i as u128) << 16 | k as u128);
                    batch.push(r);
                }
            }
            out.push(batch);
        }
        out
    };
    let (on_a, on_b) = (batches("a", 1), batches("b", 2));
    let (node_a, node_b) = (a.clone(), b.clone());
    let task_a = tokio::spawn(async move {
        for batch in &on_a {
            node_a.ingest(batch, Timestamp::from_secs(100_000)).await.expect("ingest on A");
        }
    });
    let task_b = tokio::spawn(async move {
        for batch in &on_b {
            node_b.ingest(batch, Timestamp::from_secs(100_000)).await.expect("ingest on B");
        }
    });
    task_a.await.expect("node A");
    task_b.await.expect("node B");
    for m in &ids {
        let s = a.monitor_state(&t, m).await.unwrap().expect("a state");
        let failures: Vec<(&str, u32)> = s.regions.iter().map(|(r, st)| (r.as_str(), st.failures)).collect();
        assert_eq!(failures, [("a", PER_NODE as u32), ("b", PER_NODE as u32)], "{backend:?}: every step kept");
    }
}

/// A node that has just stepped a monitor (its caches warm) honours an edit of the monitor's
/// policy made through itself in the very next batch, and a touch of the monitor's row made
/// by the other node (as a changed tenant default does) too.
async fn a_policy_edit_reaches_the_next_batch_on_a_node_with_a_warm_cache(backend: Backend) {
    let a = backends::open(backend, 4).await;
    let b = a.twin(4).await;
    let (t, _) = a.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    add_channel(&*a, &t, "ops").await;
    let m: MonitorId = fresh();
    create(&*a, &t, &m, "db", Policy { confirm_threshold: 5, ..Policy::default() }).await;
    let r = a.ingest(&[result(&t, &m, 100, Outcome::Down)], Timestamp::from_secs(110)).await.unwrap();
    assert_eq!(r.notices, 0, "one failure of five");
    let edited = draft("db", Policy { confirm_threshold: 2, ..Policy::default() });
    assert!(a.update_monitor(&t, &m, &edited, Timestamp::from_secs(120)).await.unwrap());
    let r = a.ingest(&[result(&t, &m, 160, Outcome::Down)], Timestamp::from_secs(170)).await.unwrap();
    assert_eq!(r.notices, 1, "the second failure confirms under the edited threshold");

    // Recover, then B raises the threshold again; A's next failures follow B's policy.
    let ups = [result(&t, &m, 220, Outcome::Up), result(&t, &m, 280, Outcome::Up)];
    a.ingest(&ups, Timestamp::from_secs(290)).await.unwrap();
    let raised = draft("db", Policy { confirm_threshold: 4, ..Policy::default() });
    assert!(b.update_monitor(&t, &m, &raised, Timestamp::from_secs(300)).await.unwrap());
    let downs = [result(&t, &m, 340, Outcome::Down), result(&t, &m, 400, Outcome::Down)];
    let r = a.ingest(&downs, Timestamp::from_secs(410)).await.unwrap();
    assert_eq!(r.notices, 0, "two failures of four: B's edit reached A's warm cache");
    let state = a.monitor_state(&t, &m).await.unwrap().expect("a state");
    assert!(state.open.is_none(), "no incident yet");
}

/// Commands made while a node's ingest holds a monitor in memory reach its very next batch:
/// after an acknowledgement made through the other node no reminder goes out, and a
/// maintenance window started through the other node keeps the next failure from opening an
/// incident.
async fn commands_reach_a_node_that_holds_the_monitor_in_memory(backend: Backend) {
    let a = backends::open(backend, 4).await;
    let b = a.twin(4).await;
    let (t, _) = a.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    add_channel(&*a, &t, "ops").await;
    let (m, n): (MonitorId, MonitorId) = (fresh(), fresh());
    let reminding = Policy { confirm_threshold: 1, reminder_interval_s: Some(60), ..Policy::default() };
    create(&*a, &t, &m, "api", reminding.clone()).await;
    create(&*a, &t, &n, "db", reminding).await;
    let r = a.ingest(&[result(&t, &m, 100, Outcome::Down)], Timestamp::from_secs(101)).await.unwrap();
    assert_eq!(r.notices, 1, "{backend:?}: opened");
    let r = a.ingest(&[result(&t, &m, 200, Outcome::Down)], Timestamp::from_secs(201)).await.unwrap();
    assert_eq!(r.notices, 1, "{backend:?}: a reminder while nobody acknowledges");
    let open = b.list_incidents(&t, &IncidentFilter::default(), 10).await.unwrap();
    let incident = open.iter().find(|i| i.monitor_id == m).expect("an open incident");
    let ack = IncidentCommand::Acknowledge { by: "on-call".into() };
    b.incident_command(&t, &incident.id, ack, Timestamp::from_secs(210)).await.unwrap().expect("acknowledged");
    let downs = [result(&t, &m, 300, Outcome::Down), result(&t, &m, 400, Outcome::Down)];
    let r = a.ingest(&downs, Timestamp::from_secs(401)).await.unwrap();
    assert_eq!(r.notices, 0, "{backend:?}: no reminder after the acknowledgement");

    a.ingest(&[result(&t, &n, 1_100, Outcome::Up)], Timestamp::from_secs(1_101)).await.unwrap();
    let maintenance =
        netpulse_core::incident::Observation::Maintenance { at: Timestamp::from_secs(1_150), active: true };
    b.observe(&t, &n, maintenance, Timestamp::from_secs(1_150)).await.unwrap().expect("the monitor exists");
    let r = a.ingest(&[result(&t, &n, 1_200, Outcome::Down)], Timestamp::from_secs(1_201)).await.unwrap();
    assert_eq!(r.notices, 0, "{backend:?}: in maintenance");
    let open = a.list_incidents(&t, &IncidentFilter::default(), 10).await.unwrap();
    assert!(open.iter().all(|i| i.monitor_id != n), "{backend:?}: no incident in maintenance");
}

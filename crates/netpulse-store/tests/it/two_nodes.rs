//! Two store instances on one database, as two engine nodes have: each with its own pool
//! and its own caches (the PostgreSQL store caches parsed monitor drafts by row version).
//!
//! An edit made through one node must reach the next step and notice on the other, and a
//! long healthy run followed by an outage, ingested by both nodes at once (each batch
//! delivered to both, as a queue redelivering would), opens exactly one incident exactly
//! when the confirmation threshold is reached, with one outbox row per channel.

use super::{add_channel, add_monitor, draft, result};
use netpulse_core::incident::{Policy, PolicyLayer};
use netpulse_core::{Outcome, ResultId, Timestamp};
use netpulse_store::testing::{self as backends, Backend};
use netpulse_store::{AlertingDefaults, IncidentFilter, IncidentStatus, Store};
use std::sync::Arc;

contract!(
    an_edit_on_another_node_reaches_the_next_step_and_notice,
    a_long_up_run_then_an_outage_opens_one_incident,
    a_tenant_default_changed_on_another_node_reaches_the_next_step,
    two_nodes_sweeping_one_due_escalation_queue_it_once
);

async fn an_edit_on_another_node_reaches_the_next_step_and_notice(backend: Backend) {
    let a = backends::open(backend, 4).await;
    let b = a.twin(4).await;
    let (t, _) = a.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    add_channel(&*a, &t, "ops").await;
    let m = add_monitor(&*a, &t, draft("db", Policy { confirm_threshold: 3, ..Policy::default() })).await;
    let first = [result(&t, &m, 100, Outcome::Up), result(&t, &m, 160, Outcome::Down)];
    let r = a.ingest(&first, Timestamp::from_secs(170)).await.unwrap();
    assert_eq!(r.notices, 0, "one failure of three needed");

    // Node B renames the monitor and lowers the threshold; node A steps the next failure.
    let edited = draft("db-primary", Policy { confirm_threshold: 2, ..Policy::default() });
    assert!(b.update_monitor(&t, &m, &edited, Timestamp::from_secs(180)).await.unwrap());
    let r = a.ingest(&[result(&t, &m, 220, Outcome::Down)], Timestamp::from_secs(230)).await.unwrap();
    assert_eq!(r.notices, 1, "the second failure confirms under the edited policy");
    let due = a.claim_outbox(Timestamp::from_secs(240), 10, 60_000).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].event.monitor_name, "db-primary", "the notice carries the edited name");
    let incidents = b.list_incidents(&t, &IncidentFilter::default(), 10).await.unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].opened_at, Timestamp::from_secs(220));

    // A monitor deleted on node B steps nothing on node A any more (no stale cached draft).
    assert!(b.delete_monitor(&t, &m).await.unwrap());
    let r = a.ingest(&[result(&t, &m, 280, Outcome::Down)], Timestamp::from_secs(290)).await.unwrap();
    assert_eq!((r.inserted, r.notices), (1, 0), "a deleted monitor's result is stored but steps nothing");
}

const UP_RUN: i64 = 120;
const BATCH: usize = 7;

async fn a_long_up_run_then_an_outage_opens_one_incident(backend: Backend) {
    let a = Arc::new(backends::open(backend, 4).await);
    let b: Arc<dyn Store> = Arc::from(a.twin(4).await);
    let (t, _) = a.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    add_channel(&**a, &t, "ops").await;
    add_channel(&**a, &t, "oncall").await;
    let policy = Policy { confirm_threshold: 3, ..Policy::default() };
    let monitors = [
        add_monitor(&**a, &t, draft("api", policy.clone())).await,
        add_monitor(&**a, &t, draft("web", policy.clone())).await,
    ];
    // Each monitor: UP_RUN ups a minute apart, then 6 failures; one down, one up, one down
    // at the threshold's edge for the second monitor, so counts must not leak across runs.
    let mut all = Vec::new();
    for (i, m) in monitors.iter().enumerate() {
        for k in 0..UP_RUN + 6 {
            let outcome = match (i, k >= UP_RUN) {
                (1, false) if k == UP_RUN - 5 || k == UP_RUN - 3 => Outcome::Down,
                (_, false) => Outcome::Up,
                (_, true) => Outcome::Down,
            };
            let mut r = result(&t, m, 1_000 + k * 60, outcome);
            r.id = ResultId::from_parts(r.started_at.millis(), (i as u128) << 32 | k as u128);
            all.push(r);
        }
    }
    all.sort_by_key(|r| (r.started_at, r.monitor_id.clone()));
    let batches: Arc<Vec<_>> = Arc::new(all.chunks(BATCH).map(<[_]>::to_vec).collect());

    let (on_a, on_b) = (batches.clone(), batches.clone());
    let (node_a, node_b) = (a.clone(), b.clone());
    let task_a = tokio::spawn(async move { walk(&**node_a, &on_a).await });
    let task_b = tokio::spawn(async move { walk(&*node_b, &on_b).await });
    let notices = task_a.await.expect("node A") + task_b.await.expect("node B");
    assert_eq!(notices, 2, "{backend:?}: one opened notice per monitor, from whichever node stepped it");

    let incidents = b.list_incidents(&t, &IncidentFilter::default(), 10).await.unwrap();
    assert_eq!(incidents.len(), 2, "{backend:?}: one incident per monitor");
    let first_confirmed = Timestamp::from_secs(1_000 + (UP_RUN + 2) * 60);
    for i in &incidents {
        assert_eq!(i.status, IncidentStatus::Open, "{backend:?}");
        assert_eq!(i.opened_at, first_confirmed, "{backend:?}: opened at the third consecutive failure");
    }
    let due = a.claim_outbox(Timestamp::from_secs(200_000), 100, 60_000).await.unwrap();
    assert_eq!(due.len(), 4, "{backend:?}: one outbox row per channel and transition");
    for m in &monitors {
        let view = b.get_monitor(&t, m).await.unwrap().unwrap();
        assert_eq!(view.status.last_checked_at, Some(Timestamp::from_secs(1_000 + (UP_RUN + 5) * 60)));
    }
}

/// Ingest every batch in order on one node; the notices it queued.
async fn walk(node: &dyn Store, batches: &[Vec<netpulse_core::CheckResult>]) -> usize {
    let mut notices = 0;
    for batch in batches {
        notices += node.ingest(batch, Timestamp::from_secs(100_000)).await.expect("ingest").notices;
    }
    notices
}

/// A monitor that sets no policy field follows its tenant's defaults: changed on node B
/// after node A stepped (and cached) the monitor, the next step on node A uses them.
async fn a_tenant_default_changed_on_another_node_reaches_the_next_step(backend: Backend) {
    let a = backends::open(backend, 4).await;
    let b = a.twin(4).await;
    let (t, _) = a.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    add_channel(&*a, &t, "ops").await;
    let mut inheriting = draft("db", Policy::default());
    inheriting.policy = PolicyLayer::default();
    let m = add_monitor(&*a, &t, inheriting).await;
    let first = [result(&t, &m, 100, Outcome::Up), result(&t, &m, 160, Outcome::Down)];
    assert_eq!(a.ingest(&first, Timestamp::from_secs(170)).await.unwrap().notices, 0, "built-in: two failures");

    let defaults = AlertingDefaults {
        policy: PolicyLayer { confirm_threshold: Some(3), ..PolicyLayer::default() },
        ..AlertingDefaults::default()
    };
    b.set_alerting_defaults(&t, &defaults, Timestamp::from_secs(180)).await.unwrap();
    assert_eq!(a.alerting_defaults(&t).await.unwrap(), defaults);
    let r = a.ingest(&[result(&t, &m, 220, Outcome::Down)], Timestamp::from_secs(230)).await.unwrap();
    assert_eq!(r.notices, 0, "the second failure no longer confirms: the default is now 3");
    let r = a.ingest(&[result(&t, &m, 280, Outcome::Down)], Timestamp::from_secs(290)).await.unwrap();
    assert_eq!(r.notices, 1, "the third does");
    let other = netpulse_store::testing::other_tenant(&*b).await;
    assert_eq!(b.alerting_defaults(&other).await.unwrap(), AlertingDefaults::default(), "scoped by tenant");
}

/// The timer sweep on two nodes at once (as when a lease changes hands mid-pass; SQLite: one
/// after the other): the due escalation is queued once, from the stored state, and its
/// timer is cleared.
async fn two_nodes_sweeping_one_due_escalation_queue_it_once(backend: Backend) {
    use netpulse_store::timers::sweep;
    let a = backends::open(backend, 4).await;
    let b = a.twin(4).await;
    let (t, _) = a.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    add_channel(&*a, &t, "oncall").await;
    let oncall = a.list_channels(&t).await.unwrap()[0].id.clone();
    let p = Policy { escalate_after_s: Some(300), escalate_to: vec![oncall], ..Policy::default() };
    let m = add_monitor(&*a, &t, draft("db", p)).await;
    let down = [result(&t, &m, 100, Outcome::Down), result(&t, &m, 160, Outcome::Down)];
    assert_eq!(a.ingest(&down, Timestamp::from_secs(170)).await.unwrap().notices, 1, "opened at 160");
    assert!(a.due_timers(Timestamp::from_secs(459), 10).await.unwrap().is_empty(), "not due before 460");
    assert_eq!(a.due_timers(Timestamp::from_secs(460), 10).await.unwrap(), [(t.clone(), m.clone())]);

    let now = Timestamp::from_secs(461);
    let fired = if backend == Backend::Sqlite {
        // One engine process per SQLite file: its single writer never races itself.
        sweep(&*a, now).await.unwrap() + sweep(&*b, now).await.unwrap()
    } else {
        let (x, y) = tokio::join!(sweep(&*a, now), sweep(&*b, now));
        x.unwrap() + y.unwrap()
    };
    assert_eq!(fired, 1, "one node fires it; the other finds it done");
    let due = a.claim_outbox(Timestamp::from_secs(470), 10, 60_000).await.unwrap();
    let kinds: Vec<&str> = due.iter().map(|i| i.event.kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "escalated").count(), 1, "{kinds:?}");
    assert!(a.due_timers(Timestamp::from_secs(100_000), 10).await.unwrap().is_empty(), "nothing left to time");
}

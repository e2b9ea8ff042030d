//! The store contract: one suite, run against every backend — SQLite, PostgreSQL directly
//! and PostgreSQL through PgBouncer in transaction mode (see [`backends`]). Each test is a
//! function of the backend; [`contract!`] makes one `#[tokio::test]` per backend, so a
//! failure names it (`store::pgbouncer::…`).
//!
//! Ingest is idempotent on result ids, and a redelivered result never steps the incident
//! machine or queues a notice twice — also under concurrent use ([`concurrency`]).

use netpulse_core::incident::Policy;
use netpulse_core::monitor::MonitorDraft;
use netpulse_core::retention::UptimeWindow;
use netpulse_core::{CheckResult, MonitorId, Outcome, Provenance, ResultId, TenantId, Timestamp, Timings};
use netpulse_store::clock::fresh;
use netpulse_store::testing::{self as backends, draft, Backend, TestStore};
use netpulse_store::Secret;
use netpulse_store::{
    ChannelKind, ChannelRecord, Evidence, IncidentFilter, MonitorRecord, NewAccount, Store, UserRecord,
};

/// One `#[tokio::test]` per backend for each contract function `name(Backend)`.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Postgres).await } )*
        }
        mod pgbouncer {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::PgBouncer).await } )*
        }
    };
}

mod accounts;
mod concurrency;
mod conditional;
mod deliveries;
mod demo;
mod health_changes;
mod interleaved;
mod migrations;
mod nul_text;
mod partitions;
mod retention;
mod scheduling;
mod status_pages;
mod storms;
mod subscribers;
mod two_nodes;
mod visits;
mod wakeups;
use deliveries::every_attempt_is_logged_and_a_channel_fails_until_it_delivers;
use storms::a_storm_groups_its_rows_and_queues_its_notice_once;

use accounts::{
    a_new_password_revokes_the_users_other_sessions,
    an_invitation_joins_once_and_sessions_switch_only_into_memberships,
    leaving_moves_the_session_on_ends_the_rest_and_two_owners_leaving_at_once_leave_one,
    members_change_under_the_owner_rules_and_two_owners_stepping_down_at_once_leave_one,
};
use demo::{
    the_demo_seeds_once_and_its_notices_reach_no_channel, uptime_reads_count_only_the_evidence_they_are_asked_for,
};

contract!(
    redelivered_results_are_stored_once_and_alert_once,
    a_tls_result_keeps_the_certificate_it_saw,
    late_results_are_recorded_but_do_not_reopen_an_outage,
    another_tenants_ids_behave_as_missing,
    a_conditional_update_wins_once_per_version,
    retention_keeps_every_uptime_figure_after_raw_results_are_gone,
    concurrent_retention_counts_each_result_once,
    latency_over_a_range_reads_raw_results_then_their_rollups,
    a_storm_groups_its_rows_and_queues_its_notice_once,
    the_demo_seeds_once_and_its_notices_reach_no_channel,
    uptime_reads_count_only_the_evidence_they_are_asked_for,
    a_new_password_revokes_the_users_other_sessions,
    an_invitation_joins_once_and_sessions_switch_only_into_memberships,
    members_change_under_the_owner_rules_and_two_owners_stepping_down_at_once_leave_one,
    leaving_moves_the_session_on_ends_the_rest_and_two_owners_leaving_at_once_leave_one,
    hourly_rollups_come_per_monitor_in_time_order,
    checks_during_maintenance_are_rolled_up_apart,
    results_with_nul_in_their_texts_are_stored,
    maintenance_counts_stay_when_hours_fold_into_days,
    health_changes_are_read_since_a_time,
    creates_racing_for_the_last_places_stop_at_the_monitor_cap,
    every_attempt_is_logged_and_a_channel_fails_until_it_delivers,
    the_next_maintenance_change_is_the_next_start_or_end,
    the_next_alert_work_is_the_next_pending_notice,
    a_scheduler_reads_its_partitions_then_only_ids_versions_and_what_changed,
);
use health_changes::health_changes_are_read_since_a_time;
use nul_text::results_with_nul_in_their_texts_are_stored;
use scheduling::a_scheduler_reads_its_partitions_then_only_ids_versions_and_what_changed;
use wakeups::{the_next_alert_work_is_the_next_pending_notice, the_next_maintenance_change_is_the_next_start_or_end};

use retention::{
    concurrent_retention_counts_each_result_once, latency_over_a_range_reads_raw_results_then_their_rollups,
    maintenance_counts_stay_when_hours_fold_into_days, retention_keeps_every_uptime_figure_after_raw_results_are_gone,
};

/// A window read from the hourly rollup alone (what ingest writes), for checking it.
pub fn hourly_only(from: Timestamp, to: Timestamp) -> UptimeWindow {
    UptimeWindow { from, to, fine: (to, to), coarse: (from, to) }
}

fn result(t: &TenantId, m: &MonitorId, at_s: i64, outcome: Outcome) -> CheckResult {
    CheckResult {
        id: ResultId::from_parts(at_s * 1000, at_s as u128),
        tenant_id: t.clone(),
        monitor_id: m.clone(),
        region: "local".into(),
        worker: "test".into(),
        started_at: Timestamp::from_secs(at_s),
        finished_at: Timestamp::from_secs(at_s),
        outcome,
        timings: Timings::default(),
        status_code: None,
        error: outcome.is_failure().then(|| "refused".into()),
        cert_expires_at: None,
        cert_issuer: None,
        provenance: Provenance::Live,
    }
}

pub async fn add_monitor(store: &dyn Store, tenant: &TenantId, draft: MonitorDraft) -> MonitorId {
    let m: MonitorId = fresh();
    let now = Timestamp::from_secs(1);
    let rec = MonitorRecord {
        id: m.clone(),
        tenant_id: tenant.clone(),
        draft,
        heartbeat_token: None,
        created_at: now,
        updated_at: now,
    };
    store.create_monitor(tenant, &rec).await.unwrap();
    m
}

pub async fn add_channel(store: &dyn Store, tenant: &TenantId, name: &str) {
    let ch = ChannelRecord {
        id: fresh(),
        tenant_id: tenant.clone(),
        name: name.into(),
        kind: ChannelKind::Webhook,
        url: "http://127.0.0.1:9/".into(),
        secret: Secret::new("s3cret-s3cret-s3cret"),
        settings: serde_json::json!({}),
        enabled: true,
        created_at: Timestamp::from_secs(1),
        updated_at: Timestamp::from_secs(1),
    };
    store.create_channel(tenant, &ch).await.unwrap();
}

/// Register a verified account for `email`, its new organisation named after it: the
/// user and the tenant it joined (the first account of an install joins the bootstrap one).
pub async fn register(store: &dyn Store, email: &str, now: Timestamp) -> (UserRecord, TenantId) {
    let user = UserRecord {
        id: fresh(),
        email: email.into(),
        password_hash: "h".into(),
        verified_at: Some(now),
        created_at: now,
    };
    let acct = NewAccount { user: user.clone(), tenant: fresh(), tenant_name: email.into() };
    let tenant = store.register(&acct, now).await.unwrap();
    (user, tenant)
}

async fn setup(backend: Backend) -> (TestStore, TenantId, MonitorId) {
    let store = backends::open(backend, 8).await;
    let (tenant, created) = store.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    assert!(created);
    let m = add_monitor(&*store, &tenant, draft("db", Policy::default())).await;
    add_channel(&*store, &tenant, "ops").await;
    (store, tenant, m)
}

async fn redelivered_results_are_stored_once_and_alert_once(backend: Backend) {
    let (store, t, m) = setup(backend).await;
    let batch = vec![
        result(&t, &m, 100, Outcome::Down),
        result(&t, &m, 160, Outcome::Down),
        result(&t, &m, 220, Outcome::Down),
    ];
    let first = store.ingest(&batch, Timestamp::from_secs(300)).await.unwrap();
    assert_eq!((first.inserted, first.duplicates, first.notices), (3, 0, 1));
    let again = store.ingest(&batch, Timestamp::from_secs(301)).await.unwrap();
    assert_eq!((again.inserted, again.duplicates, again.notices), (0, 3, 0), "a redelivered batch changes nothing");

    let page =
        store.list_results(&t, &m, Timestamp::from_secs(0), Timestamp::from_secs(1000), 100, None).await.unwrap();
    assert_eq!(page.results.len(), 3);
    let incidents = store.list_incidents(&t, &IncidentFilter::default(), 10).await.unwrap();
    assert_eq!(incidents.len(), 1);
    let due = store.claim_outbox(Timestamp::from_secs(400), 10, 60_000).await.unwrap();
    assert_eq!(due.len(), 1, "one notice for one transition");
    assert!(
        store.claim_outbox(Timestamp::from_secs(401), 10, 60_000).await.unwrap().is_empty(),
        "a claimed notice is leased, not handed out twice"
    );
    assert_eq!(
        store.claim_outbox(Timestamp::from_secs(461), 10, 60_000).await.unwrap().len(),
        1,
        "an expired lease is retried"
    );
}

/// The expiry and issuer a TLS check recorded are read back with the result (the monitor
/// page's certificate section); a result without them stays without.
async fn a_tls_result_keeps_the_certificate_it_saw(backend: Backend) {
    let (store, t, m) = setup(backend).await;
    let mut tls = result(&t, &m, 100, Outcome::Up);
    tls.cert_expires_at = Some(Timestamp::from_secs(9_000_000));
    tls.cert_issuer = Some("Let's Encrypt (R11)".into());
    let plain = result(&t, &m, 160, Outcome::Up);
    store.ingest(&[tls.clone(), plain.clone()], Timestamp::from_secs(200)).await.unwrap();
    let page = store.list_results(&t, &m, Timestamp::from_secs(0), Timestamp::from_secs(1000), 10, None).await.unwrap();
    assert_eq!(page.results, vec![plain, tls], "newest first, each as ingested");
}

async fn late_results_are_recorded_but_do_not_reopen_an_outage(backend: Backend) {
    let (store, t, m) = setup(backend).await;
    store
        .ingest(&[result(&t, &m, 100, Outcome::Up), result(&t, &m, 160, Outcome::Up)], Timestamp::from_secs(200))
        .await
        .unwrap();
    let late = [result(&t, &m, 40, Outcome::Down), result(&t, &m, 50, Outcome::Down)];
    let r = store.ingest(&late, Timestamp::from_secs(201)).await.unwrap();
    assert_eq!((r.inserted, r.notices), (2, 0));
    let view = store.get_monitor(&t, &m).await.unwrap().unwrap();
    assert_eq!(view.status.last_outcome, Some(Outcome::Up), "the latest result is still the newest one");
    assert_eq!(view.status.last_checked_at, Some(Timestamp::from_secs(160)));
}

async fn creates_racing_for_the_last_places_stop_at_the_monitor_cap(backend: Backend) {
    const CAP: u32 = 4;
    let store = std::sync::Arc::new(backends::open(backend, 8).await);
    let (t, _) = store.bootstrap("hash", Timestamp::from_secs(1)).await.unwrap();
    let other = backends::other_tenant(&**store).await;
    add_monitor(&**store, &t, draft("first", Policy::default())).await;
    let record = |t: &TenantId, name: &str| MonitorRecord {
        id: fresh(),
        tenant_id: t.clone(),
        draft: draft(name, Policy::default()),
        heartbeat_token: None,
        created_at: Timestamp::from_secs(2),
        updated_at: Timestamp::from_secs(2),
    };
    let racers: Vec<_> = (0..12)
        .map(|i| {
            let (store, rec) = (store.clone(), record(&t, &format!("racer {i}")));
            tokio::spawn(async move { store.create_monitor_within(&rec.tenant_id.clone(), &rec, CAP).await.unwrap() })
        })
        .collect();
    let mut created = 0;
    for r in racers {
        created += usize::from(r.await.unwrap());
    }
    assert_eq!(created, CAP as usize - 1, "one place was taken, three were left");
    assert_eq!(store.list_monitors(&t).await.unwrap().len(), CAP as usize);
    assert!(store.create_monitor_within(&other, &record(&other, "theirs"), CAP).await.unwrap(), "per organisation");
    assert!(store.create_monitor_within(&t, &record(&t, "no cap"), 0).await.unwrap(), "0 is no limit");
}

async fn another_tenants_ids_behave_as_missing(backend: Backend) {
    let (store, t, m) = setup(backend).await;
    let other: TenantId = fresh();
    assert!(store.get_monitor(&other, &m).await.unwrap().is_none());
    assert!(store.list_monitors(&other).await.unwrap().is_empty());
    assert!(!store.delete_monitor(&other, &m).await.unwrap());
    // A result claiming another tenant's monitor is stored under its own tenant but moves nothing.
    let r = store
        .ingest(
            &[result(&other, &m, 10, Outcome::Down), result(&other, &m, 20, Outcome::Down)],
            Timestamp::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(r.notices, 0);
    assert!(store.list_incidents(&t, &IncidentFilter::default(), 10).await.unwrap().is_empty());
    assert!(store.get_monitor(&t, &m).await.unwrap().unwrap().status.last_checked_at.is_none());
}

/// Two editors read the same version of a monitor and both write, each only if it is still
/// that version (If-Match): exactly one wins, whichever it is, the other is told it changed
/// and wrote nothing; every write moves the version on, even at an unchanged clock; another
/// tenant's or a missing id is missing.
async fn a_conditional_update_wins_once_per_version(backend: Backend) {
    use netpulse_store::Conditional;
    let (store, t, m) = setup(backend).await;
    let store = std::sync::Arc::new(store);
    let read = store.get_monitor(&t, &m).await.unwrap().unwrap().record;
    let version = read.updated_at;
    let writers: Vec<_> = ["first", "second"]
        .into_iter()
        .map(|name| {
            let (store, t, m) = (store.clone(), t.clone(), m.clone());
            let mut edited = read.draft.clone();
            edited.name = name.into();
            tokio::spawn(async move { (name, store.update_monitor_if(&t, &m, &edited, version, Some(version)).await) })
        })
        .collect();
    let mut outcomes = Vec::new();
    for w in writers {
        let (name, outcome) = w.await.unwrap();
        outcomes.push((name, outcome.unwrap()));
    }
    let won: Vec<&str> = outcomes.iter().filter(|(_, o)| *o == Conditional::Updated).map(|(n, _)| *n).collect();
    assert_eq!(won.len(), 1, "{backend:?}: one writer wins: {outcomes:?}");
    assert!(outcomes.iter().any(|(_, o)| *o == Conditional::Changed), "{backend:?}: {outcomes:?}");
    let now = store.get_monitor(&t, &m).await.unwrap().unwrap().record;
    assert_eq!(now.draft.name, won[0], "{backend:?}: the winner's write is what is stored");
    assert!(now.updated_at > version, "{backend:?}: the version moved on with the clock unchanged");
    let again = store.update_monitor_if(&t, &m, &now.draft, version, Some(now.updated_at)).await.unwrap();
    assert_eq!(again, Conditional::Updated, "{backend:?}: the current version matches");
    let other = netpulse_core::TenantId::from_parts(1, 99);
    assert_eq!(store.update_monitor_if(&other, &m, &now.draft, version, None).await.unwrap(), Conditional::Missing);
}

async fn hourly_rollups_come_per_monitor_in_time_order(backend: Backend) {
    let (store, t, m) = setup(backend).await;
    let other_monitor = add_monitor(&*store, &t, draft("other", Policy::default())).await;
    let hour = 3_600;
    let batch = [
        result(&t, &m, 11 * hour + 1, Outcome::Up),
        result(&t, &m, 10 * hour + 1, Outcome::Up),
        result(&t, &m, 10 * hour + 61, Outcome::Down),
        result(&t, &m, 11 * hour + 61, Outcome::Degraded),
        result(&t, &other_monitor, 11 * hour + 5, Outcome::Error),
        result(&t, &m, 9 * hour, Outcome::Up),
    ];
    store.ingest(&batch, Timestamp::from_secs(12 * hour)).await.unwrap();

    let got = store.hourly_tallies_since(&t, Timestamp::from_secs(10 * hour + 1800), Evidence::Live).await.unwrap();
    let mine: Vec<(i64, u64, u64, u64)> =
        got[&m].iter().map(|(at, c)| (at.millis() / 1000 / hour, c.up, c.degraded, c.down)).collect();
    assert_eq!(mine, vec![(10, 1, 0, 1), (11, 1, 1, 0)], "{backend:?}: from the hour of `from`, oldest first");
    assert_eq!(got[&other_monitor].len(), 1, "{backend:?}");
    assert_eq!(got[&other_monitor][0].1.error, 1, "{backend:?}");
    let other: TenantId = fresh();
    assert!(
        store.hourly_tallies_since(&other, Timestamp::from_secs(0), Evidence::Live).await.unwrap().is_empty(),
        "{backend:?}"
    );
}

async fn checks_during_maintenance_are_rolled_up_apart(backend: Backend) {
    let (store, t, m) = setup(backend).await;
    let hour = 3_600;
    let window = netpulse_store::MaintenanceWindow {
        id: "mw_contract".into(),
        monitor_id: m.clone(),
        starts_at: Timestamp::from_secs(10 * hour),
        ends_at: Timestamp::from_secs(10 * hour + 1800),
        repeat_every_s: None,
        reason: "upgrade".into(),
        phase: "scheduled".into(),
        announce: false,
        updated_at: Timestamp::from_secs(1),
    };
    store.create_maintenance(&t, &window).await.unwrap();
    let batch = [
        result(&t, &m, 10 * hour + 60, Outcome::Down),
        result(&t, &m, 10 * hour + 120, Outcome::Up),
        result(&t, &m, 10 * hour + 1800, Outcome::Down),
        result(&t, &m, 10 * hour + 2000, Outcome::Up),
    ];
    store.ingest(&batch, Timestamp::from_secs(11 * hour)).await.unwrap();
    let all = (Timestamp::from_secs(0), Timestamp::from_secs(20 * hour));
    let rolled = store.tally_window(&t, &m, &hourly_only(all.0, all.1), Evidence::Live).await.unwrap();
    assert_eq!((rolled.up, rolled.down), (1, 1), "{backend:?}: the window's two checks count for neither");
    assert_eq!(rolled.uptime_percent(), Some(50.0), "{backend:?}");
    let since = store.tallies_since(&t, all.0, Evidence::Live).await.unwrap();
    assert_eq!(since[&m].maintenance, 2, "{backend:?}");
    let hours = store.hourly_tallies_since(&t, all.0, Evidence::Live).await.unwrap();
    assert_eq!(hours[&m][0].1.maintenance, 2, "{backend:?}");
}

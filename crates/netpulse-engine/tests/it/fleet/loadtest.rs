//! `netpulse loadtest fleet` at a small scale, on PostgreSQL through PgBouncer and Redis:
//! two engine node processes, 20 real workers in three worker processes and two regions
//! probing the local target farm over their own mTLS connections, four dashboard clients,
//! and two monitors whose target fails for a while, paging a webhook receiver of the run. The run's audit must hold —
//! every result a gateway acknowledged stored once, every result seen on a dashboard stored —
//! and every stored result must have been timed on a dashboard, with PostgreSQL's server
//! connections held to PgBouncer's pool.

use netpulse_engine::loadtest::fleet::{run, FleetArgs};
use netpulse_store::testing::{admin, direct_addr, pg_url, pooled_addr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_fleet_run_stores_every_acknowledged_result_once_and_times_each_on_a_dashboard() {
    let _ = admin().await; // fail early, with the hint, when PostgreSQL is down
    let args = FleetArgs {
        workers: 20,
        regions: 2,
        nodes: 2,
        monitors: 40,
        interval_s: 1,
        duration_s: 12,
        synthetic: false,
        json: true,
        html: None,
        dashboards: 4,
        ramp_per_s: 200,
        pool_size: 2,
        pg_direct: pg_url(&direct_addr(), "postgres"),
        pg_pooled: pooled_addr(),
        redis: crate::harness::redis_url(),
        chaos: false,
        workers_per_process: 8,
        engine_bin: Some(env!("CARGO_BIN_EXE_netpulse").into()),
    };
    let report = run(&args).await.expect("the fleet load test runs");
    let audit = &report.audit;
    assert!(audit.rows > 40, "at least one round of checks stored: {audit:?}");
    audit.verdict().expect("nothing acknowledged lost, nothing stored twice");
    assert_eq!(audit.rows as u64, audit.acked, "every acknowledged result stored, once: {audit:?}");
    assert_eq!(audit.undelivered, 0, "the workers delivered everything before stopping: {audit:?}");
    assert_eq!(audit.by_provenance, vec![("live".to_owned(), audit.rows)], "real probes are live evidence");
    assert_eq!(report.workers_connected, 20, "every worker served");
    assert_eq!(report.dashboards_connected, 4);
    assert_eq!(audit.dashboard_ids as i64, audit.distinct_ids, "every stored result timed on a dashboard: {audit:?}");
    let timed = report.latency_steady.samples + report.latency_ramp.samples;
    assert!(timed >= audit.rows as u64, "{timed} arrivals timed for {} results", audit.rows);
    assert!(report.stored_by_node.iter().all(|(_, n)| *n > 0), "both nodes ingest: {:?}", report.stored_by_node);
    assert!(
        (1..=10).contains(&report.pg_connections_peak),
        "{} PostgreSQL server connections: PgBouncer's pool (default_pool_size 10) holds them",
        report.pg_connections_peak
    );
    let alerts = report.alerts.as_ref().expect("real probes exercise alerts");
    assert!(alerts.ok(), "every incident paged once per transition, no false alarm: {alerts:?}");
    assert_eq!(alerts.incidents, 2, "one incident per failing monitor: {alerts:?}");
    assert!(alerts.keys >= 2, "the openings were delivered: {alerts:?}");
}

//! PostgreSQL migrations: idempotent, safe when engines start together, and refused through
//! a transaction-mode PgBouncer with an error that says what to do. And the pool: a killed
//! connection is a retryable error once, then replaced.

use netpulse_store::postgres::{schema, PgStore};
use netpulse_store::prelude::*;
use netpulse_store::testing::{admin, direct_addr, pg_url, pooled_addr, PgDatabase};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_and_repeated_migrations_apply_each_step_once() {
    let db = PgDatabase::create().await;
    let url = pg_url(&direct_addr(), &db.name);
    let runs: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn({
                let url = url.clone();
                async move { schema::migrate(&url).await }
            })
        })
        .collect();
    let mut versions = Vec::new();
    for run in runs {
        versions.push(run.await.expect("task").expect("concurrent migrations serialise"));
    }
    assert!(versions.windows(2).all(|w| w[0] == w[1]), "{versions:?}");
    assert_eq!(schema::migrate(&url).await.expect("a second run is a no-op"), versions[0]);
    let store = PgStore::connect(&pg_url(&pooled_addr(), &db.name), 2).await.expect("store through PgBouncer");
    store.ping().await.expect("ping through PgBouncer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_through_transaction_mode_pgbouncer_is_refused() {
    let db = PgDatabase::create().await;
    let err = schema::migrate(&pg_url(&pooled_addr(), &db.name)).await.expect_err("refused through PgBouncer");
    let msg = err.to_string();
    assert!(msg.contains("transaction mode") && msg.contains("storage.postgres.migrate_url"), "{msg}");
    // Nothing was created: the direct migration afterwards starts from scratch and works.
    schema::migrate(&pg_url(&direct_addr(), &db.name)).await.expect("direct migration");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmigrated_database_is_reported_not_half_used() {
    let db = PgDatabase::create().await;
    let err = match PgStore::connect(&pg_url(&pooled_addr(), &db.name), 2).await {
        Ok(_) => panic!("an empty database must not open as a store"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("netpulse migrate"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_connection_is_a_retryable_error_and_is_replaced() {
    let db = PgDatabase::create().await;
    schema::migrate(&pg_url(&direct_addr(), &db.name)).await.expect("direct migration");
    let store = PgStore::connect(&pg_url(&direct_addr(), &db.name), 1).await.expect("store");
    store.ping().await.expect("ping");
    admin()
        .await
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name],
        )
        .await
        .expect("terminate the store's connection");
    if let Err(e) = store.ping().await {
        assert!(e.is_retryable(), "a lost connection is retryable: {e}");
    }
    store.ping().await.expect("the pool opens a new connection");
}

/// Monitors stored before partitions were kept get the partition the engine computes,
/// whatever bytes their ids hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_stored_before_their_partition_was_kept_get_it() {
    let db = PgDatabase::create().await;
    let url = pg_url(&direct_addr(), &db.name);
    let at = schema::version_introducing("monitors_schedulable").expect("the migration");
    schema::migrate_to(&url, at - 1).await.expect("migrate to before it");
    let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    c.execute("INSERT INTO tenants (id, name, created_at) VALUES ('ten_t', 't', 1)", &[]).await.unwrap();
    let mut ids: Vec<String> = (0..200).map(|i| format!("mon_{i:026}")).collect();
    ids.extend(["mon_01".into(), "mon_ünïcode_~\u{7f}".into(), format!("mon_{}", "z".repeat(40))]);
    for id in &ids {
        c.execute(
            "INSERT INTO monitors (id, tenant_id, name, draft, paused, created_at, updated_at) \
             VALUES ($1, 'ten_t', 'm', '{}', false, 1, 1)",
            &[id],
        )
        .await
        .unwrap();
    }
    schema::migrate(&url).await.expect("the rest");
    for id in &ids {
        let part: i32 = c.query_one("SELECT part FROM monitors WHERE id = $1", &[id]).await.unwrap().get(0);
        let expected = netpulse_store::partition_of(&netpulse_core::MonitorId::from_trusted(id.clone()));
        assert_eq!(part as u32, expected, "{id}");
    }
}

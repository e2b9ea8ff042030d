//! Test support (feature `test-support`): the stores the contract suite runs against: SQLite in a temp dir, PostgreSQL directly and
//! PostgreSQL through PgBouncer in transaction mode, each on a fresh database.
//!
//! PostgreSQL databases are created through a direct admin connection, migrated directly
//! (as `netpulse migrate` does) and dropped when the test ends. If PostgreSQL or PgBouncer
//! does not answer, the test fails and says to run `scripts/services.sh`; it never skips.
//! Addresses: `NETPULSE_TEST_PG_DIRECT` (default 127.0.0.1:5432) and `NETPULSE_TEST_PG_POOLED`
//! (default 127.0.0.1:6432), user `NETPULSE_TEST_PG_USER` (default netpulse).

use crate::clock::fresh;
use crate::postgres::{schema, PgStore};
use crate::sqlite::SqliteStore;
use crate::{NewAccount, Store, UserRecord};
use netpulse_core::incident::{Policy, PolicyLayer};
use netpulse_core::monitor::{CheckSpec, Interval, MonitorDraft, TcpSpec};
use netpulse_core::TenantId;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio_postgres::NoTls;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    PgBouncer,
}

/// A fresh store, and what must outlive it (the temp dir or the test database).
pub struct TestStore {
    pub store: Box<dyn Store>,
    backend: Backend,
    _dir: Option<tempfile::TempDir>,
    _db: Option<PgDatabase>,
}

impl std::ops::Deref for TestStore {
    type Target = dyn Store;
    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

pub fn direct_addr() -> String {
    env_or("NETPULSE_TEST_PG_DIRECT", "127.0.0.1:5432")
}

pub fn pooled_addr() -> String {
    env_or("NETPULSE_TEST_PG_POOLED", "127.0.0.1:6432")
}

pub fn pg_url(addr: &str, db: &str) -> String {
    format!("postgres://{}@{addr}/{db}", env_or("NETPULSE_TEST_PG_USER", "netpulse"))
}

/// A store of `backend` on a fresh, migrated database.
pub async fn open(backend: Backend, pool_size: usize) -> TestStore {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = SqliteStore::open(&dir.path().join("np.db")).expect("SQLite store opens");
            TestStore { store: Box::new(store), backend, _dir: Some(dir), _db: None }
        }
        Backend::Postgres | Backend::PgBouncer => {
            let db = PgDatabase::create().await;
            schema::migrate(&pg_url(&direct_addr(), &db.name)).await.expect("migrations run directly");
            let store = connect_pg(backend, &db.name, pool_size).await;
            TestStore { store: Box::new(store), backend, _dir: None, _db: Some(db) }
        }
    }
}

async fn connect_pg(backend: Backend, db: &str, pool_size: usize) -> PgStore {
    let addr = if backend == Backend::PgBouncer { pooled_addr() } else { direct_addr() };
    PgStore::connect(&pg_url(&addr, db), pool_size).await.unwrap_or_else(|e| {
        panic!("{backend:?} at {addr} is unreachable ({e}); start the services with scripts/services.sh")
    })
}

impl TestStore {
    /// A second store on the same database, as a second engine node has (its own pool and
    /// caches); it must not outlive `self`.
    pub async fn twin(&self, pool_size: usize) -> Box<dyn Store> {
        match (&self._dir, &self._db) {
            (Some(dir), _) => Box::new(SqliteStore::open(&dir.path().join("np.db")).expect("SQLite store reopens")),
            (_, Some(db)) => Box::new(connect_pg(self.backend, &db.name, pool_size).await),
            _ => unreachable!("a test store has a file or a database"),
        }
    }
}

/// A uniquely named PostgreSQL database, dropped on drop.
pub struct PgDatabase {
    pub name: String,
}

pub async fn admin() -> tokio_postgres::Client {
    let url = pg_url(&direct_addr(), "postgres");
    let (client, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {} is unreachable ({e}); start the services with scripts/services.sh", direct_addr())
    });
    tokio::spawn(conn);
    client
}

impl PgDatabase {
    pub async fn create() -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let name =
            format!("np_test_{}_{}_{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed), nanos % 1_000_000_000);
        admin().await.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("CREATE DATABASE");
        Self { name }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async code: use a short-lived runtime on its own thread.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let _ = admin().await.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
            })
        });
        let _ = dropped.join();
    }
}

/// Another tenant, made the way registration makes one (there is no tenant API). The first
/// account of an install joins the bootstrap organisation, so a second one is registered
/// when that happens.
pub async fn other_tenant(store: &dyn Store) -> TenantId {
    loop {
        let now = crate::clock::now();
        let tenant: TenantId = fresh();
        let user = UserRecord {
            id: fresh(),
            email: format!("owner-{}@example.com", tenant.as_str()),
            password_hash: "unused".into(),
            verified_at: Some(now),
            created_at: now,
        };
        let acct = NewAccount { user, tenant: tenant.clone(), tenant_name: "other".into() };
        if store.register(&acct, now).await.expect("register an account") == tenant {
            return tenant;
        }
    }
}

/// A TCP monitor named `name` checked every minute from `local`, under `policy` whole.
pub fn draft(name: &str, policy: Policy) -> MonitorDraft {
    MonitorDraft {
        name: name.into(),
        spec: CheckSpec::Tcp(TcpSpec { host: "db".into(), port: 5432 }),
        interval: Interval::from_trusted(60),
        timeout_ms: 1000,
        retries: 0,
        regions: vec!["local".into()],
        tags: vec![],
        paused: false,
        policy: PolicyLayer::all_of(&policy),
        channels: None,
        depends_on: None,
        managed_by: None,
    }
}

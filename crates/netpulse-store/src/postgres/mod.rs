//! The PostgreSQL store, built to run behind PgBouncer in transaction pooling mode.
//!
//! Rules that keep it correct through a transaction pooler (see the stack notes): every
//! statement is an *unnamed* one sent with its parameter types (`query_typed`,
//! `execute_typed`), never a named prepared statement; work that spans statements — including
//! reads — runs inside one `BEGIN … COMMIT`; no session state (`SET`, session advisory locks,
//! temp tables) is relied on. Migrations are the exception: they run over a direct connection
//! (`storage.postgres.migrate_url`), see [`schema`].
//!
//! Concurrency: every writer of a monitor's state first locks its partition's row
//! (`state_partitions`, in partition order, see [`hot`]), and all but ingest then the
//! affected `monitors` rows (`FOR NO KEY UPDATE`, in id order), so two engine nodes never step
//! one monitor at once and never deadlock; the outbox is claimed with `FOR UPDATE SKIP
//! LOCKED`. Parsed drafts are cached by row version ([`facts`]); ingest keeps the monitors it
//! steps in memory and writes a state row only when the state changes how the monitor
//! behaves ([`hot`]).
//!
//! Each area of the store port is implemented in its file of the same name (`accounts.rs`
//! implements [`crate::accounts::AccountStore`], …; [`crate::PingStore`] here); [`state`],
//! [`facts`] and [`hot`] hold what ingest, incident commands and maintenance share to step
//! monitors, [`batch`] how ingest writes a batch's rows.

/// Run `$call` (a future using the pooled client `$c`) and let the pool see how it went.
macro_rules! pooled {
    ($store:expr, |$c:ident| $call:expr) => {{
        let mut $c = $store.pool.get().await?;
        let result = $call.await;
        $c.observe(&result);
        result
    }};
}

/// How a fold of raw results adds to the minute rollup rows that exist (both folds: row by
/// row in `uptime.rs`, a whole day in `retire.rs`).
macro_rules! minute_upsert {
    () => {
        "ON CONFLICT (tenant_id, monitor_id, minute_start, region) DO UPDATE SET \
         up = uptime_minute.up + EXCLUDED.up, degraded = uptime_minute.degraded + EXCLUDED.degraded, \
         down = uptime_minute.down + EXCLUDED.down, error = uptime_minute.error + EXCLUDED.error, \
         latency_count = uptime_minute.latency_count + EXCLUDED.latency_count, \
         latency_sum_ms = uptime_minute.latency_sum_ms + EXCLUDED.latency_sum_ms, \
         latency_min_ms = LEAST(uptime_minute.latency_min_ms, EXCLUDED.latency_min_ms), \
         latency_max_ms = GREATEST(uptime_minute.latency_max_ms, EXCLUDED.latency_max_ms) "
    };
}

mod accounts;
mod batch;
mod channels;
pub mod copy;
pub mod days;
mod deliveries;
mod facts;
mod hot;
/// A monitor's state partition (what ingest locks), for queues that split results alike.
pub use hot::{partition_of as state_partition_of, PARTITIONS as STATE_PARTITIONS};
mod incidents;
mod leases;
mod maintenance;
mod members;
mod monitors;
pub mod pool;
mod results;
mod retire;
pub mod schema;
mod settings;
mod state;
mod status_pages;
mod subscribers;
mod uptime;
mod visits;

use crate::{PingStore, StoreError, StoreResult};
use async_trait::async_trait;
use pool::Pool;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

/// One typed parameter of an unnamed statement.
type Param<'a> = (&'a (dyn ToSql + Sync), Type);

/// The PostgreSQL implementation of [`crate::Store`].
pub struct PgStore {
    pool: Pool,
    /// Parsed monitor drafts for ingest and incident commands (see [`facts`]).
    drafts: facts::DraftCache,
    /// The monitors this store's ingest stepped, in memory (see [`hot`]).
    hot: hot::HotCache,
}

impl PgStore {
    /// A store over the pooled `url` (e.g. PgBouncer) with at most `pool_size` connections.
    /// Opens one connection to check that the database answers and is migrated.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let config = pool::parse_url(url, "storage.postgres.url")?;
        let store = Self {
            pool: Pool::new(config, pool_size),
            drafts: facts::DraftCache::default(),
            hot: hot::HotCache::default(),
        };
        let client = store.pool.get().await?;
        let migrated = client
            .query_typed(
                "SELECT 1 FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = 'schema_migrations'",
                &[],
            )
            .await?;
        if migrated.is_empty() {
            return Err(StoreError::Internal(format!(
                "the database at {} has no NetPulse schema; run `netpulse migrate` \
                 (or set storage.postgres.migrate_on_start = true)",
                store.pool.target()
            )));
        }
        drop(client);
        Ok(store)
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        let Some(db) = e.as_db_error() else {
            // I/O, closed connection, protocol: the server or the pooler is unreachable.
            return if e.is_closed() || e.to_string().contains("error communicating") || is_io(&e) {
                StoreError::Unavailable(format!("PostgreSQL connection failed: {e}"))
            } else {
                StoreError::Internal(e.to_string())
            };
        };
        let code = db.code();
        let class = &code.code()[..2];
        if class == "08" // connection exception (PgBouncer reports its own failures here too)
            || class == "53" // insufficient resources, e.g. too many connections
            || class == "57" // operator intervention: shutdown, cannot connect now
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
        {
            StoreError::Unavailable(format!("PostgreSQL unavailable: {}", db.message()))
        } else if *code == SqlState::CHECK_VIOLATION && db.constraint().is_none() {
            // A partition constraint (a CHECK names its constraint): the row was routed to the
            // default partition just as its day's partition was attached. Sent again, it goes
            // there (see `days`).
            StoreError::Unavailable(format!("PostgreSQL: {} (its partition was just made)", db.message()))
        } else if *code == SqlState::UNIQUE_VIOLATION {
            StoreError::Conflict(format!("already exists ({})", db.constraint().unwrap_or("unique constraint")))
        } else if class == "22" || class == "23" {
            // Data exception (a value out of range, text the database encoding cannot hold…)
            // or an integrity violation other than the unique one above: permanent.
            StoreError::Invalid(format!("PostgreSQL error {}: {}", code.code(), db.message()))
        } else {
            StoreError::Internal(format!("PostgreSQL error {}: {}", code.code(), db.message()))
        }
    }
}

fn is_io(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

#[async_trait]
impl PingStore for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        pooled!(self, |c| async { Ok(c.query_typed("SELECT 1", &[]).await.map(drop)?) })
    }
}

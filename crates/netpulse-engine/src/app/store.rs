//! The store layer of an engine: the configured store opened (and, for PostgreSQL, migrated
//! when asked), then what a first start puts in it: the bootstrap organisation and its owner
//! token, the owner account from the environment, the demo organisation.

use crate::config::Config;
use anyhow::Context;
use netpulse_store::clock;
use netpulse_store::config::StorageBackend;
use netpulse_store::postgres::{self, PgStore};
use netpulse_store::sqlite::SqliteStore;
use netpulse_store::Store;
use std::sync::Arc;

/// The store with what a first start seeds; and the owner token, when it was generated at
/// this start or given in the config.
pub(super) async fn prepare(config: &Config) -> anyhow::Result<(Arc<dyn Store>, Option<String>)> {
    let store = open_store(config).await?;
    let admin_token = bootstrap(store.as_ref(), config).await?;
    if let (Some(email), Some(pass)) = (&config.admin_email, &config.admin_password) {
        netpulse_web::accounts::bootstrap_owner(store.as_ref(), email, pass.expose()).await?;
    }
    if config.accounts.demo {
        // After `bootstrap`, so the bootstrap organisation stays the oldest tenant.
        let seeded =
            netpulse_store::demo::seed::seed(store.as_ref(), &config.monitors.local_region, clock::now()).await;
        seeded.context("cannot seed the demo organisation (accounts.demo)")?;
    }
    Ok((store, admin_token))
}

/// The owner token: from config, or generated on first start and written to a 0600 file.
async fn bootstrap(store: &dyn Store, config: &Config) -> anyhow::Result<Option<String>> {
    let now = clock::now();
    if let Some(token) = &config.admin_token {
        let hash = clock::token_hash(token.expose());
        let (tenant, created) = store.bootstrap(&hash, now).await?;
        if !created {
            store.set_bootstrap_token(&tenant, &hash, now).await?;
        }
        return Ok(Some(token.expose().to_owned()));
    }
    let token = clock::secret_token("np_");
    let (_, created) = store.bootstrap(&clock::token_hash(&token), now).await?;
    if !created {
        return Ok(None);
    }
    netpulse_store::write_secret_file(&config.storage.data_dir.join("admin-token"), &token)?;
    Ok(Some(token))
}

/// Open the configured store; for PostgreSQL, migrate first when `migrate_on_start` is set.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let storage = &config.storage;
    match storage.backend {
        StorageBackend::Sqlite => Ok(Arc::new(open_sqlite(config)?)),
        StorageBackend::Postgres => {
            let pg = &storage.postgres;
            netpulse_store::create_private_dir(&storage.data_dir).context("storage.data_dir")?;
            if pg.migrate_on_start {
                postgres::schema::migrate(pg.migrate_url()).await.context("cannot migrate the PostgreSQL schema")?;
            }
            let store = PgStore::connect(pg.url.expose(), pg.pool_size)
                .await
                .context("cannot open the PostgreSQL store (storage.postgres.url)")?;
            Ok(Arc::new(store))
        }
    }
}

fn open_sqlite(config: &Config) -> anyhow::Result<SqliteStore> {
    let path = config.storage.database_path();
    SqliteStore::open(&path).with_context(|| format!("cannot open the database at {}", path.display()))
}

/// Bring the configured database's schema up to date (`netpulse migrate`); says which.
pub async fn migrate(config: &Config) -> anyhow::Result<String> {
    match config.storage.backend {
        StorageBackend::Sqlite => {
            open_sqlite(config)?;
            Ok(format!("database {} is up to date", config.storage.database_path().display()))
        }
        StorageBackend::Postgres => {
            let version = postgres::schema::migrate(config.storage.postgres.migrate_url()).await?;
            Ok(format!("PostgreSQL schema is up to date (version {version})"))
        }
    }
}

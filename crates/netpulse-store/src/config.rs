//! The `[storage]` section of the engine's configuration: which store holds the data and how
//! to reach it. It validates itself; the binary layers and loads it with the other sections.

use crate::secret::DatabaseUrl;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub backend: StorageBackend,
    pub data_dir: PathBuf,
    pub postgres: PostgresConfig,
}

/// Which store holds the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageBackend {
    /// The embedded SQLite file in `storage.data_dir`.
    Sqlite,
    /// PostgreSQL, normally through PgBouncer in transaction mode (`storage.postgres`).
    Postgres,
}

/// The PostgreSQL store: `url` is the pooled address the engine works through (PgBouncer),
/// `migrate_url` a direct one for migrations (empty = `url`).
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    pub url: DatabaseUrl,
    pub migrate_url: DatabaseUrl,
    pub pool_size: usize,
    pub migrate_on_start: bool,
}

impl PostgresConfig {
    /// The URL migrations use: `migrate_url`, or `url` when that is empty.
    pub fn migrate_url(&self) -> &str {
        if self.migrate_url.expose().is_empty() {
            self.url.expose()
        } else {
            self.migrate_url.expose()
        }
    }
}

impl StorageConfig {
    /// The embedded database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("netpulse.db")
    }

    /// The first key that is wrong, with what to write instead.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let pg = &self.postgres;
        if !(1..=1_000).contains(&pg.pool_size) {
            return Err(("storage.postgres.pool_size", "must be between 1 and 1000".into()));
        }
        let postgres_url = |key: &'static str, v: &str| match url::Url::parse(v) {
            Ok(u) if ["postgres", "postgresql"].contains(&u.scheme()) => Ok(()),
            _ => Err((key, "must be a URL like postgres://netpulse@127.0.0.1:6432/netpulse".to_owned())),
        };
        if self.backend == StorageBackend::Postgres && pg.url.expose().is_empty() {
            return Err((
                "storage.postgres.url",
                "storage.backend = \"postgres\" requires storage.postgres.url, \
                 e.g. postgres://netpulse@127.0.0.1:6432/netpulse (PgBouncer)"
                    .into(),
            ));
        }
        if !pg.url.expose().is_empty() {
            postgres_url("storage.postgres.url", pg.url.expose())?;
        }
        if !pg.migrate_url.expose().is_empty() {
            postgres_url("storage.postgres.migrate_url", pg.migrate_url.expose())?;
        }
        Ok(())
    }
}

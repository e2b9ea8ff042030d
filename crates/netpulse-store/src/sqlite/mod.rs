//! The embedded SQLite store: one file in WAL mode, one writer connection and a few readers
//! (a read takes the first free one), each call run on the blocking pool.
//!
//! Each area of the store port is implemented in its file of the same name (`accounts.rs`
//! implements [`crate::accounts::AccountStore`], …; [`crate::PingStore`] here); [`state`]
//! holds the stepping of a monitor that ingest, incident commands and maintenance share.

mod accounts;
mod channels;
mod deliveries;
mod incidents;
mod leases;
mod maintenance;
mod members;
mod monitors;
mod results;
mod schema;
mod settings;
mod state;
mod status_pages;
mod subscribers;
mod uptime;
mod visits;

use crate::{PingStore, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use tokio::sync::Notify;

const READERS: usize = 4;
/// Prepared statements the writer keeps: ingest alone prepares some twenty per batch and the
/// writer serves every other write too, so rusqlite's default of 16 re-prepared them.
const WRITER_STATEMENTS: usize = 64;
/// Page cache of each reader, in KiB (as a negative `cache_size`); the writer keeps SQLite's
/// default 2 MiB for ingest's hot pages. Readers serve pages and API calls whose pages the
/// OS caches anyway: 4 × 2 MiB of heap held for them was memory an idle engine kept.
const READER_CACHE_KIB: i64 = -512;

/// The SQLite implementation of [`crate::Store`].
pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: AtomicUsize,
    /// Notified after a write that queued a notice, saved a storm or set a timer
    /// ([`crate::ChannelStore::alert_work_written`]).
    alert_work: Arc<Notify>,
}

thread_local! {
    /// Set by a write (on the thread running it) that gave the alert dispatcher work.
    static ALERT_WORK: Cell<bool> = const { Cell::new(false) };
}

/// Mark the write running on this thread as giving the alert dispatcher work: once it
/// returns (committed, or rolled back: a spare wake-up), [`SqliteStore::alert_work`] is told.
fn alert_work_written() {
    ALERT_WORK.set(true);
}

/// Whether `table` holds row `id` of tenant `t` (after a conditional write wrote nothing:
/// missing, or at another version).
fn exists(c: &Connection, table: &str, t: &str, id: &str) -> rusqlite::Result<bool> {
    let sql = format!("SELECT 1 FROM {table} WHERE tenant_id = ?1 AND id = ?2");
    Ok(c.query_row(&sql, rusqlite::params![t, id], |_| Ok(())).optional()?.is_some())
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            rusqlite::Error::SqliteFailure(f, _) if is_permanent(f) => StoreError::Invalid(e.to_string()),
            rusqlite::Error::ToSqlConversionFailure(_) => StoreError::Invalid(e.to_string()),
            _ => StoreError::Internal(e.to_string()),
        }
    }
}

/// A failure the same write meets again however often it is retried: a constraint other than
/// a unique key (CHECK, NOT NULL, foreign key, a trigger's `RAISE(ABORT)`, a STRICT column's
/// type), a value over SQLite's size limits, a datatype mismatch.
fn is_permanent(f: &rusqlite::ffi::Error) -> bool {
    use rusqlite::ErrorCode::*;
    let unique = [rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE, rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY];
    match f.code {
        ConstraintViolation => !unique.contains(&f.extended_code),
        TooBig | TypeMismatch => true,
        _ => false,
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Internal(format!("stored JSON is unreadable: {e}"))
    }
}

fn open(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let c = Connection::open_with_flags(path, flags)?;
    c.busy_timeout(std::time::Duration::from_secs(5))?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "NORMAL")?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    Ok(c)
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path` and migrate it. A new directory is
    /// made 0700 and the database file 0600 (SQLite gives its `-wal` and `-shm` files the
    /// database file's mode): they hold channel secrets and monitor credentials.
    pub fn open(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::create_private_dir(dir).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        }
        make_private(path)?;
        let mut writer = open(path, OpenFlags::default())?;
        writer.set_prepared_statement_cache_capacity(WRITER_STATEMENTS);
        schema::migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let c = open(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
                c.pragma_update(None, "cache_size", READER_CACHE_KIB)?;
                Ok(Mutex::new(c))
            })
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(readers),
            next_reader: AtomicUsize::new(0),
            alert_work: Arc::new(Notify::new()),
        })
    }

    /// Copy every committed page from the WAL into the database file and empty the WAL, so
    /// that the `.db` file alone holds everything (a backup by copying it, a graceful stop).
    pub async fn checkpoint(&self) -> StoreResult<()> {
        self.write(|c| {
            let (busy, _, _): (i64, i64, i64) =
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            if busy != 0 {
                return Err(StoreError::Unavailable("the WAL checkpoint was blocked by a reader".into()));
            }
            Ok(())
        })
        .await
    }

    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let (w, alert_work) = (self.writer.clone(), self.alert_work.clone());
        tokio::task::spawn_blocking(move || {
            let mut c = w.lock().unwrap_or_else(|p| p.into_inner());
            ALERT_WORK.set(false);
            let done = f(&mut c);
            drop(c);
            if ALERT_WORK.replace(false) {
                alert_work.notify_one();
            }
            done
        })
        .await
        .map_err(|e| StoreError::Internal(format!("store task failed: {e}")))?
    }

    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % READERS;
        tokio::task::spawn_blocking(move || {
            let c = first_free(&readers, i);
            f(&c)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("store task failed: {e}")))?
    }
}

/// The first reader no other call holds, so that a quiet engine reads through one connection
/// and the others never fill a page cache or parse the schema; when all are busy, reader
/// `fallback` (the callers take turns) once it is free.
fn first_free(readers: &[Mutex<Connection>], fallback: usize) -> MutexGuard<'_, Connection> {
    for r in readers {
        match r.try_lock() {
            Ok(c) => return c,
            Err(TryLockError::Poisoned(p)) => return p.into_inner(),
            Err(TryLockError::WouldBlock) => {}
        }
    }
    readers[fallback].lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl PingStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?)).await
    }

    async fn flush(&self) -> StoreResult<()> {
        self.checkpoint().await
    }
}

/// Create the database file 0600 before SQLite does (it would make it 0644), and take the
/// group and other bits off one an older version left (and its `-wal` / `-shm` files).
fn make_private(path: &Path) -> StoreResult<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let cannot = |e: std::io::Error| StoreError::Unavailable(format!("cannot create {}: {e}", path.display()));
        std::fs::OpenOptions::new().append(true).create(true).mode(0o600).open(path).map_err(cannot)?;
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            let Ok(meta) = std::fs::metadata(&file) else { continue };
            if meta.permissions().mode() & 0o077 != 0 {
                if let Err(e) = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                    tracing::warn!(file = %file.display(), error = %e, "cannot make the database file private (0600)");
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

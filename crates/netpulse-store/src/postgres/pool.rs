//! A small bounded connection pool for the pooled (PgBouncer) URL: at most `size` clients,
//! handed out one at a time, dropped when their connection broke and reopened on demand.
//!
//! Safe behind PgBouncer in transaction mode only together with how the store uses it:
//! every statement is an unnamed one (`query_typed`/`execute_typed`), and work spanning
//! statements runs inside `client.transaction()`.

use crate::{StoreError, StoreResult};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, Config, NoTls};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the pool connects, for messages: `host:port/db`, never the password.
pub fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or("(default)"))
}

/// Parse a `postgres://` URL, naming the configuration key on failure.
pub fn parse_url(url: &str, key: &str) -> StoreResult<Config> {
    url.parse::<Config>().map_err(|e| StoreError::Internal(format!("{key} is not a valid PostgreSQL URL: {e}")))
}

/// Open one connection and drive it on a background task.
pub async fn connect(config: &Config) -> StoreResult<Client> {
    let attempt = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(NoTls)).await;
    let (client, connection) = match attempt {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => {
            return Err(StoreError::Unavailable(format!("cannot connect to PostgreSQL at {}: {e}", describe(config))))
        }
        Err(_) => {
            return Err(StoreError::Unavailable(format!(
                "cannot connect to PostgreSQL at {}: no answer within {}s",
                describe(config),
                CONNECT_TIMEOUT.as_secs()
            )))
        }
    };
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "PostgreSQL connection closed");
        }
    });
    Ok(client)
}

/// The pool: a semaphore bounds clients in use; idle ones wait in a stack.
pub struct Pool {
    config: Config,
    permits: Arc<Semaphore>,
    idle: Arc<Mutex<Vec<Client>>>,
}

/// A client on loan; it goes back to the pool on drop unless its connection closed.
pub struct PooledClient {
    client: Option<Client>,
    idle: Arc<Mutex<Vec<Client>>>,
    broken: bool,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    pub fn new(config: Config, size: usize) -> Self {
        Self { config, permits: Arc::new(Semaphore::new(size.max(1))), idle: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Where this pool connects (no password).
    pub fn target(&self) -> String {
        describe(&self.config)
    }

    /// Borrow a client, waiting while all are in use; opens a connection when none is idle.
    pub async fn get(&self) -> StoreResult<PooledClient> {
        let permit =
            self.permits.clone().acquire_owned().await.map_err(|_| StoreError::Internal("pool closed".into()))?;
        let reusable = loop {
            let next = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match next {
                Some(c) if c.is_closed() => continue,
                other => break other,
            }
        };
        let client = match reusable {
            Some(c) => c,
            None => connect(&self.config).await?,
        };
        Ok(PooledClient { client: Some(client), idle: self.idle.clone(), broken: false, _permit: permit })
    }
}

impl PooledClient {
    /// Look at the outcome of a call made with this client: after a connection-level
    /// failure it is not reused. (The server's "terminating connection" error can arrive
    /// before the connection task sees the socket close, so `is_closed` alone is too late.)
    ///
    /// Nor after a permanent data error ([`StoreError::Invalid`]): when that error ends a
    /// `COPY FROM STDIN` and its transaction is dropped, the next statement on this client
    /// through PgBouncer 1.18 (Debian 12's) in transaction mode sometimes waited forever —
    /// about once per 25 refused COPYs in a probe, never directly against PostgreSQL; likely
    /// PgBouncer's handling of late COPY messages (pgbouncer/pgbouncer#1470). Closing the
    /// client ends that server link (0 stuck in 450). Ingest's poison path meets such errors
    /// by design.
    pub fn observe<T>(&mut self, result: &StoreResult<T>) {
        self.broken |= matches!(result, Err(StoreError::Unavailable(_) | StoreError::Invalid(_)));
    }
}

impl Deref for PooledClient {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("present until drop")
    }
}

impl DerefMut for PooledClient {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("present until drop")
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        if let Some(c) = self.client.take().filter(|c| !self.broken && !c.is_closed()) {
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(c);
        }
    }
}

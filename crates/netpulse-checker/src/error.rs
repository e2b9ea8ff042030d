//! Why an outbound request failed, in words an operator acts on.
//!
//! [`HttpError`] is shared by the HTTP client and the TCP/TLS probes (they walk the same
//! resolve → guard → connect → handshake path). Its `Display` is what ends up in a check
//! result's `error`, and [`HttpError::is_retryable`] tells callers such as the webhook sender
//! whether trying again could help.

use crate::guard::Refused;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// An outbound request that did not produce a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("DNS lookup of {host} failed: {reason}")]
    Dns { host: String, reason: String },
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("could not connect to {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String },
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    #[error("timed out after {after_ms} ms while {phase}")]
    Timeout { phase: &'static str, after_ms: u64 },
    #[error("HTTP protocol error: {0}")]
    Protocol(String),
    #[error("gave up after {0} redirects")]
    TooManyRedirects(u8),
    #[error("invalid redirect: {0}")]
    InvalidRedirect(String),
}

impl HttpError {
    /// Whether the same request might succeed later (network trouble rather than a verdict).
    pub fn is_retryable(&self) -> bool {
        match self {
            HttpError::Dns { .. } | HttpError::Connect { .. } | HttpError::Timeout { .. } => true,
            HttpError::Protocol(_) => true,
            HttpError::Refused(_)
            | HttpError::Tls(_)
            | HttpError::TooManyRedirects(_)
            | HttpError::InvalidRedirect(_) => false,
        }
    }

    pub(crate) fn connect(addr: SocketAddr, err: &io::Error) -> Self {
        let reason = match err.kind() {
            io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
            io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
            _ => err.to_string(),
        };
        HttpError::Connect { addr, reason }
    }
}

/// The time budget of one request; every phase runs against the same deadline.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    start: tokio::time::Instant,
    budget: Duration,
}

impl Deadline {
    pub(crate) fn start(budget: Duration) -> Self {
        Self { start: tokio::time::Instant::now(), budget }
    }

    /// Run `fut`, failing with a timeout that names `phase` when the budget runs out.
    pub(crate) async fn run<F: std::future::Future>(
        &self,
        phase: &'static str,
        fut: F,
    ) -> Result<F::Output, HttpError> {
        let after_ms = u64::try_from(self.budget.as_millis()).unwrap_or(u64::MAX);
        tokio::time::timeout_at(self.start + self.budget, fut).await.map_err(|_| HttpError::Timeout { phase, after_ms })
    }

    /// When the budget runs out.
    pub(crate) fn end(&self) -> tokio::time::Instant {
        self.start + self.budget
    }

    /// Milliseconds since the request started.
    pub(crate) fn elapsed_ms(&self) -> u32 {
        millis(self.start.elapsed())
    }
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

//! Check results: what one probe of one monitor from one region observed.

use crate::ids::{MonitorId, ResultId, TenantId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The verdict of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The target answered as expected.
    Up,
    /// The target answered as expected but slower than the monitor's threshold.
    Degraded,
    /// The target did not answer as expected.
    Down,
    /// The check could not be carried out (refused by the SSRF guard, internal failure).
    Error,
}

impl Outcome {
    /// Whether this outcome counts against availability and toward an incident.
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Down | Outcome::Error)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Up => "up",
            Outcome::Degraded => "degraded",
            Outcome::Down => "down",
            Outcome::Error => "error",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "up" => Outcome::Up,
            "degraded" => Outcome::Degraded,
            "down" => Outcome::Down,
            "error" => Outcome::Error,
            _ => return None,
        })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a result came from. Only `Live` evidence counts toward public uptime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provenance {
    Live,
    Synthetic,
    Demo,
}

impl Provenance {
    pub fn as_str(self) -> &'static str {
        match self {
            Provenance::Live => "live",
            Provenance::Synthetic => "synthetic",
            Provenance::Demo => "demo",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "live" => Provenance::Live,
            "synthetic" => Provenance::Synthetic,
            "demo" => Provenance::Demo,
            _ => return None,
        })
    }
}

/// Latency breakdown of one check, in milliseconds; `None` where a phase did not happen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    pub dns_ms: Option<u32>,
    pub connect_ms: Option<u32>,
    pub tls_ms: Option<u32>,
    pub ttfb_ms: Option<u32>,
    pub total_ms: Option<u32>,
}

/// What a probe reports, before the caller stamps ids, times and provenance on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReport {
    pub outcome: Outcome,
    pub timings: Timings,
    pub status_code: Option<u16>,
    /// Why the check failed or is degraded, in words an operator understands.
    pub error: Option<String>,
    /// For TLS checks (and HTTPS): when the peer's leaf certificate expires.
    pub cert_expires_at: Option<Timestamp>,
}

impl ProbeReport {
    pub fn up(timings: Timings) -> Self {
        Self { outcome: Outcome::Up, timings, status_code: None, error: None, cert_expires_at: None }
    }
    pub fn failed(outcome: Outcome, error: impl Into<String>, timings: Timings) -> Self {
        Self { outcome, timings, status_code: None, error: Some(error.into()), cert_expires_at: None }
    }
}

/// One stored check result. `id` is unique: ingesting the same result twice stores it once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub id: ResultId,
    pub tenant_id: TenantId,
    pub monitor_id: MonitorId,
    pub region: String,
    pub worker: String,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub outcome: Outcome,
    pub timings: Timings,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub cert_expires_at: Option<Timestamp>,
    pub provenance: Provenance,
}

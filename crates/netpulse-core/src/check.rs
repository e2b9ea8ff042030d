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

impl Timings {
    /// The longest phase a result may report: one day. Every attempt of a check fits in its
    /// interval (at most a day), so anything longer is a broken clock or a broken worker, and
    /// it stays far below `i32::MAX` (about 24.8 days), the most the stores' int4 columns hold.
    pub const MAX_MS: u32 = 86_400_000;

    /// The first phase longer than [`Timings::MAX_MS`], as `(field, ms)`; `None` when all fit.
    pub fn implausible(&self) -> Option<(&'static str, u32)> {
        [
            ("dns_ms", self.dns_ms),
            ("connect_ms", self.connect_ms),
            ("tls_ms", self.tls_ms),
            ("ttfb_ms", self.ttfb_ms),
            ("total_ms", self.total_ms),
        ]
        .into_iter()
        .find_map(|(field, ms)| ms.filter(|ms| *ms > Self::MAX_MS).map(|ms| (field, ms)))
    }
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
    /// For TLS checks: who issued the peer's leaf certificate ("Let's Encrypt (R11)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_issuer: Option<String>,
}

impl ProbeReport {
    pub fn up(timings: Timings) -> Self {
        Self { outcome: Outcome::Up, timings, status_code: None, error: None, cert_expires_at: None, cert_issuer: None }
    }
    pub fn failed(outcome: Outcome, error: impl Into<String>, timings: Timings) -> Self {
        Self {
            outcome,
            timings,
            status_code: None,
            error: Some(error.into()),
            cert_expires_at: None,
            cert_issuer: None,
        }
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
    /// Who issued the certificate a TLS check saw (absent for other kinds and older results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_issuer: Option<String>,
    pub provenance: Provenance,
}

#[cfg(test)]
mod tests {
    use super::Timings;

    #[test]
    fn a_phase_longer_than_a_day_is_implausible_and_named() {
        let day = Timings { total_ms: Some(Timings::MAX_MS), ..Timings::default() };
        assert_eq!(day.implausible(), None);
        let wrapped = Timings { dns_ms: Some(3), tls_ms: Some(u32::MAX), total_ms: Some(Timings::MAX_MS + 1), ..day };
        assert_eq!(wrapped.implausible(), Some(("tls_ms", u32::MAX)));
    }
}

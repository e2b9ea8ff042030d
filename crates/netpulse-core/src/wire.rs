//! Types that cross a process boundary between a checker and the engine (today the
//! in-process queue; regional workers use the same types). Versioned: a peer speaking another
//! [`WIRE_VERSION`] is refused with a clear error instead of being misread.

use crate::check::{CheckResult, ProbeReport, Provenance};
use crate::ids::{MonitorId, ResultId, TenantId};
use crate::monitor::CheckSpec;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change to the types in this module.
pub const WIRE_VERSION: u16 = 1;

/// One check to run: sent by the scheduler to a checker of `region`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckJob {
    pub tenant_id: TenantId,
    pub monitor_id: MonitorId,
    pub region: String,
    pub spec: CheckSpec,
    pub timeout_ms: u32,
    pub retries: u8,
    /// The scheduled time of this check (not when it was dequeued).
    pub due_at: Timestamp,
    /// The gateway's receipt for this job when it came from a shared job stream: the worker
    /// returns it with the result ([`ResultEnvelope::job`]) so the job is done and is not
    /// handed to another worker. Absent for in-process jobs (and from older engines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<String>,
}

impl CheckJob {
    /// The result of running this job: what the probe reported, stamped with the id, the
    /// checker's identity and the times. Every checker (in-process or regional) builds its
    /// results here.
    pub fn result(
        &self,
        id: ResultId,
        worker: String,
        started: Timestamp,
        finished: Timestamp,
        report: ProbeReport,
    ) -> CheckResult {
        CheckResult {
            id,
            tenant_id: self.tenant_id.clone(),
            monitor_id: self.monitor_id.clone(),
            region: self.region.clone(),
            worker,
            started_at: started,
            finished_at: finished,
            outcome: report.outcome,
            timings: report.timings,
            status_code: report.status_code,
            error: report.error,
            cert_expires_at: report.cert_expires_at,
            cert_issuer: report.cert_issuer,
            provenance: Provenance::Live,
        }
    }
}

/// A result travelling from a checker to ingest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultEnvelope {
    pub version: u16,
    pub result: CheckResult,
    /// When the result left the checker (for check-to-dashboard latency).
    pub sent_at: Timestamp,
    /// The [`CheckJob::lease`] of the job this result answers, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
}

/// A peer spoke another wire version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("wire version mismatch: peer speaks v{peer}, this build speaks v{WIRE_VERSION}; upgrade the older side")]
pub struct VersionMismatch {
    pub peer: u16,
}

impl ResultEnvelope {
    pub fn new(result: CheckResult, sent_at: Timestamp) -> Self {
        Self { version: WIRE_VERSION, result, sent_at, job: None }
    }
    pub fn check_version(&self) -> Result<(), VersionMismatch> {
        if self.version == WIRE_VERSION {
            Ok(())
        } else {
            Err(VersionMismatch { peer: self.version })
        }
    }
}

/// HTTP header carrying the sender's [`WIRE_VERSION`] on every gateway request.
pub const WIRE_HEADER: &str = "x-netpulse-wire";

/// A worker asks for due checks (`POST /v1/lease`). It names no region: the gateway uses
/// the one in the worker's certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRequest {
    pub version: u16,
    /// Most jobs to hand out in this answer.
    pub max_jobs: u32,
    /// How long the gateway may hold the request open waiting for a first job.
    pub wait_ms: u32,
    /// Checks the worker is running right now (for worker health).
    pub in_flight: u32,
    /// The worker's build (`netpulse-worker 0.1.0`).
    pub agent: String,
}

/// Jobs for the worker's region, as the gateway sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseResponse {
    pub version: u16,
    /// Region and worker name read from the worker's certificate.
    pub region: String,
    pub worker: String,
    pub jobs: Vec<CheckJob>,
}

/// Results a worker delivers (`POST /v1/results`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultBatch {
    pub version: u16,
    pub results: Vec<ResultEnvelope>,
}

/// The gateway has taken every result of a batch (published it, or refused it for good):
/// the worker may forget them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultAck {
    pub version: u16,
    /// Results published.
    pub accepted: u32,
    /// Results refused for good, each with why (absent from older engines' answers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedResult>,
}

/// A result the gateway will never store; sending it again changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedResult {
    pub id: ResultId,
    /// `too_old` (started before the engine's raw-retention horizon), `unknown_monitor`
    /// (no such monitor checks from the worker's region) or `implausible_timing` (a timing
    /// longer than [`crate::check::Timings::MAX_MS`]).
    pub code: String,
    pub message: String,
}

/// Why the gateway refused a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    pub code: String,
    pub message: String,
}

/// The URI a worker certificate carries as its subject alternative name:
/// `netpulse://region/<region>/worker/<name>`.
pub fn worker_uri(region: &str, name: &str) -> String {
    format!("netpulse://region/{region}/worker/{name}")
}

/// `(region, name)` from a [`worker_uri`]; `None` for anything else.
pub fn parse_worker_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("netpulse://region/")?;
    let (region, name) = rest.split_once("/worker/")?;
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (ok(region) && ok(name)).then(|| (region.to_owned(), name.to_owned()))
}

/// A region or worker name fit for a certificate: 1–63 of `[a-z0-9_-]`.
pub fn valid_name(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_uri_round_trips_and_rejects_tricks() {
        assert_eq!(parse_worker_uri(&worker_uri("eu", "w1")), Some(("eu".into(), "w1".into())));
        assert_eq!(parse_worker_uri("netpulse://region/eu/worker/"), None);
        assert_eq!(parse_worker_uri("netpulse://region/e/u/worker/w"), None);
        assert_eq!(parse_worker_uri("https://region/eu/worker/w"), None);
        assert!(valid_name("eu-west_1") && !valid_name("EU") && !valid_name(""));
    }
}

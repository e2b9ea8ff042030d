//! Types that cross a process boundary between a checker and the engine (today the
//! in-process queue; regional workers use the same types). Versioned: a peer speaking another
//! [`WIRE_VERSION`] is refused with a clear error instead of being misread.

use crate::check::CheckResult;
use crate::ids::{MonitorId, TenantId};
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
}

/// A result travelling from a checker to ingest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultEnvelope {
    pub version: u16,
    pub result: CheckResult,
    /// When the result left the checker (for check-to-dashboard latency).
    pub sent_at: Timestamp,
}

/// A peer spoke another wire version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("wire version mismatch: peer speaks v{peer}, this build speaks v{WIRE_VERSION}; upgrade the older side")]
pub struct VersionMismatch {
    pub peer: u16,
}

impl ResultEnvelope {
    pub fn new(result: CheckResult, sent_at: Timestamp) -> Self {
        Self { version: WIRE_VERSION, result, sent_at }
    }
    pub fn check_version(&self) -> Result<(), VersionMismatch> {
        if self.version == WIRE_VERSION {
            Ok(())
        } else {
            Err(VersionMismatch { peer: self.version })
        }
    }
}

//! Check results: ingest (a batch of results with everything they move, in one
//! transaction), the results the database refuses for good ([`crate::quarantine`]), and the
//! raw results of a monitor, page by page.

use crate::error::StoreResult;
use crate::plan;
use crate::quarantine::QuarantinedResult;
use async_trait::async_trait;
use netpulse_core::{CheckResult, MonitorId, TenantId, Timestamp};

/// What one ingest call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub inserted: usize,
    pub duplicates: usize,
    pub notices: usize,
    /// The confirmation re-checks the state machine asked for.
    pub rechecks: Vec<plan::Recheck>,
    /// Health changes and incidents opened/reopened/resolved, for the live feed.
    pub changes: Vec<plan::LiveChange>,
}

/// A page of results, newest first; `next` continues after the last one.
#[derive(Clone, Debug)]
pub struct ResultsPage {
    pub results: Vec<CheckResult>,
    pub next: Option<String>,
}

/// Results in (ingest, quarantine) and out (a monitor's raw results).
#[async_trait]
pub trait ResultStore: Send + Sync {
    /// Store a batch of results and step their monitors: idempotent on result ids and atomic
    /// (a result, the monitor state it moves, the incident rows and the outbox rows of its
    /// notices commit together).
    async fn ingest(&self, batch: &[CheckResult], now: Timestamp) -> StoreResult<IngestReport>;
    /// Keep a result the database refused for good
    /// ([`StoreError::Invalid`](crate::error::StoreError::Invalid) from
    /// [`ResultStore::ingest`]); one already kept stays as it was.
    async fn quarantine(&self, q: &QuarantinedResult) -> StoreResult<()>;
    /// The kept results, newest first.
    async fn quarantined_results(&self, limit: usize) -> StoreResult<Vec<QuarantinedResult>>;
    /// `t`'s results of monitor `m` started in `[from, to)`, newest first, at most `limit`,
    /// continuing after the cursor `after` of the previous page.
    async fn list_results(
        &self,
        t: &TenantId,
        m: &MonitorId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
        after: Option<&str>,
    ) -> StoreResult<ResultsPage>;
}

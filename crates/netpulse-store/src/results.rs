//! Check results: ingest (a batch of results with everything they move, in one
//! transaction), the results the database refuses for good ([`crate::quarantine`]), and the
//! raw results of a monitor, page by page.

use crate::plan;
use netpulse_core::{CheckResult, MonitorId};

/// What one ingest call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub inserted: usize,
    pub duplicates: usize,
    pub notices: usize,
    /// Monitors whose first failure asks for an immediate confirmation re-check.
    pub rechecks: Vec<MonitorId>,
    /// Health changes and incidents opened/reopened/resolved, for the live feed.
    pub changes: Vec<plan::LiveChange>,
}

/// A page of results, newest first; `next` continues after the last one.
#[derive(Clone, Debug)]
pub struct ResultsPage {
    pub results: Vec<CheckResult>,
    pub next: Option<String>,
}

//! What one pass of a background loop did. Every loop (scheduler, ingest, alert dispatch,
//! retention, maintenance) is a thin wait around `try_run_once() -> Progress`: the loop only
//! decides how long to wait, and tests drive the pass directly instead of sleeping.

/// Whether a pass did any work.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    Idle,
    Progressed,
}

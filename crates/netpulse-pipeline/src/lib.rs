//! The NetPulse pipeline: everything that moves a check from its schedule to a page.
//!
//! [`scheduler`] dispatches due checks through the [`region_router`] to the
//! [`local_checker`] or, over the mTLS [`gateway`] (its certificates from [`ca`]), to regional
//! workers; results travel through the [`queue`] to [`ingest`], which stores them in batches
//! and steps the incident machine through the store; [`alerts`] delivers the notices ingest
//! queued, once per channel; [`maintenance`] and [`retention`] keep windows and history on
//! time; [`lease`]s keep work that must happen once on one node; the [`live`] bus (relayed
//! between nodes) tells dashboards what just happened; [`metrics`] counts it
//! all; the [`listener`] discipline (connection cap, idle watch) keeps the engine's listeners
//! available to slow clients. Every loop is a thin wait around `try_run_once() -> `[`progress::Progress`].

pub mod alerts;
pub mod ca;
pub mod gateway;
pub mod ingest;
pub mod lease;
pub mod listener;
pub mod live;
pub mod local_checker;
pub mod maintenance;
pub mod metrics;
pub mod progress;
pub mod queue;
pub mod region_router;
pub mod retention;
pub mod scheduler;

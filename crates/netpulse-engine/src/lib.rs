//! The NetPulse engine: configuration, the store (SQLite embedded), the in-process queue, the
//! scheduler, the local checker, ingest, alert delivery, the REST API and the dashboard.
//!
//! [`app::start`] builds a running engine from a [`config::Config`]; the `netpulse` binary
//! (`main.rs`) is a thin command line around it, and the integration tests start it the same
//! way on `127.0.0.1:0`.

pub mod app;
pub mod ca_cli;
pub mod config;
pub mod loadtest;
pub mod roles;
pub mod simulate;

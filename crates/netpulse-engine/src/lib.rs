//! The NetPulse engine binary's library: the composition root ([`app`]) that builds a running
//! node from the store, pipeline and web crates; the layered configuration ([`config`]) and
//! the [`roles`] a node runs; and the commands beside `serve`: the alert scenario simulator
//! ([`simulate`]), the benchmarks ([`loadtest`]), the worker CA ([`ca_cli`]) and monitors as
//! code ([`as_code`]: `plan`, `apply`, `export`, clients of the API).
//!
//! [`app::start`] builds a running engine from a [`config::Config`]; the `netpulse` binary
//! (`main.rs`) is a thin command line around it, and the integration tests start it the same
//! way on `127.0.0.1:0`.

pub mod app;
pub mod as_code;
pub mod ca_cli;
pub mod config;
pub mod loadtest;
pub mod roles;
pub mod simulate;

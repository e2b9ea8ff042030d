//! Integration tests of the engine: the real engine on 127.0.0.1, real HTTP targets and
//! webhook receivers, a fresh SQLite database per test.

mod accounts;
mod alerting;
mod api;
mod browser;
mod channels;
mod cluster;
mod dashboard;
mod faults;
mod harness;
mod heartbeat;
mod lifecycle;
mod queue;
mod simulate;
mod status_pages;
mod store;
mod workers;

//! Integration tests of the engine: the real engine on 127.0.0.1, real HTTP targets and
//! webhook receivers, a fresh SQLite database per test.

mod account_pages;
mod accounts;
mod alerting;
mod api;
mod browser;
mod channels;
mod cluster;
mod demo;
mod faults;
mod harness;
mod heartbeat;
mod lifecycle;
mod members;
mod queue;
mod recovery;
mod routes;
mod simulate;
mod status_pages;
mod store;
mod workers;

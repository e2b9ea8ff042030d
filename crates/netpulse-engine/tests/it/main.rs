//! Integration tests of the engine: the real engine on 127.0.0.1, real HTTP targets and
//! webhook receivers, a fresh database per test on the backends `NETPULSE_TEST_DB` and
//! `NETPULSE_TEST_QUEUE` choose (see [`harness`]). Tests that fix their backends say so in
//! their module comment: `store` (loops over all three), `queue`, `faults`, `cluster`, `fleet`,
//! `simulate` (SQLite under a virtual clock) and `workers::durable` (SQLite + in-process queue).

mod account_pages;
mod accounts;
mod alerting;
mod api;
mod as_code;
mod browser;
mod browser_pages;
mod browser_visitors;
mod channel_fields;
mod channels;
mod cluster;
mod conditional;
mod dashboard;
mod degraded;
mod deliveries;
mod demo;
mod demo_uptime;
mod error_shape;
mod escalation;
mod fanout;
mod faults;
pub(crate) mod fleet;
mod grpc;
mod harness;
mod heartbeat;
mod import;
mod leave;
mod lifecycle;
mod members;
mod metrics;
mod monitor_ranges;
mod openapi;
mod opsgenie;
mod ping;
mod poison;
mod push_channels;
mod queue;
mod real_visitors;
mod recovery;
mod retention;
mod routes;
mod security_headers;
mod signed_out_forms;
mod simulate;
mod slow_clients;
mod status_pages;
mod status_updates;
mod subscribers;
mod templated_webhook;

mod storm;
mod throttles;
mod trust;
mod websocket;
mod workers;

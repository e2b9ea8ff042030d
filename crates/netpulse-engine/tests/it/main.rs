//! Integration tests of the engine: the real engine on 127.0.0.1, real HTTP targets and
//! webhook receivers, a fresh SQLite database per test.

mod alerting;
mod api;
mod channels;
mod harness;
mod heartbeat;
mod lifecycle;
mod simulate;
mod store;

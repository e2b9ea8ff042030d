//! The NetPulse domain, pure.
//!
//! Everything here is data and functions over data: identifiers, monitor definitions, check
//! results, the scheduler's `next_due`, the incident state machine's `step`, uptime maths and
//! the versioned wire types that cross the worker ↔ engine boundary. This crate performs no
//! I/O, depends on no async runtime, database, HTTP or TLS crate, and never reads a clock:
//! time is always a parameter ([`Timestamp`]).

pub mod alert;
pub mod assertion;
pub mod check;
pub mod ids;
pub mod incident;
pub mod latency;
pub mod monitor;
pub mod redact;
pub mod retention;
pub mod rng;
pub mod schedule;
pub mod storm;
pub mod time;
pub mod uptime;
pub mod visits;
pub mod wire;

pub use check::{CheckResult, Outcome, Provenance, Timings};
pub use ids::{ChannelId, IncidentId, MonitorId, ResultId, TenantId, TokenId, UpdateId, UserId};
pub use monitor::{CheckSpec, Interval, MonitorDraft};
pub use time::Timestamp;

//! NetPulse's outbound side: the probes that check monitored targets (HTTP(S), TCP, DNS, TLS
//! certificate expiry, WebSocket, ICMP ping, gRPC health), the SSRF guard that keeps them off internal
//! addresses, and [`HttpClient`], the project's one HTTP client (also used for webhooks and
//! alerts).
//!
//! Every connection follows one path — resolve, SSRF check on the resolved address, TCP
//! connect, TLS handshake, HTTP/1.1 exchange — with each phase timed and bounded by the
//! caller's timeout. [`run_check`] turns a [`netpulse_core::CheckSpec`] into a
//! [`netpulse_core::check::ProbeReport`] and never fails: every problem becomes a report whose
//! `error` says what went wrong. TLS uses rustls with the `ring` provider only, configured per
//! client; no process-wide crypto provider is installed. The ping probe resolves and passes the
//! same guard, then sends ICMP echo (`icmp.rs`) over an unprivileged ping socket or, failing
//! that, a raw one. The gRPC probe walks the same path and speaks HTTP/2 (`h2.rs`) over it.

mod connect;
mod error;
mod exchange;
pub mod guard;
mod h2;
pub mod http;
mod icmp;
pub mod probe;
pub mod resolver;
mod tls;
pub mod worker;

pub use error::HttpError;
pub use guard::{CidrError, IpCidr, Refused, SsrfGuard};
pub use http::{HttpClient, HttpRequest, HttpResponse};
pub use probe::{run_check, ProbeContext};
pub use resolver::Resolver;

//! The TCP probe: resolve, pass the SSRF guard, and complete a TCP handshake in time.
//!
//! Up means the port accepted a connection; the connection is closed right away without
//! sending anything. Down carries the reason ("connection refused", a timeout, a DNS failure).

use super::{total_only, transport_failure, ProbeContext};
use crate::error::{millis, Deadline};
use netpulse_core::check::ProbeReport;
use netpulse_core::monitor::TcpSpec;
use std::time::{Duration, Instant};

pub(super) async fn probe(spec: &TcpSpec, timeout: Duration, ctx: &ProbeContext) -> ProbeReport {
    let started = Instant::now();
    let deadline = Deadline::start(timeout);
    match ctx.http.dialer().tcp(&spec.host, spec.port, &deadline).await {
        Ok(connection) => {
            let mut timings = connection.timings;
            timings.total_ms = Some(millis(started.elapsed()));
            ProbeReport::up(timings)
        }
        Err(err) => transport_failure(&err, total_only(millis(started.elapsed()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HttpClient, Resolver, SsrfGuard};
    use netpulse_core::Outcome;

    fn ctx(guard: SsrfGuard) -> ProbeContext {
        ProbeContext::new(HttpClient::new(guard, Resolver::from_system()))
    }

    #[tokio::test]
    async fn open_port_is_up_with_connect_timing() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let spec = TcpSpec { host: "127.0.0.1".into(), port: listener.local_addr().unwrap().port() };
        let report = probe(&spec, Duration::from_secs(2), &ctx(SsrfGuard::allow_all())).await;
        assert_eq!(report.outcome, Outcome::Up, "{report:?}");
        assert!(report.timings.connect_ms.is_some() && report.timings.dns_ms.is_none());
    }

    #[tokio::test]
    async fn guarded_address_is_an_error_not_down() {
        let spec = TcpSpec { host: "169.254.169.254".into(), port: 80 };
        let report = probe(&spec, Duration::from_secs(2), &ctx(SsrfGuard::strict(vec![]))).await;
        assert_eq!(report.outcome, Outcome::Error);
        assert!(report.error.unwrap().contains("refused to connect to 169.254.169.254: link-local"));
    }
}

//! The TLS probe: handshake with the host, read the leaf certificate's expiry, and judge the
//! certificate's validity and remaining lifetime.
//!
//! The handshake always completes when the peer speaks TLS — the verifier only records its
//! verdict — so an invalid certificate still reports when it expires.

use super::{total_only, transport_failure, ProbeContext};
use crate::error::{millis, Deadline};
use crate::tls::Alpn;
use netpulse_core::check::ProbeReport;
use netpulse_core::monitor::TlsSpec;
use netpulse_core::{Outcome, Timestamp};
use std::time::{Duration, Instant};

const DAY_MS: i64 = 86_400_000;

pub(super) async fn probe(spec: &TlsSpec, timeout: Duration, ctx: &ProbeContext, now: Timestamp) -> ProbeReport {
    let started = Instant::now();
    let deadline = Deadline::start(timeout);
    let dialer = ctx.http.dialer();
    let handshake = async {
        let tcp = dialer.tcp(&spec.host, spec.port, &deadline).await?;
        dialer.tls(tcp, &spec.host, false, Alpn::Http1, &deadline).await
    };
    let (connection, mut timings) = match handshake.await {
        Ok(done) => done,
        Err(err) => return transport_failure(&err, total_only(millis(started.elapsed()))),
    };
    timings.total_ms = Some(millis(started.elapsed()));
    let invalid = connection.verifier.failure().filter(|_| spec.verify_tls);
    let Some(expires_at) = connection.cert_expires_at else {
        return ProbeReport::failed(Outcome::Down, "the server presented no readable certificate", timings);
    };
    let mut report = match judge(spec, invalid, expires_at, now) {
        Ok(()) => ProbeReport::up(timings),
        Err(problem) => ProbeReport::failed(Outcome::Down, problem, timings),
    };
    report.cert_expires_at = Some(expires_at);
    report.cert_issuer = connection.cert_issuer;
    report
}

/// Expired first (the most actionable), then invalid, then expiring within `warn_days`.
fn judge(spec: &TlsSpec, invalid: Option<String>, expires_at: Timestamp, now: Timestamp) -> Result<(), String> {
    let left_ms = expires_at.since(now);
    // The date people read in an error text ("2026-12-24"), not an instant to the millisecond.
    let date = &expires_at.to_rfc3339()[..10];
    if left_ms <= 0 {
        let ago = (-left_ms) / DAY_MS;
        return Err(format!("certificate expired {ago} days ago ({date})"));
    }
    if let Some(reason) = invalid {
        return Err(format!("certificate invalid: {reason}"));
    }
    let days = left_ms / DAY_MS;
    if days < i64::from(spec.warn_days) {
        return Err(format!("certificate expires in {days} days ({date}), below the {}-day threshold", spec.warn_days));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(warn_days: u32) -> TlsSpec {
        TlsSpec { host: "example.com".into(), port: 443, warn_days, verify_tls: true }
    }

    #[test]
    fn judges_expiry_and_validity() {
        let now = Timestamp::from_secs(1_800_000_000);
        let in_days = |d: i64| now.plus_ms(d * DAY_MS + 1000);
        assert!(judge(&spec(14), None, in_days(30), now).is_ok());
        let soon = judge(&spec(14), None, in_days(3), now).unwrap_err();
        assert!(
            soon.starts_with("certificate expires in 3 days (") && soon.ends_with("below the 14-day threshold"),
            "{soon}"
        );
        let expired = judge(&spec(14), Some("certificate expired".into()), now.minus_ms(2 * DAY_MS), now).unwrap_err();
        assert!(expired.starts_with("certificate expired 2 days ago"), "{expired}");
        let bad =
            judge(&spec(14), Some("invalid peer certificate: UnknownIssuer".into()), in_days(30), now).unwrap_err();
        assert_eq!(bad, "certificate invalid: invalid peer certificate: UnknownIssuer");
    }
}

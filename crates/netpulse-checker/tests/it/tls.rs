//! TLS probes and HTTPS checks against a rustls server with rcgen certificates: valid,
//! untrusted, about to expire and expired.

use super::tls_server::{cert_expiring_in, spawn_https, TestCert};
use super::{http_spec, open_ctx, url};
use netpulse_checker::{run_check, HttpClient, HttpError, HttpRequest, ProbeContext, Resolver, SsrfGuard};
use netpulse_core::check::ProbeReport;
use netpulse_core::monitor::TlsSpec;
use netpulse_core::{CheckSpec, Outcome, Timestamp};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// A context whose client trusts `cert` as a root, as if it came from a real CA.
fn trusting(cert: &TestCert) -> ProbeContext {
    let client = HttpClient::new(SsrfGuard::allow_all(), Resolver::from_system());
    ProbeContext::new(client.with_extra_roots(std::slice::from_ref(&cert.der)).unwrap())
}

async fn tls_check(port: u16, verify_tls: bool, ctx: &ProbeContext) -> ProbeReport {
    let spec = TlsSpec { host: "localhost".into(), port, warn_days: 14, verify_tls };
    run_check(&CheckSpec::Tls(spec), 2 * SECOND, 0, ctx).await
}

#[tokio::test]
async fn valid_certificate_is_up_with_its_expiry() {
    let cert = cert_expiring_in(time::Duration::days(90));
    let port = spawn_https(&cert).await;
    let report = tls_check(port, true, &trusting(&cert)).await;
    assert_eq!((report.outcome, report.error.as_deref()), (Outcome::Up, None));
    assert_eq!(report.cert_expires_at, Some(Timestamp::from_secs(cert.not_after)));
    assert_eq!(report.cert_issuer.as_deref(), Some("rcgen self signed cert"), "a self-signed leaf names itself");
    let t = report.timings;
    assert!(t.dns_ms.is_some() && t.connect_ms.is_some() && t.tls_ms.is_some());
}

#[tokio::test]
async fn soon_expiring_certificate_is_down_with_days_left() {
    let cert = cert_expiring_in(time::Duration::days(3) + time::Duration::hours(1));
    let port = spawn_https(&cert).await;
    let report = tls_check(port, true, &trusting(&cert)).await;
    assert_eq!(report.outcome, Outcome::Down);
    let error = report.error.unwrap();
    assert!(error.starts_with("certificate expires in 3 days (20"), "{error}");
    // The expiry as a date people read (`2026-12-10`), not an instant to the millisecond.
    let date = error.split('(').nth(1).and_then(|d| d.split(')').next()).unwrap_or_default();
    assert!(date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-', "{error}");
    assert!(error.ends_with("), below the 14-day threshold"), "{error}");
}

#[tokio::test]
async fn expired_certificate_is_down_even_unverified() {
    let cert = cert_expiring_in(-(time::Duration::days(2) + time::Duration::hours(1)));
    let port = spawn_https(&cert).await;
    for verify in [true, false] {
        let report = tls_check(port, verify, &trusting(&cert)).await;
        assert_eq!(report.outcome, Outcome::Down);
        assert!(report.error.unwrap().starts_with("certificate expired 2 days ago"));
        assert_eq!(report.cert_expires_at, Some(Timestamp::from_secs(cert.not_after)));
    }
}

#[tokio::test]
async fn untrusted_certificate_is_invalid_unless_verification_is_off() {
    let cert = cert_expiring_in(time::Duration::days(90));
    let port = spawn_https(&cert).await;
    let report = tls_check(port, true, &open_ctx()).await;
    assert_eq!(report.outcome, Outcome::Down);
    let error = report.error.unwrap();
    assert!(error.starts_with("certificate invalid: ") && error.contains("UnknownIssuer"), "{error}");
    assert!(report.cert_expires_at.is_some(), "expiry is reported for invalid certificates too");
    assert_eq!(tls_check(port, false, &open_ctx()).await.outcome, Outcome::Up);
}

#[tokio::test]
async fn https_check_records_tls_timing_and_certificate() {
    let cert = cert_expiring_in(time::Duration::days(90));
    let port = spawn_https(&cert).await;
    let spec = CheckSpec::Http(http_spec(&format!("https://localhost:{port}/keyword")));
    let report = run_check(&spec, 2 * SECOND, 0, &trusting(&cert)).await;
    assert_eq!((report.outcome, report.status_code), (Outcome::Up, Some(200)), "{report:?}");
    assert!(report.timings.tls_ms.is_some());
    assert_eq!(report.cert_expires_at, Some(Timestamp::from_secs(cert.not_after)));
}

#[tokio::test]
async fn https_to_an_untrusted_certificate_fails_unless_verification_is_off() {
    let cert = cert_expiring_in(time::Duration::days(90));
    let port = spawn_https(&cert).await;
    let mut spec = http_spec(&format!("https://127.0.0.1:{port}/ok"));
    let report = run_check(&CheckSpec::Http(spec.clone()), 2 * SECOND, 0, &open_ctx()).await;
    assert_eq!(report.outcome, Outcome::Down);
    assert!(report.error.unwrap().starts_with("TLS handshake failed: invalid peer certificate: UnknownIssuer"));
    spec.verify_tls = false;
    let report = run_check(&CheckSpec::Http(spec), 2 * SECOND, 0, &open_ctx()).await;
    assert_eq!(report.outcome, Outcome::Up);
    assert!(report.cert_expires_at.is_some());
}

#[tokio::test]
async fn https_to_an_expired_certificate_says_so() {
    let cert = cert_expiring_in(-time::Duration::days(1));
    let port = spawn_https(&cert).await;
    let client = trusting(&cert).http;
    let err = client.send(HttpRequest::get(url(&format!("https://localhost:{port}/ok")), SECOND)).await.unwrap_err();
    assert_eq!(err, HttpError::Tls("certificate expired".into()));
    assert!(!err.is_retryable());
    assert_eq!(err.to_string(), "TLS handshake failed: certificate expired");
}

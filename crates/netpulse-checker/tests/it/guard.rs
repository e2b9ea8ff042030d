//! The SSRF guard in action: strict mode refuses internal targets, before connecting and on
//! every redirect hop, unless the allow list opens them.

use super::{http_spec, site, url};
use netpulse_checker::{run_check, HttpClient, HttpError, HttpRequest, IpCidr, ProbeContext, Resolver, SsrfGuard};
use netpulse_core::{CheckSpec, Outcome};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

fn strict(allow: &[&str]) -> ProbeContext {
    let allow = allow.iter().map(|c| c.parse::<IpCidr>().unwrap()).collect();
    ProbeContext::new(HttpClient::new(SsrfGuard::strict(allow), Resolver::from_system()))
}

async fn http_check(target: &str, ctx: &ProbeContext) -> netpulse_core::check::ProbeReport {
    run_check(&CheckSpec::Http(http_spec(target)), SECOND, 1, ctx).await
}

#[tokio::test]
async fn strict_guard_refuses_loopback_as_an_error() {
    let base = site::spawn().await;
    let report = http_check(&format!("{base}/ok"), &strict(&[])).await;
    assert_eq!(report.outcome, Outcome::Error, "refusal is not the target's fault");
    assert_eq!(
        report.error.as_deref(),
        Some("refused to connect to 127.0.0.1: loopback address (SSRF guard; allow it with ssrf.allow in the config)")
    );
    assert_eq!(report.status_code, None);
}

#[tokio::test]
async fn strict_guard_refuses_the_metadata_endpoint_without_connecting() {
    let ctx = strict(&["127.0.0.1/32"]);
    let err =
        ctx.http.send(HttpRequest::get(url("http://169.254.169.254/latest/meta-data/"), SECOND)).await.unwrap_err();
    assert!(matches!(err, HttpError::Refused(_)) && !err.is_retryable());
    assert!(err.to_string().contains("169.254.169.254: link-local"), "{err}");
    let report = http_check("http://[::ffff:169.254.169.254]/", &ctx).await;
    assert_eq!(report.outcome, Outcome::Error, "{report:?}");
}

#[tokio::test]
async fn allow_list_opens_an_address() {
    let base = site::spawn().await;
    let report = http_check(&format!("{base}/ok"), &strict(&["127.0.0.1/32"])).await;
    assert_eq!((report.outcome, report.status_code), (Outcome::Up, Some(200)));
    let report = http_check(&format!("{base}/ok"), &strict(&["10.0.0.0/8"])).await;
    assert_eq!(report.outcome, Outcome::Error);
}

#[tokio::test]
async fn redirect_to_a_refused_address_is_refused() {
    let (allowed, forbidden) = (site::spawn_on("127.0.0.2").await, site::spawn().await);
    let target = format!("{allowed}/redirect-to?url={forbidden}/ok");
    let ctx = strict(&["127.0.0.2/32"]);
    let report = http_check(&format!("{allowed}/ok"), &ctx).await;
    assert_eq!(report.outcome, Outcome::Up, "the allowed address itself works: {report:?}");
    let report = http_check(&target, &ctx).await;
    assert_eq!(report.outcome, Outcome::Error);
    assert!(report.error.unwrap().starts_with("refused to connect to 127.0.0.1: loopback"));
    let report = http_check(&target, &strict(&["127.0.0.0/8"])).await;
    assert_eq!(report.outcome, Outcome::Up);
}

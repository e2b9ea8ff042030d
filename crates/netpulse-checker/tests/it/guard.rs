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

/// `ip` as a URL or `host:port` host (IPv6 in brackets).
fn host_of(ip: std::net::IpAddr) -> String {
    if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

#[tokio::test]
async fn every_special_purpose_range_is_refused_by_every_probe_kind_and_every_channel_post() {
    use netpulse_checker::guard::BLOCKED_EXAMPLES;
    use netpulse_core::monitor::{DnsRecordType, DnsSpec, TcpSpec, TlsSpec};
    let ctx = strict(&[]);
    for (text, class) in BLOCKED_EXAMPLES {
        let ip: std::net::IpAddr = text.parse().unwrap();
        let host = host_of(ip);
        let specs = [
            ("http", CheckSpec::Http(http_spec(&format!("http://{host}:8080/health")))),
            ("tcp", CheckSpec::Tcp(TcpSpec { host: host.clone(), port: 5432 })),
            ("tls", CheckSpec::Tls(TlsSpec { host: host.clone(), port: 443, warn_days: 14, verify_tls: true })),
            (
                "dns",
                CheckSpec::Dns(DnsSpec {
                    name: "example.com".into(),
                    record_type: DnsRecordType::A,
                    expected: None,
                    resolver: Some(std::net::SocketAddr::new(ip, 53)),
                }),
            ),
        ];
        for (kind, spec) in specs {
            let report = run_check(&spec, SECOND, 0, &ctx).await;
            let error = report.error.clone().unwrap_or_default();
            assert_eq!(report.outcome, Outcome::Error, "{kind} {text}: {report:?}");
            assert!(
                error.starts_with("refused to connect to ") && error.contains(class.describe()),
                "{kind} {text}: {error}"
            );
        }
        // What every HTTP channel kind (webhook, Slack, Discord, Teams, PagerDuty) sends: a POST.
        let mut post = HttpRequest::new(http::Method::POST, url(&format!("https://{host}/hook")), SECOND);
        post.body = Some("{}".into());
        let err = ctx.http.send(post).await.unwrap_err();
        assert!(matches!(&err, HttpError::Refused(r) if r.class == *class), "channel POST to {text}: {err}");
    }
}

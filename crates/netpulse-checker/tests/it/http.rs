//! HTTP probes and the HTTP client against the plain-HTTP test site.

use super::{closed_port, http_spec, open_ctx, site, url};
use bytes::Bytes;
use http::Method;
use netpulse_checker::{run_check, HttpError, HttpRequest};
use netpulse_core::monitor::StatusSet;
use netpulse_core::{CheckSpec, Outcome};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

async fn probe(spec: netpulse_core::monitor::HttpSpec) -> netpulse_core::check::ProbeReport {
    run_check(&CheckSpec::Http(spec), 2 * SECOND, 0, &open_ctx()).await
}

#[tokio::test]
async fn healthy_site_is_up_with_status_and_timings() {
    let base = site::spawn().await;
    let report = probe(http_spec(&format!("{base}/ok"))).await;
    assert_eq!((report.outcome, report.status_code, report.error.as_deref()), (Outcome::Up, Some(200), None));
    let t = report.timings;
    assert!(t.dns_ms.is_none(), "an IP literal needs no DNS");
    assert!(t.connect_ms.is_some() && t.ttfb_ms.is_some() && t.tls_ms.is_none());
    assert!(t.total_ms >= t.ttfb_ms);
}

#[tokio::test]
async fn localhost_resolves_and_times_dns() {
    let base = site::spawn().await.replace("127.0.0.1", "localhost");
    let report = probe(http_spec(&format!("{base}/ok"))).await;
    assert_eq!(report.outcome, Outcome::Up, "{report:?}");
    assert!(report.timings.dns_ms.is_some());
}

#[tokio::test]
async fn unexpected_status_is_down_and_says_which() {
    let base = site::spawn().await;
    let report = probe(http_spec(&format!("{base}/status/503"))).await;
    assert_eq!(report.outcome, Outcome::Down);
    assert_eq!(report.status_code, Some(503));
    assert_eq!(report.error.as_deref(), Some("expected status 200-399, got 503"));

    let mut spec = http_spec(&format!("{base}/status/503"));
    spec.expected_status = StatusSet::parse("500-599").unwrap();
    assert_eq!(probe(spec).await.outcome, Outcome::Up);
}

#[tokio::test]
async fn keywords_decide_up_or_down() {
    let base = site::spawn().await;
    let mut spec = http_spec(&format!("{base}/keyword"));
    spec.keyword = Some("operational".into());
    assert_eq!(probe(spec.clone()).await.outcome, Outcome::Up);

    spec.keyword = Some("maintenance".into());
    let report = probe(spec.clone()).await;
    assert_eq!(report.outcome, Outcome::Down);
    assert_eq!(report.error.as_deref(), Some("keyword \"maintenance\" not found in response body"));

    spec.keyword = None;
    spec.keyword_absent = Some("systems".into());
    let report = probe(spec).await;
    assert_eq!(report.outcome, Outcome::Down);
    assert!(report.error.unwrap().contains("\"systems\" found"));
}

#[tokio::test]
async fn assertions_on_json_headers_and_size_decide_up_or_down_and_name_the_failing_one() {
    let base = site::spawn().await;
    let mut spec = http_spec(&format!("{base}/health.json"));
    let conditions = [
        r#"$.status == "ok""#,
        "$.checks.length > 0",
        "$.checks[0].latency_ms < 100",
        r#"header.content-type contains "json""#,
        "header.x-api-version >= 3",
        "size < 1024",
    ];
    spec.assertions = conditions.iter().map(|c| serde_json::from_value(c.to_string().into()).unwrap()).collect();
    let report = probe(spec.clone()).await;
    assert_eq!((report.outcome, report.error.as_deref()), (Outcome::Up, None));

    spec.assertions.push(serde_json::from_value(r#"$.checks[0].name == "cache""#.into()).unwrap());
    let report = probe(spec.clone()).await;
    assert_eq!(report.outcome, Outcome::Down);
    assert_eq!(report.error.as_deref(), Some(r#"`$.checks[0].name == "cache"` failed: got "db""#));

    let mut plain = http_spec(&format!("{base}/keyword"));
    plain.assertions = vec![serde_json::from_value(r#"$.status == "ok""#.into()).unwrap()];
    let error = probe(plain).await.error.unwrap();
    assert!(error.contains("not JSON"), "{error}");
}

#[tokio::test]
async fn slow_response_is_degraded_with_the_threshold() {
    let base = site::spawn().await;
    let mut spec = http_spec(&format!("{base}/slow?ms=150"));
    spec.degraded_after_ms = Some(50);
    let report = probe(spec).await;
    assert_eq!(report.outcome, Outcome::Degraded);
    let error = report.error.unwrap();
    assert!(error.starts_with("slow: ") && error.ends_with(" ms > 50 ms threshold"), "{error}");
}

#[tokio::test]
async fn hanging_response_times_out_naming_the_phase() {
    let base = site::spawn().await;
    let spec = CheckSpec::Http(http_spec(&format!("{base}/slow?ms=10000")));
    let report = run_check(&spec, Duration::from_millis(300), 0, &open_ctx()).await;
    assert_eq!(report.outcome, Outcome::Down);
    assert_eq!(report.error.as_deref(), Some("timed out after 300 ms while waiting for the response"));
}

#[tokio::test]
async fn closed_port_is_down_with_connection_refused() {
    let spec = http_spec(&format!("http://127.0.0.1:{}/", closed_port().await));
    let report = probe(spec).await;
    assert_eq!(report.outcome, Outcome::Down);
    assert!(report.error.as_deref().unwrap().ends_with(": connection refused"), "{report:?}");

    let tcp =
        serde_json::from_value(serde_json::json!({"kind": "tcp", "host": "127.0.0.1", "port": closed_port().await}));
    let report = run_check(&tcp.unwrap(), SECOND, 0, &open_ctx()).await;
    assert_eq!(report.outcome, Outcome::Down);
    assert!(report.error.unwrap().contains("connection refused"));
}

#[tokio::test]
async fn retries_ride_out_a_transient_failure() {
    let base = site::spawn().await;
    let spec = CheckSpec::Http(http_spec(&format!("{base}/flaky")));
    let once = run_check(&spec, SECOND, 1, &open_ctx()).await;
    assert_eq!(once.outcome, Outcome::Down, "two 503s, one retry: still down");
    let base = site::spawn().await;
    let spec = CheckSpec::Http(http_spec(&format!("{base}/flaky")));
    assert_eq!(run_check(&spec, SECOND, 2, &open_ctx()).await.outcome, Outcome::Up);
}

#[tokio::test]
async fn redirect_chains_are_followed_or_reported() {
    let base = site::spawn().await;
    let client = open_ctx().http;
    let response = client.send(HttpRequest::get(url(&format!("{base}/redirect/3")), SECOND)).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.final_url.path(), "/redirect/0");
    assert_eq!(response.body, Bytes::from_static(b"arrived"));

    let mut not_followed = HttpRequest::get(url(&format!("{base}/redirect/3")), SECOND);
    not_followed.follow_redirects = false;
    let response = client.send(not_followed).await.unwrap();
    assert_eq!((response.status, response.headers["location"].to_str().unwrap()), (303, "/redirect/2"));

    let err = client.send(HttpRequest::get(url(&format!("{base}/loop")), SECOND)).await.unwrap_err();
    assert_eq!(err, HttpError::TooManyRedirects(10));
    assert_eq!(err.to_string(), "gave up after 10 redirects");
}

async fn echo(base: &str, path: &str, method: Method, headers: &[(&str, &str)]) -> serde_json::Value {
    let mut req = HttpRequest::new(method, url(&format!("{base}{path}")), SECOND);
    req.body = Some(Bytes::from_static(b"payload"));
    req.headers = headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    let response = open_ctx().http.send(req).await.unwrap();
    serde_json::from_slice(&response.body).unwrap()
}

#[tokio::test]
async fn requests_carry_host_user_agent_and_body() {
    let base = site::spawn().await;
    let seen = echo(&base, "/echo", Method::POST, &[]).await;
    assert_eq!(seen["host"], base.trim_start_matches("http://"));
    assert!(seen["user_agent"].as_str().unwrap().starts_with("NetPulse/"));
    assert_eq!((seen["method"].as_str(), seen["body"].as_str()), (Some("POST"), Some("payload")));

    let seen = echo(&base, "/echo", Method::PUT, &[("User-Agent", "custom/1")]).await;
    assert_eq!(seen["user_agent"], "custom/1");

    let seen = echo(&base, "/echo", Method::GET, &[("host", "status.example")]).await;
    assert_eq!(seen["host"], "status.example", "a caller's Host is sent for virtual hosts");
}

#[tokio::test]
async fn credentials_do_not_follow_a_redirect_to_another_origin() {
    let (first, other) = (site::spawn().await, site::spawn().await);
    let path = format!("/redirect-to?url={other}/echo");
    let seen = echo(&first, &path, Method::GET, &[("Authorization", "Bearer t")]).await;
    assert_eq!(seen["host"], other.trim_start_matches("http://"));
    assert!(seen["authorization"].is_null(), "{seen}");
}

#[tokio::test]
async fn see_other_becomes_get_but_307_keeps_method_and_body() {
    let base = site::spawn().await;
    let seen = echo(&base, "/see-other", Method::POST, &[]).await;
    assert_eq!((seen["method"].as_str(), seen["body"].as_str()), (Some("GET"), Some("")));
    let seen = echo(&base, "/temporary", Method::POST, &[("Authorization", "Bearer t")]).await;
    assert_eq!((seen["method"].as_str(), seen["body"].as_str()), (Some("POST"), Some("payload")));
    assert_eq!(seen["authorization"], "Bearer t", "same-origin redirects keep credentials");
}

#[tokio::test]
async fn long_bodies_are_truncated_at_the_limit() {
    let base = site::spawn().await;
    let mut req = HttpRequest::get(url(&format!("{base}/big")), 2 * SECOND);
    req.max_body_bytes = 1000;
    let response = open_ctx().http.send(req).await.unwrap();
    assert_eq!((response.body.len(), response.body_truncated), (1000, true));

    let response = open_ctx().http.send(HttpRequest::get(url(&format!("{base}/ok")), SECOND)).await.unwrap();
    assert!(!response.body_truncated);
}

#[tokio::test]
async fn connect_errors_are_retryable() {
    let target = url(&format!("http://127.0.0.1:{}/", closed_port().await));
    let err = open_ctx().http.send(HttpRequest::get(target, SECOND)).await.unwrap_err();
    assert!(matches!(err, HttpError::Connect { .. }) && err.is_retryable(), "{err}");
}

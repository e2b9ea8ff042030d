//! The HTTP(S) probe: one request through [`HttpClient`](crate::HttpClient), judged against the
//! monitor's expected status, keywords, response assertions and slowness threshold.

use super::{total_only, transport_failure, ProbeContext};
use crate::error::millis;
use crate::http::{HttpRequest, HttpResponse};
use bytes::Bytes;
use http::Method;
use netpulse_core::assertion::{self, ResponseView};
use netpulse_core::check::ProbeReport;
use netpulse_core::monitor::HttpSpec;
use netpulse_core::Outcome;
use std::time::{Duration, Instant};

/// Bodies are read up to this size for keyword checks and assertions.
const MAX_BODY: usize = 1024 * 1024;

pub(super) async fn probe(spec: &HttpSpec, timeout: Duration, ctx: &ProbeContext) -> ProbeReport {
    let started = Instant::now();
    let request = match request_for(spec, timeout) {
        Ok(r) => r,
        Err(e) => return ProbeReport::failed(Outcome::Error, e, Default::default()),
    };
    match ctx.http.send(request).await {
        Ok(response) => judge(spec, &response),
        Err(err) => transport_failure(&err, total_only(millis(started.elapsed()))),
    }
}

fn request_for(spec: &HttpSpec, timeout: Duration) -> Result<HttpRequest, String> {
    let method =
        Method::from_bytes(spec.method.as_bytes()).map_err(|_| format!("`{}` is not an HTTP method", spec.method))?;
    let mut req = HttpRequest::new(method, spec.url.as_url().clone(), timeout);
    req.headers = spec.headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect();
    req.body = spec.body.clone().map(Bytes::from);
    req.follow_redirects = spec.follow_redirects;
    req.verify_tls = spec.verify_tls;
    req.max_body_bytes = MAX_BODY;
    Ok(req)
}

/// The verdict on a response that arrived.
fn judge(spec: &HttpSpec, response: &HttpResponse) -> ProbeReport {
    let (outcome, error) = match verdict(spec, response) {
        Err(problem) => (Outcome::Down, Some(problem)),
        Ok(()) => slowness(spec, response),
    };
    ProbeReport {
        outcome,
        timings: response.timings,
        status_code: Some(response.status),
        error,
        cert_expires_at: response.cert_expires_at,
        cert_issuer: None,
    }
}

fn verdict(spec: &HttpSpec, response: &HttpResponse) -> Result<(), String> {
    if !spec.expected_status.contains(response.status) {
        return Err(format!("expected status {}, got {}", spec.expected_status, response.status));
    }
    let body = String::from_utf8_lossy(&response.body);
    if let Some(keyword) = spec.keyword.as_deref().filter(|k| !body.contains(k)) {
        return Err(format!("keyword \"{keyword}\" not found in response body{}", truncation_note(response)));
    }
    if let Some(keyword) = spec.keyword_absent.as_deref().filter(|k| body.contains(k)) {
        return Err(format!("keyword \"{keyword}\" found in response body but must be absent"));
    }
    assertion::judge_all(&spec.assertions, response).map_err(|e| format!("{e}{}", truncation_note(response)))
}

impl ResponseView for HttpResponse {
    fn status(&self) -> u16 {
        self.status
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn body(&self) -> &[u8] {
        &self.body
    }
}

fn truncation_note(response: &HttpResponse) -> &'static str {
    if response.body_truncated {
        " (only the first 1 MiB was searched)"
    } else {
        ""
    }
}

fn slowness(spec: &HttpSpec, response: &HttpResponse) -> (Outcome, Option<String>) {
    super::slowness(response.timings.total_ms, spec.degraded_after_ms)
}

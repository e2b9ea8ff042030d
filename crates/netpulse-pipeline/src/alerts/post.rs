//! One JSON `POST` through the SSRF-guarded client, and what its answer means for retrying.
//!
//! Shared by every HTTP channel (webhook, Slack, Discord, Teams, PagerDuty): any 2xx is
//! delivered (PagerDuty answers 202, Discord 204); 408, 425, 429 and 5xx are transient and
//! honour `Retry-After`; other statuses are permanent; network failures are transient when
//! the client says they are retryable (DNS, connect, timeouts). Redirects are not followed
//! (a receiver that moved must be reconfigured), and only a little of the answer is read.

use super::Attempt;
use netpulse_checker::http::{HttpClient, HttpRequest, HttpResponse};
use netpulse_checker::HttpError;
use netpulse_store::clock;
use std::time::Duration;

/// `POST body` to `url` with `headers` (a JSON content type is added) and classify the answer.
pub async fn post_json(
    http: &HttpClient,
    url: &str,
    mut headers: Vec<(String, String)>,
    body: String,
    timeout: Duration,
) -> Attempt {
    let Ok(url) = url::Url::parse(url) else {
        return Attempt::Permanent { error: format!("channel URL `{url}` is not valid"), status: None };
    };
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        headers.insert(0, ("content-type".into(), "application/json".into()));
    }
    let mut req = HttpRequest::new(http::Method::POST, url, timeout);
    req.headers = headers;
    req.body = Some(bytes::Bytes::from(body));
    req.follow_redirects = false;
    req.max_body_bytes = 4096;
    classify(http.send(req).await)
}

/// What an HTTP answer (or its absence) means for this attempt.
pub fn classify(result: Result<HttpResponse, HttpError>) -> Attempt {
    match result {
        Ok(resp) if (200..300).contains(&resp.status) => Attempt::Delivered { status: resp.status },
        Ok(resp) => {
            let detail = answer_detail(&resp.body);
            let error = match detail {
                Some(d) => format!("receiver answered HTTP {}: {d}", resp.status),
                None => format!("receiver answered HTTP {}", resp.status),
            };
            if is_transient_status(resp.status) {
                let retry_after_ms = resp
                    .headers
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| super::parse_retry_after(v, clock::now()));
                Attempt::Transient { error, retry_after_ms, status: Some(resp.status) }
            } else {
                Attempt::Permanent { error, status: Some(resp.status) }
            }
        }
        Err(e) if e.is_retryable() => Attempt::Transient { error: e.to_string(), retry_after_ms: None, status: None },
        Err(e) => Attempt::Permanent { error: e.to_string(), status: None },
    }
}

/// 408 Request Timeout, 425 Too Early, 429 Too Many Requests and every 5xx.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429) || status >= 500
}

/// The first 200 printable characters of an error answer (Slack says `invalid_token`,
/// PagerDuty names the invalid field), so the delivery log says why.
fn answer_detail(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = super::message::one_line(text.trim());
    (!text.is_empty()).then(|| super::message::truncate(&text, 200))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_split_into_transient_and_permanent() {
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert!(is_transient_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 410, 413, 422] {
            assert!(!is_transient_status(s), "{s}");
        }
    }

    #[test]
    fn error_answers_are_summarised_on_one_line() {
        assert_eq!(answer_detail(b"  invalid_token\n"), Some("invalid_token".into()));
        assert_eq!(answer_detail(b""), None);
        assert_eq!(answer_detail(&[b'x'; 500]).map(|s| s.chars().count()), Some(200));
    }
}

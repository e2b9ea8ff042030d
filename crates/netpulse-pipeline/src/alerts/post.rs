//! One HTTP request through the SSRF-guarded client, and what its answer means for retrying.
//!
//! Shared by every HTTP channel: each renders an [`Outbound`] request (most a JSON `POST`;
//! Matrix a `PUT`, Pushover a form) and [`send`] carries it. Any 2xx is delivered (PagerDuty
//! and Opsgenie answer 202, Discord 204); 408, 425, 429 and 5xx are transient and honour
//! `Retry-After` — or, without that header, the delay the answer's JSON asks for (Telegram's
//! `parameters.retry_after` seconds, Matrix's `retry_after_ms`); other statuses are permanent;
//! network failures are transient when the client says they are retryable (DNS, connect,
//! timeouts). Redirects are not followed (a receiver that moved must be reconfigured), and
//! only a little of the answer is read.

use super::Attempt;
use netpulse_checker::http::{HttpClient, HttpRequest, HttpResponse};
use netpulse_checker::HttpError;
use netpulse_store::clock;
use std::time::Duration;

/// One request a channel sends: method, URL, headers and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    pub method: http::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Outbound {
    /// A `POST` of a JSON `body` (the content type is added unless `headers` set one).
    pub fn json(url: impl Into<String>, mut headers: Vec<(String, String)>, body: String) -> Self {
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            headers.insert(0, ("content-type".into(), "application/json".into()));
        }
        Outbound { method: http::Method::POST, url: url.into(), headers, body }
    }

    /// A `POST` of an `application/x-www-form-urlencoded` `body`.
    pub fn form(url: impl Into<String>, body: String) -> Self {
        let headers = vec![("content-type".into(), "application/x-www-form-urlencoded".into())];
        Outbound { method: http::Method::POST, url: url.into(), headers, body }
    }
}

/// Send `out` and classify the answer. The URL is never quoted in the error: some channels
/// carry their credential in it (Telegram's bot token).
pub async fn send(http: &HttpClient, out: Outbound, timeout: Duration) -> Attempt {
    let Ok(url) = url::Url::parse(&out.url) else {
        return Attempt::Permanent { error: "the channel's URL is not valid".into(), status: None };
    };
    let mut req = HttpRequest::new(out.method, url, timeout);
    req.headers = out.headers;
    req.body = Some(bytes::Bytes::from(out.body));
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
                    .and_then(|v| super::parse_retry_after(v, clock::now()))
                    .or_else(|| retry_hint(&resp.body));
                Attempt::Transient { error, retry_after_ms, status: Some(resp.status) }
            } else {
                Attempt::Permanent { error, status: Some(resp.status) }
            }
        }
        Err(e) if e.is_retryable() => Attempt::Transient { error: e.to_string(), retry_after_ms: None, status: None },
        Err(e) => Attempt::Permanent { error: e.to_string(), status: None },
    }
}

/// The delay a JSON error answer asks for: Telegram's `parameters.retry_after` (seconds) or
/// Matrix's `retry_after_ms`.
fn retry_hint(body: &[u8]) -> Option<i64> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let telegram = v["parameters"]["retry_after"].as_i64().map(|s| s.max(0) * 1000);
    telegram.or_else(|| v["retry_after_ms"].as_i64().map(|ms| ms.max(0)))
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
    fn json_answers_can_ask_for_a_delay() {
        assert_eq!(retry_hint(br#"{"ok":false,"error_code":429,"parameters":{"retry_after":7}}"#), Some(7_000));
        assert_eq!(retry_hint(br#"{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":1500}"#), Some(1_500));
        assert_eq!(retry_hint(b"busy"), None);
    }

    #[test]
    fn error_answers_are_summarised_on_one_line() {
        assert_eq!(answer_detail(b"  invalid_token\n"), Some("invalid_token".into()));
        assert_eq!(answer_detail(b""), None);
        assert_eq!(answer_detail(&[b'x'; 500]).map(|s| s.chars().count()), Some(200));
    }
}

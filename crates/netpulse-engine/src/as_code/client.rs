//! The CLI's client of the public API: one JSON request at a time with a bearer token,
//! over the project's own HTTP client (hyper + rustls, [`netpulse_checker::HttpClient`]),
//! each bounded in time and size. An API error (`{"error":{"code","message","field"?}}`)
//! becomes an [`ApiFailure`] that says what was asked and what the engine answered.

use netpulse_checker::{HttpClient, HttpRequest, Resolver, SsrfGuard};
use serde_json::Value;
use std::time::Duration;

/// One API call may take this long (connect, send, the whole answer).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read (a list of 10,000 monitors is ~10 MiB).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// The engine's API at `base` (e.g. `https://netpulse.example.com`), as `token`'s holder.
pub struct ApiClient {
    base: url::Url,
    token: String,
    http: HttpClient,
}

/// A call that failed: the request, and the engine's status and error (or why there was no answer).
#[derive(Debug, thiserror::Error)]
#[error("{method} {path}: {message}")]
pub struct ApiFailure {
    pub method: String,
    pub path: String,
    /// The HTTP status, when the engine answered.
    pub status: Option<u16>,
    pub message: String,
}

impl ApiClient {
    /// A client for the engine at `base` (http or https); `Err` names the flag to fix.
    pub fn new(base: &str, token: &str) -> Result<Self, String> {
        let base = url::Url::parse(base.trim_end_matches('/'))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                format!("--url `{base}` is not the engine's address; give e.g. https://netpulse.example.com")
            })?;
        if token.trim().is_empty() {
            return Err("--token is empty; give an API token (or set NETPULSE_TOKEN)".into());
        }
        // The operator names the engine: any address is allowed, private ones included.
        let http = HttpClient::new(SsrfGuard::allow_all(), Resolver::from_system());
        Ok(Self { base, token: token.trim().to_owned(), http })
    }

    pub async fn get(&self, path: &str) -> Result<Value, ApiFailure> {
        self.call("GET", path, None).await
    }

    /// Send `method path` with an optional JSON body; the answer's JSON (`Null` when empty).
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, ApiFailure> {
        let fail = |status: Option<u16>, message: String| ApiFailure {
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            message,
        };
        let url = self.base.join(path).map_err(|e| fail(None, format!("bad path: {e}")))?;
        let mut req = HttpRequest::new(method.parse().expect("a known method"), url, CALL_TIMEOUT);
        req.follow_redirects = false;
        req.max_body_bytes = MAX_ANSWER;
        req.headers.push(("authorization".into(), format!("Bearer {}", self.token)));
        req.headers.push(("accept".into(), "application/json".into()));
        if let Some(b) = body {
            req.headers.push(("content-type".into(), "application/json".into()));
            req.body = Some(b.to_string().into());
        }
        let resp = self.http.send(req).await.map_err(|e| fail(None, format!("the engine did not answer: {e}")))?;
        if resp.body_truncated {
            return Err(fail(Some(resp.status), format!("the answer is over {} MiB", MAX_ANSWER >> 20)));
        }
        let json: Value =
            if resp.body.is_empty() { Value::Null } else { serde_json::from_slice(&resp.body).unwrap_or(Value::Null) };
        if (200..300).contains(&resp.status) {
            return Ok(json);
        }
        Err(fail(Some(resp.status), describe(resp.status, &json)))
    }
}

/// The engine's error as a sentence: status, code, field and message, and what a 401/403 means here.
fn describe(status: u16, json: &Value) -> String {
    let e = &json["error"];
    let message = e["message"].as_str().unwrap_or("no error message");
    let field = e["field"].as_str().map(|f| format!(" (field `{f}`)")).unwrap_or_default();
    let hint = match status {
        401 => "; the token is not valid here: check --token / NETPULSE_TOKEN",
        403 => "; this token may not change that: use a token with write access (an admin's for channels and alerting defaults)",
        _ => "",
    };
    format!("{status} {}{field}: {message}{hint}", e["code"].as_str().unwrap_or("error"))
}

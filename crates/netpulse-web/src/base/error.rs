//! The one API error shape, `{"error": {"code", "message", "field"?}}`, and the single place
//! where typed errors become HTTP status codes. [`one_shape`] holds the API to it for the
//! answers no handler wrote (the router's 405, an extractor's rejection).

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use netpulse_core::monitor::FieldError;
use netpulse_store::StoreError;
use serde_json::json;

/// An error answered by the API.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds to send as `Retry-After` (rate limits, a busy server).
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None, retry_after: None }
    }
    /// `429 rate_limited`: `what` was asked too often; try again after `retry_after_s`.
    pub fn rate_limited(what: &str, retry_after_s: u32) -> Self {
        let message = format!("too many {what}; wait a little and try again");
        Self { retry_after: Some(retry_after_s), ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message) }
    }
    /// `503 busy`: the server has as much of this work in hand as it takes on at once.
    pub fn busy(what: &str, retry_after_s: u32) -> Self {
        let message = format!("the server is busy {what}; try again in a few seconds");
        Self { retry_after: Some(retry_after_s), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message) }
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "validation_failed",
            message: format!("{field}: {message}"),
            field: Some(field),
            retry_after: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "send an API token as `Authorization: Bearer <token>`")
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::invalid(e.field, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "store unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; try again shortly",
                )
            }
            StoreError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Invalid(m) => {
                tracing::warn!(error = %m, "the database refused a value");
                Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    "the database cannot store a value of this request; see the server log",
                )
            }
            StoreError::Internal(m) => {
                tracing::error!(error = %m, "store error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "code": self.code, "message": self.message });
        if let Some(f) = self.field {
            body["field"] = json!(f);
        }
        let mut r = (self.status, Json(json!({ "error": body }))).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(s));
        }
        r
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The API's last word on errors: an error answer that is not JSON (one the framework wrote:
/// a method the route does not have, a rejection by an extractor) is rewritten into the one
/// shape, with its status, a code for the status and the framework's text as the message;
/// `Allow` and `Retry-After` are kept.
pub async fn one_shape(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let r = next.run(req).await;
    let status = r.status();
    let json = r.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
    if json || !(status.is_client_error() || status.is_server_error()) {
        return r;
    }
    let (parts, body) = r.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024).await.map(|b| String::from_utf8_lossy(&b).trim().to_owned());
    let allow = parts.headers.get(header::ALLOW).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let message = match text {
        _ if status == StatusCode::METHOD_NOT_ALLOWED && !allow.is_empty() => {
            format!("{method} is not allowed on {path}; the methods it has: {allow}")
        }
        _ if status == StatusCode::METHOD_NOT_ALLOWED => {
            format!("{method} is not allowed on {path}; /api/v1/openapi.json lists the methods it has")
        }
        Ok(t) if !t.is_empty() => t,
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let mut out = ApiError::new(status, code_of(status), message).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// The error code of a status the framework answered with.
fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        422 => "validation_failed",
        429 => "rate_limited",
        431 => "headers_too_large",
        503 => "unavailable",
        500.. => "internal",
        _ => "bad_request",
    }
}

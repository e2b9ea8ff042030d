//! Reading requests: JSON bodies parsed into a value first, so that every error, whether
//! malformed JSON, a missing field, a wrong type or an unknown key, names the field in our
//! one error shape instead of a framework's plain-text rejection; query strings
//! ([`QueryParams`]) and path ids ([`PathParam`]) likewise; a body over the limit is
//! `413 payload_too_large`.

use super::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// A JSON object body.
pub struct JsonBody(pub serde_json::Map<String, serde_json::Value>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::new(
                http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = bytes::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::bad_request(format!("cannot read body: {e}"))
            }
        })?;
        match serde_json::from_slice(&bytes) {
            Ok(serde_json::Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(ApiError::bad_request("the body must be a JSON object")),
            Err(e) => Err(ApiError::bad_request(format!("malformed JSON: {e}"))),
        }
    }
}

/// The largest request body read (axum's default limit).
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// `413 payload_too_large`.
pub fn too_large() -> ApiError {
    let message = format!("the body is larger than {} MiB", MAX_BODY / (1024 * 1024));
    ApiError::new(http::StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
}

/// Deserialize `value` into `T`, naming the failing field (prefixed with `prefix`).
pub fn parse_field<T: DeserializeOwned>(prefix: &str, value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| field_error(prefix, e, "body"))
}

/// A deserialization error as `422 validation_failed` naming its field (`whole` when the
/// error is about the input as a whole).
fn field_error<E: std::fmt::Display>(prefix: &str, e: serde_path_to_error::Error<E>, whole: &str) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner().to_string();
    let field = match (prefix, path.as_str()) {
        (p, ".") => missing_field(&inner).map_or_else(|| p.to_owned(), |m| join(p, &m)),
        (p, path) => join(p, path),
    };
    let field = if field.is_empty() { whole.to_owned() } else { field };
    ApiError::invalid(field, inner)
}

/// A query string parsed into `T`; a bad parameter is `422 validation_failed` naming it.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(pairs).map(Self).map_err(|e| field_error("", e, "query"))
    }
}

/// A path segment such as an id, as text. One that is not UTF-8 names nothing here:
/// `404 not_found`, like an id of the wrong shape ([`path_id`]).
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(p)) => Ok(Self(p)),
            Err(e) => {
                tracing::debug!(error = %e, "path parameter refused");
                Err(ApiError::new(http::StatusCode::NOT_FOUND, "not_found", "nothing here: the path's id is not valid"))
            }
        }
    }
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (_, true) => prefix.to_owned(),
        _ => format!("{prefix}.{path}"),
    }
}

/// serde says "missing field `x`" at the parent's path; report the field itself.
fn missing_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

/// Parse a path id, answering 404 (not 400) for ids of the wrong shape: an id is either
/// one of yours or it does not exist.
pub fn path_id<T>(
    s: &str,
    parse: fn(&str) -> Result<T, netpulse_core::ids::IdError>,
    what: &str,
) -> Result<T, ApiError> {
    parse(s).map_err(|_| ApiError::not_found(what))
}

/// The longest request target (path and query) answered; longer is `414 uri_too_long`.
pub const MAX_URI: usize = 8 * 1024;
/// The most request headers answered; more is `431 headers_too_large`.
pub const MAX_HEADERS: usize = 100;
/// The most bytes of request headers (names and values) answered; more is `431`.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Refuse a request whose target or headers are over the limits above, in the one error
/// shape (the HTTP server's own limits, far above these, answer without a body).
pub async fn refuse_oversized(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI {
        let message = format!("the request target is {target} bytes long; at most {MAX_URI} are read");
        return ApiError::new(http::StatusCode::URI_TOO_LONG, "uri_too_long", message).into_response();
    }
    let headers = req.headers();
    let bytes: usize = headers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        let message = format!(
            "{} headers of {bytes} bytes; at most {MAX_HEADERS} headers of {MAX_HEADER_BYTES} bytes are read",
            headers.len()
        );
        let status = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
        return ApiError::new(status, "headers_too_large", message).into_response();
    }
    next.run(req).await
}

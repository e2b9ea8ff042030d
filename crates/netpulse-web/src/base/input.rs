//! Reading request bodies: JSON parsed into a value first, so that every error, whether
//! malformed JSON, a missing field, a wrong type or an unknown key, names the field in our
//! one error shape instead of a framework's plain-text rejection.

use super::error::ApiError;
use axum::extract::{FromRequest, Request};
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
        let bytes = bytes::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("cannot read body: {e}")))?;
        match serde_json::from_slice(&bytes) {
            Ok(serde_json::Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(ApiError::bad_request("the body must be a JSON object")),
            Err(e) => Err(ApiError::bad_request(format!("malformed JSON: {e}"))),
        }
    }
}

/// Deserialize `value` into `T`, naming the failing field (prefixed with `prefix`).
pub fn parse_field<T: DeserializeOwned>(prefix: &str, value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let field = match (prefix, path.as_str()) {
            (p, ".") => missing_field(&inner).map_or_else(|| p.to_owned(), |m| join(p, &m)),
            (p, path) => join(p, path),
        };
        let field = if field.is_empty() { "body".to_owned() } else { field };
        ApiError::invalid(field, inner)
    })
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

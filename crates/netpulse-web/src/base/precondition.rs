//! Changes without lost writes, for every object the API versions (monitors, channels,
//! status pages, maintenance windows): the `ETag` their answers carry (the version, its
//! `updated_at` in ms, which every change moves on), the `If-Match` a write is held to, and
//! the `412 precondition_failed` of a write that found another version. The check and the
//! write are one step in the store (`*_if` methods answering [`Conditional`]), so of two
//! tools that read the same version, one writes and the other is told.

use super::{ApiError, ApiResult};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use netpulse_core::Timestamp;
use netpulse_store::Conditional;
use std::future::Future;

/// An object's entity tag: its version in ms, quoted (a strong tag).
pub fn etag(version: Timestamp) -> String {
    format!("\"{}\"", version.millis())
}

/// The `ETag` header of an answer carrying the object at `version`.
pub fn etag_header(version: Timestamp) -> [(HeaderName, String); 1] {
    [(header::ETAG, etag(version))]
}

/// A request's `If-Match` tags (repeated headers are one list, RFC 9110); none without the header.
#[derive(Clone, Debug, Default)]
pub struct IfMatch(Vec<String>);

impl IfMatch {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let tags = headers
            .get_all(header::IF_MATCH)
            .iter()
            .flat_map(|value| value.to_str().unwrap_or("").split(','))
            .map(|tag| tag.trim().to_owned())
            .collect();
        IfMatch(tags)
    }

    /// The version the write is held to, given the object's `current` one: `None` without
    /// the header (or with `*`: the object exists); `current` when one of the tags is its
    /// ETag (strong comparison: a weak `W/` tag never matches); else a version no object
    /// has, so the write, once the body is validated, changes nothing and answers `412`
    /// naming the current ETag (a request bad whatever its preconditions gets its own error).
    pub fn expected(&self, current: Timestamp) -> Option<Timestamp> {
        if self.0.is_empty() {
            return None;
        }
        if self.0.iter().any(|t| *t == etag(current)) {
            return Some(current);
        }
        if self.0.iter().any(|t| t == "*") {
            return None;
        }
        Some(Timestamp::from_millis(i64::MIN))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(IfMatch::from_headers(&parts.headers))
    }
}

/// The `412` of a write held to a version the `noun` (`"monitor"`, `"channel"`, …) no longer has.
pub fn changed(noun: &str, current: Timestamp) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
        format!(
            "the {noun} changed since it was read (its ETag is {} now), so nothing was written: \
             read it again, apply your change to what it is now, and send that ETag",
            etag(current)
        ),
    )
}

/// A conditional write's outcome as the API answers it: written; `404` for a missing `noun`;
/// `412` naming the version `current` reads now (`404` if it went meanwhile).
pub async fn judge<F>(outcome: Conditional, noun: &'static str, current: F) -> ApiResult<()>
where
    F: Future<Output = ApiResult<Timestamp>>,
{
    match outcome {
        Conditional::Updated => Ok(()),
        Conditional::Missing => Err(ApiError::not_found(noun)),
        Conditional::Changed => Err(changed(noun, current.await?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn if_match(values: &[&str]) -> IfMatch {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::IF_MATCH, v.parse().unwrap());
        }
        IfMatch::from_headers(&h)
    }

    #[test]
    fn if_match_holds_a_write_to_the_version_it_names() {
        let now = Timestamp::from_millis(42);
        let nowhere = Some(Timestamp::from_millis(i64::MIN));
        assert_eq!(if_match(&[]).expected(now), None);
        assert_eq!(if_match(&["\"42\""]).expected(now), Some(now));
        assert_eq!(if_match(&["\"41\", \"42\""]).expected(now), Some(now));
        assert_eq!(if_match(&["\"41\"", "\"42\""]).expected(now), Some(now), "repeated headers are one list");
        assert_eq!(if_match(&["*"]).expected(now), None);
        assert_eq!(if_match(&["W/\"42\""]).expected(now), nowhere, "weak tags never match");
        assert_eq!(if_match(&["\"41\""]).expected(now), nowhere);
        assert_eq!(if_match(&[""]).expected(now), nowhere, "an empty If-Match matches nothing");
    }
}

//! [`HttpClient`]: the project's one outbound HTTP client, used by HTTP probes and by the
//! engine's webhook and alert senders.
//!
//! One fresh connection per request (no pool), every phase timed, the SSRF guard applied to
//! each resolved address of each redirect hop, and the whole request — redirects included —
//! bounded by one timeout. Bodies are read up to a limit and truncated silently beyond it.

use crate::connect::Dialer;
use crate::error::{Deadline, HttpError};
use crate::exchange::{send_once, HopResponse};
use crate::guard::SsrfGuard;
use crate::resolver::Resolver;
use crate::tls::TlsTrust;
use bytes::Bytes;
use http::{HeaderMap, Method};
use netpulse_core::{Timestamp, Timings};
use rustls::pki_types::CertificateDer;
use std::time::Duration;
use url::Url;

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: u8 = 10;

/// One request to send.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
    /// Budget for the whole request, redirects included.
    pub timeout: Duration,
    /// Follow up to [`MAX_REDIRECTS`] redirects (301/302/303 become GET without a body).
    pub follow_redirects: bool,
    pub verify_tls: bool,
    /// Read at most this many body bytes; the rest is dropped and `body_truncated` set.
    pub max_body_bytes: usize,
}

impl HttpRequest {
    /// Default body limit: 1 MiB.
    pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

    /// A request with the defaults: no headers or body, follow redirects, verify TLS, 1 MiB.
    pub fn new(method: Method, url: Url, timeout: Duration) -> Self {
        Self {
            method,
            url,
            headers: Vec::new(),
            body: None,
            timeout,
            follow_redirects: true,
            verify_tls: true,
            max_body_bytes: Self::DEFAULT_MAX_BODY,
        }
    }

    /// A GET with the defaults of [`HttpRequest::new`].
    pub fn get(url: Url, timeout: Duration) -> Self {
        Self::new(Method::GET, url, timeout)
    }
}

/// The final response after any redirects.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub body_truncated: bool,
    /// dns/connect/tls/ttfb of the final hop; `total_ms` covers the whole request.
    pub timings: Timings,
    pub final_url: Url,
    /// Expiry of the final hop's leaf certificate (HTTPS only).
    pub cert_expires_at: Option<Timestamp>,
}

/// A cheap-to-clone HTTP client.
#[derive(Clone, Debug)]
pub struct HttpClient {
    dialer: Dialer,
}

impl HttpClient {
    /// A client trusting the Mozilla root certificates.
    pub fn new(guard: SsrfGuard, resolver: Resolver) -> Self {
        let trust = TlsTrust::new(&[]).expect("the bundled Mozilla root store is valid and not empty");
        Self { dialer: Dialer { resolver, guard, trust } }
    }

    /// The same client, additionally trusting `roots` (e.g. a private CA, or a test's).
    pub fn with_extra_roots(mut self, roots: &[CertificateDer<'static>]) -> Result<Self, String> {
        self.dialer.trust = TlsTrust::new(roots)?;
        Ok(self)
    }

    pub fn guard(&self) -> &SsrfGuard {
        &self.dialer.guard
    }

    pub fn resolver(&self) -> &Resolver {
        &self.dialer.resolver
    }

    pub(crate) fn dialer(&self) -> &Dialer {
        &self.dialer
    }

    /// Send `req`, following redirects if asked, within `req.timeout`.
    pub async fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let deadline = Deadline::start(req.timeout);
        let mut current = req;
        let mut redirects = 0u8;
        loop {
            let hop = send_once(&self.dialer, &current, &deadline).await?;
            let Some(next) = redirect(&current, &hop)? else {
                return Ok(finish(hop, current.url, &deadline));
            };
            if redirects == MAX_REDIRECTS {
                return Err(HttpError::TooManyRedirects(MAX_REDIRECTS));
            }
            redirects += 1;
            tracing::debug!(from = %current.url, to = %next.url, "following redirect");
            current = next;
        }
    }
}

fn finish(hop: HopResponse, final_url: Url, deadline: &Deadline) -> HttpResponse {
    let mut timings = hop.timings;
    timings.total_ms = Some(deadline.elapsed_ms());
    HttpResponse {
        status: hop.status,
        headers: hop.headers,
        body: hop.body,
        body_truncated: hop.body_truncated,
        timings,
        final_url,
        cert_expires_at: hop.cert_expires_at,
    }
}

/// The request for the next hop, or `None` when `hop` is the final response.
fn redirect(req: &HttpRequest, hop: &HopResponse) -> Result<Option<HttpRequest>, HttpError> {
    if !req.follow_redirects || !matches!(hop.status, 301 | 302 | 303 | 307 | 308) {
        return Ok(None);
    }
    let Some(location) = hop.headers.get(http::header::LOCATION) else {
        return Ok(None);
    };
    let location =
        location.to_str().map_err(|_| HttpError::InvalidRedirect("the Location header is not valid text".into()))?;
    let url = req
        .url
        .join(location)
        .map_err(|e| HttpError::InvalidRedirect(format!("`{location}` is not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(HttpError::InvalidRedirect(format!("`{url}` is not an http:// or https:// URL")));
    }
    let mut next = req.clone();
    if matches!(hop.status, 301..=303) && req.method != Method::HEAD {
        next.method = Method::GET;
        next.body = None;
        next.headers.retain(|(n, _)| !n.to_ascii_lowercase().starts_with("content-"));
    }
    if url.origin() != req.url.origin() {
        next.headers.retain(|(n, _)| !is_origin_bound(n));
    }
    next.url = url;
    Ok(Some(next))
}

/// Headers not forwarded to another origin: credentials and a caller-set `Host`.
fn is_origin_bound(name: &str) -> bool {
    ["authorization", "cookie", "proxy-authorization", "host"].iter().any(|c| name.eq_ignore_ascii_case(c))
}

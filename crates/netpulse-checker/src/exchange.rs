//! One HTTP/1.1 request/response over one fresh connection (one redirect hop).
//!
//! Connects through the [`Dialer`](crate::connect::Dialer), hands the stream to hyper's
//! connection-level client, measures time to first byte (request sent → response head) and
//! reads at most `max_body_bytes` of the body, flagging when it stopped early. The connection
//! is driven inside the exchange's own task ([`Driven`]), not a task of its own: one request
//! per connection needs no second task, and a check then costs one task wake-up per event.

use crate::connect::Dialer;
use crate::error::{millis, Deadline, HttpError};
use crate::http::HttpRequest;
use crate::tls::Alpn;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, USER_AGENT};
use http::HeaderMap;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use netpulse_core::{Timestamp, Timings};
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};

pub(crate) const USER_AGENT_VALUE: &str = concat!("NetPulse/", env!("CARGO_PKG_VERSION"));

/// What one hop produced.
pub(crate) struct HopResponse {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) body_truncated: bool,
    pub(crate) timings: Timings,
    pub(crate) cert_expires_at: Option<Timestamp>,
}

/// Send `req` once (no redirects) within `deadline`.
pub(crate) async fn send_once(
    dialer: &Dialer,
    req: &HttpRequest,
    deadline: &Deadline,
) -> Result<HopResponse, HttpError> {
    let url = &req.url;
    let host = url.host_str().ok_or_else(|| HttpError::Protocol(format!("`{url}` has no host")))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let request = build_request(req)?;
    let tcp = dialer.tcp(host, port, deadline).await?;
    match url.scheme() {
        "http" => {
            let timings = tcp.timings;
            exchange(tcp.stream, request, req.max_body_bytes, deadline, timings, None).await
        }
        "https" => {
            let (tls, timings) = dialer.tls(tcp, host, req.verify_tls, Alpn::Http1, deadline).await?;
            exchange(tls.stream, request, req.max_body_bytes, deadline, timings, tls.cert_expires_at).await
        }
        other => Err(HttpError::Protocol(format!("scheme `{other}` is not supported; use http:// or https://"))),
    }
}

fn build_request(req: &HttpRequest) -> Result<http::Request<Full<Bytes>>, HttpError> {
    let url = &req.url;
    let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
    let host = &url[url::Position::BeforeHost..url::Position::AfterPort];
    let mut builder = http::Request::builder().method(req.method.clone()).uri(target);
    let has = |name: &str| req.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !has("host") {
        builder = builder.header(HOST, host);
    }
    if !has("user-agent") {
        builder = builder.header(USER_AGENT, USER_AGENT_VALUE);
    }
    for (name, value) in req.headers.iter().filter(|(n, _)| !is_managed(n)) {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(body) = &req.body {
        builder = builder.header(CONTENT_LENGTH, body.len());
    }
    let body = Full::new(req.body.clone().unwrap_or_default());
    builder.body(body).map_err(|e| HttpError::Protocol(format!("cannot build the request: {e}")))
}

/// Headers this client sets itself (a caller's `Host` is kept, for virtual-host checks).
fn is_managed(name: &str) -> bool {
    ["content-length", "transfer-encoding", "connection"].iter().any(|m| name.eq_ignore_ascii_case(m))
}

async fn exchange<S>(
    io: S,
    request: http::Request<Full<Bytes>>,
    max_body: usize,
    deadline: &Deadline,
    mut timings: Timings,
    cert_expires_at: Option<Timestamp>,
) -> Result<HopResponse, HttpError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(io))
        .await
        .map_err(|e| HttpError::Protocol(e.to_string()))?;
    let mut conn = Driven { conn: pin!(conn), done: false };
    let started = Instant::now();
    let response = deadline
        .run("waiting for the response", conn.alongside(sender.send_request(request)))
        .await?
        .map_err(|e| HttpError::Protocol(describe_hyper(&e)))?;
    timings.ttfb_ms = Some(millis(started.elapsed()));
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let (body, body_truncated) = read_limited(body, max_body, deadline, &mut conn).await?;
    Ok(HopResponse { status, headers: parts.headers, body, body_truncated, timings, cert_expires_at })
}

/// Read at most `max` bytes; `true` when the body was longer.
async fn read_limited<C: Future>(
    mut body: Incoming,
    max: usize,
    deadline: &Deadline,
    conn: &mut Driven<'_, C>,
) -> Result<(Bytes, bool), HttpError> {
    let mut buf = Vec::new();
    while let Some(frame) = deadline.run("reading the response body", conn.alongside(body.frame())).await? {
        let frame = frame.map_err(|e| HttpError::Protocol(describe_hyper(&e)))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let room = max - buf.len();
        if data.len() > room {
            buf.extend_from_slice(&data[..room]);
            return Ok((buf.into(), true));
        }
        buf.extend_from_slice(&data);
    }
    Ok((buf.into(), false))
}

fn describe_hyper(err: &hyper::Error) -> String {
    if err.is_incomplete_message() {
        "the server closed the connection before a complete response".into()
    } else if err.is_parse() {
        format!("the server sent an invalid HTTP response ({err})")
    } else {
        err.to_string()
    }
}

/// hyper's connection future, polled by the exchange itself whenever it waits for the
/// response head or a body frame; dropped (closing the socket) when the exchange ends, so a
/// stalled peer holds nothing.
struct Driven<'a, C: Future> {
    conn: Pin<&'a mut C>,
    /// The connection future finished (closed, or failed: hyper then fails the request).
    done: bool,
}

impl<C: Future> Driven<'_, C> {
    /// Run `fut` while driving the connection.
    async fn alongside<F: Future>(&mut self, fut: F) -> F::Output {
        let mut fut = pin!(fut);
        poll_fn(|cx| {
            if !self.done && self.conn.as_mut().poll(cx).is_ready() {
                self.done = true;
            }
            fut.as_mut().poll(cx)
        })
        .await
    }
}

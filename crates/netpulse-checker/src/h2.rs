//! One HTTP/2 request over one fresh connection (the gRPC probe's transport): hyper's
//! connection-level HTTP/2 client, with the head, the body up to a limit and the trailers read
//! within the request's [`Deadline`].
//!
//! hyper's HTTP/2 client hands its connection and stream work to an executor. Here that
//! executor is [`Inline`]: it queues the work, and [`Inline`]'s owner polls it inside the
//! exchange's own task while it waits, as `exchange.rs` drives its HTTP/1.1 connection. When
//! the exchange ends, everything is dropped and the socket closed, so a stalled peer holds
//! nothing and no task outlives the check.

use crate::error::{millis, Deadline, HttpError};
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};

/// The largest header block accepted from the server (the reply's head or its trailers).
const MAX_HEADER_LIST: u32 = 16 * 1024;

/// What the server answered.
pub(crate) struct H2Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// The body went on past the limit (and was not read further).
    pub(crate) body_truncated: bool,
    pub(crate) trailers: Option<HeaderMap>,
    /// From the request sent to the reply's head.
    pub(crate) ttfb_ms: u32,
}

/// Send `request` over `io` (a fresh connection that speaks HTTP/2: prior knowledge, or TLS
/// that negotiated `h2`) and read the reply, its body up to `max_body` bytes.
pub(crate) async fn send<S>(
    io: S,
    request: http::Request<Full<Bytes>>,
    max_body: usize,
    deadline: &Deadline,
) -> Result<H2Reply, HttpError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut tasks = Inline::default();
    let mut builder = hyper::client::conn::http2::Builder::new(tasks.spawner.clone());
    builder.max_header_list_size(MAX_HEADER_LIST);
    let (mut sender, conn) = deadline
        .run("starting HTTP/2", builder.handshake::<_, Full<Bytes>>(TokioIo::new(io)))
        .await?
        .map_err(|e| HttpError::Protocol(describe(&e)))?;
    tasks.run(async move {
        let _ = conn.await;
    });
    let asked = Instant::now();
    let response = deadline
        .run("waiting for the reply", tasks.alongside(sender.send_request(request)))
        .await?
        .map_err(|e| HttpError::Protocol(describe(&e)))?;
    let ttfb_ms = millis(asked.elapsed());
    let (parts, mut body) = response.into_parts();
    let mut data = Vec::new();
    let mut trailers = None;
    while let Some(frame) = deadline.run("reading the reply", tasks.alongside(body.frame())).await? {
        let frame = frame.map_err(|e| HttpError::Protocol(describe(&e)))?;
        let frame = match frame.into_data() {
            Ok(chunk) if data.len() + chunk.len() > max_body => {
                data.extend_from_slice(&chunk[..max_body - data.len()]);
                return Ok(reply(parts, data, true, None, ttfb_ms));
            }
            Ok(chunk) => {
                data.extend_from_slice(&chunk);
                continue;
            }
            Err(frame) => frame,
        };
        if let Ok(t) = frame.into_trailers() {
            trailers = Some(t);
        }
    }
    Ok(reply(parts, data, false, trailers, ttfb_ms))
}

fn reply(
    parts: http::response::Parts,
    body: Vec<u8>,
    body_truncated: bool,
    trailers: Option<HeaderMap>,
    ttfb_ms: u32,
) -> H2Reply {
    H2Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: body.into(),
        body_truncated,
        trailers,
        ttfb_ms,
    }
}

/// A hyper error in words, with the HTTP/2 cause it wraps.
fn describe(err: &hyper::Error) -> String {
    use std::error::Error as _;
    if err.is_closed() || err.is_incomplete_message() {
        return "the server closed the connection before replying".to_owned();
    }
    match err.source() {
        Some(cause) => format!("{err}: {cause}"),
        None => err.to_string(),
    }
}

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The executor hyper is given: it runs nothing itself, it queues.
#[derive(Clone, Default)]
struct Spawner(Arc<Mutex<Vec<Task>>>);

impl<F: Future<Output = ()> + Send + 'static> hyper::rt::Executor<F> for Spawner {
    fn execute(&self, fut: F) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(Box::pin(fut));
    }
}

/// The work hyper queued, polled by [`Inline::alongside`] in the caller's task; dropping the
/// `Inline` drops it all.
#[derive(Default)]
struct Inline {
    spawner: Spawner,
    running: Vec<Task>,
}

impl Inline {
    /// Poll `fut` like hyper's own work.
    fn run(&mut self, fut: impl Future<Output = ()> + Send + 'static) {
        self.running.push(Box::pin(fut));
    }

    /// Run `fut` while polling the queued work (and whatever that queues in turn).
    async fn alongside<F: Future>(&mut self, fut: F) -> F::Output {
        let mut fut = pin!(fut);
        poll_fn(|cx| {
            loop {
                let queued = std::mem::take(&mut *self.spawner.0.lock().unwrap_or_else(PoisonError::into_inner));
                let fresh = !queued.is_empty();
                self.running.extend(queued);
                self.running.retain_mut(|task| task.as_mut().poll(cx).is_pending());
                if !fresh {
                    break;
                }
            }
            fut.as_mut().poll(cx)
        })
        .await
    }
}

//! The dashboard clients of `netpulse loadtest fleet`: D clients on the nodes' `GET /events`
//! streams (client `d` on node `d % nodes`, with the owner token, like a browser on the
//! overview), each timing every `result` event from the worker's check end — the envelope's
//! `sent_at`, which the worker stamps when the check finishes and the event carries — to its
//! arrival here, in a 1 ms histogram. The first client of each node also keeps the ids it
//! saw, for the audit. Events lost to lag (`event: lagged`, with how many) are summed.

use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Buckets of 1 ms; the last one holds everything from 10 s up.
const BUCKETS: usize = 10_001;

/// A latency histogram in milliseconds: buckets of 1 ms up to 10 s, grown as far as the
/// slowest sample needs (a second of a run's timeline keeps one).
#[derive(Clone, Default)]
pub struct Histogram {
    counts: Vec<u64>,
    pub max_ms: u64,
}

impl Histogram {
    pub fn record(&mut self, ms: u64) {
        let b = (ms as usize).min(BUCKETS - 1);
        if self.counts.len() <= b {
            self.counts.resize(b + 1, 0);
        }
        self.counts[b] += 1;
        self.max_ms = self.max_ms.max(ms);
    }

    pub fn merge(&mut self, other: &Histogram) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.max_ms = self.max_ms.max(other.max_ms);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The smallest bucket at or below which `q` (0–1) of the samples are; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let n = self.count();
        let want = ((n as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (ms, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return ms as u64;
            }
        }
        0
    }
}

/// What one client saw: latencies while workers were still connecting (`ramp`) and after
/// (`steady`); the first client of a node also keeps the result ids and one histogram per
/// second of the run (the timeline's latency); result events lost to lag; streams reopened.
#[derive(Default)]
pub struct Seen {
    pub ramp: Histogram,
    pub steady: Histogram,
    pub ids: Vec<String>,
    pub per_second: Vec<Histogram>,
    pub lagged: u64,
    pub connected: bool,
    pub reconnects: u64,
}

/// When the run's timeline starts (wall clock, ms) and whether the steady state has begun.
#[derive(Clone)]
pub struct Clock {
    pub t0_ms: i64,
    pub steady: Arc<AtomicBool>,
}

/// The running clients.
pub struct Dashboards {
    tasks: Vec<JoinHandle<Seen>>,
    stop: watch::Sender<bool>,
    /// Result events received by every client together (for the progress line).
    pub events: Arc<AtomicU64>,
}

#[derive(serde::Deserialize)]
struct ResultEvent {
    id: String,
    sent_at: Option<i64>,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Dashboards {
    /// Open `n` streams over `nodes`; `clock.steady` turns true once every worker is started.
    pub async fn open(n: usize, nodes: &[SocketAddr], token: &str, clock: Clock) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let events = Arc::new(AtomicU64::new(0));
        let tasks = (0..n)
            .map(|d| {
                let (addr, token, clock, events) =
                    (nodes[d % nodes.len()], token.to_owned(), clock.clone(), events.clone());
                let keep_ids = d < nodes.len();
                tokio::spawn(client(addr, token, keep_ids, clock, events, stop_rx.clone()))
            })
            .collect();
        Self { tasks, stop, events }
    }

    /// Close the streams and return what each client saw.
    pub async fn close(self) -> Vec<Seen> {
        let _ = self.stop.send(true);
        let mut out = Vec::new();
        for t in self.tasks {
            out.push(t.await.unwrap_or_default());
        }
        out
    }
}

/// Open `GET /events` on `addr`; the body of the stream, or `None` when refused.
async fn open(addr: SocketAddr, token: &str) -> Option<hyper::body::Incoming> {
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.ok()?;
    tokio::spawn(conn);
    let req = http::Request::get("/events")
        .header(http::header::HOST, addr.to_string())
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(http::header::ACCEPT, "text/event-stream")
        .body(Empty::<bytes::Bytes>::new())
        .ok()?;
    let resp = send.send_request(req).await.ok()?;
    resp.status().is_success().then(|| resp.into_body())
}

/// One client: open the stream, time every result event; when the stream ends (its node
/// killed), open it again every 500 ms until stopped.
async fn client(
    addr: SocketAddr,
    token: String,
    keep_ids: bool,
    clock: Clock,
    events: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> Seen {
    let mut seen = Seen::default();
    while !*stop.borrow() {
        let opened = tokio::select! { b = open(addr, &token) => b, _ = stop.wait_for(|s| *s) => break };
        let Some(mut body) = opened else {
            tokio::select! { _ = tokio::time::sleep(Duration::from_millis(500)) => continue, _ = stop.wait_for(|s| *s) => break }
        };
        seen.connected = true;
        let (mut buf, mut kind) = (Vec::<u8>::new(), String::new());
        loop {
            let frame = tokio::select! {
                f = body.frame() => f,
                _ = stop.wait_for(|s| *s) => return seen,
            };
            let Some(Ok(frame)) = frame else { break };
            let Ok(data) = frame.into_data() else { continue };
            buf.extend_from_slice(&data);
            let arrived = now_ms();
            let mut start = 0;
            while let Some(nl) = buf[start..].iter().position(|b| *b == b'\n') {
                let line = &buf[start..start + nl];
                start += nl + 1;
                if let Some(k) = line.strip_prefix(b"event: ") {
                    kind = String::from_utf8_lossy(k).trim().to_owned();
                } else if let Some(d) = line.strip_prefix(b"data: ") {
                    match kind.as_str() {
                        "result" => {
                            let Ok(e) = serde_json::from_slice::<ResultEvent>(d) else { continue };
                            events.fetch_add(1, Ordering::Relaxed);
                            if let Some(sent) = e.sent_at {
                                let ms = (arrived - sent).max(0) as u64;
                                if clock.steady.load(Ordering::Relaxed) {
                                    seen.steady.record(ms);
                                } else {
                                    seen.ramp.record(ms);
                                }
                                if keep_ids {
                                    let second = ((arrived - clock.t0_ms).max(0) / 1000) as usize;
                                    if seen.per_second.len() <= second {
                                        seen.per_second.resize(second + 1, Histogram::default());
                                    }
                                    seen.per_second[second].record(ms);
                                }
                            }
                            if keep_ids {
                                seen.ids.push(e.id);
                            }
                        }
                        "lagged" => {
                            seen.lagged += std::str::from_utf8(d).ok().and_then(|n| n.trim().parse().ok()).unwrap_or(1)
                        }
                        _ => {}
                    }
                }
            }
            buf.drain(..start);
        }
        seen.reconnects += 1;
    }
    seen
}

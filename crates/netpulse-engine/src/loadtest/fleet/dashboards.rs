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
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Buckets of 1 ms; the last one holds everything from 10 s up.
const BUCKETS: usize = 10_001;

/// A latency histogram in milliseconds.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    pub max_ms: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self { counts: vec![0; BUCKETS], max_ms: 0 }
    }
}

impl Histogram {
    pub fn record(&mut self, ms: u64) {
        self.counts[(ms as usize).min(BUCKETS - 1)] += 1;
        self.max_ms = self.max_ms.max(ms);
    }

    pub fn merge(&mut self, other: &Histogram) {
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
/// (`steady`), the result ids (first client of a node only), result events lost to lag.
#[derive(Default)]
pub struct Seen {
    pub ramp: Histogram,
    pub steady: Histogram,
    pub ids: Vec<String>,
    pub lagged: u64,
    pub connected: bool,
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

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Dashboards {
    /// Open `n` streams over `nodes`; `steady` turns true once every worker is started.
    pub async fn open(n: usize, nodes: &[SocketAddr], token: &str, steady: Arc<AtomicBool>) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let events = Arc::new(AtomicU64::new(0));
        let tasks = (0..n)
            .map(|d| {
                let (addr, token, steady, events) =
                    (nodes[d % nodes.len()], token.to_owned(), steady.clone(), events.clone());
                let keep_ids = d < nodes.len();
                tokio::spawn(client(addr, token, keep_ids, steady, events, stop_rx.clone()))
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

async fn client(
    addr: SocketAddr,
    token: String,
    keep_ids: bool,
    steady: Arc<AtomicBool>,
    events: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> Seen {
    let mut seen = Seen::default();
    let body = async {
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
    };
    let opened = tokio::select! { b = body => b, _ = stop.wait_for(|s| *s) => None };
    let Some(mut body) = opened else { return seen };
    seen.connected = true;
    let (mut buf, mut kind) = (Vec::<u8>::new(), String::new());
    loop {
        let frame = tokio::select! {
            f = body.frame() => f,
            _ = stop.wait_for(|s| *s) => break,
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
                            if steady.load(Ordering::Relaxed) {
                                seen.steady.record(ms);
                            } else {
                                seen.ramp.record(ms);
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
    seen
}

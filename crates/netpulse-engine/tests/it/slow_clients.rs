//! Slow and too many clients on the HTTP listener: a client trickling its request head is cut
//! off at the header-read timeout, one stalling its body at the idle timeout; a live stream
//! (`/events`) stays open past the idle timeout; a graceful shutdown finishes within
//! `http.shutdown_drain_s` while a half-sent request is open; and the real binary, over its
//! connection cap, answers `503` in the API's error shape and logs why, then stops on SIGINT
//! within the drain bound with a half-sent request open. (Worker long-polls through the
//! gateway's own limits are exercised by `workers::`.)

use crate::harness::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Read from `tcp` until the peer closes (or resets) it; how long that took, or `None` if it
/// is still open after `limit`.
async fn closed_within(tcp: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    closed.await.ok().map(|()| started.elapsed())
}

#[tokio::test]
async fn a_client_trickling_its_request_head_is_cut_off_at_the_header_read_timeout() {
    let app = spawn_app_adjusted(|c| c.http.header_read_timeout_s = 1).await;
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let (mut read, mut write) = tcp.into_split();
    let trickle = tokio::spawn(async move {
        for i in 0..100 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if write.write_all(format!("X-Slow-{i}: a\r\n").as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while !matches!(read.read(&mut buf).await, Ok(0) | Err(_)) {}
    })
    .await;
    trickle.abort();
    assert!(closed.is_ok(), "still open after 5 s while trickling a header every 200 ms");
    assert!(started.elapsed() < Duration::from_millis(2500), "cut at ~1 s: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_client_stalling_its_body_is_cut_off_at_the_idle_timeout() {
    let app = spawn_app_adjusted(|c| c.http.idle_timeout_s = 1).await;
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    let head =
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n";
    tcp.write_all(format!("{head}{{\"email\":").as_bytes()).await.unwrap();
    let took = closed_within(&mut tcp, Duration::from_secs(5)).await;
    assert!(took.is_some_and(|t| t < Duration::from_millis(2500)), "a stalled body is cut at ~1 s: {took:?}");
}

#[tokio::test]
async fn a_live_stream_stays_open_past_the_idle_timeout() {
    let app = spawn_app_adjusted(|c| c.http.idle_timeout_s = 1).await;
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    let ask = format!("GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
    tcp.write_all(ask.as_bytes()).await.unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    let watched = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => got.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    })
    .await;
    assert!(watched.is_err(), "the stream was closed within 3 s (idle timeout 1 s): {got}");
    assert!(got.starts_with("HTTP/1.1 200") && got.contains("text/event-stream"), "{got}");
    assert!(got.matches("\n:").count() >= 3, "keep-alive comments kept it moving: {got:?}");
}

#[tokio::test]
async fn graceful_shutdown_finishes_within_the_drain_bound_while_a_half_sent_request_is_open() {
    let mut app = spawn_app_adjusted(|c| {
        c.http.shutdown_drain_s = 1;
        c.http.idle_timeout_s = 600;
    })
    .await;
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    let head =
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n";
    tcp.write_all(format!("{head}{{\"email\":").as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await; // the handler is reading the body
    let started = Instant::now();
    let stopped = tokio::time::timeout(Duration::from_secs(10), app.stop()).await;
    assert!(stopped.is_ok(), "shutdown still waiting for the half-sent request after 10 s");
    assert!(started.elapsed() < Duration::from_secs(4), "within the 1 s drain (and the rest): {:?}", started.elapsed());
    assert!(closed_within(&mut tcp, Duration::from_secs(1)).await.is_some(), "its connection was closed");
}

/// The real binary, `netpulse serve`, on a free port: killed when dropped.
struct Served {
    child: std::process::Child,
    base: String,
    /// Its standard output (the banner and the log), line by line.
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

impl Served {
    async fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_netpulse"));
        cmd.arg("serve")
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .env("NETPULSE_HTTP__LISTEN", "127.0.0.1:0")
            .env("NETPULSE_STORAGE__DATA_DIR", dir.join("data"))
            .env("NETPULSE_ADMIN_TOKEN", TOKEN)
            .stdout(std::process::Stdio::piped());
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().expect("netpulse serve starts");
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(out).map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut served = Self { child, base: String::new(), lines };
        served.base = served
            .line_with("dashboard and API at ", Duration::from_secs(30))
            .await
            .split("dashboard and API at ")
            .nth(1)
            .expect("the banner names the URL")
            .trim()
            .to_owned();
        served
    }

    /// The next output line containing `text`, waiting at most `limit`.
    async fn line_with(&mut self, text: &str, limit: Duration) -> String {
        let found = tokio::time::timeout(limit, async {
            while let Some(line) = self.lines.recv().await {
                if line.contains(text) {
                    return line;
                }
            }
            panic!("netpulse serve ended before writing {text:?}");
        });
        found.await.unwrap_or_else(|_| panic!("no {text:?} within {limit:?}"))
    }
}

#[tokio::test]
async fn over_the_connection_cap_the_binary_answers_503_logs_why_and_still_stops_on_sigint_within_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("NETPULSE_HTTP__MAX_CONNECTIONS", "2"), ("NETPULSE_HTTP__SHUTDOWN_DRAIN_S", "1")];
    let mut served = Served::start(dir.path(), &env).await;
    let addr = served.base.trim_start_matches("http://").to_owned();
    // Two connections hold the cap: one idle, one halfway through a request's body.
    let _idle = TcpStream::connect(&addr).await.unwrap();
    let mut half = TcpStream::connect(&addr).await.unwrap();
    let head =
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n";
    half.write_all(format!("{head}{{\"email\":").as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut third = TcpStream::connect(&addr).await.unwrap();
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), third.read_to_string(&mut answer)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    assert!(answer.contains("retry-after: 1") && answer.contains(r#"{"error":{"code":"unavailable""#), "{answer}");
    let logged = served.line_with("connection cap reached", Duration::from_secs(5)).await;
    assert!(logged.contains("http.max_connections = 2") && logged.contains("WARN"), "{logged}");

    let pid = served.child.id().to_string();
    let started = Instant::now();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    served.line_with("stopped cleanly", Duration::from_secs(15)).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "stopped within the 1 s drain (and the rest of shutdown): {took:?}");
}

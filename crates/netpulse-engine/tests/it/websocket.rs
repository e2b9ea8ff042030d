//! WebSocket monitors against a WebSocket server on 127.0.0.1 written for the test: the check
//! opens the connection, sends its message and finds the reply; when the server stops
//! switching protocols the monitor goes down saying so; bad fields are refused by name.

use crate::harness::*;
use base64::Engine as _;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Answers the opening handshake (or, once `refuse` is set, `200 OK` as a plain web server
/// would) and echoes each text message as `echo: <text>`.
struct WsServer {
    addr: std::net::SocketAddr,
    refuse: Arc<AtomicBool>,
    messages: Arc<AtomicUsize>,
}

impl WsServer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (refuse, messages) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let (r, m) = (refuse.clone(), messages.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, r.load(Ordering::SeqCst), m.clone()));
            }
        });
        Self { addr, refuse, messages }
    }
}

async fn serve(mut s: TcpStream, refuse: bool, messages: Arc<AtomicUsize>) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    if refuse {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
        return;
    }
    let key = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("the check sends its key")
        .trim()
        .to_owned();
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes(),
    );
    let accept = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if s.write_all(answer.as_bytes()).await.is_err() {
        return;
    }
    // Client frames are masked and short here (under 126 bytes).
    loop {
        let mut h = [0u8; 2];
        if s.read_exact(&mut h).await.is_err() {
            return;
        }
        let (opcode, len) = (h[0] & 0x0f, usize::from(h[1] & 0x7f));
        let mut mask = [0u8; 4];
        let mut payload = vec![0u8; len];
        if s.read_exact(&mut mask).await.is_err() || s.read_exact(&mut payload).await.is_err() {
            return;
        }
        payload.iter_mut().enumerate().for_each(|(i, x)| *x ^= mask[i % 4]);
        match opcode {
            0x1 => {
                messages.fetch_add(1, Ordering::SeqCst);
                let reply = format!("echo: {}", String::from_utf8_lossy(&payload));
                let mut frame = vec![0x81, reply.len() as u8];
                frame.extend_from_slice(reply.as_bytes());
                if s.write_all(&frame).await.is_err() {
                    return;
                }
            }
            0x8 => {
                let _ = s.write_all(&[0x88, 0x02, 0x03, 0xe8]).await;
                return;
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_websocket_monitor_is_up_while_the_server_echoes_and_down_when_it_stops_switching() {
    let app = spawn_app().await;
    let server = WsServer::start().await;
    let url = format!("ws://{}/socket?room=1", server.addr);
    let body = json!({ "name": "chat", "kind": "websocket", "url": url, "send": "ping", "expect": "echo: ping",
                       "interval_s": 1, "timeout_ms": 900 });
    let id = app.create_monitor(body).await;
    let m = app.wait_for_outcome(&id, "up").await;
    assert_eq!(m["kind"], "websocket", "{m}");
    assert!(server.messages.load(Ordering::SeqCst) >= 1, "the check sent its message");
    let last = &app.last_result(&id).await;
    assert!(last["timings"]["ttfb_ms"].is_u64() && last["timings"]["connect_ms"].is_u64(), "{last}");

    server.refuse.store(true, Ordering::SeqCst);
    let m = app.wait_for_outcome(&id, "down").await;
    let error = m["status"]["last_error"].as_str().unwrap();
    assert_eq!(error, "the server answered `HTTP/1.1 200 OK` instead of switching to WebSocket (101)");
}

#[tokio::test]
async fn a_reply_without_the_expected_text_is_down_naming_what_came() {
    let app = spawn_app().await;
    let server = WsServer::start().await;
    let body = json!({ "name": "chat", "kind": "websocket", "url": format!("ws://{}/", server.addr),
                       "send": "ping", "expect": "pong", "interval_s": 1, "timeout_ms": 500 });
    let id = app.create_monitor(body).await;
    let m = app.wait_for_outcome(&id, "down").await;
    let error = m["status"]["last_error"].as_str().unwrap();
    assert!(error.starts_with("timed out after 500 ms while waiting for a reply"), "{error}");
}

#[tokio::test]
async fn websocket_fields_are_checked_by_name() {
    let app = spawn_app().await;
    let cases = [
        (json!({ "url": "https://example.com/socket" }), "url", "use ws:// or wss://"),
        (json!({ "url": "wss://example.com/socket", "expect": "" }), "expect", "must not be empty"),
        (json!({ "url": "wss://example.com/socket", "send": "x".repeat(5000) }), "send", "at most 4096 bytes"),
        (json!({ "url": "wss://example.com/socket", "keyword": "x" }), "keyword", "unknown field"),
    ];
    app.assert_monitor_fields_refused("websocket", "chat", cases.into()).await;
}

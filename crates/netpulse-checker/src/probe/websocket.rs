//! The WebSocket probe (RFC 6455): resolve, pass the SSRF guard, connect (TLS for `wss://`),
//! send the opening handshake and require `101 Switching Protocols` with the accept key that
//! answers ours; then, when the monitor says so, send one text message and wait for a message
//! containing `expect`. The connection is closed with a close frame either way.
//!
//! Timings: the dialer's DNS, connect and TLS phases; `ttfb_ms` until the handshake's answer;
//! `total_ms` until the verdict (the expected reply, or the handshake without `expect`).
//! `degraded_after_ms` is judged on the total.

use super::{random_bytes, total_only, transport_failure, ProbeContext};
use crate::error::{millis, Deadline, HttpError};
use crate::tls::Alpn;
use base64::Engine as _;
use netpulse_core::check::ProbeReport;
use netpulse_core::monitor::WebSocketSpec;
use netpulse_core::{Outcome, Timings};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The handshake answer's head is read up to this size.
const MAX_HEAD: usize = 16 * 1024;
/// A message is looked at up to this size (the rest is read and dropped).
const MAX_MESSAGE: usize = 64 * 1024;
/// The GUID RFC 6455 appends to the key before hashing it into the accept value.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

pub(super) async fn probe(spec: &WebSocketSpec, timeout: Duration, ctx: &ProbeContext) -> ProbeReport {
    let started = Instant::now();
    let deadline = Deadline::start(timeout);
    let url = spec.url.as_url();
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']).to_owned();
    let secure = url.scheme() == "wss";
    let port = url.port_or_known_default().unwrap_or(if secure { 443 } else { 80 });
    let dialer = ctx.http.dialer();
    let tcp = match dialer.tcp(&host, port, &deadline).await {
        Ok(t) => t,
        Err(err) => return transport_failure(&err, total_only(millis(started.elapsed()))),
    };
    let outcome = match secure {
        false => {
            let timings = tcp.timings;
            session(tcp.stream, spec, timings, &deadline, started).await
        }
        true => match dialer.tls(tcp, &host, spec.verify_tls, Alpn::Http1, &deadline).await {
            Ok((tls, timings)) => session(tls.stream, spec, timings, &deadline, started).await,
            Err(err) => return transport_failure(&err, total_only(millis(started.elapsed()))),
        },
    };
    match outcome {
        Ok(timings) => judge(spec, timings),
        Err((message, mut timings)) => {
            timings.total_ms = Some(millis(started.elapsed()));
            ProbeReport::failed(Outcome::Down, message, timings)
        }
    }
}

/// Up, or degraded when slower than `degraded_after_ms`.
fn judge(spec: &WebSocketSpec, timings: Timings) -> ProbeReport {
    match super::slowness(timings.total_ms, spec.degraded_after_ms) {
        (Outcome::Degraded, why) => ProbeReport::failed(Outcome::Degraded, why.unwrap_or_default(), timings),
        _ => ProbeReport::up(timings),
    }
}

/// Why the session failed, and the phases timed until then.
type Failure = (String, Timings);

/// Handshake, message and close over an open stream.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    spec: &WebSocketSpec,
    mut timings: Timings,
    deadline: &Deadline,
    started: Instant,
) -> Result<Timings, Failure> {
    let fail = |timings: Timings, message: String| (message, timings);
    let late = |timings: Timings, e: HttpError| (e.to_string(), timings);
    let key = base64::engine::general_purpose::STANDARD.encode(random_bytes::<16>());
    let url = spec.url.as_url();
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let authority = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: NetPulse\r\n\r\n"
    );
    let asked = Instant::now();
    let io = |e: std::io::Error| e.to_string();
    deadline
        .run("sending the WebSocket handshake", stream.write_all(request.as_bytes()))
        .await
        .map_err(|e| late(timings, e))?
        .map_err(|e| fail(timings, format!("sending the handshake failed: {}", io(e))))?;
    let head = deadline
        .run("waiting for the WebSocket handshake's answer", read_head(&mut stream))
        .await
        .map_err(|e| late(timings, e))?
        .map_err(|e| fail(timings, e))?;
    timings.ttfb_ms = Some(millis(asked.elapsed()));
    check_handshake(&head, &key).map_err(|e| fail(timings, e))?;

    if let Some(text) = &spec.send {
        let frame = frame(0x1, text.as_bytes());
        deadline
            .run("sending the message", stream.write_all(&frame))
            .await
            .map_err(|e| late(timings, e))?
            .map_err(|e| fail(timings, format!("sending the message failed: {}", io(e))))?;
    }
    if let Some(expect) = &spec.expect {
        let waiting = match spec.send {
            Some(_) => "waiting for a reply",
            None => "waiting for a message",
        };
        deadline
            .run(waiting, wait_for(&mut stream, expect))
            .await
            .map_err(|e| late(timings, e))?
            .map_err(|e| fail(timings, e))?;
    }
    timings.total_ms = Some(millis(started.elapsed()));
    // Best effort: a polite close (code 1000); the verdict does not depend on it.
    let _ =
        tokio::time::timeout(Duration::from_millis(200), stream.write_all(&frame(0x8, &1000u16.to_be_bytes()))).await;
    let _ = tokio::time::timeout(Duration::from_millis(200), stream.shutdown()).await;
    Ok(timings)
}

/// The answer's head, up to and without the blank line.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Result<String, String> {
    let mut head = Vec::with_capacity(512);
    let mut byte = [0u8; 1];
    // Byte by byte: whatever follows the head is already the server's first frame.
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Err(format!("the handshake's answer has no end within {MAX_HEAD} bytes"));
        }
        match stream.read(&mut byte).await {
            Ok(0) => return Err("the server closed the connection instead of answering the handshake".into()),
            Ok(_) => head.push(byte[0]),
            Err(e) => return Err(format!("reading the handshake's answer failed: {e}")),
        }
    }
    Ok(String::from_utf8_lossy(&head[..head.len() - 4]).into_owned())
}

/// `101` and the accept value RFC 6455 derives from our key.
fn check_handshake(head: &str, key: &str) -> Result<(), String> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line.split(' ').nth(1).unwrap_or_default();
    if status != "101" {
        let shown: String = status_line.chars().take(80).collect();
        return Err(format!("the server answered `{shown}` instead of switching to WebSocket (101)"));
    }
    let accept = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|(_, v)| v.trim().to_owned());
    match accept {
        Some(a) if a == accept_for(key) => Ok(()),
        Some(_) => Err("the server's Sec-WebSocket-Accept does not answer our key".into()),
        None => Err("the server switched protocols without a Sec-WebSocket-Accept header".into()),
    }
}

/// `base64(SHA-1(key + GUID))`.
pub(crate) fn accept_for(key: &str) -> String {
    let digest =
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, format!("{key}{ACCEPT_GUID}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// Read messages until one contains `expect`: pings are answered, a close or the end of the
/// stream is a failure naming what was last received.
async fn wait_for<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, expect: &str) -> Result<(), String> {
    let mut message: Vec<u8> = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let (fin, opcode, payload) = read_frame(stream).await.map_err(|e| match &last {
            Some(l) => format!("{e}; the last message was `{l}`, without `{expect}`"),
            None => format!("{e} before any message"),
        })?;
        match opcode {
            0x8 => {
                let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                let code = code.map_or(String::new(), |c| format!(" (code {c})"));
                return Err(match &last {
                    Some(l) => format!(
                        "the server closed the connection{code}; the last message was `{l}`, without `{expect}`"
                    ),
                    None => format!("the server closed the connection{code} before any message"),
                });
            }
            0x9 => {
                let _ = stream.write_all(&frame(0xA, &payload)).await;
            }
            0xA => {}
            0x0..=0x2 => {
                if message.len() < MAX_MESSAGE {
                    let room = MAX_MESSAGE - message.len();
                    message.extend_from_slice(&payload[..payload.len().min(room)]);
                }
                if fin {
                    let text = String::from_utf8_lossy(&message).into_owned();
                    if text.contains(expect) {
                        return Ok(());
                    }
                    last = Some(text.chars().take(120).collect());
                    message.clear();
                }
            }
            other => return Err(format!("the server sent a frame of unknown type {other:#x}")),
        }
    }
}

/// One frame from the server: `(fin, opcode, payload)`; payloads over [`MAX_MESSAGE`] are
/// read and cut to it.
async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> Result<(bool, u8, Vec<u8>), String> {
    let eof = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "the connection ended".to_owned(),
        _ => format!("reading from the connection failed: {e}"),
    };
    let mut h = [0u8; 2];
    stream.read_exact(&mut h).await.map_err(eof)?;
    let (fin, opcode, masked) = (h[0] & 0x80 != 0, h[0] & 0x0f, h[1] & 0x80 != 0);
    let len = match h[1] & 0x7f {
        126 => u64::from(stream.read_u16().await.map_err(eof)?),
        127 => stream.read_u64().await.map_err(eof)?,
        n => u64::from(n),
    };
    let mut mask = [0u8; 4];
    if masked {
        stream.read_exact(&mut mask).await.map_err(eof)?;
    }
    let keep = len.min(MAX_MESSAGE as u64) as usize;
    let mut payload = vec![0u8; keep];
    stream.read_exact(&mut payload).await.map_err(eof)?;
    let mut rest = (&mut *stream).take(len - keep as u64);
    tokio::io::copy(&mut rest, &mut tokio::io::sink()).await.map_err(eof)?;
    if masked {
        payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= mask[i % 4]);
    }
    Ok((fin, opcode, payload))
}

/// A final client frame: masked, as RFC 6455 requires of clients.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mask = random_bytes::<4>();
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_value_is_the_one_rfc_6455_gives_for_its_sample_key() {
        assert_eq!(accept_for("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn a_handshake_answer_must_switch_protocols_with_our_accept_value() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        assert_eq!(check_handshake(ok, key), Ok(()));
        let wrong = ok.replace("s3pP", "AAAA");
        assert!(check_handshake(&wrong, key).unwrap_err().contains("does not answer our key"));
        let plain = "HTTP/1.1 200 OK\r\nContent-Type: text/html";
        assert_eq!(
            check_handshake(plain, key).unwrap_err(),
            "the server answered `HTTP/1.1 200 OK` instead of switching to WebSocket (101)"
        );
    }

    #[tokio::test]
    async fn frames_round_trip_masked_and_long_ones_are_cut() {
        let (mut a, mut b) = tokio::io::duplex(1 << 20);
        let long = vec![b'x'; MAX_MESSAGE + 10];
        a.write_all(&frame(0x1, b"hello")).await.unwrap();
        a.write_all(&frame(0x2, &long)).await.unwrap();
        assert_eq!(read_frame(&mut b).await.unwrap(), (true, 0x1, b"hello".to_vec()));
        let (fin, op, payload) = read_frame(&mut b).await.unwrap();
        assert_eq!((fin, op, payload.len()), (true, 0x2, MAX_MESSAGE));
    }
}

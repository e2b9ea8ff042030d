//! The gRPC health probe: resolve, pass the SSRF guard, connect (TLS offering ALPN `h2`, or
//! plaintext HTTP/2 with prior knowledge), call `grpc.health.v1.Health/Check` for the
//! monitor's service and judge the reply: up when its status is `SERVING`, down naming
//! whatever else came (another serving status, a non-zero `grpc-status` by code and name with
//! the server's message, an answer that is not gRPC at all).
//!
//! Timings: the dialer's DNS, connect and TLS phases; `ttfb_ms` from the request sent to the
//! reply's head; `total_ms` until the reply's end. `degraded_after_ms` is judged on the total.

mod wire;

use super::{total_only, transport_failure, ProbeContext};
use crate::error::{millis, Deadline, HttpError};
use crate::exchange::USER_AGENT_VALUE;
use crate::h2::{self, H2Reply};
use crate::tls::Alpn;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, TE, USER_AGENT};
use http_body_util::Full;
use netpulse_core::check::ProbeReport;
use netpulse_core::monitor::GrpcSpec;
use netpulse_core::{Outcome, Timestamp, Timings};
use std::time::{Duration, Instant};
use wire::ServingStatus;

/// The reply body is read up to this size; a health reply is a few bytes.
const MAX_REPLY: usize = 16 * 1024;

pub(super) async fn probe(spec: &GrpcSpec, timeout: Duration, ctx: &ProbeContext) -> ProbeReport {
    let started = Instant::now();
    let deadline = Deadline::start(timeout);
    let dialer = ctx.http.dialer();
    let failed = |err: &HttpError| {
        let mut report = transport_failure(err, total_only(millis(started.elapsed())));
        report.error = report.error.map(|e| format!("{e}{}", hint(spec, err)));
        report
    };
    let tcp = match dialer.tcp(&spec.host, spec.port, &deadline).await {
        Ok(t) => t,
        Err(err) => return failed(&err),
    };
    let request = match request(spec, &deadline) {
        Ok(r) => r,
        Err(e) => return ProbeReport::failed(Outcome::Error, e, total_only(millis(started.elapsed()))),
    };
    let (exchanged, mut timings, cert_expires_at) = if spec.tls {
        match dialer.tls(tcp, &spec.host, spec.verify_tls, Alpn::H2, &deadline).await {
            Ok((tls, timings)) => {
                (h2::send(tls.stream, request, MAX_REPLY, &deadline).await, timings, tls.cert_expires_at)
            }
            Err(err) => return failed(&err),
        }
    } else {
        (h2::send(tcp.stream, request, MAX_REPLY, &deadline).await, tcp.timings, None)
    };
    let reply = match exchanged {
        Ok(reply) => reply,
        Err(err) => {
            let mut report = failed(&err);
            report.timings = Timings { total_ms: report.timings.total_ms, ..timings };
            return report;
        }
    };
    timings.ttfb_ms = Some(reply.ttfb_ms);
    timings.total_ms = Some(millis(started.elapsed()));
    judge(spec, &reply, timings, cert_expires_at)
}

/// A POST of one `HealthCheckRequest`, telling the server how long the check waits.
fn request(spec: &GrpcSpec, deadline: &Deadline) -> Result<http::Request<Full<Bytes>>, String> {
    let scheme = if spec.tls { "https" } else { "http" };
    let host = spec.host.trim_start_matches('[').trim_end_matches(']');
    let authority = match host.contains(':') {
        true => format!("[{host}]:{}", spec.port),
        false => format!("{host}:{}", spec.port),
    };
    let left_ms = deadline.end().saturating_duration_since(tokio::time::Instant::now()).as_millis();
    http::Request::post(format!("{scheme}://{authority}{}", wire::PATH))
        .header(CONTENT_TYPE, "application/grpc")
        .header(TE, "trailers")
        .header("grpc-accept-encoding", "identity")
        .header("grpc-timeout", format!("{}m", left_ms.clamp(1, 99_999_999)))
        .header(USER_AGENT, USER_AGENT_VALUE)
        .body(Full::new(Bytes::from(wire::request(&spec.service))))
        .map_err(|e| format!("`{}` cannot be a request's authority ({e})", spec.host))
}

/// What to change when the failure looks like TLS spoken to plaintext or the other way round.
fn hint(spec: &GrpcSpec, err: &HttpError) -> &'static str {
    match (spec.tls, err) {
        (true, HttpError::Tls(e)) if !e.contains("certificate") => {
            " (if the server speaks plaintext HTTP/2, set tls to false)"
        }
        (false, HttpError::Protocol(_)) => " (is this a gRPC port? if the server expects TLS, set tls to true)",
        _ => "",
    }
}

/// The verdict on a reply that arrived.
fn judge(spec: &GrpcSpec, reply: &H2Reply, timings: Timings, cert_expires_at: Option<Timestamp>) -> ProbeReport {
    let mut report = match verdict(spec, reply) {
        Ok(()) => match super::slowness(timings.total_ms, spec.degraded_after_ms) {
            (Outcome::Degraded, why) => ProbeReport::failed(Outcome::Degraded, why.unwrap_or_default(), timings),
            _ => ProbeReport::up(timings),
        },
        Err(problem) => ProbeReport::failed(Outcome::Down, problem, timings),
    };
    report.cert_expires_at = cert_expires_at;
    report
}

/// `SERVING`, or why not: the HTTP answer, the gRPC status, then the health status.
fn verdict(spec: &GrpcSpec, reply: &H2Reply) -> Result<(), String> {
    if reply.status != 200 {
        return Err(format!("the server answered HTTP {} instead of a gRPC reply", reply.status));
    }
    let content_type = reply.headers.get(CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if !content_type.as_deref().is_some_and(|t| t.starts_with("application/grpc")) {
        let shown = content_type.map_or("none".to_owned(), |t| format!("`{}`", t.chars().take(80).collect::<String>()));
        return Err(format!("the reply's content-type is {shown}, not application/grpc: is this a gRPC server?"));
    }
    // A reply with nothing to send but its status is "trailers-only": the status is in its head.
    let grpc = |name: &str| reply.trailers.as_ref().and_then(|t| t.get(name)).or_else(|| reply.headers.get(name));
    let code = grpc("grpc-status").map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned());
    let code = match code.as_deref().map(str::parse::<u32>) {
        None => return Err("the reply ended without a grpc-status".to_owned()),
        Some(Err(_)) => return Err(format!("the reply's grpc-status `{}` is not a number", code.unwrap_or_default())),
        Some(Ok(code)) => code,
    };
    if code != 0 {
        let message = grpc("grpc-message").map(|m| wire::message_text(m.as_bytes())).unwrap_or_default();
        return Err(status_error(spec, code, message.trim()));
    }
    if reply.body_truncated {
        return Err(format!("the reply is longer than {} KiB; a health reply is a few bytes", MAX_REPLY / 1024));
    }
    let who = match spec.service.as_str() {
        "" => "the server".to_owned(),
        s => format!("service `{s}`"),
    };
    match wire::response(&reply.body)? {
        ServingStatus::Serving => Ok(()),
        ServingStatus::NotServing => Err(format!("{who} is NOT_SERVING")),
        ServingStatus::ServiceUnknown => Err(format!("{who} is SERVICE_UNKNOWN: the server does not know it")),
        ServingStatus::Unknown => Err(format!("{who} is UNKNOWN, not SERVING")),
        ServingStatus::Other(n) => Err(format!("{who} has serving status {n}, which is not SERVING")),
    }
}

/// A failed call in words: the code with its name, what it means for a health check, and what
/// the server said.
fn status_error(spec: &GrpcSpec, code: u32, message: &str) -> String {
    let meaning = match code {
        12 => Some("the server has no health service (grpc.health.v1.Health)".to_owned()),
        5 if !spec.service.is_empty() => Some(format!("the server does not know service `{}`", spec.service)),
        _ => None,
    };
    let message: String = message.chars().take(200).collect();
    let head = format!("gRPC status {code} {}", wire::code_name(code));
    match (meaning, message.as_str()) {
        (Some(m), "") => format!("{head}: {m}"),
        (Some(m), said) => format!("{head}: {m} (the server says: {said})"),
        (None, "") => head,
        (None, said) => format!("{head}: {said}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn spec(service: &str) -> GrpcSpec {
        GrpcSpec {
            host: "127.0.0.1".into(),
            port: 50051,
            service: service.into(),
            tls: false,
            verify_tls: true,
            degraded_after_ms: Some(100),
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    /// A 200 reply of content-type application/grpc holding `body`, with `trailers`.
    fn reply(body: &[u8], trailers: Option<http::HeaderMap>) -> H2Reply {
        H2Reply {
            status: 200,
            headers: headers(&[("content-type", "application/grpc+proto")]),
            body: Bytes::copy_from_slice(body),
            body_truncated: false,
            trailers,
            ttfb_ms: 3,
        }
    }

    const SERVING: &[u8] = &[0, 0, 0, 0, 2, 0x08, 1];

    #[test]
    fn serving_is_up_and_slow_serving_is_degraded() {
        let ok = Some(headers(&[("grpc-status", "0")]));
        let fast = Timings { total_ms: Some(40), ..Timings::default() };
        let report = judge(&spec(""), &reply(SERVING, ok.clone()), fast, None);
        assert_eq!((report.outcome, report.error), (Outcome::Up, None));
        let slow = Timings { total_ms: Some(150), ..Timings::default() };
        let report = judge(&spec(""), &reply(SERVING, ok), slow, None);
        assert_eq!(report.outcome, Outcome::Degraded);
        assert_eq!(report.error.as_deref(), Some("slow: 150 ms > 100 ms threshold"));
    }

    #[test]
    fn the_status_is_read_from_the_trailers_or_a_trailers_only_head() {
        let mut trailers_only = reply(&[], None);
        trailers_only.headers.insert("grpc-status", HeaderValue::from_static("14"));
        trailers_only.headers.insert("grpc-message", HeaderValue::from_static("draining%20now"));
        assert_eq!(verdict(&spec(""), &trailers_only).unwrap_err(), "gRPC status 14 UNAVAILABLE: draining now");
        let failed = reply(&[], Some(headers(&[("grpc-status", "16")])));
        assert_eq!(verdict(&spec(""), &failed).unwrap_err(), "gRPC status 16 UNAUTHENTICATED");
        let unimplemented = reply(&[], Some(headers(&[("grpc-status", "12")])));
        assert_eq!(
            verdict(&spec("shop.v1.Cart"), &unimplemented).unwrap_err(),
            "gRPC status 12 UNIMPLEMENTED: the server has no health service (grpc.health.v1.Health)"
        );
        let none = reply(SERVING, None);
        assert_eq!(verdict(&spec(""), &none).unwrap_err(), "the reply ended without a grpc-status");
        let garbled = reply(SERVING, Some(headers(&[("grpc-status", "ok")])));
        assert_eq!(verdict(&spec(""), &garbled).unwrap_err(), "the reply's grpc-status `ok` is not a number");
    }

    #[test]
    fn an_answer_that_is_not_grpc_says_what_it_was() {
        let mut web = reply(b"<html>", None);
        web.headers = headers(&[("content-type", "text/html; charset=utf-8")]);
        assert_eq!(
            verdict(&spec(""), &web).unwrap_err(),
            "the reply's content-type is `text/html; charset=utf-8`, not application/grpc: is this a gRPC server?"
        );
        web.status = 404;
        assert_eq!(verdict(&spec(""), &web).unwrap_err(), "the server answered HTTP 404 instead of a gRPC reply");
        let mut long = reply(&[0; 64], Some(headers(&[("grpc-status", "0")])));
        long.body_truncated = true;
        assert!(verdict(&spec(""), &long).unwrap_err().starts_with("the reply is longer than 16 KiB"));
    }

    #[test]
    fn the_request_names_the_path_the_authority_and_the_time_left() {
        let mut s = spec("shop.v1.Cart");
        s.host = "::1".into();
        let r = request(&s, &Deadline::start(Duration::from_secs(5))).unwrap();
        assert_eq!(r.uri().to_string(), "http://[::1]:50051/grpc.health.v1.Health/Check");
        let timeout = r.headers()["grpc-timeout"].to_str().unwrap();
        let ms: u32 = timeout.strip_suffix('m').unwrap().parse().unwrap();
        assert!((4900..=5000).contains(&ms), "{timeout}");
        assert_eq!(r.headers()["content-type"], "application/grpc");
        assert_eq!(r.headers()["te"], "trailers");
        s.host = "a]b".into();
        let e = request(&s, &Deadline::start(Duration::from_secs(5))).unwrap_err();
        assert!(e.starts_with("`a]b` cannot be a request's authority"), "{e}");
    }
}

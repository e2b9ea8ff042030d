//! gRPC health monitors against a gRPC health server on 127.0.0.1 written for the test with
//! hyper's HTTP/2 server, plaintext (h2c) and over TLS (ALPN h2, a self-signed test CA). It
//! answers `grpc.health.v1.Health/Check` per service: SERVING, NOT_SERVING, SERVICE_UNKNOWN,
//! or NOT_FOUND for a name it does not know; without its health service, grpc-status 12. An
//! HTTP/1.1 server and one that never answers are down saying so. Monitors are made with the form and the API, checked by the engine and a regional worker;
//! the certificate is verified (and passes with the test CA trusted); the SSRF guard refuses
//! loopback when saved and when checked; bad fields are refused by name.

use crate::browser_pages::self_signed_tls;
use crate::dashboard::{browse, created_monitor, csrf};
use crate::harness::*;
use crate::workers::{engine_with_eu_worker, first_result_from};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use netpulse_checker::{run_check, HttpClient, ProbeContext, Resolver, SsrfGuard};
use netpulse_core::{CheckSpec, Outcome};
use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;

const CART: &str = "shop.v1.Cart";

type Reply = Response<BoxBody<Bytes, Infallible>>;

/// A gRPC health server. It knows the server as a whole (""), [`CART`] (SERVING until the test
/// says otherwise), `shop.v1.Billing` (NOT_SERVING) and `shop.v1.Legacy` (SERVICE_UNKNOWN).
#[derive(Clone)]
struct GrpcServer {
    addr: SocketAddr,
    /// The serving status reported for [`CART`]: 1 SERVING, 2 NOT_SERVING.
    cart: Arc<AtomicU8>,
    /// Whether the server has the health service at all (without: grpc-status 12).
    health: bool,
    /// Health checks answered.
    checks: Arc<AtomicUsize>,
}

impl GrpcServer {
    /// Plaintext HTTP/2 with prior knowledge (h2c).
    async fn plaintext(health: bool) -> Self {
        Self::start(health, None).await
    }

    /// HTTP/2 over TLS (ALPN h2); the certificate, self-signed, is returned to trust.
    async fn tls() -> (Self, CertificateDer<'static>) {
        let (mut config, cert) = self_signed_tls(30);
        config.alpn_protocols = vec![b"h2".to_vec()];
        (Self::start(true, Some(TlsAcceptor::from(Arc::new(config)))).await, cert)
    }

    async fn start(health: bool, tls: Option<TlsAcceptor>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = GrpcServer { addr, cart: Arc::new(AtomicU8::new(1)), health, checks: Arc::default() };
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (s, tls) = (s.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        None => s.serve(tcp).await,
                        // A client that refuses the certificate aborts the handshake.
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                s.serve(stream).await;
                            }
                        }
                    }
                });
            }
        });
        server
    }

    async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(self, io: S) {
        let service = hyper::service::service_fn(move |req| {
            let s = self.clone();
            async move { Ok::<_, Infallible>(s.answer(req).await) }
        });
        let http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        let _ = http2.serve_connection(TokioIo::new(io), service).await;
    }

    async fn answer(&self, req: Request<Incoming>) -> Reply {
        // As gRPC servers do: only a POST of application/grpc is a call.
        let grpc = req.headers().get(CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"application/grpc"));
        if req.method() != Method::POST || !grpc || req.headers().get("te").is_none_or(|te| te != "trailers") {
            return Response::builder().status(415).body(Full::new(Bytes::new()).boxed()).unwrap();
        }
        if req.uri().path() != "/grpc.health.v1.Health/Check" || !self.health {
            return status_only(12, "unknown service grpc.health.v1.Health");
        }
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let service = requested_service(&body);
        self.checks.fetch_add(1, Ordering::SeqCst);
        let status = match service.as_str() {
            "" => 1,
            CART => self.cart.load(Ordering::SeqCst),
            "shop.v1.Billing" => 2,
            "shop.v1.Legacy" => 3,
            other => return status_only(5, &format!("service %22{other}%22 is not registered")),
        };
        // One message, HealthCheckResponse { status = 1 (varint) }, then grpc-status 0 in trailers.
        let message = Full::new(Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]));
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        let body = message.with_trailers(std::future::ready(Some(Ok(trailers)))).boxed();
        Response::builder().header(CONTENT_TYPE, "application/grpc").body(body).unwrap()
    }
}

/// A "trailers-only" reply: the status in the head, no message.
fn status_only(code: u8, message: &str) -> Reply {
    Response::builder()
        .header(CONTENT_TYPE, "application/grpc")
        .header("grpc-status", code.to_string())
        .header("grpc-message", message)
        .body(Full::new(Bytes::new()).boxed())
        .unwrap()
}

/// The service a `HealthCheckRequest` names: one uncompressed message, field 1 (names here
/// are shorter than 128 bytes, so their length is one byte).
fn requested_service(body: &[u8]) -> String {
    assert_eq!(body[0], 0, "the request is not compressed");
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    assert_eq!(body.len(), 5 + len, "the request is one message");
    match &body[5..] {
        [] => String::new(),
        [0x0a, n, name @ ..] if usize::from(*n) == name.len() => String::from_utf8(name.to_vec()).unwrap(),
        other => panic!("not a HealthCheckRequest: {other:?}"),
    }
}

/// Monitor `id` goes down with an error that begins with `start` and ends with `end` (the
/// middle quotes the HTTP/2 or TLS library's words for what the other side sent).
async fn assert_down_saying(app: &TestApp, id: &str, start: &str, end: &str) {
    let m = app.wait_for_outcome(id, "down").await;
    let error = m["status"]["last_error"].as_str().unwrap();
    assert!(error.starts_with(start) && error.ends_with(end), "{error}");
}

fn monitor(name: &str, addr: SocketAddr, fields: Value) -> Value {
    let mut body = json!({ "name": name, "kind": "grpc", "host": addr.ip().to_string(), "port": addr.port(),
                           "interval_s": 1, "timeout_ms": 900 });
    body.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    body
}

#[tokio::test]
async fn a_grpc_monitor_made_with_the_form_is_up_while_its_service_serves_and_down_when_it_stops() {
    let app = spawn_app().await;
    let server = GrpcServer::plaintext(true).await;
    let token = csrf(&app, "/monitors/new").await;
    let port = server.addr.port().to_string();
    // The `tls` box left unticked: plaintext HTTP/2.
    let form = [
        ("csrf", token.as_str()),
        ("kind", "grpc"),
        ("name", "cart"),
        ("host", "127.0.0.1"),
        ("port", port.as_str()),
        ("service", CART),
        ("verify_tls", "on"),
        ("degraded_after_ms", "800"),
        ("interval_s", "1"),
        ("timeout_ms", "900"),
    ];
    let id = created_monitor(&browse(&app, "POST", "/monitors/new", &form).await);
    let m = app.monitor(&id).await;
    assert_eq!(
        (&m["kind"], &m["host"], &m["port"], &m["service"], &m["tls"]),
        (&json!("grpc"), &json!("127.0.0.1"), &json!(server.addr.port()), &json!(CART), &json!(false))
    );

    app.wait_for_outcome(&id, "up").await;
    assert!(server.checks.load(Ordering::SeqCst) >= 1, "the server answered a health check");
    let r = app.last_result(&id).await;
    let t = &r["timings"];
    assert!(
        t["connect_ms"].is_u64() && t["ttfb_ms"].is_u64() && t["total_ms"].is_u64() && t["tls_ms"].is_null(),
        "{r}"
    );
    assert!(r["error"].is_null(), "{r}");

    server.cart.store(2, Ordering::SeqCst);
    let m = app.wait_for_outcome(&id, "down").await;
    assert_eq!(m["status"]["last_error"], "service `shop.v1.Cart` is NOT_SERVING");
}

#[tokio::test]
async fn each_service_is_judged_by_the_status_the_server_reports_for_it() {
    let app = spawn_app().await;
    let server = GrpcServer::plaintext(true).await;
    let cases = [
        ("", "up", Value::Null),
        ("shop.v1.Billing", "down", json!("service `shop.v1.Billing` is NOT_SERVING")),
        ("shop.v1.Legacy", "down", json!("service `shop.v1.Legacy` is SERVICE_UNKNOWN: the server does not know it")),
        (
            "shop.v1.Nope",
            "down",
            json!("gRPC status 5 NOT_FOUND: the server does not know service `shop.v1.Nope` (the server says: service \"shop.v1.Nope\" is not registered)"),
        ),
    ];
    let mut ids = Vec::new();
    for (service, _, _) in &cases {
        let name = if service.is_empty() { "server" } else { service };
        ids.push(app.create_monitor(monitor(name, server.addr, json!({ "service": service, "tls": false }))).await);
    }
    for ((service, outcome, error), id) in cases.iter().zip(&ids) {
        let m = app.wait_for_outcome(id, outcome).await;
        assert_eq!(&m["status"]["last_error"], error, "service `{service}`");
    }
}

#[tokio::test]
async fn a_server_without_the_health_service_not_speaking_grpc_or_silent_is_down_saying_so() {
    let app = spawn_app().await;
    let bare = GrpcServer::plaintext(false).await;
    let id = app.create_monitor(monitor("bare", bare.addr, json!({ "tls": false }))).await;
    let m = app.wait_for_outcome(&id, "down").await;
    assert_eq!(
        m["status"]["last_error"],
        "gRPC status 12 UNIMPLEMENTED: the server has no health service (grpc.health.v1.Health) (the server says: unknown service grpc.health.v1.Health)"
    );

    // An HTTP/1.1 web server: the HTTP/2 preface gets no HTTP/2 answer.
    let web = Target::start().await;
    let id = app.create_monitor(monitor("web", web.addr, json!({ "tls": false }))).await;
    assert_down_saying(
        &app,
        &id,
        "HTTP protocol error: ",
        " (is this a gRPC port? if the server expects TLS, set tls to true)",
    )
    .await;

    // A server that accepts the connection and never answers: the check's timeout ends it.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = silent.accept().await {
            held.push(tcp);
        }
    });
    let id = app.create_monitor(monitor("silent", silent_addr, json!({ "tls": false }))).await;
    let m = app.wait_for_outcome(&id, "down").await;
    assert_eq!(m["status"]["last_error"], "timed out after 900 ms while waiting for the reply");
}

#[tokio::test]
async fn over_tls_the_certificate_is_verified_and_tls_mixed_up_with_plaintext_says_which_to_set() {
    let app = spawn_app().await;
    let (secure, _) = GrpcServer::tls().await;
    let plain = GrpcServer::plaintext(true).await;
    let verified = app.create_monitor(monitor("verified", secure.addr, json!({ "service": CART }))).await;
    let unverified =
        app.create_monitor(monitor("unverified", secure.addr, json!({ "service": CART, "verify_tls": false }))).await;
    let plain_to_tls = app.create_monitor(monitor("plain to tls", secure.addr, json!({ "tls": false }))).await;
    let tls_to_plain = app.create_monitor(monitor("tls to plain", plain.addr, json!({ "verify_tls": false }))).await;

    let m = app.wait_for_outcome(&verified, "down").await;
    assert_eq!(
        m["status"]["last_error"],
        "TLS handshake failed: invalid peer certificate: UnknownIssuer (not signed by a trusted authority)"
    );
    app.wait_for_outcome(&unverified, "up").await;
    let r = app.last_result(&unverified).await;
    assert!(r["timings"]["tls_ms"].is_u64() && r["cert_expires_at"].is_string(), "{r}");
    // The TLS server's alert read as an HTTP/2 frame ("frame with invalid size"), or its reset.
    assert_down_saying(
        &app,
        &plain_to_tls,
        "HTTP protocol error: ",
        " (is this a gRPC port? if the server expects TLS, set tls to true)",
    )
    .await;
    // The HTTP/2 server's GOAWAY read as a TLS record ("received corrupt message"), or its close.
    assert_down_saying(
        &app,
        &tls_to_plain,
        "TLS handshake failed: ",
        " (if the server speaks plaintext HTTP/2, set tls to false)",
    )
    .await;
}

#[tokio::test]
async fn a_certificate_from_a_trusted_ca_passes_verification() {
    // As the probe runs with a private CA added to the Mozilla roots.
    let (server, cert) = GrpcServer::tls().await;
    let client = HttpClient::new(SsrfGuard::allow_all(), Resolver::from_system());
    let ctx = ProbeContext::new(client.with_extra_roots(&[cert]).unwrap());
    let spec: CheckSpec = serde_json::from_value(
        json!({ "kind": "grpc", "host": "127.0.0.1", "port": server.addr.port(), "service": CART }),
    )
    .unwrap();
    let report = run_check(&spec, Duration::from_secs(2), 0, &ctx).await;
    assert_eq!(report.outcome, Outcome::Up, "{report:?}");
    assert!(report.timings.tls_ms.is_some() && report.cert_expires_at.is_some(), "{report:?}");
    server.cart.store(2, Ordering::SeqCst);
    let report = run_check(&spec, Duration::from_secs(2), 0, &ctx).await;
    assert_eq!(
        (report.outcome, report.error.as_deref()),
        (Outcome::Down, Some("service `shop.v1.Cart` is NOT_SERVING"))
    );
}

#[tokio::test]
async fn the_ssrf_guard_refuses_a_loopback_grpc_server_when_saved_and_when_checked() {
    let server = GrpcServer::plaintext(true).await;
    let body = monitor("internal", server.addr, json!({ "tls": false }));
    // Saved before the guard was on: refused when checked (outcome error, nothing sent).
    let mut env = test_env().await;
    let mut app = env.spawn().await;
    let id = app.create_monitor(body.clone()).await;
    app.stop().await;
    let checked = server.checks.load(Ordering::SeqCst);
    env.config.ssrf.block_private = true;
    let app = env.spawn().await;
    let m = app.wait_for_outcome(&id, "error").await;
    let error = m["status"]["last_error"].as_str().unwrap();
    assert!(error.starts_with("refused to connect to 127.0.0.1: loopback address (SSRF guard"), "{error}");
    assert_eq!(server.checks.load(Ordering::SeqCst), checked, "no check reached the loopback server");
    let (status, e) = app.api("POST", "/api/v1/monitors", Some(body)).await;
    assert_eq!((status, e["error"]["field"].as_str()), (422, Some("host")), "{e}");
}

#[tokio::test]
async fn a_regional_worker_checks_grpc_health_too() {
    let server = GrpcServer::plaintext(true).await;
    let (app, _env, eu) = engine_with_eu_worker().await;
    let fields = json!({ "service": "shop.v1.Billing", "tls": false, "regions": ["eu"] });
    let id = app.create_monitor(monitor("billing", server.addr, fields)).await;
    let from_eu = first_result_from(&app, &id, "eu").await;
    assert_eq!(
        (&from_eu["worker"], &from_eu["outcome"], &from_eu["error"]),
        (&json!("eu/eu-1"), &json!("down"), &json!("service `shop.v1.Billing` is NOT_SERVING")),
        "{from_eu}"
    );
    eu.shutdown().await;
}

#[tokio::test]
async fn grpc_fields_are_checked_by_name() {
    let app = spawn_app().await;
    let cases = [
        (json!({ "port": 50051 }), "host", "missing field `host`"),
        (json!({ "host": "grpc.example.com" }), "port", "missing field `port`"),
        (json!({ "host": "a b", "port": 50051 }), "host", "not a host name or IP address"),
        (json!({ "host": "grpc.example.com", "port": 0 }), "port", "must be between 1 and 65535"),
        (json!({ "host": "grpc.example.com", "port": 70000 }), "port", "invalid value"),
        (json!({ "host": "grpc.example.com", "port": 50051, "service": "shop cart" }), "service", "has a space"),
        (
            json!({ "host": "grpc.example.com", "port": 50051, "service": "s".repeat(257) }),
            "service",
            "at most 256 bytes",
        ),
        (json!({ "host": "grpc.example.com", "port": 50051, "tls": "yes" }), "tls", "invalid type"),
        (json!({ "host": "grpc.example.com", "port": 50051, "url": "grpc://x" }), "url", "unknown field"),
    ];
    app.assert_monitor_fields_refused("grpc", "health", cases.into()).await;
}

//! The monitored site stand-in: an axum app with the behaviours probes must tell apart.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use axum::Router;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Requests seen by `/flaky`, which fails with 503 for its first two requests.
#[derive(Clone, Default)]
struct Flaky(Arc<AtomicUsize>);

pub fn router() -> Router {
    Router::new()
        .route("/ok", get(|| async { "hello from netpulse test site" }))
        .route("/status/{code}", get(status))
        .route("/slow", get(slow))
        .route("/keyword", get(|| async { "all systems operational" }))
        .route("/health.json", get(health_json))
        .route("/redirect/{n}", get(redirect_chain))
        .route("/loop", get(|| async { Redirect::temporary("/loop") }))
        .route("/redirect-to", get(redirect_to))
        .route("/see-other", any(|| async { Redirect::to("/echo") }))
        .route("/temporary", any(|| async { Redirect::temporary("/echo") }))
        .route("/echo", any(echo))
        .route("/big", get(|| async { "a".repeat(2 * 1024 * 1024) }))
        .route("/flaky", get(flaky))
        .with_state(Flaky::default())
}

/// Serve [`router`] on `ip:0`; returns the base URL like `http://127.0.0.1:41234`.
pub async fn spawn_on(ip: &str) -> String {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router()).await.unwrap() });
    format!("http://{addr}")
}

pub async fn spawn() -> String {
    spawn_on("127.0.0.1").await
}

async fn status(Path(code): Path<u16>) -> StatusCode {
    StatusCode::from_u16(code).unwrap()
}

async fn slow(Query(q): Query<HashMap<String, u64>>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(q["ms"])).await;
    "finally"
}

async fn redirect_chain(Path(n): Path<u32>) -> Response {
    if n == 0 {
        "arrived".into_response()
    } else {
        Redirect::to(&format!("/redirect/{}", n - 1)).into_response()
    }
}

async fn redirect_to(Query(q): Query<HashMap<String, String>>) -> Redirect {
    Redirect::to(&q["url"])
}

/// Echoes the method, selected headers and the body as JSON.
async fn echo(method: Method, headers: HeaderMap, body: String) -> axum::Json<serde_json::Value> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    axum::Json(serde_json::json!({
        "method": method.as_str(),
        "host": header("host"),
        "user_agent": header("user-agent"),
        "authorization": header("authorization"),
        "body": body,
    }))
}

async fn flaky(State(seen): State<Flaky>) -> StatusCode {
    if seen.0.fetch_add(1, Ordering::SeqCst) < 2 {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

/// A JSON health document with a version header, as many services answer `/health`.
async fn health_json() -> Response {
    let body = serde_json::json!({ "status": "ok", "checks": [{ "name": "db", "latency_ms": 4 }] });
    ([("x-api-version", "3")], axum::Json(body)).into_response()
}

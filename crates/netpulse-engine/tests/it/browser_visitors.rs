//! Real visitors in headless Chromium (`tests/browser/visitors.mjs`): a shop site on
//! 127.0.0.1 embeds its source's script; page views report (one after the site's health URL
//! started failing), a page without scripts reports through the pixel, the same script on a
//! site of another origin is refused and counted, and a browser sending Do Not Track reports
//! nothing. The dashboard's monitor page and visitors page, and the status page, then show
//! the figures under their own label; the API's counts agree.

use crate::browser_pages::run_script;
use crate::harness::{spawn_app_with, test_config, Target, TOKEN};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

async fn health(State(h): State<Arc<AtomicU16>>) -> StatusCode {
    StatusCode::from_u16(h.load(Ordering::SeqCst)).unwrap()
}

async fn fail(State(h): State<Arc<AtomicU16>>) -> &'static str {
    h.store(503, Ordering::SeqCst);
    "down"
}

/// Serve a site on `listener` whose pages embed the source's tags (`/` the script, `/plain`
/// the pixel) and whose `/health` answers 200 until `POST /down`.
fn serve_site(listener: TcpListener, src: &Value) {
    let tag = |k: &str| src[k].as_str().unwrap().to_owned();
    let page = format!("<!doctype html><title>Shop</title><h1>Shop</h1>{}", tag("script_tag"));
    let plain = format!("<!doctype html><title>Shop</title><h1>No scripts</h1>{}", tag("pixel_tag"));
    let app = Router::new()
        .route("/", get(move || async move { Html(page) }))
        .route("/plain", get(move || async move { Html(plain) }))
        .route("/health", get(health))
        .route("/down", post(fail))
        .with_state(Arc::new(AtomicU16::new(200)));
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_visitors_in_chromium() {
    let data = tempfile::tempdir().unwrap();
    let mut app = spawn_app_with(test_config(data.path())).await;
    let target = Target::start().await;
    let monitor = app
        .create_monitor(json!({ "name": "Storefront", "kind": "http", "url": target.url(), "interval_s": 3600 }))
        .await;
    let (shop, other) =
        (TcpListener::bind("127.0.0.1:0").await.unwrap(), TcpListener::bind("127.0.0.1:0").await.unwrap());
    let site = format!("http://{}", shop.local_addr().unwrap());
    let foreign = format!("http://{}", other.local_addr().unwrap());
    let sources = format!("/api/v1/monitors/{monitor}/visitor-sources");
    let body = json!({ "origins": [site], "sample_one_in": 1, "health_url": "/health", "on_status_pages": true });
    let (st, src) = app.api("POST", &sources, Some(body)).await;
    assert_eq!(st, 201, "{src}");
    serve_site(shop, &src);
    serve_site(other, &src);
    let page = json!({ "slug": "shop", "title": "Shop", "monitors": [{ "monitor_id": monitor, "display_name": "Storefront" }] });
    let (st, page) = app.api("POST", "/api/v1/status-pages", Some(page)).await;
    assert_eq!(st, 201, "{page}");

    let env = vec![
        ("NP_BASE", app.url("")),
        ("NP_TOKEN", TOKEN.to_owned()),
        ("NP_MONITOR", monitor.clone()),
        ("NP_SITE", site),
        ("NP_FOREIGN", foreign),
    ];
    run_script("visitors.mjs", env).await;

    let (_, listed) = app.api("GET", &sources, None).await;
    assert_eq!((&listed["last_24h"]["loads"], &listed["last_24h"]["failed"]), (&json!(5), &json!(1)), "{listed}");
    assert_eq!(listed["data"][0]["dropped"]["origin"], 1, "the foreign site's beacon: {listed}");
    app.stop().await;
}

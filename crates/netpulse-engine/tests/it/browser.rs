//! The dashboard in headless Chromium: `tests/browser/live.mjs` (playwright-core) signs in,
//! creates a monitor through the form (after seeing its inline error for a bad interval),
//! watches its first result arrive live in another tab, stops the target and watches the
//! incident appear, all without reload (the monitor page's latency chart, state badge and
//! 24 h uptime following the results; an overview whose stream is held back until after
//! the monitor went down catching up on connect; a monitor page whose stream a proxy cuts for
//! 5 s showing what came meanwhile once, newest first, counted once), then opens a public status page and checks that no
//! private value planted in the fixtures appears in its HTML or JSON. This test starts the
//! real engine and the target, runs the script with `node`, and fails when it fails.
//! Screenshots go to `target/browser-artifacts/`.
//! Needs `node` and `/usr/bin/chromium` (scripts/test.sh installs them). A second script,
//! `tests/browser/deliveries.mjs`, checks that a failing channel shows as failing.

use crate::harness::{spawn_app_with, test_config, TOKEN};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

/// A monitored site with a control endpoint: `POST /down` makes `/health` answer 503.
async fn controllable_target() -> std::net::SocketAddr {
    let status = Arc::new(AtomicU16::new(200));
    let app =
        Router::new()
            .route(
                "/health",
                get(|State(s): State<Arc<AtomicU16>>| async move {
                    StatusCode::from_u16(s.load(Ordering::SeqCst)).unwrap()
                }),
            )
            .route(
                "/down",
                post(|State(s): State<Arc<AtomicU16>>| async move {
                    s.store(503, Ordering::SeqCst);
                    "down"
                }),
            )
            .with_state(status);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    addr
}

fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target dir").join("browser-artifacts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_dashboard_in_chromium() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let ok = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir).status();
        assert!(ok.is_ok_and(|s| s.success()), "npm ci in {} failed (is node installed?)", dir.display());
    }
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    // E-mail channels need an SMTP relay configured; the test only plants an address.
    config.smtp.host = "127.0.0.1".into();
    config.smtp.port = 9;
    let mut app = spawn_app_with(config).await;
    let target = controllable_target().await;
    let script_dir = dir.clone();
    let base = app.url("");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("live.mjs")
            .current_dir(script_dir)
            .env("NP_BASE", base)
            .env("NP_TOKEN", TOKEN)
            .env("NP_TARGET", format!("http://{target}/health"))
            .env("NP_TARGET_DOWN", format!("http://{target}/down"))
            .env("NP_ARTIFACTS", artifacts_dir())
            .output()
    })
    .await
    .unwrap()
    .expect("node runs (is node installed?)");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{log}");
    assert!(out.status.success(), "browser test failed:\n{log}");
    for shot in ["form-error.png", "monitor-incident.png", "status-page.png"] {
        assert!(artifacts_dir().join(shot).exists(), "{shot} saved");
    }
    let metrics = app.client.send(netpulse_checker::HttpRequest::new(
        http::Method::GET,
        app.url("/metrics").parse().unwrap(),
        std::time::Duration::from_secs(5),
    ));
    let metrics = String::from_utf8_lossy(&metrics.await.expect("metrics").body).into_owned();
    let count = metrics
        .lines()
        .find_map(|l| l.strip_prefix("netpulse_check_to_dashboard_ms_count "))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(count > 0, "results were written to the dashboard's stream, so the histogram counted them");
    app.stop().await;
}

/// `tests/browser/deliveries.mjs`: a webhook channel pointed at a closed local port, sent a
/// test notification, shows as failing in Chromium — the header's flag, the overview's banner,
/// its row on the channels page with the last error, the failed attempt in the delivery log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_channel_in_chromium() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let ok = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir).status();
        assert!(ok.is_ok_and(|s| s.success()), "npm ci in {} failed (is node installed?)", dir.display());
    }
    let data = tempfile::tempdir().unwrap();
    let mut app = spawn_app_with(test_config(data.path())).await;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{closed}/hook");
    let (status, ch) = app
        .api("POST", "/api/v1/channels", Some(serde_json::json!({ "name": "dead", "kind": "webhook", "url": url })))
        .await;
    assert_eq!(status, 201, "{ch}");
    let id = ch["id"].as_str().unwrap().to_owned();
    let (_, tested) = app.api("POST", &format!("/api/v1/channels/{id}/test"), None).await;
    assert_eq!(tested["delivered"], false, "nothing listens there: {tested}");
    let base = app.url("");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("deliveries.mjs")
            .current_dir(dir)
            .env("NP_BASE", base)
            .env("NP_TOKEN", TOKEN)
            .env("NP_CHANNEL", id)
            .env("NP_ARTIFACTS", artifacts_dir())
            .output()
    })
    .await
    .unwrap()
    .expect("node runs (is node installed?)");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{log}");
    assert!(out.status.success(), "browser test failed:\n{log}");
    assert!(artifacts_dir().join("channels-failing.png").exists(), "screenshot saved");
    app.stop().await;
}

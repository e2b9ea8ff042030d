//! What a person reads on the dashboard and the status page, in headless Chromium
//! (`tests/browser/pages.mjs`, playwright-core, the browser in the Asia/Tokyo time zone):
//! times read "3 min ago" with the exact local time on hover and never as an ISO string with
//! milliseconds, incidents say how long they lasted, a failed check's latency reads "–", an
//! incident's state uses the API's words; the alerting defaults are picked from selects (the
//! quorum's "majority", the channels to escalate to). The fixtures are made here through the API: a
//! monitor whose target answers 503 (so an incident opens), an incident with a public
//! message, and a status page showing it. Screenshots go to `target/browser-artifacts/`.

use crate::harness::{spawn_app_with, test_config, wait_for, Target, TOKEN};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target dir").join("browser-artifacts")
}

/// Run `tests/browser/{script}` with `node` and the given environment; panics with its log
/// when it fails.
pub(crate) async fn run_script(script: &'static str, env: Vec<(&'static str, String)>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let ok = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir).status();
        assert!(ok.is_ok_and(|s| s.success()), "npm ci in {} failed (is node installed?)", dir.display());
    }
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node").arg(script).current_dir(dir).envs(env).env("NP_ARTIFACTS", artifacts_dir()).output()
    })
    .await
    .unwrap()
    .expect("node runs (is node installed?)");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{log}");
    assert!(out.status.success(), "browser test {script} failed:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_people_read_in_chromium() {
    let data = tempfile::tempdir().unwrap();
    let mut app = spawn_app_with(test_config(data.path())).await;
    let target = Target::start().await;
    target.set_status(503);
    let body = json!({ "name": "Checkout", "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 900 });
    let monitor = app.create_monitor(body).await;
    let incident = wait_for(20, "an incident", || async {
        app.incidents(&monitor).await.first().map(|i| i["id"].as_str().unwrap().to_owned())
    })
    .await;
    let (status, note) = app
        .api(
            "POST",
            &format!("/api/v1/incidents/{incident}/public-message"),
            Some(json!({ "message": "Checkout is down." })),
        )
        .await;
    assert_eq!(status, 200, "{note}");
    let page = json!({ "slug": "shop", "title": "Shop status",
        "monitors": [{ "monitor_id": monitor, "display_name": "Checkout", "group": "" }] });
    let (status, sp) = app.api("POST", "/api/v1/status-pages", Some(page)).await;
    assert_eq!(status, 201, "{sp}");
    let hook = json!({ "name": "on-call", "kind": "webhook", "url": "http://127.0.0.1:9/hook" });
    let (status, ch) = app.api("POST", "/api/v1/channels", Some(hook)).await;
    assert_eq!(status, 201, "{ch}");
    let env = vec![
        ("NP_CHANNEL", ch["id"].as_str().unwrap().to_owned()),
        ("NP_BASE", app.url("")),
        ("NP_TOKEN", TOKEN.to_owned()),
        ("NP_MONITOR", monitor.clone()),
        ("NP_INCIDENT", incident.clone()),
    ];
    run_script("pages.mjs", env).await;
    app.stop().await;
}

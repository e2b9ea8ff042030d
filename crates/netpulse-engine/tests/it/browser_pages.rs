//! What a person reads on the dashboard and the status page, in headless Chromium
//! (`tests/browser/pages.mjs`, playwright-core, the browser in the Asia/Tokyo time zone):
//! times read "3 min ago" with the exact local time on hover and never as an ISO string with
//! milliseconds, incidents say how long they lasted, a failed check's latency reads "–", an
//! incident's state uses the API's words; the alerting defaults are picked from selects (the
//! quorum's "majority", the channels to escalate to); a TLS monitor's page shows its
//! certificate's expiry, days left and issuer, and the overview flags the one expiring soon; at a
//! phone's 390 px no page scrolls sideways, and a dark system setting gets dark pages. The fixtures are made here through the API: a
//! monitor whose target answers 503 (so an incident opens), an incident with a public
//! message, and a status page showing it. Screenshots go to `target/browser-artifacts/`.

use crate::harness::{spawn_app_with, test_config, wait_for, Receiver, Target, TOKEN};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// A TLS server on 127.0.0.1 whose self-signed certificate (issued by "NetPulse Test CA")
/// expires in `days`; it completes handshakes and closes. Returns the port.
pub(crate) async fn tls_target(days: i64) -> u16 {
    let (config, _) = self_signed_tls(days);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move { drop(acceptor.accept(tcp).await) });
        }
    });
    port
}

/// A server config with a certificate for `localhost` and 127.0.0.1 signed by itself as
/// "NetPulse Test CA", valid from 30 days ago until `days` from now; and the certificate.
pub(crate) fn self_signed_tls(days: i64) -> (rustls::ServerConfig, rustls::pki_types::CertificateDer<'static>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.subject_alt_names.push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "NetPulse Test CA");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(30);
    params.not_after = now + time::Duration::days(days) + time::Duration::hours(1);
    let cert = params.self_signed(&key).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    (config, cert.der().clone())
}

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
    // Two TLS monitors: one certificate inside the 14-day warning, one well outside it.
    let mut tls = Vec::new();
    for (name, days) in [("Expiring cert", 5), ("Fresh cert", 80)] {
        let port = tls_target(days).await;
        let body = json!({ "name": name, "kind": "tls", "host": "127.0.0.1", "port": port, "warn_days": 14,
            "verify_tls": false, "interval_s": 5 });
        tls.push(app.create_monitor(body).await);
    }
    for id in &tls {
        wait_for(30, "a TLS result", || async {
            let (_, r) = app.api("GET", &format!("/api/v1/monitors/{id}/results?limit=1"), None).await;
            r["data"][0]["cert_expires_at"].as_str().map(str::to_owned)
        })
        .await;
    }
    let env = vec![
        ("NP_TLS_EXPIRING", tls[0].clone()),
        ("NP_TLS_FRESH", tls[1].clone()),
        ("NP_CHANNEL", ch["id"].as_str().unwrap().to_owned()),
        ("NP_BASE", app.url("")),
        ("NP_TOKEN", TOKEN.to_owned()),
        ("NP_MONITOR", monitor.clone()),
        ("NP_INCIDENT", incident.clone()),
    ];
    run_script("pages.mjs", env).await;
    app.stop().await;
}

/// `tests/browser/first_run.mjs`: an empty account's overview guides through add a monitor →
/// add a channel → send a test → see it delivered, and ticks each step as the account's data
/// shows it done (the browser does each step through the dashboard's own forms); once a test
/// was delivered to the local receiver, the guide is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_guide_in_chromium() {
    let data = tempfile::tempdir().unwrap();
    let mut app = spawn_app_with(test_config(data.path())).await;
    let receiver = Receiver::start().await;
    let target = Target::start().await;
    let env = vec![
        ("NP_BASE", app.url("")),
        ("NP_TOKEN", TOKEN.to_owned()),
        ("NP_RECEIVER", receiver.url()),
        ("NP_TARGET", target.url()),
    ];
    run_script("first_run.mjs", env).await;
    assert_eq!(receiver.events(), ["test"], "the test notification reached the receiver");
    app.stop().await;
}

//! `/metrics` as Prometheus's own linter reads it: `promtool check metrics` (Debian's
//! `prometheus` package, installed by scripts/test.sh) finds nothing to say but about the
//! millisecond names kept one more release beside their `_seconds` ones; and an
//! organisation's `/metrics/monitors`, scraped with its API token, as Grafana would read it.

use crate::harness::*;
use netpulse_pipeline::metrics::DEPRECATED_MS;
use serde_json::json;
use std::io::Write;
use std::process::{Command, Stdio};

/// `promtool check metrics` over `text`: its exit code and what it printed.
fn promtool(text: &str) -> (i32, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (scripts/test.sh installs Debian's prometheus package, which has it)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), said)
}

#[tokio::test]
async fn metrics_use_base_units_and_promtool_finds_only_the_deprecated_names() {
    let app = spawn_app().await;
    let target = Target::start().await;
    app.create_monitor(
        json!({ "name": "site", "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 500 }),
    )
    .await;
    let text = wait_for(10, "a result committed and counted", || async {
        let (status, body, _) = app.raw("GET", "/metrics", None, &[]).await;
        assert_eq!(status, 200);
        body.contains("netpulse_check_to_ingest_seconds_count 1").then_some(body)
    })
    .await;
    for old in DEPRECATED_MS {
        let new = old.replace("_ms", "_seconds");
        for name in [&new, old] {
            assert!(text.contains(&format!("# TYPE {name} histogram")), "{name} missing from\n{text}");
        }
    }

    let (_, said) = promtool(&text);
    let problems: Vec<&str> = said.lines().filter(|l| !l.trim().is_empty()).collect();
    for p in &problems {
        assert!(DEPRECATED_MS.iter().any(|old| p.starts_with(old)), "promtool: {p}\n(all it said:\n{said})");
    }
    let current: String = text
        .split("# HELP ")
        .filter(|family| !family.is_empty() && !DEPRECATED_MS.iter().any(|old| family.starts_with(&format!("{old} "))))
        .map(|family| format!("# HELP {family}"))
        .collect();
    assert_eq!(promtool(&current), (0, String::new()), "without the deprecated names promtool is content");
}

/// The sample of `family` for the monitor `id` (and `extra` labels), as a number.
fn sample(text: &str, family: &str, id: &str, extra: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) && l.contains(&format!("monitor_id=\"{id}\"")))
        .find(|l| l.contains(extra))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn an_organisation_scrapes_its_monitors_state_latency_uptime_and_certificates() {
    let app = spawn_app().await;
    let (up_site, down_site) = (Target::start().await, Target::start().await);
    down_site.set_status(503);
    let tls_port = crate::browser_pages::tls_target(20).await;
    let ok = app
        .create_monitor(json!({ "name": "shop \"eu\"", "kind": "http", "url": up_site.url(), "interval_s": 1, "timeout_ms": 500, "tags": ["prod", "eu"] }))
        .await;
    let down = app
        .create_monitor(
            json!({ "name": "api", "kind": "http", "url": down_site.url(), "interval_s": 1, "timeout_ms": 500 }),
        )
        .await;
    let tls = app
        .create_monitor(json!({ "name": "cert", "kind": "tls", "host": "127.0.0.1", "port": tls_port, "verify_tls": false, "interval_s": 1, "timeout_ms": 500 }))
        .await;
    let text = wait_for(15, "the three monitors checked and the outage confirmed", || async {
        let (status, body, _) =
            app.raw("GET", "/metrics/monitors", None, &[("authorization", &format!("Bearer {TOKEN}"))]).await;
        assert_eq!(status, 200, "{body}");
        let ready = sample(&body, "netpulse_monitor_open_incident", &down, "") == Some(1.0)
            && sample(&body, "netpulse_monitor_latency_seconds", &ok, "").is_some()
            && sample(&body, "netpulse_monitor_certificate_expiry_timestamp_seconds", &tls, "").is_some();
        ready.then_some(body)
    })
    .await;
    assert_eq!(promtool(&text), (0, String::new()), "promtool is content:\n{text}");

    assert!(text.contains(&format!(r#"monitor_id="{ok}",name="shop \"eu\"",kind="http",tags="prod,eu""#)), "{text}");
    assert_eq!(sample(&text, "netpulse_monitor_up", &ok, ""), Some(1.0));
    assert_eq!(sample(&text, "netpulse_monitor_state", &ok, "state=\"up\""), Some(1.0));
    assert_eq!(sample(&text, "netpulse_monitor_state", &ok, "state=\"down\""), Some(0.0));
    assert_eq!(sample(&text, "netpulse_monitor_uptime_ratio", &ok, "window=\"24h\""), Some(1.0));
    assert!(sample(&text, "netpulse_monitor_phase_seconds", &ok, "phase=\"connect\"").is_some(), "{text}");
    assert_eq!(sample(&text, "netpulse_monitor_up", &down, ""), Some(0.0));
    assert_eq!(sample(&text, "netpulse_monitor_state", &down, "state=\"down\""), Some(1.0));
    assert_eq!(sample(&text, "netpulse_monitor_open_incident", &ok, ""), Some(0.0));
    assert_eq!(sample(&text, "netpulse_monitor_latency_seconds", &down, ""), None, "a failed check has no latency");
    let expiry = sample(&text, "netpulse_monitor_certificate_expiry_timestamp_seconds", &tls, "").unwrap();
    let days_left = (expiry - now_secs() as f64) / 86_400.0;
    assert!((19.9..=21.1).contains(&days_left), "about 20 days left: {days_left}");

    let (status, body, _) = app.raw("GET", "/metrics/monitors", None, &[]).await;
    assert_eq!(status, 401, "no token, no metrics: {body}");
    assert!(body.contains("\"unauthorized\""), "{body}");
}

//! `/metrics` as Prometheus's own linter reads it: `promtool check metrics` (Debian's
//! `prometheus` package, installed by scripts/test.sh) finds nothing to say but about the
//! millisecond names kept one more release beside their `_seconds` ones.

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

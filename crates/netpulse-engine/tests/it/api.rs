//! The REST API as a client sees it: CRUD, validation errors that name the field, auth,
//! pagination, uptime, pause/resume, and the SSRF guard.

use crate::harness::*;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

#[tokio::test]
async fn bad_input_is_refused_with_the_field_named_and_nothing_written() {
    let app = spawn_app().await;
    #[rustfmt::skip]
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (json!({ "name": "x", "kind": "smtp", "host": "a" }), 422, "kind", "not a monitor kind"),
        (json!({ "name": "x", "url": "http://a" }), 422, "kind", "is required"),
        (json!({ "kind": "http", "url": "http://a" }), 422, "name", "is required"),
        (json!({ "name": "x", "kind": "http", "url": "example.com/health" }), 422, "url", "not a valid URL"),
        (json!({ "name": "x", "kind": "http", "url": "ftp://a" }), 422, "url", "use http:// or https://"),
        (json!({ "name": "x", "kind": "http", "url": "http://a", "interval_s": 0 }), 422, "interval_s", "at least 1 seconds"),
        (json!({ "name": "x", "kind": "http", "url": "http://a", "interval_s": "often" }), 422, "interval_s", "invalid type"),
        (json!({ "name": "x", "kind": "http", "url": "http://a", "expected_status": "2xx" }), 422, "expected_status", "not an HTTP status code"),
        (json!({ "name": "x", "kind": "http", "url": "http://a", "colour": "red" }), 422, "colour", "unknown field"),
        (json!({ "name": "x", "kind": "tcp", "host": "db" }), 422, "port", "missing field"),
        (json!({ "name": "x", "kind": "http", "url": "http://a", "policy": { "confirm_threshold": 0 } }), 422, "policy.confirm_threshold", "between 1 and 20"),
        (json!({ "name": "x", "kind": "http", "url": "http://a", "interval_s": 5, "timeout_ms": 9000 }), 422, "timeout_ms", "must not exceed the interval"),
        (json!({ "name": "x", "kind": "http", "url": "http://a", "headers": [{ "name": "X-A", "value": "a\r\nb" }] }), 422, "headers[0].value", "line breaks"),
        (json!({ "name": "x", "kind": "http", "url": "http://a", "interval_s": 10, "timeout_ms": 4000, "retries": 2 }), 422, "retries", "do not fit in the 10 s interval"),
        (json!({ "name": "x", "kind": "http", "url": "http://a", "regions": ["local", "eu-west"] }), 422, "regions[1]", "no checker serves region `eu-west`"),
        (json!({ "name": "x", "kind": "http", "url": "http://a", "assertions": ["$.status == ok"] }), 422, "assertions[0]", "write text in double quotes"),
        (json!({ "name": "x", "kind": "http", "url": "http://a", "assertions": ["size < 10", "status contains \"2\""] }), 422, "assertions[1]", "text operator on a number"),
        (json!({ "name": "x", "kind": "http", "url": "http://a", "assertions": vec!["size < 10"; 21] }), 422, "assertions", "at most 20 assertions"),
    ];
    for (body, status, field, message) in cases {
        let (got, json) = app.api("POST", "/api/v1/monitors", Some(body.clone())).await;
        assert_eq!(got, status, "{body} → {json}");
        assert_eq!(json["error"]["field"], field, "{body} → {json}");
        assert_eq!(json["error"]["code"], "validation_failed");
        assert!(json["error"]["message"].as_str().unwrap().contains(message), "{body} → {json}");
    }
    let (status, json) = app.call("POST", "/api/v1/monitors", None, Some(TOKEN)).await;
    assert_eq!(status, 415, "{json}");
    let (_, list) = app.api("GET", "/api/v1/monitors", None).await;
    assert_eq!(list["data"], json!([]), "nothing half-written");
}

#[tokio::test]
async fn a_response_assertion_that_fails_takes_the_monitor_down_naming_it_and_the_form_shows_it() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let assertions = json!(["status == 200", "body contains \"maintenance\""]);
    let id = app
        .create_monitor(json!({ "name": "api", "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 500, "assertions": assertions }))
        .await;
    let m = wait_for(10, "a failed check", || async {
        let m = app.monitor(&id).await;
        (m["status"]["last_outcome"] == "down").then_some(m)
    })
    .await;
    assert_eq!(m["assertions"], assertions, "stored as written");
    let error = m["status"]["last_error"].as_str().unwrap();
    assert!(error.starts_with("`body contains \"maintenance\"` failed: got \""), "{error}");

    let (status, m) =
        app.api("PATCH", &format!("/api/v1/monitors/{id}"), Some(json!({ "assertions": ["status == 200"] }))).await;
    assert_eq!(status, 200, "{m}");
    wait_for(10, "a passing check", || async {
        (app.monitor(&id).await["status"]["last_outcome"] == "up").then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_default_minimum_interval_is_ten_seconds() {
    let app = spawn_app_adjusted(|cfg| cfg.monitors.min_interval_s = 10).await;
    let (status, json) = app
        .api(
            "POST",
            "/api/v1/monitors",
            Some(json!({ "name": "x", "kind": "http", "url": "http://a", "interval_s": 5 })),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(json["error"]["message"], "interval_s: must be at least 10 seconds (got 5); raise it to 10 or more");
}

#[tokio::test]
async fn requests_need_a_valid_token_and_write_scope_errors_share_one_shape() {
    let app = spawn_app().await;
    let (status, json) = app.call("GET", "/api/v1/monitors", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(json["error"]["code"], "unauthorized");
    let (status, _) = app.call("GET", "/api/v1/monitors", None, Some("np_wrong")).await;
    assert_eq!(status, 401);
    let (status, json) = app.api("GET", "/api/v1/nope", None).await;
    assert_eq!((status, json["error"]["code"].as_str()), (404, Some("not_found")));
    for path in [
        "/api/v1/monitors/mon_00000000000000000000000000",
        "/api/v1/monitors/garbage",
        "/api/v1/incidents/inc_00000000000000000000000000",
        "/api/v1/channels/chn_x",
    ] {
        let (status, json) = app.api("GET", path, None).await;
        assert_eq!(status, 404, "{path}: {json}");
    }
}

#[tokio::test]
async fn monitors_can_be_read_updated_paused_and_deleted() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let id = app.create_monitor(json!({ "name": "site", "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 500, "tags": ["prod"] })).await;
    let m = wait_for(10, "first result", || async {
        let m = app.monitor(&id).await;
        (m["status"]["last_outcome"] == "up").then_some(m)
    })
    .await;
    assert_eq!(m["status"]["health"], "up");
    assert_eq!(m["tags"], json!(["prod"]));

    let (status, m) = app
        .api("PATCH", &format!("/api/v1/monitors/{id}"), Some(json!({ "name": "renamed", "keyword": "hello" })))
        .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(
        (m["name"].as_str(), m["keyword"].as_str(), m["interval_s"].as_u64()),
        (Some("renamed"), Some("hello"), Some(1))
    );
    let (status, m) =
        app.api("PATCH", &format!("/api/v1/monitors/{id}"), Some(json!({ "keyword": "he\u{0}llo" }))).await;
    assert_eq!((status, m["error"]["field"].as_str()), (422, Some("keyword")), "a NUL in the keyword is refused: {m}");
    let (status, m) = app.api("PATCH", &format!("/api/v1/monitors/{id}"), Some(json!({ "interval_s": 0 }))).await;
    assert_eq!((status, m["error"]["field"].as_str()), (422, Some("interval_s")));
    let (status, m) = app.api("PATCH", &format!("/api/v1/monitors/{id}"), Some(json!({ "kind": "tcp" }))).await;
    assert_eq!((status, m["error"]["field"].as_str()), (422, Some("kind")));

    let (status, m) = app.api("POST", &format!("/api/v1/monitors/{id}/pause"), None).await;
    assert_eq!((status, m["status"]["health"].as_str()), (200, Some("paused")));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let hits = target.hits.load(Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(target.hits.load(Ordering::SeqCst), hits, "a paused monitor is not checked");
    let (status, _) = app.api("POST", &format!("/api/v1/monitors/{id}/resume"), None).await;
    assert_eq!(status, 200);
    wait_for(10, "checks after resume", || async { (target.hits.load(Ordering::SeqCst) > hits).then_some(()) }).await;

    let (status, _) = app.api("DELETE", &format!("/api/v1/monitors/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, _) = app.api("GET", &format!("/api/v1/monitors/{id}"), None).await;
    assert_eq!(status, 404);
    let (status, _) = app.api("DELETE", &format!("/api/v1/monitors/{id}"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn results_page_through_a_time_range_and_uptime_counts_them() {
    let app = spawn_app().await;
    let target = Target::start().await;
    target.play(&[200, 200, 500, 200, 200, 200]);
    let id = app
        .create_monitor(
            json!({ "name": "site", "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 500 }),
        )
        .await;
    wait_for(15, "6 results", || async { (target.hits.load(Ordering::SeqCst) >= 6).then_some(()) }).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
        let (status, page) = app.api("GET", &format!("/api/v1/monitors/{id}/results?limit=2{q}"), None).await;
        assert_eq!(status, 200, "{page}");
        let rows = page["data"].as_array().unwrap();
        assert!(rows.len() <= 2);
        seen.extend(
            rows.iter().map(|r| (r["started_at"].as_str().unwrap().to_owned(), r["id"].as_str().unwrap().to_owned())),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert!(seen.len() >= 6, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen, sorted, "newest first, no duplicates across pages");

    let (_, first) = app.api("GET", &format!("/api/v1/monitors/{id}/results?limit=1000"), None).await;
    let rows = first["data"].as_array().unwrap();
    let down = rows.iter().filter(|r| r["outcome"] == "down").count() as f64;
    let r = &rows[0];
    assert!(r["timings"]["total_ms"].is_u64() && r["timings"]["connect_ms"].is_u64(), "latency breakdown: {r}");
    assert_eq!(r["provenance"], "live");

    let (_, up) = app.api("GET", &format!("/api/v1/monitors/{id}/uptime?window=1h"), None).await;
    let total = up["checks"]["up"].as_u64().unwrap() + up["checks"]["down"].as_u64().unwrap();
    let expected = 100.0 * (total as f64 - down) / total as f64;
    assert!((up["uptime_percent"].as_f64().unwrap() - expected).abs() < 1e-9, "{up}");
    assert_eq!(up["checks"]["down"].as_u64().unwrap() as f64, down);

    let (status, bad) = app.api("GET", &format!("/api/v1/monitors/{id}/results?from=yesterday"), None).await;
    assert_eq!((status, bad["error"]["field"].as_str()), (422, Some("from")));
    let (status, bad) = app.api("GET", &format!("/api/v1/monitors/{id}/uptime?window=3w"), None).await;
    assert_eq!((status, bad["error"]["field"].as_str()), (422, Some("window")));
    // A misspelt parameter is refused, naming it and the ones there are, never silently ignored
    // (a filter that is ignored answers with everything).
    for (path, param) in [
        (format!("/api/v1/monitors/{id}/results?since=1h"), "since"),
        (format!("/api/v1/incidents?monitor={id}"), "monitor"),
        ("/api/v1/deliveries?channel=chn_x".to_owned(), "channel"),
    ] {
        let (status, bad) = app.api("GET", &path, None).await;
        let message = bad["error"]["message"].as_str().unwrap_or_default();
        assert_eq!((status, bad["error"]["field"].as_str()), (422, Some(param)), "{path}: {bad}");
        assert!(message.contains("unknown field") && message.contains("expected one of"), "{path}: {bad}");
    }
}

#[tokio::test]
async fn the_ssrf_guard_refuses_private_targets_when_enabled() {
    // Saved before the guard was on (a literal is refused when saved once it is): refused when checked.
    let mut env = test_env().await;
    let target = Target::start().await;
    let body = json!({ "name": "internal", "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 500 });
    let mut app = env.spawn().await;
    let id = app.create_monitor(body.clone()).await;
    app.stop().await;
    env.config.ssrf.block_private = true;
    let app = env.spawn().await;
    let hits = target.hits.load(Ordering::SeqCst);
    let m = wait_for(10, "a refused check", || async {
        let m = app.monitor(&id).await;
        (m["status"]["last_outcome"] == "error").then_some(m)
    })
    .await;
    assert!(m["status"]["last_error"].as_str().unwrap().contains("SSRF"), "{m}");
    assert_eq!(target.hits.load(Ordering::SeqCst), hits, "no request reached the private address");
    let (status, e) = app.api("POST", "/api/v1/monitors", Some(body)).await;
    assert_eq!((status, e["error"]["field"].as_str()), (422, Some("url")), "{e}");
}

#[tokio::test]
async fn a_target_in_a_blocked_range_is_refused_when_saved_for_every_probe_and_channel_kind() {
    use netpulse_checker::guard::BLOCKED_EXAMPLES;
    let app = spawn_app_adjusted(|cfg| {
        cfg.ssrf.block_private = true;
        cfg.ssrf.allow = vec![];
    })
    .await;
    for (text, class) in BLOCKED_EXAMPLES {
        let ip: std::net::IpAddr = text.parse().unwrap();
        let host = if ip.is_ipv6() { format!("[{ip}]") } else { ip.to_string() };
        #[rustfmt::skip]
        let monitors = [
            (json!({ "kind": "http", "url": format!("http://{host}:8080/health") }), "url"),
            (json!({ "kind": "tcp", "host": host, "port": 5432 }), "host"),
            (json!({ "kind": "tls", "host": host, "port": 443 }), "host"),
            (json!({ "kind": "websocket", "url": format!("wss://{host}/socket") }), "url"),
            (json!({ "kind": "ping", "host": host }), "host"),
            (json!({ "kind": "grpc", "host": host, "port": 50051 }), "host"),
            (json!({ "kind": "dns", "query": "example.com", "resolver": format!("{host}:53") }), "resolver"),
        ];
        for (mut body, field) in monitors {
            body["name"] = json!("internal");
            let (status, e) = app.api("POST", "/api/v1/monitors", Some(body.clone())).await;
            assert_eq!((status, e["error"]["field"].as_str()), (422, Some(field)), "{body} → {e}");
            assert!(e["error"]["message"].as_str().unwrap().contains(class.describe()), "{body} → {e}");
        }
        for kind in ["webhook", "slack", "discord", "teams", "pagerduty"] {
            let secret = (kind == "pagerduty").then_some("R0UTINGKEY0123456789abcdefABCDEF");
            let body = json!({ "name": "c", "kind": kind, "url": format!("https://{host}/hook"), "secret": secret });
            let (status, e) = app.api("POST", "/api/v1/channels", Some(body.clone())).await;
            assert_eq!((status, e["error"]["field"].as_str()), (422, Some("url")), "{body} → {e}");
            assert!(e["error"]["message"].as_str().unwrap().contains(class.describe()), "{body} → {e}");
        }
        #[rustfmt::skip]
        let kinds = [
            json!({ "kind": "ntfy", "topic": "ops" }),
            json!({ "kind": "telegram", "secret": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "chat_id": "42" }),
            json!({ "kind": "gotify", "secret": "AvKcy9o-yvVhyKd" }),
            json!({ "kind": "pushover", "secret": "azGDORePK8gMaC0QOYAMyEEuzJnyUi", "user_key": "uQiRzpo4DXghDmr9QzzfQu27cmVRsG" }),
            json!({ "kind": "opsgenie", "secret": "eb243592-faa2-4ba2" }),
            json!({ "kind": "matrix", "secret": "syt_x", "room_id": "!a:example.org" }),
            json!({ "kind": "google_chat" }),
            json!({ "kind": "templated_webhook", "body_template": "{{title}}", "content_type": "text/plain" }),
        ];
        for mut body in kinds {
            (body["name"], body["url"]) = (json!("c"), json!(format!("https://{host}/hook")));
            let (status, e) = app.api("POST", "/api/v1/channels", Some(body.clone())).await;
            assert_eq!((status, e["error"]["field"].as_str()), (422, Some("url")), "{body} → {e}");
            assert!(e["error"]["message"].as_str().unwrap().contains(class.describe()), "{body} → {e}");
        }
    }
    let (_, monitors) = app.api("GET", "/api/v1/monitors", None).await;
    let (_, channels) = app.api("GET", "/api/v1/channels", None).await;
    assert_eq!((monitors["data"].clone(), channels["data"].clone()), (json!([]), json!([])), "nothing saved");
    let body = json!({ "name": "public", "kind": "tcp", "host": "93.184.216.34", "port": 443, "paused": true });
    assert_eq!(app.api("POST", "/api/v1/monitors", Some(body)).await.0, 201, "a public address is fine");
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app().await;
    let target = Target::start().await;
    app.create_monitor(
        json!({ "name": "site", "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 500 }),
    )
    .await;
    wait_for(10, "a check", || async { (target.hits.load(Ordering::SeqCst) >= 1).then_some(()) }).await;
    let (status, _) = app.call("GET", "/healthz", None, None).await;
    assert_eq!(status, 200);
    let (status, ready) = app.call("GET", "/readyz", None, None).await;
    assert_eq!((status, ready["status"].as_str()), (200, Some("ready")));
    let metrics = wait_for(10, "an ingested result in metrics", || async {
        let mut req =
            netpulse_checker::HttpRequest::get(app.url("/metrics").parse().unwrap(), std::time::Duration::from_secs(5));
        req.max_body_bytes = 1 << 20;
        let body = String::from_utf8(app.client.send(req).await.unwrap().body.to_vec()).unwrap();
        (!body.contains("netpulse_results_ingested_total 0\n")).then_some(body)
    })
    .await;
    assert!(metrics.contains("netpulse_checks_total{outcome=\"up\"}"), "{metrics}");
    assert!(metrics.contains("# TYPE netpulse_check_to_ingest_ms histogram"));
}

#[tokio::test]
async fn patching_one_policy_field_keeps_the_rest_of_the_policy() {
    let app = spawn_app().await;
    let (id, channel, _oncall) = app.create_escalating_monitor().await;
    let path = format!("/api/v1/monitors/{id}");
    let (status, m) = app.api("PATCH", &path, Some(json!({ "policy": { "confirm_threshold": 3 } }))).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(
        (m["policy"]["confirm_threshold"].clone(), m["policy"]["escalate_to"].clone()),
        (json!(3), json!([channel])),
        "a nested patch merges: {m}"
    );
    assert_eq!(
        (m["policy"]["escalate_after_s"].clone(), m["policy"]["reminder_interval_s"].clone()),
        (json!(300), json!(600))
    );
    let (status, m) = app.api("PATCH", &path, Some(json!({ "policy": { "reminder_interval_s": null } }))).await;
    assert_eq!(status, 200, "{m}");
    assert!(m["policy"]["reminder_interval_s"].is_null() && m["policy"]["escalate_to"] == json!([channel]), "{m}");
}

#[tokio::test]
async fn alerting_defaults_are_read_by_all_changed_by_admins_and_refused_by_field() {
    let app = spawn_app().await;
    let path = "/api/v1/settings/alerting";
    let (status, d) = app.api("GET", path, None).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!((d["policy"]["confirm_threshold"].clone(), d["storm_threshold"].clone()), (json!(2), json!(5)));
    assert_eq!(d["policy_inherited"].as_array().unwrap().len(), 8, "nothing set yet: {d}");
    assert_eq!(d["storm_inherited"], json!(["storm_threshold", "storm_window_s"]));
    #[rustfmt::skip]
    let refused = [
        (json!({ "policy": { "confirm_threshold": 0 } }), "policy.confirm_threshold", "between 1 and 20"),
        (json!({ "policy": { "escalate_after_s": 60 } }), "policy.escalate_to", "at least one channel"),
        (json!({ "policy": { "escalate_after_s": 60, "escalate_to": ["chn_00000000000000000000000000"] } }), "policy.escalate_to[0]", "no channel"),
        (json!({ "policy": { "colour": 1 } }), "policy.colour", "unknown field"),
        (json!({ "storm_window_s": 0 }), "storm_window_s", "between 1 and 3600"),
        (json!({ "storm_threshold": "many" }), "storm_threshold", "invalid type"),
        (json!({ "quorum": 2 }), "quorum", "unknown field"),
    ];
    for (body, field, message) in refused {
        let (status, e) = app.api("PUT", path, Some(body.clone())).await;
        assert_eq!((status, e["error"]["field"].as_str()), (422, Some(field)), "{body} → {e}");
        assert!(e["error"]["message"].as_str().unwrap().contains(message), "{body} → {e}");
    }
    let body = json!({ "policy": { "confirm_threshold": 4, "reminder_interval_s": 600 }, "storm_threshold": 3 });
    let (status, d) = app.api("PUT", path, Some(body)).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        (d["policy"]["confirm_threshold"].clone(), d["policy"]["reminder_interval_s"].clone()),
        (json!(4), json!(600))
    );
    assert!(!d["policy_inherited"].as_array().unwrap().contains(&json!("confirm_threshold")), "{d}");
    assert_eq!((d["storm_threshold"].clone(), d["storm_inherited"].clone()), (json!(3), json!(["storm_window_s"])));

    let (_, tok) = app.api("POST", "/api/v1/tokens", Some(json!({ "name": "wall", "scope": "read" }))).await;
    let viewer = tok["token"].as_str().unwrap();
    let (status, seen) = app.call("GET", path, None, Some(viewer)).await;
    assert_eq!((status, seen.clone()), (200, d.clone()), "viewers read the defaults");
    let (status, e) = app.call("PUT", path, Some(json!({})), Some(viewer)).await;
    assert_eq!((status, e["error"]["code"].as_str()), (403, Some("forbidden")), "{e}");
    assert_eq!(app.api("GET", path, None).await.1, d, "unchanged");
}

#[tokio::test]
async fn a_monitor_shows_its_effective_policy_and_which_fields_it_inherits() {
    let app = spawn_app().await;
    let path = "/api/v1/settings/alerting";
    app.api("PUT", path, Some(json!({ "policy": { "confirm_threshold": 4, "reminder_interval_s": 600 } }))).await;
    let plain = app.create_monitor(json!({ "name": "a", "kind": "http", "url": "http://127.0.0.1:9/" })).await;
    let own = app
        .create_monitor(json!({
            "name": "b", "kind": "http", "url": "http://127.0.0.1:9/",
            "policy": { "confirm_threshold": 2, "reminder_interval_s": null },
        }))
        .await;
    let (a, b) = (app.monitor(&plain).await, app.monitor(&own).await);
    assert_eq!(
        (a["policy"]["confirm_threshold"].clone(), a["policy"]["reminder_interval_s"].clone()),
        (json!(4), json!(600))
    );
    assert_eq!(a["policy_inherited"].as_array().unwrap().len(), 8, "{a}");
    assert_eq!(
        (b["policy"]["confirm_threshold"].clone(), b["policy"]["reminder_interval_s"].clone()),
        (json!(2), Value::Null)
    );
    assert!(!b["policy_inherited"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "confirm_threshold" || f == "reminder_interval_s"));

    // "inherit" gives a field back to the organisation; a PATCH of another field keeps the rest.
    let (status, b) = app
        .api("PATCH", &format!("/api/v1/monitors/{own}"), Some(json!({ "policy": { "confirm_threshold": "inherit" } })))
        .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(
        (b["policy"]["confirm_threshold"].clone(), b["policy"]["reminder_interval_s"].clone()),
        (json!(4), Value::Null)
    );
    let path = format!("/api/v1/monitors/{plain}");
    app.api("PATCH", &path, Some(json!({ "policy": { "recovery_threshold": 3 } }))).await;
    let (_, a) = app.api("PATCH", &path, Some(json!({ "policy": { "recovery_threshold": null } }))).await;
    assert_eq!(a["policy_inherited"].as_array().unwrap().len(), 8, "null unsets a field that has no \"none\": {a}");
    // A heartbeat confirms on its first missed deadline unless told otherwise.
    let beat = app.create_monitor(json!({ "name": "beat", "kind": "heartbeat", "interval_s": 60 })).await;
    assert_eq!(app.monitor(&beat).await["policy"]["confirm_threshold"], 1);
    // The monitor's own fields must hold together with the defaults.
    let (status, e) = app
        .api("POST", "/api/v1/monitors", Some(json!({ "name": "c", "kind": "http", "url": "http://127.0.0.1:9/", "policy": { "escalate_after_s": 60 } })))
        .await;
    assert_eq!((status, e["error"]["field"].as_str()), (422, Some("policy.escalate_to")), "{e}");
}

#[tokio::test]
async fn a_monitors_channels_must_be_channels_of_its_own_organisation() {
    use crate::accounts::{browser, register, verify_directly};
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (own, _) = app.create_webhook(&receiver).await;
    register(&app, "first@example.com", "Joins the first organisation").await;
    register(&app, "eve@example.com", "Other Org").await;
    verify_directly(&app, "eve@example.com").await;
    let eve = browser(&app, "eve@example.com").await;
    let hook = json!({ "name": "eve", "kind": "webhook", "url": receiver.url() });
    let (status, theirs) = eve.call(&app, "POST", "/api/v1/channels", Some(hook)).await;
    assert_eq!(status, 201, "{theirs}");
    let theirs = theirs["id"].as_str().unwrap().to_owned();
    let nowhere = "chn_00000000000000000000000000";
    let monitor =
        |channels: Value| json!({ "name": "x", "kind": "http", "url": "http://127.0.0.1:9/", "channels": channels });

    for (channels, field, id) in
        [(json!([own, theirs]), "channels[1]", theirs.as_str()), (json!([nowhere]), "channels[0]", nowhere)]
    {
        let (status, e) = app.api("POST", "/api/v1/monitors", Some(monitor(channels.clone()))).await;
        assert_eq!((status, e["error"]["field"].as_str()), (422, Some(field)), "{channels} → {e}");
        assert_eq!(e["error"]["message"], format!("{field}: no channel {id} in this account"), "{e}");
    }
    let (_, list) = app.api("GET", "/api/v1/monitors", None).await;
    assert_eq!(list["data"], json!([]), "nothing written");

    let id = app.create_monitor(monitor(json!([own]))).await;
    let path = format!("/api/v1/monitors/{id}");
    let (status, e) = app.api("PATCH", &path, Some(json!({ "channels": [theirs] }))).await;
    assert_eq!((status, e["error"]["field"].as_str()), (422, Some("channels[0]")), "{e}");
    assert_eq!(app.monitor(&id).await["channels"], json!([own]), "unchanged");
    let (status, m) = app.api("PATCH", &path, Some(json!({ "channels": [] }))).await;
    assert_eq!((status, m["channels"].clone()), (200, json!([])), "an empty list still means: no channel");
}

#[tokio::test]
async fn tags_are_limited_and_an_organisation_has_at_most_the_configured_monitors() {
    let app = spawn_app_adjusted(|c| c.monitors.max_per_tenant = 3).await;
    let monitor = |tags: Value| json!({ "name": "x", "kind": "tcp", "host": "db.example.com", "port": 5432, "paused": true, "tags": tags });
    let many: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
    #[rustfmt::skip]
    let refused = [
        (json!(many), "tags", "tags: at most 32 tags (got 33)"),
        (json!(["ok", "x".repeat(100_000)]), "tags[1]", "tags[1]: must be at most 64 characters"),
    ];
    for (tags, field, message) in refused {
        let (status, e) = app.api("POST", "/api/v1/monitors", Some(monitor(tags))).await;
        assert_eq!(
            (status, e["error"]["field"].as_str(), e["error"]["message"].as_str()),
            (422, Some(field), Some(message))
        );
    }
    let widest: Vec<String> = (0..32).map(|i| format!("{i:02}{}", "é".repeat(62))).collect();
    let id = app.create_monitor(monitor(json!(widest))).await;
    let (status, e) = app.api("PATCH", &format!("/api/v1/monitors/{id}"), Some(json!({ "tags": many }))).await;
    assert_eq!((status, e["error"]["field"].as_str()), (422, Some("tags")), "{e}");

    app.create_monitor(monitor(json!([]))).await;
    app.create_monitor(monitor(json!([]))).await;
    let (status, e) = app.api("POST", "/api/v1/monitors", Some(monitor(json!([])))).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("monitor_limit_reached")), "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("has 3 monitors, the most allowed (monitors.max_per_tenant)"));
    let (_, list) = app.api("GET", "/api/v1/monitors", None).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(3), "nothing written");
    let (status, _) = app.api("DELETE", &format!("/api/v1/monitors/{id}"), None).await;
    assert_eq!(status, 204);
    app.create_monitor(monitor(json!([]))).await; // a place is free again
}

//! Ping monitors, with real ICMP echo (an unprivileged ping socket, or a raw one: the suite
//! runs as root): the loopback answers over IPv4 (a monitor made with the dashboard form) and
//! IPv6, from the engine and from a regional worker; a documentation address that answers
//! nothing is down with every packet lost; the SSRF guard refuses loopback when saved and when
//! checked; bad fields are refused by name.

use crate::dashboard::{browse, created_monitor, csrf};
use crate::harness::*;
use crate::workers::{engine_with_eu_worker, first_result_from};
use serde_json::json;

#[tokio::test]
async fn the_loopback_answers_a_ping_monitor_made_with_the_form_over_ipv4_and_one_over_ipv6() {
    let app = spawn_app().await;
    let token = csrf(&app, "/monitors/new").await;
    let form = [
        ("csrf", token.as_str()),
        ("kind", "ping"),
        ("name", "loopback v4"),
        ("host", "127.0.0.1"),
        ("count", "3"),
        ("packet_interval_ms", "20"),
        ("loss_threshold_percent", "50"),
        ("degraded_after_ms", "500"),
        ("interval_s", "1"),
        ("timeout_ms", "900"),
    ];
    let v4 = created_monitor(&browse(&app, "POST", "/monitors/new", &form).await);
    let m = app.monitor(&v4).await;
    assert_eq!(
        (m["kind"].clone(), m["host"].clone(), m["count"].clone()),
        (json!("ping"), json!("127.0.0.1"), json!(3))
    );
    assert_eq!((m["packet_interval_ms"].clone(), m["loss_threshold_percent"].clone()), (json!(20), json!(50)));

    let has_ipv6_loopback = std::net::UdpSocket::bind("[::1]:0").is_ok();
    let v6 = app
        .create_monitor(json!({ "name": "loopback v6", "kind": "ping", "host": "::1", "count": 2,
                                "packet_interval_ms": 20, "interval_s": 1, "timeout_ms": 900 }))
        .await;

    app.wait_for_outcome(&v4, "up").await;
    let r = app.last_result(&v4).await;
    assert!(r["timings"]["total_ms"].as_u64().is_some_and(|ms| ms < 500), "the average round trip: {r}");
    assert!(r["error"].is_null(), "{r}");
    assert!(
        has_ipv6_loopback,
        "this machine has no IPv6 loopback (::1 cannot be bound), so the IPv6 ping cannot be tested here"
    );
    app.wait_for_outcome(&v6, "up").await;
    let r = app.last_result(&v6).await;
    assert!(r["timings"]["total_ms"].is_u64() && r["error"].is_null(), "{r}");
}

#[tokio::test]
async fn an_address_that_answers_nothing_is_down_with_every_packet_lost() {
    let app = spawn_app().await;
    // TEST-NET-3 (RFC 5737) is routed nowhere. Not TEST-NET-1: some sandboxes number their own
    // network 192.0.2.0/24, where 192.0.2.1 is the gateway and answers.
    let id = app
        .create_monitor(json!({ "name": "nowhere", "kind": "ping", "host": "203.0.113.9", "count": 2,
                                "packet_interval_ms": 50, "interval_s": 1, "timeout_ms": 300 }))
        .await;
    let m = wait_for(20, "a first check", || async {
        let m = app.monitor(&id).await;
        (!m["status"]["last_outcome"].is_null()).then_some(m)
    })
    .await;
    assert_eq!(m["status"]["last_outcome"], "down", "203.0.113.9 answered; does this network route TEST-NET-3? {m}");
    let error = m["status"]["last_error"].as_str().unwrap();
    // Without any route the send itself fails, which the message adds after a `;`.
    assert!(error.starts_with("0 of 2 echo requests to 203.0.113.9 answered (100% loss; down from 100%)"), "{error}");
}

#[tokio::test]
async fn the_ssrf_guard_refuses_a_loopback_ping_when_saved_and_when_checked() {
    // Saved before the guard was on: refused when checked (outcome error, nothing sent).
    let mut env = test_env().await;
    let body = json!({ "name": "internal", "kind": "ping", "host": "127.0.0.1", "interval_s": 1, "timeout_ms": 500 });
    let mut app = env.spawn().await;
    let id = app.create_monitor(body.clone()).await;
    app.stop().await;
    env.config.ssrf.block_private = true;
    let app = env.spawn().await;
    let m = app.wait_for_outcome(&id, "error").await;
    let error = m["status"]["last_error"].as_str().unwrap();
    assert!(error.starts_with("refused to connect to 127.0.0.1: loopback address (SSRF guard"), "{error}");
    let (status, e) = app.api("POST", "/api/v1/monitors", Some(body)).await;
    assert_eq!((status, e["error"]["field"].as_str()), (422, Some("host")), "{e}");
}

#[tokio::test]
async fn a_regional_worker_pings_too() {
    let (app, _env, eu) = engine_with_eu_worker().await;
    let id = app
        .create_monitor(json!({ "name": "loopback", "kind": "ping", "host": "127.0.0.1", "packet_interval_ms": 20,
                                "interval_s": 1, "timeout_ms": 900, "regions": ["eu"] }))
        .await;
    let from_eu = first_result_from(&app, &id, "eu").await;
    assert_eq!((from_eu["worker"].clone(), from_eu["outcome"].clone()), (json!("eu/eu-1"), json!("up")), "{from_eu}");
    eu.shutdown().await;
}

#[tokio::test]
async fn ping_fields_are_checked_by_name() {
    let app = spawn_app().await;
    let cases = [
        (json!({}), "host", "missing field `host`"),
        (json!({ "host": "a b" }), "host", "not a host name or IP address"),
        (json!({ "host": "example.com", "count": 0 }), "count", "must be 1 to 10 packets"),
        (json!({ "host": "example.com", "count": 11 }), "count", "must be 1 to 10 packets"),
        (json!({ "host": "example.com", "count": "three" }), "count", "invalid type"),
        (json!({ "host": "example.com", "packet_interval_ms": 5 }), "packet_interval_ms", "must be 10 to 1000 ms"),
        (json!({ "host": "example.com", "loss_threshold_percent": 0 }), "loss_threshold_percent", "must be 1 to 100"),
        (json!({ "host": "example.com", "loss_threshold_percent": 101 }), "loss_threshold_percent", "must be 1 to 100"),
        (json!({ "host": "example.com", "ip_version": 5 }), "ip_version", "must be 4 or 6"),
        (json!({ "host": "192.0.2.1", "ip_version": 6 }), "ip_version", "is an IPv4 address"),
        (json!({ "host": "example.com", "port": 80 }), "port", "unknown field"),
        (
            json!({ "host": "example.com", "count": 10, "packet_interval_ms": 1000, "interval_s": 60, "timeout_ms": 5000 }),
            "timeout_ms",
            "must be longer than the 9000 ms it takes to send 10 packets 1000 ms apart",
        ),
    ];
    app.assert_monitor_fields_refused("ping", "gateway", cases.into()).await;
}

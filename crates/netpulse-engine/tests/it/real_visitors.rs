//! Real-visitor checks from outside, as a site's visitors' browsers and an attacker reach
//! them: a source's script hands sampled page views a one-use token; beacons from the
//! source's own origin with a fresh token are stored and counted apart from the probes; a
//! replayed or forged token, a foreign origin, a crawler and a flood past the source's budget
//! are refused and counted by reason; a visitor asking not to be tracked reports nothing; the
//! figures reach the monitor's page, its visitors page and its status page; bad sources are
//! refused naming the field; a deleted source's script is gone.

use crate::harness::*;
use crate::status_pages::get;
use serde_json::{json, Value};

pub(crate) const SITE: &str = "http://shop.test:8080";
pub(crate) const CHROME: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36";

/// The token a reporter script carries, if it is one.
fn token_of(script: &str) -> Option<String> {
    let at = script.find("\"t\":\"")? + 5;
    Some(script[at..at + 64].to_owned())
}

async fn script(app: &TestApp, key: &str, extra: &[(&str, &str)]) -> (u16, String) {
    let mut headers = vec![("user-agent", CHROME)];
    headers.extend_from_slice(extra);
    let (st, body, h) = app.raw("GET", &format!("/rv/{key}/script.js"), None, &headers).await;
    if st == 200 {
        assert_eq!(h["cache-control"], "no-store", "each page view gets its own script");
        assert!(h["content-type"].to_str().unwrap().starts_with("application/javascript"));
    }
    (st, body)
}

pub(crate) async fn beacon(
    app: &TestApp,
    key: &str,
    origin: &str,
    ua: &str,
    body: Value,
) -> (u16, Value, http::HeaderMap) {
    let headers = [("origin", origin), ("user-agent", ua)];
    let (st, text, h) =
        app.send_text("POST", &format!("/rv/{key}/beacon"), Some(("text/plain", body.to_string())), &headers).await;
    (st, serde_json::from_str(&text).unwrap_or(Value::Null), h)
}

pub(crate) async fn fresh_token(app: &TestApp, key: &str) -> String {
    token_of(&script(app, key, &[]).await.1).expect("a sampled view gets a token")
}

#[tokio::test]
async fn visitors_report_what_they_saw_and_nothing_else_gets_in() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let monitor = app
        .create_monitor(
            json!({ "name": "shop-internal-origin", "kind": "http", "url": target.url(), "interval_s": 3600 }),
        )
        .await;
    let sources = format!("/api/v1/monitors/{monitor}/visitor-sources");

    for (body, field) in [
        (json!({ "origins": [] }), "origins"),
        (json!({ "origins": ["shop.test"] }), "origins[0]"),
        (json!({ "origins": [SITE, "https://x.test/cart"] }), "origins[1]"),
        (json!({ "origins": [SITE], "sample_one_in": 0 }), "sample_one_in"),
        (json!({ "origins": [SITE], "per_minute": 20000 }), "per_minute"),
        (json!({ "origins": [SITE], "health_url": "javascript:alert(1)" }), "health_url"),
    ] {
        let (st, e) = app.api("POST", &sources, Some(body.clone())).await;
        assert_eq!((st, e["error"]["field"].as_str()), (422, Some(field)), "{body} → {e}");
    }
    let (_, listed) = app.api("GET", &sources, None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 0, "nothing created by refused input");

    let (st, src) = app
        .api(
            "POST",
            &sources,
            Some(json!({ "origins": [SITE], "sample_one_in": 1, "per_minute": 50, "health_url": "/health", "on_status_pages": true })),
        )
        .await;
    assert_eq!(st, 201, "{src}");
    let key = src["site_key"].as_str().unwrap().to_owned();
    assert!(src["script_tag"].as_str().unwrap().contains(&format!("/rv/{key}/script.js")), "{src}");

    // A visit from the site: stored, answered with CORS for that origin only.
    let t = fresh_token(&app, &key).await;
    let seen = json!({ "t": t, "page_ms": 420, "health_ok": true, "health_ms": 35, "net": "4g", "tz": "Europe/Paris" });
    let (st, _, h) = beacon(&app, &key, SITE, CHROME, seen.clone()).await;
    assert_eq!(st, 204);
    assert_eq!(h["access-control-allow-origin"], SITE);
    // The same token again, a forged one, a foreign origin, a crawler: refused, each counted.
    let (st, e, _) = beacon(&app, &key, SITE, CHROME, seen.clone()).await;
    assert_eq!((st, e["error"]["code"].as_str()), (403, Some("invalid_token")), "a replay: {e}");
    let (st, _, _) = beacon(&app, &key, SITE, CHROME, json!({ "t": "00".repeat(32) })).await;
    assert_eq!(st, 403, "a forged token");
    let (st, e, _) = beacon(&app, &key, SITE, CHROME, json!({ "page_ms": 5 })).await;
    assert_eq!((st, e["error"]["code"].as_str()), (403, Some("invalid_token")), "no token: {e}");
    let (st, e, h) =
        beacon(&app, &key, "https://evil.test", CHROME, json!({ "t": fresh_token(&app, &key).await })).await;
    assert_eq!((st, e["error"]["code"].as_str()), (403, Some("origin_not_allowed")), "{e}");
    assert!(h.get("access-control-allow-origin").is_none(), "no CORS for a foreign origin");
    let (st, _, _) = beacon(&app, &key, SITE, "Googlebot/2.1", json!({ "t": fresh_token(&app, &key).await })).await;
    assert_eq!(st, 204, "a crawler learns nothing");
    let (st, e, _) =
        beacon(&app, &key, SITE, CHROME, json!({ "t": fresh_token(&app, &key).await, "page_ms": 9_999_999 })).await;
    assert_eq!((st, e["error"]["code"].as_str()), (400, Some("invalid_beacon")), "{e}");
    let big = json!({ "t": fresh_token(&app, &key).await, "pad": "x".repeat(3000) });
    assert_eq!(beacon(&app, &key, SITE, CHROME, big).await.0, 413);

    // Do Not Track / Global Privacy Control: no token handed out, nothing reported.
    for h in [("dnt", "1"), ("sec-gpc", "1")] {
        let (st, body) = script(&app, &key, &[h]).await;
        assert_eq!((st, token_of(&body)), (200, None), "{h:?}");
    }

    // A failing view (the health URL did not answer), then a flood from the same client: its
    // share of the budget (a tenth of 50 a minute) holds whatever the tokens.
    let failed = json!({ "t": fresh_token(&app, &key).await, "page_ms": 900, "health_ok": false });
    assert_eq!(beacon(&app, &key, SITE, CHROME, failed).await.0, 204);
    let mut answers = Vec::new();
    for _ in 0..10 {
        let t = fresh_token(&app, &key).await;
        answers.push(beacon(&app, &key, SITE, CHROME, json!({ "t": t, "page_ms": 300 })).await.0);
    }
    assert_eq!(answers.iter().filter(|s| **s == 204).count(), 3, "5 a minute for one client: {answers:?}");
    assert_eq!(answers.iter().filter(|s| **s == 429).count(), 7, "{answers:?}");

    let (_, listed) = app.api("GET", &sources, None).await;
    assert_eq!(listed["last_24h"]["loads"], 5, "{listed}");
    assert_eq!(listed["last_24h"]["failed"], 1, "{listed}");
    let dropped = &listed["data"][0]["dropped"];
    assert_eq!(
        (&dropped["token"], &dropped["origin"], &dropped["bot"], &dropped["malformed"], &dropped["rate"]),
        (&json!(3), &json!(1), &json!(1), &json!(2), &json!(7)),
        "{listed}"
    );
    let (_, probes) = app.api("GET", &format!("/api/v1/monitors/{monitor}/uptime"), None).await;
    let checks: u64 =
        ["up", "degraded", "down", "error"].iter().map(|k| probes["checks"][k].as_u64().unwrap_or(0)).sum();
    assert!(checks <= 2, "the hourly probe's checks only, never the visits: {probes}");

    // Where people see it: the monitor's page and visitors page, and the status page.
    let (st, page) = app
        .api(
            "POST",
            "/api/v1/status-pages",
            Some(json!({ "slug": "shop", "title": "Shop", "monitors": [{ "monitor_id": monitor, "display_name": "Storefront" }] })),
        )
        .await;
    assert_eq!(st, 201, "{page}");
    let line = "Seen by real visitors: 80 % of 5 page loads in 24 h";
    let (_, _, html) = get(&app, "/status/shop", None).await;
    assert!(html.contains(line), "{html}");
    assert!(!html.contains("shop-internal-origin") && !html.contains(&key), "nothing private on the page");
    let (_, _, json) = get(&app, "/status/shop.json", None).await;
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["monitors"][0]["real_visitors_24h"]["page_loads"], 5, "{json}");
    assert_eq!(json["monitors"][0]["real_visitors_24h"]["demo_data"], false);

    // A source not opted in to status pages keeps its monitor's traffic off them.
    let other = app
        .create_monitor(json!({ "name": "api-internal", "kind": "http", "url": target.url(), "interval_s": 3600 }))
        .await;
    let other_sources = format!("/api/v1/monitors/{other}/visitor-sources");
    let (_, private) = app.api("POST", &other_sources, Some(json!({ "origins": [SITE], "sample_one_in": 1 }))).await;
    let private_key = private["site_key"].as_str().unwrap().to_owned();
    assert_eq!(private["on_status_pages"], false, "{private}");
    let t = fresh_token(&app, &private_key).await;
    assert_eq!(beacon(&app, &private_key, SITE, CHROME, json!({ "t": t })).await.0, 204);
    let both = json!([{ "monitor_id": monitor, "display_name": "Storefront" }, { "monitor_id": other, "display_name": "API" }]);
    let page_path = format!("/api/v1/status-pages/{}", page["id"].as_str().unwrap());
    assert_eq!(app.api("PATCH", &page_path, Some(json!({ "monitors": both }))).await.0, 200);
    let (_, _, json) = get(&app, "/status/shop.json", None).await;
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["monitors"][1]["name"], "API", "{json}");
    assert!(json["monitors"][1]["real_visitors_24h"].is_null(), "not opted in: {json}");
    assert_eq!(json["monitors"][0]["real_visitors_24h"]["page_loads"], 5, "{json}");
    let (_, _, privacy) = get(&app, "/privacy/real-visitors", None).await;
    assert!(privacy.contains("no IP address is stored"), "{privacy}");

    // Deleted: the script is gone, beacons with a token still in hand are refused.
    let t = fresh_token(&app, &key).await;
    let id = src["id"].as_str().unwrap();
    assert_eq!(app.api("DELETE", &format!("/api/v1/visitor-sources/{id}"), None).await.0, 204);
    assert_eq!(app.api("DELETE", &format!("/api/v1/visitor-sources/{id}"), None).await.0, 404);
    assert_eq!(script(&app, &key, &[]).await.0, 404);
    assert_eq!(beacon(&app, &key, SITE, CHROME, json!({ "t": t })).await.0, 404);
    let (_, _, html) = get(&app, "/status/shop", None).await;
    assert!(!html.contains("Seen by real visitors"), "its visits went with it");
}

/// Opted in to alerts, a monitor's outage notice tells what its real visitors saw, counted from
/// ten minutes before the outage began; a monitor whose source is not opted in gets no such
/// line; and visitors' failures alone, while the probes see the site up, open nothing.
#[tokio::test]
async fn an_outage_notice_tells_what_opted_in_visitors_saw() {
    let app = spawn_app().await;
    let hooks = Receiver::start().await;
    app.create_webhook(&hooks).await;
    let (shop_site, api_site) = (Target::start().await, Target::start().await);
    let monitor = |name: &str, url: String| json!({ "name": name, "kind": "http", "url": url, "interval_s": 1, "timeout_ms": 800 });
    let shop = app.create_monitor(monitor("shop", shop_site.url())).await;
    let api = app.create_monitor(monitor("api", api_site.url())).await;
    let mut keys = Vec::new();
    for (m, in_alerts) in [(&shop, true), (&api, false)] {
        let body = json!({ "origins": [SITE], "sample_one_in": 1, "in_alerts": in_alerts });
        let (st, src) = app.api("POST", &format!("/api/v1/monitors/{m}/visitor-sources"), Some(body)).await;
        assert_eq!((st, &src["in_alerts"]), (201, &json!(in_alerts)), "{src}");
        keys.push(src["site_key"].as_str().unwrap().to_owned());
    }
    for key in &keys {
        for ok in [false, false, false, true] {
            let t = fresh_token(&app, key).await;
            let seen = json!({ "t": t, "page_ms": 700, "health_ok": ok });
            assert_eq!(beacon(&app, key, SITE, CHROME, seen).await.0, 204);
        }
    }
    app.wait_for_outcome(&shop, "up").await;
    app.wait_for_outcome(&api, "up").await;
    let hits = shop_site.hits.load(std::sync::atomic::Ordering::SeqCst);
    wait_for(10, "two more checks", || async {
        (shop_site.hits.load(std::sync::atomic::Ordering::SeqCst) >= hits + 2).then_some(())
    })
    .await;
    assert!(hooks.events().is_empty(), "visitors alone page nobody: {:?}", hooks.events());
    assert!(app.incidents(&shop).await.is_empty(), "nor open an incident");

    shop_site.set_status(503);
    api_site.set_status(503);
    hooks.wait_for_events(2, 20).await;
    let opened: Vec<Value> = hooks.received().iter().map(|r| r.json()).filter(|b| b["event"] == "opened").collect();
    let of = |name: &str| opened.iter().find(|b| b["monitor"]["name"] == name).cloned().unwrap();
    let seen = &of("shop")["real_visitors"];
    assert_eq!((&seen["page_loads"], &seen["failed"]), (&json!(4), &json!(3)), "{seen}");
    assert!(of("api").get("real_visitors").is_none(), "not opted in: {}", of("api"));
}

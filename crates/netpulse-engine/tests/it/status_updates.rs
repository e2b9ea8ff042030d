//! An incident told on a status page, and maintenance announced on it: updates with their state and impact, newest first, on
//! the page, in its JSON, in its Atom and JSON feeds, heading the page while unresolved; bad
//! states and impacts refused with the field named; nothing private in the feeds. (Another
//! organisation's callers get 404 on these routes: accounts::a_tenant_never_reaches_another_tenants_ids.)

use crate::harness::*;
use crate::status_pages::get;
use serde_json::{json, Value};

const PRIVATE_NAME: &str = "checkout-internal-7c1e";

#[tokio::test]
async fn an_incident_told_in_updates_shows_on_the_page_and_in_both_feeds() {
    let app = spawn_app().await;
    let target = Target::start().await;
    target.set_status(503);
    let monitor = app
        .create_monitor(
            json!({ "name": PRIVATE_NAME, "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 800 }),
        )
        .await;
    let (st, page) = app
        .api(
            "POST",
            "/api/v1/status-pages",
            Some(json!({ "slug": "acme", "title": "Acme", "monitors": [{ "monitor_id": monitor, "display_name": "Checkout" }] })),
        )
        .await;
    assert_eq!(st, 201, "{page}");
    let incident = wait_for(20, "the incident", || async {
        app.incidents(&monitor).await.first().map(|i| i["id"].as_str().unwrap().to_owned())
    })
    .await;
    let updates = format!("/api/v1/incidents/{incident}/updates");

    for (body, field) in [
        (json!({ "state": "fixed", "message": "x" }), "state"),
        (json!({ "state": "identified", "impact": "total", "message": "x" }), "impact"),
        (json!({ "state": "identified", "message": "" }), "message"),
    ] {
        let (st, err) = app.api("POST", &updates, Some(body)).await;
        assert_eq!((st, err["error"]["field"].as_str()), (422, Some(field)), "{err}");
    }
    let told = [
        ("investigating", Some("major"), "We are looking into failed payments."),
        ("identified", Some("partial"), "A <b>bad</b> deploy & its rollback."),
        ("monitoring", None, "Fix deployed; watching."),
    ];
    for (state, impact, message) in told {
        let mut body = json!({ "state": state, "message": message });
        if let Some(i) = impact {
            body["impact"] = json!(i);
        }
        let (st, u) = app.api("POST", &updates, Some(body)).await;
        assert_eq!(st, 201, "{u}");
        assert_eq!(u["state"], state);
    }
    let (st, listed) = app.api("GET", &updates, None).await;
    assert_eq!(st, 200);
    let said: Vec<(&str, &str)> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["state"].as_str().unwrap(), u["impact"].as_str().unwrap()))
        .collect();
    assert_eq!(
        said,
        [("monitoring", "partial"), ("identified", "partial"), ("investigating", "major")],
        "newest first; an update without an impact keeps the last one"
    );

    // With the monitor paused, the unresolved incident's impact heads the page.
    let (st, _) = app.api("POST", &format!("/api/v1/monitors/{monitor}/pause"), None).await;
    assert_eq!(st, 200);
    let (_, _, text) = get(&app, "/status/acme.json", None).await;
    let facts: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(facts["status"], "partial", "{facts}");
    let shown = &facts["incidents"][0];
    assert_eq!(
        (shown["monitor"].as_str(), shown["status"].as_str(), shown["impact"].as_str()),
        (Some("Checkout"), Some("monitoring"), Some("partial"))
    );
    assert_eq!(shown["updates"].as_array().unwrap().len(), 3);
    let (_, _, html) = get(&app, "/status/acme", None).await;
    assert!(html.contains("Partial outage"), "the banner");
    assert!(html.contains("A &lt;b&gt;bad&lt;/b&gt; deploy &amp; its rollback."), "escaped on the page");
    let first = html.find("Fix deployed").unwrap();
    assert!(first < html.find("We are looking into").unwrap(), "newest first on the page");

    let (st, headers, atom) = get(&app, "/status/acme/feed.atom", None).await;
    assert_eq!(st, 200);
    assert_eq!(headers["content-type"], "application/atom+xml; charset=utf-8");
    assert_eq!(atom.matches("<entry>").count(), 3, "{atom}");
    assert!(atom.contains("<title>Checkout: Monitoring (partial impact)</title>"), "{atom}");
    assert!(atom.contains("A &lt;b&gt;bad&lt;/b&gt; deploy &amp; its rollback."), "{atom}");
    let (st, _, again) = get(&app, "/status/acme/feed.atom", Some(headers["etag"].to_str().unwrap())).await;
    assert_eq!((st, again.as_str()), (304, ""), "an unchanged feed is not sent again");

    let (st, headers, feed) = get(&app, "/status/acme/feed.json", None).await;
    assert_eq!((st, headers["content-type"].to_str().unwrap()), (200, "application/feed+json"));
    let feed: Value = serde_json::from_str(&feed).unwrap();
    assert_eq!(feed["version"], "https://jsonfeed.org/version/1.1");
    let titles: Vec<&str> = feed["items"].as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        [
            "Checkout: Monitoring (partial impact)",
            "Checkout: Identified (partial impact)",
            "Checkout: Investigating (major impact)"
        ]
    );
    for public in [&atom, &feed.to_string(), &html] {
        assert!(!public.contains(PRIVATE_NAME) && !public.contains(&target.url()), "only the display name is public");
    }
    let (st, _, _) = get(&app, "/status/acme/feed.rss", None).await;
    assert_eq!(st, 404);

    // Resolved: the page no longer leads with the incident.
    let (st, _) =
        app.api("POST", &updates, Some(json!({ "state": "resolved", "message": "All payments go through." }))).await;
    assert_eq!(st, 201);
    let (_, _, text) = get(&app, "/status/acme.json", None).await;
    let facts: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (facts["status"].as_str(), facts["incidents"][0]["status"].as_str()),
        (Some("unknown"), Some("resolved")),
        "{facts}"
    );
}

#[tokio::test]
async fn announced_maintenance_shows_ahead_of_time_and_while_it_runs() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let monitor = |name: &str| json!({ "name": name, "kind": "http", "url": target.url(), "interval_s": 60 });
    let db = app.create_monitor(monitor("db-internal-2f9a")).await;
    let api = app.create_monitor(monitor("api-internal-8d0c")).await;
    let (st, page) = app
        .api(
            "POST",
            "/api/v1/status-pages",
            Some(json!({ "slug": "acme", "title": "Acme", "monitors": [
                { "monitor_id": db, "display_name": "Database" }, { "monitor_id": api, "display_name": "API" },
            ] })),
        )
        .await;
    assert_eq!(st, 201, "{page}");
    let in_an_hour = rfc3339_in(3600);
    let window = |m: &str, body: Value| {
        let path = format!("/api/v1/monitors/{m}/maintenance");
        let app = &app;
        async move { app.api("POST", &path, Some(body)).await }
    };
    let (st, w) = window(
        &db,
        json!({ "starts_at": in_an_hour, "duration_s": 3600, "reason": "Database upgrade", "announce": true }),
    )
    .await;
    assert_eq!((st, w["announce"].as_bool()), (201, Some(true)), "{w}");
    let (st, w) = window(&api, json!({ "duration_s": 600, "reason": "private work" })).await;
    assert_eq!((st, w["announce"].as_bool()), (201, Some(false)), "{w}");

    let facts = page_json(&app).await;
    let shown: Vec<(&str, &str, &str)> = facts["maintenance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["monitor"].as_str().unwrap(), w["status"].as_str().unwrap(), w["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(shown, [("Database", "scheduled", "Database upgrade")], "only announced windows: {facts}");
    assert_ne!(facts["monitors"][1]["status"], "maintenance", "an unannounced window is not shown");

    let (st, _) = window(&api, json!({ "duration_s": 600, "reason": "Rolling restart", "announce": true })).await;
    assert_eq!(st, 201);
    let facts = page_json(&app).await;
    assert_eq!(facts["maintenance"][0]["status"], "in_progress", "soonest first: {facts}");
    assert_eq!(facts["monitors"][1]["status"], "maintenance", "{facts}");
    let (_, _, html) = get(&app, "/status/acme", None).await;
    for want in ["Scheduled maintenance", "Database upgrade", "Rolling restart", "in progress"] {
        assert!(html.contains(want), "the page lacks `{want}`");
    }
    assert!(!html.contains("private work") && !html.contains("internal"), "nothing unannounced or private");
}

async fn page_json(app: &TestApp) -> Value {
    let (st, _, text) = get(app, "/status/acme.json", None).await;
    assert_eq!(st, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// RFC 3339 UTC, `secs` from now.
fn rfc3339_in(secs: i64) -> String {
    netpulse_store::clock::now().plus_ms(secs * 1000).to_rfc3339()
}

/// `GET path` with this `Host` header, over a plain connection: (status, head, body).
async fn get_as(app: &TestApp, host: &str, path: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.url("").trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test]
async fn a_page_with_its_own_domain_is_served_there_with_links_to_itself_and_nothing_else() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let monitor = app
        .create_monitor(json!({ "name": "shop-internal", "kind": "http", "url": target.url(), "interval_s": 60 }))
        .await;
    let body = |slug: &str, domain: Value| json!({ "slug": slug, "title": "Acme", "domain": domain, "monitors": [{ "monitor_id": monitor, "display_name": "Shop" }] });
    for (domain, why) in [
        (json!("https://status.acme.test/"), "a URL"),
        (json!("127.0.0.1"), "an IP address"),
        (json!("localhost"), "a single label"),
    ] {
        let (st, err) = app.api("POST", "/api/v1/status-pages", Some(body("acme", domain))).await;
        assert_eq!((st, err["error"]["field"].as_str()), (422, Some("domain")), "{why}: {err}");
    }
    let (st, page) = app.api("POST", "/api/v1/status-pages", Some(body("acme", json!("Status.Acme.test")))).await;
    assert_eq!(st, 201, "{page}");
    assert_eq!(
        (page["domain"].as_str(), page["public_url"].as_str()),
        (Some("status.acme.test"), Some("http://status.acme.test"))
    );
    let (st, err) = app.api("POST", "/api/v1/status-pages", Some(body("other", json!("status.acme.test")))).await;
    assert_eq!((st, err["error"]["field"].as_str()), (409, Some("domain")), "{err}");

    let (st, head, html) = get_as(&app, "status.acme.test:8080", "/").await;
    assert_eq!(st, 200, "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(
        html.contains("<title>Acme</title>") && html.contains("href=\"http://status.acme.test/feed.atom\""),
        "links to itself"
    );
    let (st, _, feed) = get_as(&app, "status.acme.test", "/feed.json").await;
    assert_eq!(st, 200);
    let feed: Value = serde_json::from_str(&feed).unwrap();
    assert_eq!(feed["home_page_url"], "http://status.acme.test");
    let (st, _, facts) = get_as(&app, "status.acme.test", "/index.json").await;
    assert_eq!(st, 200);
    assert_eq!(serde_json::from_str::<Value>(&facts).unwrap()["monitors"][0]["name"], "Shop");
    for private in ["/api/v1/monitors", "/login", "/status/acme", "/api/v1/openapi.json"] {
        let (st, _, _) = get_as(&app, "status.acme.test", private).await;
        assert_eq!(st, 404, "{private} is not served under the page's domain");
    }
    let (st, _, _) = get_as(&app, "status.unknown.test", "/api/v1/openapi.json").await;
    assert_eq!(st, 200, "any other name is the server itself");

    // The domain taken away, the name serves nothing of the page any more.
    let id = page["id"].as_str().unwrap();
    let (st, _) = app.api("PATCH", &format!("/api/v1/status-pages/{id}"), Some(json!({ "domain": null }))).await;
    assert_eq!(st, 200);
    let (_, _, html) = get_as(&app, "status.acme.test", "/").await;
    assert!(!html.contains("<title>Acme</title>"), "{html}");
}

#[tokio::test]
async fn the_incident_history_shows_a_month_at_a_time() {
    let app = spawn_app().await;
    let target = Target::start().await;
    target.set_status(503);
    let monitor = app
        .create_monitor(
            json!({ "name": "shop-internal", "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 800 }),
        )
        .await;
    let (st, _) = app
        .api("POST", "/api/v1/status-pages", Some(json!({ "slug": "acme", "title": "Acme", "monitors": [{ "monitor_id": monitor, "display_name": "Shop" }] })))
        .await;
    assert_eq!(st, 201);
    let incident = wait_for(20, "the incident", || async {
        app.incidents(&monitor).await.first().map(|i| i["id"].as_str().unwrap().to_owned())
    })
    .await;
    let (st, _) = app
        .api(
            "POST",
            &format!("/api/v1/incidents/{incident}/updates"),
            Some(json!({ "state": "identified", "message": "Card payments fail." })),
        )
        .await;
    assert_eq!(st, 201);
    let this_month = &netpulse_store::clock::now().to_rfc3339()[..7];
    let (st, _, html) = get(&app, "/status/acme/history", None).await;
    assert_eq!(st, 200);
    assert!(html.contains("Card payments fail.") && html.contains("Shop"), "this month's incident: {html}");
    let (_, _, same) = get(&app, &format!("/status/acme/history?month={this_month}"), None).await;
    assert_eq!(same, html, "the month by name is the default one");
    let (st, _, before) = get(&app, "/status/acme/history?month=2000-01", None).await;
    assert_eq!(st, 200);
    assert!(before.contains("No incidents posted in January 2000"), "{before}");
    assert!(before.contains("/status/acme/history?month=2000-02"), "a link to the next month");
    assert!(!html.contains("→"), "no link to a month still to come");
    for bad in ["2999-01", "2026-13", "26-1", "x"] {
        let (st, _, body) = get(&app, &format!("/status/acme/history?month={bad}"), None).await;
        let err: Value = serde_json::from_str(&body).unwrap();
        assert_eq!((st, err["error"]["field"].as_str()), (422, Some("month")), "{bad}: {body}");
    }
    let (st, _, _) = get(&app, "/status/nowhere/history", None).await;
    assert_eq!(st, 404);
}

/// An update names the other components the incident affects: while it is unresolved they show
/// its impact on the page (a healthy one as "partial"), the headline follows, and a resolving
/// update clears them; a name that is no monitor of the organisation is refused by position.
#[tokio::test]
async fn an_update_marks_the_other_components_it_affects() {
    let app = spawn_app().await;
    let (down, healthy) = (Target::start().await, Target::start().await);
    down.set_status(503);
    let db = app
        .create_monitor(json!({ "name": "db", "kind": "http", "url": down.url(), "interval_s": 1, "timeout_ms": 800 }))
        .await;
    let shop = app
        .create_monitor(
            json!({ "name": "shop", "kind": "http", "url": healthy.url(), "interval_s": 1, "timeout_ms": 800 }),
        )
        .await;
    let monitors =
        json!([{ "monitor_id": db, "display_name": "Database" }, { "monitor_id": shop, "display_name": "Shop" }]);
    let (st, _) = app
        .api("POST", "/api/v1/status-pages", Some(json!({ "slug": "parts", "title": "Parts", "monitors": monitors })))
        .await;
    assert_eq!(st, 201);
    let incident = wait_for(20, "the incident", || async {
        app.incidents(&db).await.first().map(|i| i["id"].as_str().unwrap().to_owned())
    })
    .await;
    app.wait_for_outcome(&shop, "up").await;
    let updates = format!("/api/v1/incidents/{incident}/updates");
    for (affects, field) in
        [(json!(["nope"]), "affects[0]"), (json!([shop, "mon_00000000000000000000000000"]), "affects[1]")]
    {
        let body = json!({ "state": "identified", "message": "x", "affects": affects });
        let (st, e) = app.api("POST", &updates, Some(body)).await;
        assert_eq!((st, e["error"]["field"].as_str()), (422, Some(field)), "{e}");
    }
    let body = json!({ "state": "identified", "impact": "partial", "message": "Orders fail", "affects": [shop, db] });
    let (st, u) = app.api("POST", &updates, Some(body)).await;
    assert_eq!(st, 201, "{u}");
    assert_eq!(u["affects"], json!([shop]), "the incident's own monitor is always affected: {u}");

    let status = |page: &Value, name: &str| -> String {
        let m = page["monitors"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap();
        m["status"].as_str().unwrap().to_owned()
    };
    let (_, _, body) = get(&app, "/status/parts.json", None).await;
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status(&page, "Database"), status(&page, "Shop")), ("down".into(), "partial".into()), "{page}");
    assert_eq!(page["status"], "down", "the headline is the worst");
    assert_eq!(page["incidents"][0]["also_affects"], json!(["Shop"]), "by display name: {page}");
    let (_, _, html) = get(&app, "/status/parts", None).await;
    assert!(html.contains("class=\"badge partial\"") && html.contains("Also affects: Shop"), "{html}");
    assert!(!html.contains(shop.as_str()) && !html.contains(db.as_str()), "no monitor id on the page");

    // A page showing the shop but not the database tells the same incident, under the shop's name.
    let shop_only = json!([{ "monitor_id": shop, "display_name": "Shop" }]);
    let (st, _) = app
        .api("POST", "/api/v1/status-pages", Some(json!({ "slug": "shop", "title": "Shop", "monitors": shop_only })))
        .await;
    assert_eq!(st, 201);
    let (_, _, body) = get(&app, "/status/shop.json", None).await;
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status(&page, "Shop"), page["status"].as_str()), ("partial".into(), Some("partial")), "{page}");
    assert_eq!(page["incidents"][0]["monitor"], "Shop", "{page}");
    assert_eq!(page["incidents"][0]["message"], "Orders fail", "{page}");
    let (_, _, feed) = get(&app, "/status/shop/feed.atom", None).await;
    assert!(feed.contains("Shop: Identified (partial impact)") && !feed.contains("Database"), "{feed}");

    let (st, _) = app.api("POST", &updates, Some(json!({ "state": "resolved", "message": "Fixed" }))).await;
    assert_eq!(st, 201);
    let (_, _, body) = get(&app, "/status/parts.json", None).await;
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status(&page, "Shop"), "up", "resolved: its probes speak again: {page}");
    let (_, _, body) = get(&app, "/status/shop.json", None).await;
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status(&page, "Shop"), page["incidents"][0]["status"].as_str()),
        ("up".into(), Some("resolved")),
        "{page}"
    );
}

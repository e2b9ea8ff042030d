//! An incident told on a status page: updates with their state and impact, newest first, on
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

//! Public status pages: they show only the display names and live evidence the tenant chose,
//! never a secret planted in the fixtures; uptime figures match the live results; synthetic
//! and demo results never count; ETag and 304 work; another tenant's monitor cannot be added;
//! validation errors name the field.

use crate::harness::*;
use http::HeaderMap;
use netpulse_checker::HttpRequest;
use netpulse_core::incident::Policy;
use netpulse_core::{CheckResult, MonitorId, Outcome, Provenance, ResultId, TenantId, Timestamp, Timings};
use netpulse_store::clock::{self, fresh};
use netpulse_store::{Evidence, MonitorRecord, Store};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const SECRET_HOST: &str = "np-private-db-7q2x.invalid";
const SECRET_HEADER: &str = "hdr-secret-5b9d1e";
const SECRET_QUERY: &str = "qs-secret-c41f0a";
const SECRET_HOOK: &str = "hook-secret-88e2d7";
const SECRET_ERROR: &str = "upstream-body-secret-3e7a";
const SECRET_NAME: &str = "internal-name-secret-a1b2";
const SECRET_EMAIL: &str = "oncall-secret-9f@example.com";
const SYNTHETIC_ERROR: &str = "synthetic-error-secret-77c1";
const SECRET_SUBSCRIBER: &str = "reader-secret-4d2c@example.com";
const SECRET_SUBSCRIBER_HOOK: &str = "subscriber-hook-secret-61f3";

pub async fn get(app: &TestApp, path: &str, if_none_match: Option<&str>) -> (u16, HeaderMap, String) {
    let mut req = HttpRequest::new(http::Method::GET, app.url(path).parse().unwrap(), Duration::from_secs(10));
    if let Some(tag) = if_none_match {
        req.headers.push(("if-none-match".into(), tag.to_owned()));
    }
    let resp = app.client.send(req).await.expect("page answers");
    (resp.status, resp.headers, String::from_utf8_lossy(&resp.body).into_owned())
}

pub fn result(t: &TenantId, m: &MonitorId, at: Timestamp, outcome: Outcome, p: Provenance, error: &str) -> CheckResult {
    CheckResult {
        id: ResultId::from_parts(at.millis(), clock::random_u128()),
        tenant_id: t.clone(),
        monitor_id: m.clone(),
        region: "local".into(),
        worker: "test".into(),
        started_at: at,
        finished_at: at,
        outcome,
        timings: Timings::default(),
        status_code: None,
        error: outcome.is_failure().then(|| error.to_owned()),
        cert_expires_at: None,
        cert_issuer: None,
        provenance: p,
    }
}

fn monitor_json<'a>(page: &'a Value, name: &str) -> &'a Value {
    page["monitors"].as_array().unwrap().iter().find(|m| m["name"] == name).expect("monitor on the page")
}

fn window<'a>(m: &'a Value, label: &str) -> &'a Value {
    m["uptime"].as_array().unwrap().iter().find(|w| w["window"] == label).unwrap()
}

fn assert_no_secrets(what: &str, body: &str, extra: &[&str]) {
    let planted = [
        SECRET_HOST,
        SECRET_HEADER,
        SECRET_QUERY,
        SECRET_HOOK,
        SECRET_ERROR,
        SECRET_NAME,
        SECRET_EMAIL,
        SYNTHETIC_ERROR,
        SECRET_SUBSCRIBER,
        SECRET_SUBSCRIBER_HOOK,
        TOKEN,
        "127.0.0.1",
        "X-Api-Key",
        "service says hello",
    ];
    for s in planted.iter().chain(extra) {
        assert!(!body.contains(s), "{what} reveals `{s}`:\n{body}");
    }
}

/// Another tenant with one monitor.
async fn other_tenants_monitor(store: &Arc<dyn Store>) -> MonitorId {
    let other: TenantId = netpulse_store::testing::other_tenant(store.as_ref()).await;
    let id: MonitorId = fresh();
    let now = clock::now();
    let rec = MonitorRecord {
        id: id.clone(),
        tenant_id: other.clone(),
        draft: netpulse_store::testing::draft("theirs", Policy::default()),
        heartbeat_token: None,
        created_at: now,
        updated_at: now,
    };
    store.create_monitor(&other, &rec).await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_page_shows_live_evidence_by_display_name_and_never_a_secret() {
    let app = spawn_app_adjusted(|config| {
        config.smtp.host = "127.0.0.1".into();
        config.smtp.port = 9;
        // Every request reads the store: a new result must change the page at once below.
        config.http.status_page_cache_s = 0;
    })
    .await;
    let store = app.running.as_ref().unwrap().store.clone();
    let tenant = store.authenticate(&clock::token_hash(TOKEN)).await.unwrap().unwrap().tenant_id;
    let target = Target::start().await;

    // Fixtures that plant secrets: a query string, a header, a private hostname, channels.
    let api = app
        .create_monitor(json!({
            "name": format!("{SECRET_NAME}-api"), "kind": "http",
            "url": format!("{}?key={SECRET_QUERY}", target.url()),
            "headers": [{ "name": "X-Api-Key", "value": SECRET_HEADER }],
            "interval_s": 1, "timeout_ms": 900,
        }))
        .await;
    let db = app
        .create_monitor(json!({
            "name": format!("{SECRET_NAME}-db"), "kind": "http", "url": format!("http://{SECRET_HOST}/"),
            "interval_s": 1, "timeout_ms": 900,
        }))
        .await;
    let (api_m, db_m) = (MonitorId::from_trusted(api.clone()), MonitorId::from_trusted(db.clone()));
    let (st, body) = app
        .api(
            "POST",
            "/api/v1/channels",
            Some(json!({ "name": "hook", "kind": "webhook", "url": format!("http://127.0.0.1:9/{SECRET_HOOK}") })),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let (st, body) = app
        .api("POST", "/api/v1/channels", Some(json!({ "name": "mail", "kind": "email", "url": SECRET_EMAIL })))
        .await;
    assert_eq!(st, 201, "{body}");

    // A real-visitor source on the API, shown on status pages, with one visit reported.
    let (st, source) = app
        .api(
            "POST",
            &format!("/api/v1/monitors/{api}/visitor-sources"),
            Some(json!({ "origins": [crate::real_visitors::SITE], "sample_one_in": 1, "on_status_pages": true })),
        )
        .await;
    assert_eq!(st, 201, "{source}");
    let site_key = source["site_key"].as_str().unwrap().to_owned();
    let t = crate::real_visitors::fresh_token(&app, &site_key).await;
    let (site, chrome) = (crate::real_visitors::SITE, crate::real_visitors::CHROME);
    assert_eq!(crate::real_visitors::beacon(&app, &site_key, site, chrome, json!({ "t": t })).await.0, 204);

    let (st, page) = app
        .api(
            "POST",
            "/api/v1/status-pages",
            Some(json!({
                "slug": "acme-status", "title": "Acme status", "message": "Planned work on Sunday 02:00 UTC.",
                "logo_url": "https://cdn.example.org/acme.png",
                "monitors": [
                    { "monitor_id": api, "display_name": "Public API", "group": "Core" },
                    { "monitor_id": db, "display_name": "Database", "group": "Core" },
                ],
            })),
        )
        .await;
    assert_eq!(st, 201, "{page}");
    let page_id = page["id"].as_str().unwrap().to_owned();
    assert!(page_id.starts_with("sp_"));
    assert!(page["public_url"].as_str().unwrap().ends_with("/status/acme-status"));
    // Subscribers: one by e-mail (pending), one webhook; neither address is ever shown publicly.
    let (st, signed_up, _) = app.post_form("/status/acme-status/subscribe", &[("email", SECRET_SUBSCRIBER)], &[]).await;
    assert_eq!(st, 202, "{signed_up}");
    let hook = json!({ "url": format!("http://127.0.0.1:9/{SECRET_SUBSCRIBER_HOOK}") });
    let (st, body) = app.api("POST", &format!("/api/v1/status-pages/{page_id}/subscribers"), Some(hook)).await;
    assert_eq!(st, 201, "{body}");

    // Live results: the API is up, the database's host does not resolve (an error naming it).
    wait_for(20, "live results of the API monitor", || async {
        let (_, r) = app.api("GET", &format!("/api/v1/monitors/{api}/results"), None).await;
        (r["data"].as_array().map_or(0, Vec::len) >= 3).then_some(())
    })
    .await;
    let incident = wait_for(20, "the database incident", || async {
        app.incidents(&db).await.first().map(|i| i["id"].as_str().unwrap().to_owned())
    })
    .await;
    let (st, body) = app
        .api(
            "POST",
            &format!("/api/v1/incidents/{incident}/public-message"),
            Some(json!({ "message": "The database is unreachable; we are on it." })),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["public_message"], "The database is unreachable; we are on it.");

    // Evidence that must never count: synthetic and demo failures, newer than any live result.
    let now = clock::now();
    let mut fake = Vec::new();
    for i in 0..20 {
        fake.push(result(&tenant, &api_m, now.plus_ms(i), Outcome::Down, Provenance::Synthetic, SYNTHETIC_ERROR));
        fake.push(result(&tenant, &api_m, now.plus_ms(i), Outcome::Down, Provenance::Demo, SYNTHETIC_ERROR));
    }
    // A live result two days ago, whose error text came from the target's body.
    let two_days_ago = now.minus_ms(2 * 86_400_000);
    fake.push(result(&tenant, &db_m, two_days_ago, Outcome::Down, Provenance::Live, SECRET_ERROR));
    store.ingest(&fake, clock::now()).await.unwrap();

    let (st, _, text) = get(&app, "/status/acme-status.json", None).await;
    assert_eq!(st, 200, "{text}");
    let facts: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(monitor_json(&facts, "Public API")["status"], "up", "synthetic and demo failures do not count: {facts}");
    assert_eq!(monitor_json(&facts, "Database")["status"], "down");
    assert_eq!(facts["status"], "down");

    // Freeze the evidence, then compare the figures with the stored live results.
    for m in [&api, &db] {
        let (st, body) = app.api("POST", &format!("/api/v1/monitors/{m}/pause"), None).await;
        assert_eq!(st, 200, "{body}");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let now = clock::now();
    let (st, headers, text) = get(&app, "/status/acme-status.json", None).await;
    assert_eq!(st, 200);
    assert_eq!(headers["content-type"], "application/json");
    let facts: Value = serde_json::from_str(&text).unwrap();
    let generated = facts["generated_at"].as_str().unwrap();
    assert!(generated.ends_with('Z') && generated.len() == 24, "{generated}");
    for (m, name) in [(&api_m, "Public API"), (&db_m, "Database")] {
        let shown = monitor_json(&facts, name);
        assert_eq!(shown["status"], "paused");
        assert_eq!(shown["group"], "Core");
        let w24 = window(shown, "24h");
        let from = Timestamp::from_millis(now.millis().div_euclid(3_600_000) * 3_600_000 - 23 * 3_600_000);
        let live = store.tally(&tenant, m, from, now.plus_ms(60_000), Evidence::Live).await.unwrap();
        assert!(live.total() >= 2, "{name}: {live:?}");
        assert_eq!(w24["checks"], live.total(), "{name}: 24 h counts exactly the live results");
        let expected = (live.uptime_percent().unwrap() * 100.0).round() / 100.0;
        assert_eq!(w24["percent"].as_f64(), Some(expected), "{name}");
        assert_eq!(w24["from"], from.to_rfc3339());
        assert_eq!(w24["to"], facts["generated_at"]);
        let daily = shown["daily"].as_array().unwrap();
        assert_eq!(daily.len(), 90);
        assert_eq!(daily[89]["date"], &now.to_rfc3339()[..10]);
        // Results of the last minutes, ingested under this hour, are all live.
        let latest = store.list_results(&tenant, m, now.minus_ms(3_600_000), now.plus_ms(60_000), 1000, None).await;
        let live_at: Vec<Timestamp> =
            latest.unwrap().results.iter().filter(|r| r.provenance == Provenance::Live).map(|r| r.started_at).collect();
        assert_eq!(shown["last_check_at"], live_at.iter().max().unwrap().to_rfc3339(), "{name}: last live check");
    }
    let api_shown = monitor_json(&facts, "Public API");
    assert_eq!(window(api_shown, "24h")["percent"], 100.0, "synthetic/demo failures never count");
    let db_shown = monitor_json(&facts, "Database");
    assert_eq!(window(db_shown, "24h")["percent"], 0.0);
    let db_7d = window(db_shown, "7d")["checks"].as_u64().unwrap();
    assert_eq!(db_7d, window(db_shown, "24h")["checks"].as_u64().unwrap() + 1, "7 d includes the result 2 days ago");
    let two_days = db_shown["daily"].as_array().unwrap().iter().find(|d| d["date"] == two_days_ago.to_rfc3339()[..10]);
    let two_days = two_days.expect("a bar for two days ago");
    assert_eq!((two_days["checks"].as_u64(), two_days["percent"].as_f64()), (Some(1), Some(0.0)));
    let empty_day = &db_shown["daily"][0];
    assert_eq!((empty_day["checks"].as_u64(), empty_day["percent"].is_null()), (Some(0), true), "no data, no figure");
    let incidents = facts["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{facts}");
    assert_eq!(incidents[0]["monitor"], "Database");
    assert_eq!(incidents[0]["message"], "The database is unreachable; we are on it.");

    // The HTML says the same, and neither reveals anything planted.
    let (st, headers, html) = get(&app, "/status/acme-status", None).await;
    assert_eq!(st, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    for want in [
        "Acme status",
        "Public API",
        "Database",
        "Planned work on Sunday",
        "https://cdn.example.org/acme.png",
        "we are on it",
        "Generated at",
        "24h",
        "90d",
        "Only live checks count",
        "Seen by real visitors: 100 % of 1 page load in 24 h",
    ] {
        assert!(html.contains(want), "HTML lacks `{want}`");
    }
    assert_eq!(html.matches("class=\"bar ").count(), 180, "90 daily bars per monitor");
    let source_id = source["id"].as_str().unwrap();
    let ids =
        [api.as_str(), db.as_str(), incident.as_str(), page_id.as_str(), tenant.as_str(), source_id, site_key.as_str()];
    // The page links to its own feeds at this server's public URL, which is no secret.
    let own = app.url("/status/acme-status");
    assert_no_secrets("HTML", &html.replace(&own, "<page>"), &ids);
    assert_no_secrets("JSON", &text, &ids);
    for feed in ["feed.atom", "feed.json"] {
        let (st, _, body) = get(&app, &format!("/status/acme-status/{feed}"), None).await;
        assert_eq!(st, 200, "{feed}: {body}");
        assert!(body.contains("The database is unreachable; we are on it."), "{feed}: {body}");
        assert_no_secrets(feed, &body.replace(&own, "<page>"), &ids);
    }
    assert_no_secrets("the sign-up answer", &signed_up, &ids);
    for path in ["confirm?token=npc_0", "unsubscribe?token=npu_0"] {
        let (_, _, body) = get(&app, &format!("/status/acme-status/{path}"), None).await;
        assert_no_secrets(path, &body, &ids);
    }
    // The real-visitor script (which names only its own beacon URL, on this server's public
    // URL) and the privacy note.
    let own_rv = app.url(&format!("/rv/{site_key}/"));
    for path in [format!("/rv/{site_key}/script.js"), "/privacy/real-visitors".to_owned()] {
        let (_, _, body) = get(&app, &path, None).await;
        assert_no_secrets(&path, &body.replace(&own_rv, "<own>"), &ids);
    }

    // ETag and 304; a new live result changes the tag.
    let cache = headers["cache-control"].to_str().unwrap();
    assert!(cache.contains("max-age=30"), "{cache}");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (st, again, body) = get(&app, "/status/acme-status", Some(&etag)).await;
    assert_eq!((st, body.as_str()), (304, ""));
    assert_eq!(again["etag"].to_str().unwrap(), etag);
    let (_, json_headers, _) = get(&app, "/status/acme-status.json", None).await;
    let json_etag = json_headers["etag"].to_str().unwrap().to_owned();
    assert_ne!(json_etag, etag);
    assert_eq!(get(&app, "/status/acme-status.json", Some(&json_etag)).await.0, 304);
    store
        .ingest(&[result(&tenant, &api_m, clock::now(), Outcome::Up, Provenance::Live, "")], clock::now())
        .await
        .unwrap();
    let (st, changed, _) = get(&app, "/status/acme-status", Some(&etag)).await;
    assert_eq!(st, 200);
    assert_ne!(changed["etag"].to_str().unwrap(), etag);

    // Management: rename, list, delete; an unknown slug is a 404.
    let (st, body) = app
        .api(
            "PATCH",
            &format!("/api/v1/status-pages/{page_id}"),
            Some(json!({ "monitors": [{ "monitor_id": api, "display_name": "API" }], "logo_url": null })),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["logo_url"], Value::Null);
    let (_, _, text) = get(&app, "/status/acme-status.json", None).await;
    let facts: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(facts["monitors"].as_array().unwrap().len(), 1);
    assert_eq!(facts["monitors"][0]["name"], "API");
    let (st, list) = app.api("GET", "/api/v1/status-pages", None).await;
    assert_eq!((st, list["data"].as_array().unwrap().len()), (200, 1));
    assert_eq!(get(&app, "/status/no-such-page", None).await.0, 404);
    assert_eq!(get(&app, "/status/..%2Fetc", None).await.0, 404);
    let (st, _) = app.api("DELETE", &format!("/api/v1/status-pages/{page_id}"), None).await;
    assert_eq!(st, 204);
    assert_eq!(get(&app, "/status/acme-status", None).await.0, 404);
}

/// With a cache, a page is one reading served until it expires: new results wait, the
/// answer (its ETag, "generated at" and figures) stays that reading's, the page says how old
/// it can be, and a change to the page made on this node shows at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_status_page_stays_one_truthful_reading_until_the_page_changes() {
    let app = spawn_app_adjusted(|config| config.http.status_page_cache_s = 3600).await;
    let store = app.running.as_ref().unwrap().store.clone();
    let tenant = store.authenticate(&clock::token_hash(TOKEN)).await.unwrap().unwrap().tenant_id;
    let target = Target::start().await;
    let id = app
        .create_monitor(
            json!({ "name": "web", "kind": "http", "url": target.url(), "interval_s": 3600, "timeout_ms": 900 }),
        )
        .await;
    let m = MonitorId::from_trusted(id.clone());
    let (st, body) = app
        .api(
            "POST",
            "/api/v1/status-pages",
            Some(json!({ "slug": "cached", "title": "Cached", "monitors": [{ "monitor_id": id, "display_name": "Web" }] })),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let page_id = body["id"].as_str().unwrap().to_owned();

    let (_, first_headers, first) = get(&app, "/status/cached.json", None).await;
    let (_, html_headers, html) = get(&app, "/status/cached", None).await;
    assert!(html.contains("at most 7200 s old"), "the page states its staleness bound");
    let facts: Value = serde_json::from_str(&first).unwrap();
    assert_eq!((&facts["refreshed_every_s"], &facts["at_most_s_old"]), (&json!(3600), &json!(7200)));
    let checks_before = window(monitor_json(&facts, "Web"), "24h")["checks"].as_u64().unwrap();

    let now = clock::now();
    let downs: Vec<CheckResult> =
        (0..5).map(|k| result(&tenant, &m, now.plus_ms(k), Outcome::Down, Provenance::Live, "x")).collect();
    store.ingest(&downs, now).await.unwrap();
    let (st, again_headers, again) = get(&app, "/status/cached.json", None).await;
    assert_eq!(st, 200);
    assert_eq!(again, first, "the same reading, with its own generated_at, until it expires");
    assert_eq!(again_headers["etag"], first_headers["etag"]);
    let html_etag = html_headers["etag"].to_str().unwrap().to_owned();
    let (st, _, body) = get(&app, "/status/cached", Some(&html_etag)).await;
    assert_eq!((st, body.as_str()), (304, ""));

    // Renaming the monitor on the page is a change made here: the next answer is a new reading.
    let (st, body) = app
        .api(
            "PATCH",
            &format!("/api/v1/status-pages/{page_id}"),
            Some(json!({ "monitors": [{ "monitor_id": id, "display_name": "Website" }] })),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let (st, _, text) = get(&app, "/status/cached.json", None).await;
    assert_eq!(st, 200);
    let facts: Value = serde_json::from_str(&text).unwrap();
    let w24 = window(monitor_json(&facts, "Website"), "24h");
    assert!(w24["checks"].as_u64().unwrap() >= checks_before + 5, "{w24}");
    assert_ne!(facts["generated_at"], serde_json::from_str::<Value>(&first).unwrap()["generated_at"]);
    assert_eq!(get(&app, "/status/cached", Some(&html_etag)).await.0, 200, "the old tag no longer matches");

    let (st, _) = app.api("DELETE", &format!("/api/v1/status-pages/{page_id}"), None).await;
    assert_eq!(st, 204);
    assert_eq!(get(&app, "/status/cached", None).await.0, 404, "a deleted page is gone at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_pages_refuse_other_tenants_monitors_and_name_the_bad_field() {
    let app = spawn_app().await;
    let store = app.running.as_ref().unwrap().store.clone();
    let theirs = other_tenants_monitor(&store).await;
    let mine = app.create_monitor(json!({ "name": "mine", "kind": "http", "url": "http://a", "paused": true })).await;
    let ok = |m: &str| json!([{ "monitor_id": m, "display_name": "Mine" }]);

    let cases = [
        (
            json!({ "slug": "theirs", "title": "T", "monitors": [{ "monitor_id": theirs, "display_name": "x" }] }),
            422,
            "monitors[0].monitor_id",
        ),
        (
            json!({ "slug": "nope", "title": "T", "monitors": [{ "monitor_id": "mon_nothere", "display_name": "x" }] }),
            422,
            "monitors[0].monitor_id",
        ),
        (json!({ "slug": "Bad Slug", "title": "T", "monitors": ok(&mine) }), 422, "slug"),
        (json!({ "slug": "ab", "title": "T" }), 422, "slug"),
        (json!({ "slug": "demo", "title": "T" }), 422, "slug"),
        (json!({ "title": "T" }), 422, "slug"),
        (json!({ "slug": "fine-slug" }), 422, "title"),
        (json!({ "slug": "fine-slug", "title": "" }), 422, "title"),
        (json!({ "slug": "fine-slug", "title": "T", "logo_url": "javascript:alert(1)" }), 422, "logo_url"),
        (
            json!({ "slug": "fine-slug", "title": "T", "monitors": [{ "monitor_id": mine, "display_name": "" }] }),
            422,
            "monitors[0].display_name",
        ),
        (
            json!({ "slug": "fine-slug", "title": "T", "monitors": [{ "monitor_id": mine }] }),
            422,
            "monitors[0].display_name",
        ),
        (
            json!({ "slug": "fine-slug", "title": "T", "monitors": [{ "monitor_id": mine, "display_name": "a" }, { "monitor_id": mine, "display_name": "b" }] }),
            422,
            "monitors[1].monitor_id",
        ),
        (json!({ "slug": "fine-slug", "title": "T", "colour": "red" }), 422, "colour"),
    ];
    for (body, status, field) in cases {
        let (st, err) = app.api("POST", "/api/v1/status-pages", Some(body.clone())).await;
        assert_eq!(st, status, "{body} → {err}");
        assert_eq!(err["error"]["field"], field, "{body} → {err}");
        assert!(err["error"]["message"].as_str().unwrap().starts_with(field), "{err}");
    }
    let (st, page) = app
        .api("POST", "/api/v1/status-pages", Some(json!({ "slug": "taken", "title": "T", "monitors": ok(&mine) })))
        .await;
    assert_eq!(st, 201, "{page}");
    let (st, err) = app.api("POST", "/api/v1/status-pages", Some(json!({ "slug": "taken", "title": "T2" }))).await;
    assert_eq!((st, &err["error"]["field"]), (409, &json!("slug")), "{err}");
    let id = page["id"].as_str().unwrap();
    let (st, err) = app
        .api(
            "PATCH",
            &format!("/api/v1/status-pages/{id}"),
            Some(json!({ "monitors": [{ "monitor_id": theirs, "display_name": "x" }] })),
        )
        .await;
    assert_eq!((st, &err["error"]["field"]), (422, &json!("monitors[0].monitor_id")), "{err}");
    let (st, _) = app.api("PATCH", "/api/v1/status-pages/sp_nothere", Some(json!({ "title": "x" }))).await;
    assert_eq!(st, 404);
    let (st, err) =
        app.api("POST", "/api/v1/incidents/inc_nothere/public-message", Some(json!({ "message": "x" }))).await;
    assert_eq!(st, 404, "{err}");
    // The other tenant's monitor never shows up on this tenant's page.
    let (_, _, text) = get(&app, "/status/taken.json", None).await;
    assert!(!text.contains(theirs.as_str()) && !text.contains("theirs"), "{text}");
}

/// Single flight: a burst of requests on a page nobody has read yet, or whose cache a change
/// on this node just cleared, costs one store read; on an expired entry the burst is served
/// the previous reading while one request re-reads it in the background (served copies are
/// at most twice the cache time old, and the page says so), and the next answer is the new
/// reading. Every answer is the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_requests_on_an_expired_status_page_reads_the_store_once() {
    // No scheduler or checker: the only results are the ones this test stores.
    let app = spawn_app_adjusted(|config| {
        config.http.status_page_cache_s = 2;
        config.roles = netpulse_engine::roles::Roles::parse("api,dashboard,ingest").unwrap();
    })
    .await;
    let running = app.running.as_ref().unwrap();
    let tenant = running.store.authenticate(&clock::token_hash(TOKEN)).await.unwrap().unwrap().tenant_id;
    let id = app.create_monitor(json!({ "name": "web", "kind": "tcp", "host": "127.0.0.1", "port": 9 })).await;
    let m = MonitorId::from_trusted(id.clone());
    let now = clock::now();
    running.store.ingest(&[result(&tenant, &m, now, Outcome::Up, Provenance::Live, "")], now).await.unwrap();
    let page = json!({ "slug": "burst", "title": "Burst", "monitors": [{ "monitor_id": id, "display_name": "Web" }] });
    let (st, body) = app.api("POST", "/api/v1/status-pages", Some(page)).await;
    assert_eq!(st, 201, "{body}");
    let page_id = body["id"].as_str().unwrap().to_owned();
    let reads = || running.metrics.status_page_reads.get();
    let burst = || futures_util::future::join_all((0..40).map(|_| get(&app, "/status/burst.json", None)));
    let status = |text: &str| serde_json::from_str::<Value>(text).unwrap()["status"].as_str().unwrap().to_owned();

    let before = reads();
    let answers = burst().await;
    assert_eq!(reads() - before, 1, "a cold page: one read for the whole burst");
    assert!(answers.iter().all(|(st, _, text)| *st == 200 && *text == answers[0].2), "every answer is that reading");
    assert_eq!(status(&answers[0].2), "up");
    let facts: Value = serde_json::from_str(&answers[0].2).unwrap();
    assert_eq!((facts["refreshed_every_s"].as_u64(), facts["at_most_s_old"].as_u64()), (Some(2), Some(4)));
    let (_, _, html) = get(&app, "/status/burst", None).await;
    assert!(html.contains("at most 4 s old"), "the page states the bound");

    // A change on this node clears the cache: again one read for a burst, showing the change.
    let (st, _) =
        app.api("PATCH", &format!("/api/v1/status-pages/{page_id}"), Some(json!({ "title": "Burst 2" }))).await;
    assert_eq!(st, 200);
    let before = reads();
    let answers = burst().await;
    assert_eq!(reads() - before, 1, "a cleared page: one read for the whole burst");
    assert!(answers.iter().all(|(st, _, text)| *st == 200 && text.contains("Burst 2")));

    // Expired (2 s) but within the bound (4 s): the burst gets the old reading, one request re-reads.
    let later = clock::now();
    running.store.ingest(&[result(&tenant, &m, later, Outcome::Down, Provenance::Live, "x")], later).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before = reads();
    let answers = burst().await;
    assert!(answers.iter().all(|(st, _, text)| *st == 200 && ["up", "down"].contains(&status(text).as_str())));
    assert!(answers.iter().any(|(_, _, text)| status(text) == "up"), "the stale reading is served meanwhile");
    wait_for(5, "an answer from the background re-read", || async {
        let (_, _, text) = get(&app, "/status/burst.json", None).await;
        (status(&text) == "down").then_some(())
    })
    .await;
    assert_eq!(reads() - before, 1, "one read for the expired page, however many asked");
}

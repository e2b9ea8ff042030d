//! The read-only demo and what restricted readers see, generated over the route table
//! (`routes.rs`): the demo is seeded (idempotently), labelled, pages nobody and is never
//! checked; a link to `/demo` or `/demo/leave` does not sign a signed-in browser out; every
//! mutating route, API or dashboard, answers the demo visitor 403 `demo_read_only` and
//! changes nothing; viewers get 403 `forbidden` on every mutation of their organisation;
//! no answer to the demo visitor or a viewer contains a secret planted in the fixtures; and
//! no dashboard page shows the demo visitor, a viewer or a read token a form or a form link
//! they cannot use (an owner sees every one of them).

use crate::harness::*;
use crate::routes::{self, fill, placeholder, Route};
use netpulse_store::demo::seed::{seed, Seeded, PLANTED_SECRETS};
use serde_json::{json, Value};

const DEMO: &str = "np_session=demo";

async fn demo_app() -> TestApp {
    spawn_app_adjusted(|c| c.accounts.demo = true).await
}

/// `GET` as the demo visitor: status and body text.
async fn demo_get(app: &TestApp, path: &str) -> (u16, String) {
    let (status, body, _) = app.raw("GET", path, None, &[("cookie", DEMO)]).await;
    (status, body)
}

async fn demo_json(app: &TestApp, path: &str) -> Value {
    let (status, body) = demo_get(app, path).await;
    assert_eq!(status, 200, "GET {path} as the demo: {body}");
    serde_json::from_str(&body).unwrap()
}

fn ids(list: &Value) -> Vec<String> {
    let rows = list["data"].as_array().cloned().unwrap_or_default();
    rows.iter().filter_map(|r| r["id"].as_str().map(str::to_owned)).collect()
}

/// Everything a demo visitor can read of the demo, for before/after comparison.
async fn demo_snapshot(app: &TestApp) -> Vec<Value> {
    let mut all = Vec::new();
    for p in ["/api/v1/monitors", "/api/v1/channels", "/api/v1/incidents", "/api/v1/status-pages"] {
        all.push(demo_json(app, p).await);
    }
    for m in ids(&all[0]) {
        all.push(demo_json(app, &format!("/api/v1/monitors/{m}/results?limit=1000")).await);
    }
    all
}

/// What the demo shows off, as a visitor reads it: a monitor down now with its open incident
/// and who was paged (the webhook at once, Slack after a retry); two monitors checked from
/// three regions, one region failing on its own without an incident; a TLS certificate
/// inside its warning, flagged on the overview; an announced maintenance window.
async fn showcase(app: &TestApp, monitors: &Value) {
    let by_name = |name: &str| -> String {
        let m = monitors["data"].as_array().unwrap().iter().find(|m| m["name"] == name);
        m.unwrap_or_else(|| panic!("a demo monitor {name}: {monitors}"))["id"].as_str().unwrap().to_owned()
    };
    let payments = by_name("Payments API");
    let open = demo_json(app, &format!("/api/v1/incidents?monitor_id={payments}&status=open")).await;
    let incident = open["data"][0]["id"].as_str().unwrap_or_else(|| panic!("Payments API is down now: {open}"));
    let paged = demo_json(app, &format!("/api/v1/deliveries?incident_id={incident}")).await;
    let log: Vec<(String, String)> = paged["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["channel"]["name"].as_str().unwrap().to_owned(), a["outcome"].as_str().unwrap().to_owned()))
        .collect();
    let (on_call, ops) = ("On-call webhook".to_owned(), "#ops on Slack".to_owned());
    assert_eq!(
        log,
        [(ops.clone(), "delivered".into()), (ops, "retrying".into()), (on_call, "delivered".into())],
        "who was paged, newest first"
    );
    let (_, page) = demo_get(app, &format!("/incidents/{incident}")).await;
    assert!(page.contains("On-call webhook") && page.contains("#ops on Slack"), "the incident page says who was paged");
    assert!(page.contains("confirmed by real visitors"), "its sample visitors saw the outage too");

    // The public page (no session): the outage told in updates, the window announced, the
    // sample visitors labelled as demo data.
    let (status, public, _) = app.raw("GET", "/status/demo", None, &[]).await;
    assert_eq!(status, 200);
    for text in
        ["Example Inc. status", "Payments", "identified", "A failed database migration", "CDN provider migration"]
    {
        assert!(public.contains(text), "the demo's status page shows {text:?}");
    }
    assert!(public.contains("Seen by real visitors:") && public.contains("(demo data)"), "{public}");
    assert!(public.contains("counts its sample (demo) checks") && !public.contains("demo data never do"), "{public}");
    let (_, json, _) = app.raw("GET", "/status/demo.json", None, &[]).await;
    let json: Value = serde_json::from_str(&json).unwrap();
    // Checkout, which the Payments outage affects, shows its partial impact, or worse while its
    // own sample checks fail (every 409 slots, 8 slots long).
    let checkout = json["monitors"].as_array().unwrap().iter().find(|m| m["name"] == "Checkout").unwrap();
    let partial_or_worse = ["partial", "down"].contains(&checkout["status"].as_str().unwrap_or_default());
    assert!(partial_or_worse, "{checkout}");
    assert!(public.contains("class=\"badge partial\"") || checkout["status"] == "down", "{public}");
    let storefront = json["monitors"].as_array().unwrap().iter().find(|m| m["name"] == "Storefront").unwrap();
    assert_eq!(storefront["real_visitors_24h"]["demo_data"], true, "{storefront}");
    assert!(
        storefront["uptime"][0]["checks"].as_u64().unwrap() > 100,
        "sample checks counted on the demo page: {storefront}"
    );
    let told = json["incidents"].as_array().unwrap();
    assert!(told.iter().any(|i| i["status"] == "resolved" && i["updates"].as_array().unwrap().len() == 3), "{json}");

    let checkout = by_name("Checkout API");
    let results = demo_json(app, &format!("/api/v1/monitors/{checkout}/results?limit=1000")).await;
    let rows = results["data"].as_array().unwrap();
    let regions: std::collections::BTreeSet<&str> = rows.iter().map(|r| r["region"].as_str().unwrap()).collect();
    assert_eq!(regions.into_iter().collect::<Vec<_>>(), ["ap-south", "eu-west", "us-east"]);
    let down_alone = rows.iter().filter(|r| r["region"] == "ap-south" && r["outcome"] == "down").count();
    assert!(down_alone > 0, "ap-south fails on its own now and then");

    let tls = by_name("TLS www.example.com");
    let (_, overview) = demo_get(app, "/").await;
    assert!(overview.contains("cert-warn"), "the overview flags the certificate inside its warning");
    let (_, page) = demo_get(app, &format!("/monitors/{tls}")).await;
    assert!(page.contains("expires in 13 days") && page.contains("Example Issuing CA R7"), "the certificate shown");

    let marketing = by_name("Marketing site");
    let windows = demo_json(app, &format!("/api/v1/monitors/{marketing}/maintenance")).await;
    assert_eq!(windows["data"][0]["announce"], true, "{windows}");
}

#[tokio::test]
async fn the_demo_is_seeded_labelled_idempotent_and_pages_nobody() {
    let app = demo_app().await;
    let (status, _, headers) = app.raw("GET", "/demo", None, &[]).await;
    assert_eq!(status, 303);
    let cookie = headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.starts_with(DEMO) && cookie.contains("HttpOnly"), "{cookie}");

    let (status, page) = demo_get(&app, "/").await;
    assert_eq!(status, 200);
    for text in ["Demo organisation — read-only", "Storefront", "Checkout API", "Leave the demo"] {
        assert!(page.contains(text), "the demo dashboard shows {text:?}");
    }
    assert!(!page.contains("id=\"first-run\""), "the demo is a tour: no first-run guide");
    let monitors = demo_json(&app, "/api/v1/monitors").await;
    assert_eq!(ids(&monitors).len(), 7, "{monitors}");
    let incidents = demo_json(&app, "/api/v1/incidents").await;
    assert!(ids(&incidents).len() >= 2, "outages in the seeded days opened incidents: {incidents}");
    showcase(&app, &monitors).await;
    let first = &ids(&monitors)[0];
    let results = demo_json(&app, &format!("/api/v1/monitors/{first}/results?limit=1000")).await;
    let rows = results["data"].as_array().unwrap();
    assert!(rows.len() > 100, "days of results: {}", rows.len());
    assert!(rows.iter().all(|r| r["provenance"] == "demo"), "every demo result says so");
    let (_, me) = demo_get(&app, "/api/v1/auth/me").await;
    assert!(me.contains("\"viewer\"") && me.contains("demo visitor"), "{me}");

    let running = app.running.as_ref().unwrap();
    let store = running.store.as_ref();
    let later = netpulse_store::clock::now().plus_ms(86_400_000);
    assert!(store.claim_outbox(later, 1000, 60_000).await.unwrap().is_empty(), "no notice of the demo is queued");

    // A restart seeds again: nothing new for the same time, only the new slots later on.
    let now = netpulse_store::clock::now();
    let caught_up = seed(store, "local", now).await.unwrap();
    // A slot holds 11 results: five monitors from one region, two from three.
    assert!(!caught_up.created && caught_up.results <= 11, "at most the slot begun since start: {caught_up:?}");
    assert_eq!(seed(store, "local", now).await.unwrap(), Seeded { created: false, results: 0 });
    let hour_later = seed(store, "local", now.plus_ms(3_600_000)).await.unwrap();
    assert!(hour_later.results >= 11 * 11, "an hour of new slots: {hour_later:?}");
    assert_eq!(seed(store, "local", now.plus_ms(3_600_000)).await.unwrap().results, 0);
    assert_eq!(ids(&demo_json(&app, "/api/v1/monitors").await).len(), 7, "no duplicate monitors");
    assert!(store.claim_outbox(later, 1000, 60_000).await.unwrap().is_empty());

    // The scheduler checks the real organisation's monitor, never the demo's seven.
    let target = Target::start().await;
    app.create_monitor(json!({ "name": "real", "kind": "http", "url": target.url(), "interval_s": 60 })).await;
    wait_for(10, "the scheduler to run exactly the one real monitor", || async {
        (running.metrics.monitors_scheduled.get() == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn every_change_by_the_demo_visitor_is_refused_and_changes_nothing() {
    let app = demo_app().await;
    let monitors = ids(&demo_json(&app, "/api/v1/monitors").await);
    let channels = ids(&demo_json(&app, "/api/v1/channels").await);
    let incidents = ids(&demo_json(&app, "/api/v1/incidents").await);
    let pick = |segment: &str| match segment {
        "monitors" => monitors[0].clone(),
        "channels" => channels[0].clone(),
        "incidents" => incidents[0].clone(),
        other => placeholder(other),
    };
    let before = demo_snapshot(&app).await;
    // The public status pages' forms belong to no organisation and take no session: the
    // demo's cookie leaves them as they are for everyone (subscribers::… tests them).
    let mutations: Vec<Route> =
        routes::all().into_iter().filter(|r| r.is_mutation() && !r.path.starts_with("/status/")).collect();
    assert!(mutations.len() >= 25, "{mutations:?}");
    for r in &mutations {
        let path = fill(r, &pick);
        let body = json!({ "name": "hijacked", "email": "x@example.com", "password": "hijacked-password" });
        let (status, text, _) = app.raw(r.method, &path, Some(body), &[("cookie", DEMO), ("x-csrf-token", "x")]).await;
        assert_eq!(status, 403, "{} {path} by the demo: {text}", r.method);
        assert!(text.contains("\"demo_read_only\""), "{} {path}: {text}", r.method);
    }
    assert_eq!(demo_snapshot(&app).await, before, "the demo is unchanged");
    let (status, _) = demo_get(&app, "/api/v1/tokens").await;
    assert_eq!(status, 403, "the demo has no tokens to list");
}

#[tokio::test]
async fn links_to_the_demo_neither_replace_nor_drop_a_signed_in_browsers_session() {
    let app = demo_app().await;
    crate::accounts::register(&app, "owner@example.com", "A").await;
    let owner = crate::accounts::browser(&app, "owner@example.com").await;
    for link in ["/demo", "/demo/leave"] {
        let (status, _, headers) = app.raw("GET", link, None, &[("cookie", &owner.cookie)]).await;
        assert_eq!(status, 303, "GET {link}");
        assert!(headers.get("set-cookie").is_none(), "GET {link} leaves the session cookie alone: {headers:?}");
        assert_eq!(headers.get("location").unwrap(), "/", "back to the own dashboard");
    }
    let (status, me) = owner.call(&app, "GET", "/api/v1/auth/me", None).await;
    assert_eq!((status, me["role"].as_str()), (200, Some("owner")), "{me}");
    let (_, _, headers) = app.raw("GET", "/demo/leave", None, &[("cookie", DEMO)]).await;
    let set = headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(set.starts_with("np_session=;") && set.contains("Max-Age=0"), "the demo visitor leaves: {set}");
}

#[tokio::test]
async fn without_the_demo_enabled_there_is_no_demo() {
    let app = spawn_app().await;
    assert_eq!(app.raw("GET", "/demo", None, &[]).await.0, 404);
    assert_eq!(demo_get(&app, "/api/v1/monitors").await.0, 401);
    assert_eq!(demo_get(&app, "/").await.0, 303, "the dashboard sends it to the sign-in page");
}

/// Secrets planted in the bootstrap organisation, and a read token (a viewer) of it.
struct Planted {
    secrets: Vec<String>,
    viewer: String,
    monitors: Vec<String>,
    channels: Vec<String>,
}

async fn plant(app: &TestApp) -> Planted {
    let owner_email = "owner-address-4d2e@example.com";
    app.call(
        "POST",
        "/api/v1/auth/register",
        Some(json!({ "email": owner_email, "password": "correct horse battery", "organisation": "x" })),
        None,
    )
    .await;
    let http = json!({
        "name": "Billing", "kind": "http", "paused": true, "method": "POST",
        "url": "https://ops:pw-in-url-5d1@billing.example.com/health?api_key=query-secret-8c2&page=2",
        "headers": [{ "name": "Authorization", "value": "Bearer header-secret-91f" }, { "name": "Accept", "value": "text/plain" }],
        "body": "password=body-secret-3a7",
    });
    let beat = json!({ "name": "backup", "kind": "heartbeat", "interval_s": 3600, "paused": true });
    let user_in_url = json!({ "name": "GitHub", "kind": "http", "paused": true, "url": "https://ghp_user-in-url-0c4e@api.example.com/" });
    let monitors =
        vec![app.create_monitor(http).await, app.create_monitor(beat).await, app.create_monitor(user_in_url).await];
    let heartbeat_url = app.monitor(&monitors[1]).await["heartbeat_url"].as_str().unwrap().to_owned();
    let hook = json!({ "name": "hook", "kind": "webhook", "url": "https://hooks.example.com/secret-path-6b4", "secret": "whsec_planted_0e9d7c6b5a4f3e2d" });
    let slack =
        json!({ "name": "chat", "kind": "slack", "url": "https://hooks.slack.com/services/T1/B1/slack-secret-2f8" });
    let mut channels = Vec::new();
    for body in [hook, slack] {
        let (status, ch) = app.api("POST", "/api/v1/channels", Some(body)).await;
        assert_eq!(status, 201, "{ch}");
        channels.push(ch["id"].as_str().unwrap().to_owned());
    }
    let (_, tok) = app.api("POST", "/api/v1/tokens", Some(json!({ "name": "wall screen", "scope": "read" }))).await;
    let hb_token = heartbeat_url.rsplit('/').next().unwrap().to_owned();
    let secrets = [
        "pw-in-url-5d1",
        "ghp_user-in-url-0c4e",
        "query-secret-8c2",
        "header-secret-91f",
        "body-secret-3a7",
        "secret-path-6b4",
        "whsec_planted_0e9d7c6b5a4f3e2d",
        "slack-secret-2f8",
        owner_email,
        TOKEN,
        &hb_token,
    ];
    let owner_view = app.monitor(&monitors[0]).await.to_string();
    assert!(owner_view.contains("header-secret-91f"), "members see their monitors whole: {owner_view}");
    Planted {
        secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
        viewer: tok["token"].as_str().unwrap().to_owned(),
        monitors,
        channels,
    }
}

/// The segment naming what a route's parameter is (`monitors` in `/api/v1/monitors/{id}`).
fn param_segment(path: &str) -> Option<&str> {
    let segs: Vec<&str> = path.split('/').collect();
    let i = segs.iter().position(|s| s.starts_with('{'))?;
    Some(segs[i - 1])
}

/// Every readable route, once per id of `ids(segment)` (a placeholder where there is none).
fn readable_paths(ids: &dyn Fn(&str) -> Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    for r in routes::all().into_iter().filter(|r| !r.is_mutation()) {
        // `/events` streams until the client leaves; a heartbeat `GET` records a beat.
        if r.path == "/events" || r.path.contains("/heartbeat/") {
            continue;
        }
        let Some(segment) = param_segment(&r.path) else {
            out.push(r.path.clone());
            continue;
        };
        let mut chosen = ids(segment);
        if chosen.is_empty() {
            chosen.push(placeholder(segment));
        }
        out.extend(chosen.into_iter().map(|id| fill(&r, &|_| id.clone())));
    }
    out
}

#[tokio::test]
async fn no_answer_to_the_demo_or_a_viewer_contains_a_planted_secret() {
    let app = demo_app().await;
    let planted = plant(&app).await;
    let viewer_ids = |segment: &str| match segment {
        "monitors" | "badge" => planted.monitors.clone(),
        "channels" => planted.channels.clone(),
        _ => vec![],
    };
    let bearer = format!("Bearer {}", planted.viewer);
    let pasted = format!("np_session={}", planted.viewer);
    let mut checked = 0;
    for path in readable_paths(&viewer_ids) {
        for header in [("authorization", bearer.as_str()), ("cookie", pasted.as_str())] {
            let (_, body, _) = app.raw("GET", &path, None, &[header]).await;
            for s in &planted.secrets {
                assert!(!body.contains(s.as_str()), "GET {path} with {} showed {s}: {body}", header.0);
            }
            checked += 1;
        }
    }
    let demo_monitors = ids(&demo_json(&app, "/api/v1/monitors").await);
    let demo_channels = ids(&demo_json(&app, "/api/v1/channels").await);
    let demo_incidents = ids(&demo_json(&app, "/api/v1/incidents").await);
    let demo_ids = |segment: &str| match segment {
        "monitors" | "badge" => demo_monitors.clone(),
        "channels" => demo_channels.clone(),
        "incidents" => demo_incidents.iter().take(3).cloned().collect(),
        "status" => vec![netpulse_store::demo::page::SLUG.to_owned()],
        _ => vec![],
    };
    let all: Vec<&str> = PLANTED_SECRETS.iter().copied().chain(planted.secrets.iter().map(String::as_str)).collect();
    for path in readable_paths(&demo_ids) {
        let (_, body) = demo_get(&app, &path).await;
        for s in &all {
            assert!(!body.contains(s), "GET {path} as the demo showed {s}: {body}");
        }
        checked += 1;
    }
    assert!(checked >= 60, "{checked} answers checked");
}

#[tokio::test]
async fn viewers_get_forbidden_on_every_mutation_of_their_organisation() {
    let app = spawn_app().await;
    let planted = plant(&app).await;
    // Routes without a tenant (sign-up, sign-in, e-mail links, heartbeats, a status page's
    // subscription forms and links, real visitors' beacons). A read token
    // creates no tokens either (viewers may, signed in: docs/accounts.md "Viewers can create only read
    // tokens").
    let open = [
        "/api/v1/auth/",
        "/api/v1/heartbeat/",
        "/status/",
        "/rv/",
        "/login",
        "/logout",
        "/demo",
        "/forgot",
        "/reset",
        "/invite",
        "/signup",
    ];
    let pick = |segment: &str| match segment {
        "monitors" => planted.monitors[0].clone(),
        "channels" => planted.channels[0].clone(),
        other => placeholder(other),
    };
    let before = (app.api("GET", "/api/v1/monitors", None).await, app.api("GET", "/api/v1/channels", None).await);
    let mut checked = 0;
    for r in routes::all().into_iter().filter(Route::is_mutation) {
        if open.iter().any(|p| r.path.starts_with(p)) {
            continue;
        }
        let path = fill(&r, &pick);
        let body = if r.path == "/api/v1/tokens" {
            json!({ "name": "hijacked", "scope": "read" })
        } else {
            json!({ "name": "hijacked" })
        };
        let (status, body) = app.call(r.method, &path, Some(body), Some(&planted.viewer)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "{} {path}: {body}", r.method);
        checked += 1;
    }
    assert!(checked >= 18, "{checked} mutations checked");
    let after = (app.api("GET", "/api/v1/monitors", None).await, app.api("GET", "/api/v1/channels", None).await);
    assert_eq!(after, before, "nothing changed");
}

/// Signed-out pages and endpoints that are no page of a signed-in dashboard.
const NOT_DASHBOARD_PAGES: [&str; 13] = [
    "/api/",
    "/login",
    "/forgot",
    "/reset",
    "/invite",
    "/signup",
    "/verify",
    "/demo",
    "/badge/",
    "/status/",
    "/events",
    "/rv/",
    "/privacy/",
];

/// Every signed-in dashboard page of the route table, once per id of `ids(segment)`.
fn dashboard_pages(ids: &dyn Fn(&str) -> Vec<String>) -> Vec<String> {
    let pages = readable_paths(ids).into_iter();
    pages.filter(|p| !NOT_DASHBOARD_PAGES.iter().any(|n| p.starts_with(n))).collect()
}

/// What a page offers: the mutating dashboard routes its `<form method="post">`s send to
/// (as route patterns, `/incidents/{id}/resolve`), and its links to the monitor forms.
fn controls(html: &str) -> Vec<String> {
    let mutations: Vec<Route> = routes::all().into_iter().filter(|r| r.dashboard && r.is_mutation()).collect();
    let pattern = |action: &str| {
        let action = action.split('?').next().unwrap_or(action);
        let same = |r: &&Route| {
            let (a, b): (Vec<&str>, Vec<&str>) = (r.path.split('/').collect(), action.split('/').collect());
            a.len() == b.len() && a.iter().zip(&b).all(|(p, s)| p.starts_with('{') || p == s)
        };
        mutations.iter().find(same).map(|r| r.path.clone())
    };
    let attr = |tag: &str, name: &str| {
        tag.split(&format!(" {name}=\"")).nth(1).and_then(|v| v.split('"').next()).map(str::to_owned)
    };
    let mut out = Vec::new();
    for tag in html.split("<form").skip(1).map(|t| t.split('>').next().unwrap_or("")) {
        if attr(tag, "method").as_deref() == Some("post") {
            out.push(attr(tag, "action").and_then(|a| pattern(&a)).unwrap_or_else(|| format!("unknown form: {tag}")));
        }
    }
    for href in html.split(" href=\"").skip(1).filter_map(|h| h.split('"').next()) {
        if href == "/monitors/new" || href.ends_with("/edit") || href.ends_with("/maintenance") {
            let mut segs: Vec<&str> = href.split('/').collect();
            if href != "/monitors/new" && segs.len() > 2 {
                segs[2] = "{id}";
            }
            out.push(format!("link {}", segs.join("/")));
        }
    }
    out
}

/// The controls over every dashboard page `cookie` is shown, after checking each page's
/// header offers `way_out` and no other way out.
async fn controls_shown(app: &TestApp, cookie: &str, pages: &[String], way_out: &str) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for path in pages {
        let (status, html, _) = app.raw("GET", path, None, &[("cookie", cookie)]).await;
        if html.starts_with("<!DOCTYPE") {
            let other = if way_out == "Sign out" { "Leave the demo" } else { "Sign out" };
            assert!(html.contains(way_out) && !html.contains(&format!(">{other}<")), "GET {path}: {status} {html}");
        }
        all.extend(controls(&html).into_iter().map(|c| (path.clone(), c)));
    }
    all
}

#[tokio::test]
async fn read_only_audiences_are_shown_no_control_they_cannot_use_and_an_owner_all_of_them() {
    let app = demo_app().await;
    let store = app.running.as_ref().unwrap().store.clone();
    crate::accounts::register(&app, "owner@example.com", "A").await; // owns the harness token's organisation
    crate::accounts::register(&app, "viewer@example.com", "V").await;
    crate::accounts::verify_directly(&app, "viewer@example.com").await; // only a verified address joins
    let tenant = store.authenticate(&netpulse_store::clock::token_hash(TOKEN)).await.unwrap().unwrap().tenant_id;
    let viewer_id = store.user_by_email("viewer@example.com").await.unwrap().unwrap().id;
    let now = netpulse_store::clock::now();
    let inv = netpulse_store::Invitation {
        id: "inv_viewer".into(),
        email: "viewer@example.com".into(),
        role: netpulse_store::Role::Viewer,
        invited_by: "test".into(),
        created_at: now,
        expires_at: now.plus_ms(60_000),
    };
    store.create_invitation(&tenant, &inv, "viewer-invite").await.unwrap();
    store.accept_invitation("viewer-invite", &viewer_id, now).await.unwrap();
    let viewer = crate::accounts::browser(&app, "viewer@example.com").await;
    let (status, me) = viewer.call(&app, "POST", "/api/v1/auth/switch", Some(json!({ "tenant": tenant }))).await;
    assert_eq!(status, 200, "{me}");
    let (_, read) = app.api("POST", "/api/v1/tokens", Some(json!({ "name": "wall", "scope": "read" }))).await;

    // An open incident, a maintenance window, a channel and a second member to manage.
    let target = Target::start().await;
    target.set_status(503);
    let failing =
        json!({ "name": "Checkout", "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 900 });
    let monitor = app.create_monitor(failing).await;
    let incident = wait_for(20, "an incident", || async {
        app.incidents(&monitor).await.first().map(|i| i["id"].as_str().unwrap().to_owned())
    })
    .await;
    let window = json!({ "duration_s": 3600, "reason": "upgrade" });
    let (status, w) = app.api("POST", &format!("/api/v1/monitors/{monitor}/maintenance"), Some(window)).await;
    assert_eq!(status, 201, "{w}");
    let (status, ch) = app
        .api(
            "POST",
            "/api/v1/channels",
            Some(json!({ "name": "ops", "kind": "webhook", "url": "https://example.com/h" })),
        )
        .await;
    assert_eq!(status, 201, "{ch}");
    let org_ids = |segment: &str| match segment {
        "monitors" => vec![monitor.clone()],
        "incidents" => vec![incident.clone()],
        _ => vec![],
    };
    let pages = dashboard_pages(&org_ids);
    assert!(pages.len() >= 14, "{pages:?}");

    let owner: Vec<String> = controls_shown(&app, &format!("np_session={TOKEN}"), &pages, "Sign out")
        .await
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    for control in [
        "link /monitors/new",
        "link /monitors/{id}/edit",
        "link /monitors/{id}/maintenance",
        "/monitors/new",
        "/monitors/{id}/edit",
        "/monitors/{id}/maintenance",
        "/maintenance/{id}/cancel",
        "/incidents/{id}/acknowledge",
        "/incidents/{id}/resolve",
        "/channels",
        "/channels/{id}/test",
        "/settings/alerting",
        "/members/invite",
        "/members/{id}/role",
        "/members/{id}/remove",
        "/tokens",
        "/tokens/{id}/revoke",
        "/logout",
    ] {
        assert!(owner.iter().any(|c| c == control), "the owner is offered {control}: {owner:?}");
    }

    let read_token = format!("np_session={}", read["token"].as_str().unwrap());
    // A viewer's own account forms: signing out, switching organisations, leaving this one,
    // making read tokens.
    let audiences: [(&str, &str, &str, &[&str]); 3] = [
        ("a viewer", &viewer.cookie, "Sign out", &["/logout", "/members/switch", "/members/leave", "/tokens"]),
        ("a read token", &read_token, "Sign out", &["/logout"]),
        ("the demo", DEMO, "Leave the demo", &[]),
    ];
    for (who, cookie, way_out, usable) in audiences {
        let pages = if who == "the demo" {
            let monitors = ids(&demo_json(&app, "/api/v1/monitors").await);
            let incidents = ids(&demo_json(&app, "/api/v1/incidents").await);
            dashboard_pages(&|segment: &str| match segment {
                "monitors" => monitors.iter().take(2).cloned().collect(),
                "incidents" => incidents.iter().take(2).cloned().collect(),
                _ => vec![],
            })
        } else {
            pages.clone()
        };
        let dead: Vec<_> = controls_shown(&app, cookie, &pages, way_out)
            .await
            .into_iter()
            .filter(|(_, c)| !usable.contains(&c.as_str()))
            .collect();
        assert!(dead.is_empty(), "{who} is shown controls it cannot use: {dead:?}");
    }
    let (_, page) = demo_get(&app, "/incidents").await;
    assert!(page.contains("href=\"/demo/leave\""), "the demo's header leads out of the demo");
    let (_, page, _) = app.raw("GET", "/members", None, &[("cookie", &viewer.cookie)]).await;
    assert!(page.contains("action=\"/members/switch\""), "a viewer still switches organisations: {page}");
    assert!(page.contains("action=\"/members/leave\""), "and may leave this one: {page}");
    let (_, page, _) = app.raw("GET", "/members", None, &[("cookie", &read_token)]).await;
    assert!(!page.contains("Leave organisation"), "a token is no person and cannot leave: {page}");
}

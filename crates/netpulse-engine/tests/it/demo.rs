//! The read-only demo and what restricted readers see, generated over the route table
//! (`routes.rs`): the demo is seeded (idempotently), labelled, pages nobody and is never
//! checked; a link to `/demo` or `/demo/leave` does not sign a signed-in browser out; every
//! mutating route, API or dashboard, answers the demo visitor 403 `demo_read_only` and
//! changes nothing; viewers get 403 `forbidden` on every mutation of their organisation;
//! and no answer to the demo visitor or a viewer contains a secret planted in the fixtures.

use crate::harness::*;
use crate::routes::{self, fill, placeholder, Route};
use netpulse_engine::demo::seed::{seed, Seeded, PLANTED_SECRETS};
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
    let monitors = demo_json(&app, "/api/v1/monitors").await;
    assert_eq!(ids(&monitors).len(), 6, "{monitors}");
    let incidents = demo_json(&app, "/api/v1/incidents").await;
    assert!(ids(&incidents).len() >= 2, "outages in the seeded days opened incidents: {incidents}");
    let first = &ids(&monitors)[0];
    let results = demo_json(&app, &format!("/api/v1/monitors/{first}/results?limit=1000")).await;
    let rows = results["data"].as_array().unwrap();
    assert!(rows.len() > 100, "days of results: {}", rows.len());
    assert!(rows.iter().all(|r| r["provenance"] == "demo"), "every demo result says so");
    let (_, me) = demo_get(&app, "/api/v1/auth/me").await;
    assert!(me.contains("\"viewer\"") && me.contains("demo visitor"), "{me}");

    let running = app.running.as_ref().unwrap();
    let store = running.store.as_ref();
    let later = netpulse_engine::clock::now().plus_ms(86_400_000);
    assert!(store.claim_outbox(later, 1000, 60_000).await.unwrap().is_empty(), "no notice of the demo is queued");

    // A restart seeds again: nothing new for the same time, only the new slots later on.
    let now = netpulse_engine::clock::now();
    let caught_up = seed(store, "local", now).await.unwrap();
    assert!(!caught_up.created && caught_up.results <= 6, "at most the slot begun since start: {caught_up:?}");
    assert_eq!(seed(store, "local", now).await.unwrap(), Seeded { created: false, results: 0 });
    let hour_later = seed(store, "local", now.plus_ms(3_600_000)).await.unwrap();
    assert!(hour_later.results >= 6 * 11, "an hour of new slots: {hour_later:?}");
    assert_eq!(seed(store, "local", now.plus_ms(3_600_000)).await.unwrap().results, 0);
    assert_eq!(ids(&demo_json(&app, "/api/v1/monitors").await).len(), 6, "no duplicate monitors");
    assert!(store.claim_outbox(later, 1000, 60_000).await.unwrap().is_empty());

    // The scheduler checks the real organisation's monitor, never the demo's six.
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
    let mutations: Vec<Route> = routes::all().into_iter().filter(Route::is_mutation).collect();
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
    // Routes without a tenant (sign-up, sign-in, e-mail links, heartbeats). A read token
    // creates no tokens either (viewers may, signed in: README "Viewers can create only read
    // tokens").
    let open = [
        "/api/v1/auth/",
        "/api/v1/heartbeat/",
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

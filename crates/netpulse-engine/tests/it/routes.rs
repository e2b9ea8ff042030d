//! The engine's route table, read from the router sources (`netpulse-web`'s `api/mod.rs` and `dashboard/mod.rs`)
//! so that suites generated over it (tenant isolation, the read-only demo, what viewers
//! see, CSRF refusal) cover a new route without being edited.
//!
//! The CSRF suite lives here: every mutating route, sent with a live login session's
//! cookies but without the session's CSRF token (or with a wrong one) — what another site
//! can make a signed-in browser send — is refused with 403 and changes nothing. API routes
//! that take no cookie credentials (sign-up, sign-in, e-mail links) read only JSON bodies,
//! which a cross-site form cannot send: they answer such a form 415.

use crate::accounts::{browser, register, verify_directly, Browser};
use crate::harness::*;
use serde_json::{json, Value};

/// One `(method, path)` pair of a router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: String,
    /// Whether it is a dashboard route (else an API route).
    pub dashboard: bool,
}

impl Route {
    pub fn is_mutation(&self) -> bool {
        self.method != "GET"
    }
}

/// The routes of one router source: every `.route("path", handlers)` call, also when
/// rustfmt split it over several lines.
fn parse(src: &str, dashboard: bool) -> Vec<Route> {
    let body = src.split("Router::new()").nth(1).expect("a Router::new() in the source");
    let body = body.split("\n}").next().unwrap_or(body);
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    for call in flat.split(".route(").skip(1) {
        let path = call.split('"').nth(1).expect("a path literal").to_owned();
        let handlers = call.split_once("\",").map_or("", |(_, h)| h);
        for (needle, method) in
            [("get(", "GET"), ("post(", "POST"), ("put(", "PUT"), ("patch(", "PATCH"), ("delete(", "DELETE")]
        {
            let called = handlers.match_indices(needle).any(|(i, _)| {
                // `get(` but not `target(`: the name starts the token.
                i == 0 || !handlers.as_bytes()[i - 1].is_ascii_alphanumeric() && handlers.as_bytes()[i - 1] != b'_'
            });
            if called {
                out.push(Route { method, path: path.clone(), dashboard });
            }
        }
    }
    out
}

/// Every route of the API and the dashboard.
pub fn all() -> Vec<Route> {
    let mut r = parse(include_str!("../../../netpulse-web/src/api/mod.rs"), false);
    r.extend(parse(include_str!("../../../netpulse-web/src/dashboard/mod.rs"), true));
    r
}

#[test]
fn the_route_table_is_read_whole() {
    let routes = all();
    let has = |m: &str, p: &str| routes.iter().any(|r| r.method == m && r.path == p);
    assert!(has("PATCH", "/api/v1/status-pages/{id}"), "a route split over lines: {routes:?}");
    assert!(has("POST", "/api/v1/heartbeat/{token}") && has("GET", "/api/v1/heartbeat/{token}"));
    assert!(has("POST", "/login") && has("GET", "/monitors/{id}"), "dashboard routes: {routes:?}");
    assert!(has("PUT", "/api/v1/settings/alerting") && has("POST", "/settings/alerting"), "{routes:?}");
    assert!(has("POST", "/api/v1/auth/leave") && has("POST", "/members/leave"), "leaving: {routes:?}");
    assert!(routes.len() >= 45, "{} routes: {routes:?}", routes.len());
}

/// A route's path with its parameters filled in from `pick(segment)`.
pub fn fill(r: &Route, pick: &dyn Fn(&str) -> String) -> String {
    let segs: Vec<&str> = r.path.split('/').collect();
    let mut out = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        out.push(match *s {
            "{id}" | "{token}" | "{slug}" => pick(segs[i - 1]),
            other => other.to_owned(),
        });
    }
    out.join("/")
}

/// A well-formed id of a kind, for routes whose rows a reader has none of.
pub fn placeholder(segment: &str) -> String {
    let prefix = match segment {
        "monitors" | "badge" => "mon_",
        "channels" => "ch_",
        "incidents" => "inc_",
        "tokens" => "tok_",
        _ => "x_",
    };
    format!("{prefix}{}", "0".repeat(26))
}

/// API routes that take no cookie credentials: JSON only, so no cross-site form reaches them.
const WITHOUT_CREDENTIALS: [&str; 6] = [
    "/api/v1/auth/register",
    "/api/v1/auth/verify",
    "/api/v1/auth/login",
    "/api/v1/auth/reset",
    "/api/v1/auth/reset/confirm",
    "/api/v1/auth/resend-verification",
];

/// What the owner can see of their organisation, and that their session still works.
async fn owner_view(app: &TestApp, owner: &Browser, monitor: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for p in [
        "/api/v1/auth/me".to_owned(),
        "/api/v1/monitors".to_owned(),
        format!("/api/v1/monitors/{monitor}/maintenance"),
        "/api/v1/channels".to_owned(),
        "/api/v1/incidents".to_owned(),
        "/api/v1/status-pages".to_owned(),
        "/api/v1/members".to_owned(),
        "/api/v1/invitations".to_owned(),
        "/api/v1/tokens".to_owned(),
    ] {
        let (status, mut v) = owner.call(app, "GET", &p, None).await;
        assert_eq!(status, 200, "GET {p}: {v}");
        for row in v["data"].as_array_mut().into_iter().flatten() {
            for volatile in ["status", "last_checked_at", "last_latency_ms", "last_outcome", "last_error"] {
                row.as_object_mut().map(|o| o.remove(volatile));
            }
        }
        all.push(v);
    }
    all
}

#[tokio::test]
async fn every_cookie_authenticated_change_without_the_sessions_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    register(&app, "owner@example.com", "A").await; // owns the harness token's organisation
    verify_directly(&app, "owner@example.com").await;
    register(&app, "bob@example.com", "B").await;
    verify_directly(&app, "bob@example.com").await; // only a verified address joins
    let store = &app.running.as_ref().unwrap().store;
    let (tenant, _) = store
        .first_membership(&store.user_by_email("owner@example.com").await.unwrap().unwrap().id)
        .await
        .unwrap()
        .unwrap();
    let bob = store.user_by_email("bob@example.com").await.unwrap().unwrap().id;
    let now = netpulse_store::clock::now();
    let inv = netpulse_store::Invitation {
        id: "inv_bob".into(),
        email: "bob@example.com".into(),
        role: netpulse_store::Role::Member,
        invited_by: "test".into(),
        created_at: now,
        expires_at: now.plus_ms(60_000),
    };
    store.create_invitation(&tenant, &inv, "bob-invite").await.unwrap();
    store.accept_invitation("bob-invite", &bob, now).await.unwrap();
    let owner = browser(&app, "owner@example.com").await;

    let monitor = app
        .create_monitor(json!({ "name": "db", "kind": "tcp", "host": "db.example.com", "port": 5432, "paused": true }))
        .await;
    let (_, ch) = app
        .api(
            "POST",
            "/api/v1/channels",
            Some(json!({ "name": "ops", "kind": "webhook", "url": "https://example.com/hook" })),
        )
        .await;
    let (_, mw) = app
        .api(
            "POST",
            &format!("/api/v1/monitors/{monitor}/maintenance"),
            Some(json!({ "duration_s": 3600, "reason": "upgrade" })),
        )
        .await;
    let (_, tok) = app.api("POST", "/api/v1/tokens", Some(json!({ "name": "ci", "scope": "read" }))).await;
    let (_, invited) =
        app.api("POST", "/api/v1/invitations", Some(json!({ "email": "guest@example.com", "role": "viewer" }))).await;
    let page =
        json!({ "slug": "status", "title": "Status", "monitors": [{ "monitor_id": monitor, "display_name": "DB" }] });
    let (_, page) = app.api("POST", "/api/v1/status-pages", Some(page)).await;
    let id = |v: &Value| v["id"].as_str().unwrap_or_else(|| panic!("a fixture: {v}")).to_owned();
    let (ch, mw, tok, invited, page) = (id(&ch), id(&mw), id(&tok), id(&invited), id(&page));
    let pick = |segment: &str| match segment {
        "monitors" => monitor.clone(),
        "channels" => ch.clone(),
        "maintenance" => mw.clone(),
        "tokens" => tok.clone(),
        "members" => bob.to_string(),
        "invitations" => invited.clone(),
        "status-pages" => page.clone(),
        "heartbeat" => "x".into(),
        other => placeholder(other),
    };

    let before = owner_view(&app, &owner, &monitor).await;
    let form = [
        ("name", "hijacked"),
        ("role", "viewer"),
        ("email", "x@example.com"),
        ("password", "hijacked-password"),
        ("organisation", "x"),
        ("token", "x"),
        ("tenant", "x"),
    ];
    let jar = owner.cookie.as_str();
    let mut checked = 0;
    for r in all().into_iter().filter(Route::is_mutation) {
        let path = fill(&r, &pick);
        if r.path.starts_with("/status/") || r.path.starts_with("/rv/") {
            // A status page's subscription forms take no session: a sign-up does nothing until
            // the mailed link is followed, and unsubscribing needs the subscriber's own token.
            // Real visitors' beacons take none either: they need a page token of their source.
        } else if r.dashboard {
            for csrf in [None, Some("forged"), Some("")] {
                let mut fields = form.to_vec();
                fields.extend(csrf.map(|c| ("csrf", c)));
                let (status, body, _) = app.post_form(&path, &fields, &[("cookie", jar)]).await;
                assert!(
                    status == 403 && body.contains("Form expired"),
                    "POST {path} with csrf {csrf:?}: {status} {body}"
                );
                checked += 1;
            }
        } else if WITHOUT_CREDENTIALS.contains(&r.path.as_str()) {
            let (status, body, _) = app.post_form(&path, &form, &[("cookie", jar)]).await;
            assert_eq!(status, 415, "a form posted to {path}: {body}");
        } else if r.path.starts_with("/api/v1/heartbeat/") {
            // A heartbeat push URL is its own credential; it takes no cookie.
        } else {
            let body =
                json!({ "name": "hijacked", "role": "viewer", "email": "x@example.com", "tenant": "x", "token": "x" });
            for csrf in [None, Some(owner.csrf.get(1..).unwrap_or("x")), Some("")] {
                let mut headers = vec![("cookie", jar)];
                headers.extend(csrf.map(|c| ("x-csrf-token", c)));
                let (status, text, _) = app.raw(r.method, &path, Some(body.clone()), &headers).await;
                assert!(
                    status == 403 && text.contains("\"csrf_failed\""),
                    "{} {path} with {csrf:?}: {status} {text}",
                    r.method
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 3 * 45, "{checked} refusals checked");
    assert_eq!(owner_view(&app, &owner, &monitor).await, before, "nothing changed, and the session is still signed in");
}

//! Accounts end to end: register → the verification mail arrives at an in-test SMTP server →
//! verify → login → create a monitor with the CSRF header → logout; refused verification
//! links; CSRF refusal; enumeration-safe login and registration answers (a taken address
//! gets a notice by mail instead); login rate limiting; viewers' 403s; and tenant isolation
//! generated over the route tables (every API route and dashboard page or form with an id).

use crate::channels::{smtp_server, unqp};
use crate::harness::*;
use netpulse_pipeline::alerts::smtp::SmtpTls;
use netpulse_store::EmailPurpose;
use serde_json::{json, Value};

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A logged-in browser: its cookies and CSRF token.
pub(crate) struct Browser {
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

/// Send a request with extra headers; returns status, JSON body and headers.
pub(crate) async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value, http::HeaderMap) {
    let (status, text, headers) = app.raw(method, path, body, headers).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), headers)
}

impl Browser {
    pub(crate) async fn call(&self, app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let h = [("cookie", self.cookie.as_str()), ("x-csrf-token", self.csrf.as_str())];
        let (s, j, _) = send(app, method, path, body, &h).await;
        (s, j)
    }
    async fn call_without_csrf(&self, app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (s, j, _) = send(app, method, path, body, &[("cookie", self.cookie.as_str())]).await;
        (s, j)
    }
}

pub(crate) async fn register(app: &TestApp, email: &str, org: &str) -> (u16, Value) {
    let body = json!({ "email": email, "password": PASSWORD, "organisation": org });
    app.call("POST", "/api/v1/auth/register", Some(body), None).await
}

pub(crate) async fn login(app: &TestApp, email: &str, password: &str) -> (u16, Value, http::HeaderMap) {
    send(app, "POST", "/api/v1/auth/login", Some(json!({ "email": email, "password": password })), &[]).await
}

pub(crate) async fn browser(app: &TestApp, email: &str) -> Browser {
    let (status, body, headers) = login(app, email, PASSWORD).await;
    assert_eq!(status, 200, "login: {body}");
    let cookies: Vec<String> = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    Browser { cookie: cookies.join("; "), csrf: body["csrf_token"].as_str().unwrap().to_owned() }
}

/// Verify `email` through a token planted in the store (the mail path has its own test).
pub(crate) async fn verify_directly(app: &TestApp, email: &str) {
    let store = &app.running.as_ref().unwrap().store;
    let user = store.user_by_email(email).await.unwrap().expect("user exists");
    let token = format!("npv_test_{}", user.id);
    let hash = netpulse_store::clock::token_hash(&token);
    let expires = netpulse_store::clock::now().plus_ms(60_000);
    store.add_email_token(&user.id, &hash, EmailPurpose::Verify, expires).await.unwrap();
    let (status, body) = app.call("POST", "/api/v1/auth/verify", Some(json!({ "token": token })), None).await;
    assert_eq!(status, 200, "{body}");
}

fn monitor_body(url: &str) -> Value {
    json!({ "name": "Shop", "kind": "http", "url": url, "interval_s": 60, "timeout_ms": 800 })
}

#[tokio::test]
async fn register_verify_by_mail_login_create_a_monitor_and_logout() {
    let (port, mails) = smtp_server().await;
    let app = spawn_app_adjusted(|config| {
        (config.smtp.host, config.smtp.port, config.smtp.tls) = ("127.0.0.1".into(), port, SmtpTls::None);
        config.smtp.from = "accounts@netpulse.test".into();
    })
    .await;

    let (status, body) = register(&app, "Ada@Example.COM", "Analytical Engines").await;
    assert_eq!(status, 202, "{body}");
    let mail = wait_for(10, "the verification mail", || async { mails.lock().unwrap().first().cloned() }).await;
    assert_eq!(mail.rcpt, vec!["<ada@example.com>".to_owned()], "sent to the lower-cased address");
    let text = unqp(mail.data.split_once("\r\n\r\n").expect("headers, then a body").1);
    let link = text.split_whitespace().find(|w| w.contains("/verify?token=")).expect("a link");
    assert!(link.starts_with(&app.url("/verify?token=")), "a link to the dashboard's page on the public URL: {link}");
    let path = format!("/api/v1/auth/verify?token={}", link.split_once("token=").unwrap().1);

    let b = browser(&app, "ada@example.com").await;
    let (status, body) = b.call(&app, "POST", "/api/v1/monitors", Some(monitor_body("https://example.com"))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("email_not_verified")), "{body}");

    let (status, body) = app.call("GET", &path, None, None).await;
    assert_eq!(status, 200, "verify: {body}");
    let (status, body) = app.call("GET", &path, None, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (410, Some("verification_used")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("already used"), "{body}");

    let (status, body) =
        b.call_without_csrf(&app, "POST", "/api/v1/monitors", Some(monitor_body("https://example.com"))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("csrf_failed")), "{body}");
    let (status, body) = b.call(&app, "POST", "/api/v1/monitors", Some(monitor_body("https://example.com"))).await;
    assert_eq!(status, 201, "create with CSRF header: {body}");
    let (_, me) = b.call(&app, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(me["role"], "owner", "the first account owns the bootstrap organisation: {me}");
    let (_, list) = app.api("GET", "/api/v1/monitors", None).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1), "same tenant as the bootstrap token: {list}");

    let (status, _) = b.call(&app, "POST", "/api/v1/auth/logout", None).await;
    assert_eq!(status, 204);
    let (status, _) = b.call(&app, "GET", "/api/v1/monitors", None).await;
    assert_eq!(status, 401, "a logged-out session is revoked");
}

#[tokio::test]
async fn expired_and_unknown_verification_links_are_refused_with_a_clear_message() {
    let app = spawn_app().await;
    register(&app, "grace@example.com", "Navy").await;
    let store = &app.running.as_ref().unwrap().store;
    let user = store.user_by_email("grace@example.com").await.unwrap().unwrap();
    let hash = netpulse_store::clock::token_hash("npv_expired");
    let past = netpulse_store::clock::now().minus_ms(1);
    store.add_email_token(&user.id, &hash, EmailPurpose::Verify, past).await.unwrap();
    let (status, body) = app.call("GET", "/api/v1/auth/verify?token=npv_expired", None, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (410, Some("verification_expired")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("expired"), "{body}");
    let (status, body) = app.call("GET", "/api/v1/auth/verify?token=npv_nope", None, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("verification_unknown")), "{body}");
    let user = store.user_by_email("grace@example.com").await.unwrap().unwrap();
    assert!(user.verified_at.is_none(), "refused links verify nobody");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_identical_answers_and_logins_are_rate_limited() {
    let app = spawn_app().await;
    let (status, _) = register(&app, "alan@example.com", "Bletchley").await;
    assert_eq!(status, 202);
    let (again, body) = register(&app, "alan@example.com", "Bletchley").await;
    assert_eq!((again, body["message"].is_string()), (202, true), "a taken e-mail answers like a new one");

    let (s1, wrong, _) = login(&app, "alan@example.com", "not the password").await;
    let (s2, unknown, _) = login(&app, "nobody@example.com", "not the password").await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(wrong, unknown, "same body for a wrong password and an unknown e-mail");

    // Per account: 5 a minute (one used above).
    for _ in 0..4 {
        assert_eq!(login(&app, "alan@example.com", "still wrong").await.0, 401);
    }
    let (status, body, headers) = login(&app, "alan@example.com", PASSWORD).await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("rate_limited")), "{body}");
    assert_eq!(headers.get("retry-after").unwrap(), "60");
    // Per IP: 10 a minute (7 used above, including the refused one).
    for i in 0..3 {
        assert_eq!(login(&app, &format!("other{i}@example.com"), "x").await.0, 401);
    }
    assert_eq!(login(&app, "fresh@example.com", "x").await.0, 429, "the IP's budget is spent");
}

#[tokio::test]
async fn viewers_and_read_tokens_get_403_on_every_mutation() {
    let app = spawn_app().await;
    let (status, tok) = app.api("POST", "/api/v1/tokens", Some(json!({ "name": "grafana", "scope": "read" }))).await;
    assert_eq!(status, 201, "{tok}");
    let read = tok["token"].as_str().unwrap().to_owned();
    let (_, listed) = app.api("GET", "/api/v1/tokens", None).await;
    assert!(!listed.to_string().contains(&read), "a token is shown once, never listed");
    let id = app.create_monitor(monitor_body("https://example.com")).await;
    for (method, path, body) in [
        ("POST", "/api/v1/monitors".to_owned(), Some(monitor_body("https://example.org"))),
        ("PATCH", format!("/api/v1/monitors/{id}"), Some(json!({ "name": "x" }))),
        ("DELETE", format!("/api/v1/monitors/{id}"), None),
        ("POST", format!("/api/v1/monitors/{id}/pause"), None),
        (
            "POST",
            "/api/v1/channels".to_owned(),
            Some(json!({ "name": "x", "kind": "webhook", "url": "https://example.com" })),
        ),
        ("POST", "/api/v1/tokens".to_owned(), Some(json!({ "name": "x", "scope": "write" }))),
        ("GET", "/api/v1/tokens".to_owned(), None),
    ] {
        let (status, json) = app.call(method, &path, body, Some(&read)).await;
        assert_eq!(status, 403, "{method} {path}: {json}");
    }
    let (status, _) = app.call("GET", &format!("/api/v1/monitors/{id}"), None, Some(&read)).await;
    assert_eq!(status, 200, "viewers read");
    let (status, body) =
        app.call("POST", "/api/v1/tokens", Some(json!({ "name": "r", "scope": "read" })), Some(&read)).await;
    assert_eq!(status, 403, "a read token mints no tokens: {body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("read token cannot create tokens"), "{body}");
    let (status, _) = app.api("DELETE", &format!("/api/v1/tokens/{}", tok["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 204);
    assert_eq!(app.call("GET", "/api/v1/monitors", None, Some(&read)).await.0, 401, "revoked");
}

/// The `(method, path)` pairs of the API routes that take an `{id}`, read from the router
/// source, so a new route is covered without editing this test.
fn id_routes() -> Vec<(String, String)> {
    crate::routes::all()
        .into_iter()
        .filter(|r| !r.dashboard && r.path.contains("{id}"))
        .map(|r| (r.method.to_owned(), r.path))
        .collect()
}

#[tokio::test]
async fn a_tenant_never_reaches_another_tenants_ids() {
    let app = spawn_app().await;
    // The first registration joins the bootstrap tenant (A, the harness token's); the second
    // founds tenant B.
    register(&app, "first@example.com", "A").await;
    register(&app, "bob@example.com", "B Corp").await;
    verify_directly(&app, "bob@example.com").await;
    let bob = browser(&app, "bob@example.com").await;
    let (status, tok) = bob.call(&app, "POST", "/api/v1/tokens", Some(json!({ "name": "ci", "scope": "write" }))).await;
    assert_eq!(status, 201, "{tok}");
    let b_token = tok["token"].as_str().unwrap().to_owned();
    let b = |m: &'static str, p: String, body: Option<Value>| {
        let t = b_token.clone();
        let app = &app;
        async move { app.call(m, &p, body, Some(&t)).await }
    };

    let target = Target::start().await;
    target.set_status(500);
    let (_, mon) = b(
        "POST",
        "/api/v1/monitors".into(),
        Some(json!({
        "name": "B shop", "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 800 })),
    )
    .await;
    let mon = mon["id"].as_str().expect("B's monitor").to_owned();
    let (_, ch) = b(
        "POST",
        "/api/v1/channels".into(),
        Some(json!({
        "name": "B ops", "kind": "webhook", "url": "https://example.com/hook" })),
    )
    .await;
    let ch = ch["id"].as_str().expect("B's channel").to_owned();
    let now = now_secs();
    let (_, mw) = b(
        "POST",
        format!("/api/v1/monitors/{mon}/maintenance"),
        Some(json!({
        "duration_s": 3600, "reason": "B upgrade", "starts_at": time::OffsetDateTime::from_unix_timestamp(now + 3600)
            .unwrap().format(&time::format_description::well_known::Rfc3339).unwrap() })),
    )
    .await;
    let mw = mw["id"].as_str().unwrap_or_else(|| panic!("B's maintenance window: {mw}")).to_owned();
    let inc = wait_for(30, "an incident of B", || async {
        let (_, list) = b("GET", format!("/api/v1/incidents?monitor_id={mon}"), None).await;
        list["data"][0]["id"].as_str().map(str::to_owned)
    })
    .await;
    let tok_id = tok["id"].as_str().unwrap().to_owned();
    let page_body =
        json!({ "slug": "b-status", "title": "B status", "monitors": [{ "monitor_id": mon, "display_name": "Shop" }] });
    let (status, page) = b("POST", "/api/v1/status-pages".into(), Some(page_body)).await;
    assert_eq!(status, 201, "B's status page: {page}");
    let page = page["id"].as_str().unwrap().to_owned();
    let (_, members) = bob.call(&app, "GET", "/api/v1/members", None).await;
    let bob_id = members["data"][0]["user_id"].as_str().unwrap_or_else(|| panic!("B's owner: {members}")).to_owned();
    let (status, inv) = bob
        .call(&app, "POST", "/api/v1/invitations", Some(json!({ "email": "guest@example.com", "role": "viewer" })))
        .await;
    assert_eq!(status, 201, "B's invitation: {inv}");
    let inv = inv["id"].as_str().unwrap().to_owned();
    let body = json!({ "origins": ["https://b-shop.example"] });
    let (status, vis) = b("POST", format!("/api/v1/monitors/{mon}/visitor-sources"), Some(body)).await;
    assert_eq!(status, 201, "B's real-visitor source: {vis}");
    let vis = vis["id"].as_str().unwrap().to_owned();

    let snapshot = || async {
        let mut all = Vec::new();
        for p in [
            format!("/api/v1/monitors/{mon}"),
            format!("/api/v1/channels/{ch}"),
            format!("/api/v1/incidents/{inc}"),
            format!("/api/v1/monitors/{mon}/maintenance"),
            "/api/v1/tokens".to_owned(),
            format!("/api/v1/status-pages/{page}"),
            format!("/api/v1/monitors/{mon}/visitor-sources"),
            "/api/v1/members".to_owned(),
            "/api/v1/invitations".to_owned(),
        ] {
            let (_, mut v) = b("GET", p, None).await;
            // What B's own checks and deliveries move meanwhile (a channel's delivery health and
            // an incident's notifications follow B's dispatcher).
            for volatile in [
                "status",
                "last_checked_at",
                "last_latency_ms",
                "last_outcome",
                "last_error",
                "timeline",
                "tokens",
                "health",
                "notifications",
            ] {
                if let Some(o) = v.as_object_mut() {
                    o.remove(volatile);
                }
            }
            all.push(v);
        }
        all
    };
    let before = snapshot().await;
    let routes = id_routes();
    assert!(routes.len() >= 15, "the route table was read: {routes:?}");
    for (method, path) in &routes {
        let id = match path.split('/').nth(3).unwrap() {
            "monitors" => &mon,
            "channels" => &ch,
            "incidents" => &inc,
            "maintenance" => &mw,
            "tokens" => &tok_id,
            "status-pages" => &page,
            "members" => &bob_id,
            "invitations" => &inv,
            "visitor-sources" => &vis,
            other => panic!("route {path} takes an id of `{other}`: add it to this test"),
        };
        let url = path.replace("{id}", id);
        let body = match (method.as_str(), path.contains("/members/")) {
            ("PATCH", true) => Some(json!({ "role": "viewer" })),
            ("POST" | "PATCH", _) => Some(json!({ "name": "hijacked" })),
            _ => None,
        };
        let (status, json) = app.call(method, &url, body, Some(TOKEN)).await;
        assert_eq!(status, 404, "tenant A reached {method} {url}: {json}");
    }

    // The dashboard's pages and forms that take an id, as a signed-in owner of A. Public
    // pages are not tenant-scoped: a status page is public by its slug, a badge by its key.
    verify_directly(&app, "first@example.com").await;
    let a = browser(&app, "first@example.com").await;
    let mut pages = 0;
    for r in crate::routes::all().into_iter().filter(|r| r.dashboard && r.path.contains("{id}")) {
        let segment = r.path.split('/').nth(1).unwrap();
        let id = match segment {
            "monitors" => &mon,
            "channels" => &ch,
            "incidents" => &inc,
            "maintenance" => &mw,
            "tokens" => &tok_id,
            "members" => &bob_id,
            "invitations" => &inv,
            "visitor-sources" => &vis,
            "badge" => continue,
            other => panic!("dashboard route {} takes an id of `{other}`: add it to this test", r.path),
        };
        let url = r.path.replace("{id}", id);
        let (status, body, _) = if r.is_mutation() {
            let fields = [("csrf", a.csrf.as_str()), ("name", "hijacked"), ("role", "viewer"), ("monitor", &mon)];
            app.post_form(&url, &fields, &[("cookie", &a.cookie)]).await
        } else {
            app.raw("GET", &url, None, &[("cookie", &a.cookie)]).await
        };
        assert_eq!(status, 404, "tenant A's session reached {} {url}: {body}", r.method);
        pages += 1;
    }
    assert!(pages >= 12, "{pages} dashboard routes checked");
    assert_eq!(snapshot().await, before, "nothing of B changed");
    assert_eq!(b("GET", "/api/v1/tokens".into(), None).await.1["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn an_expired_session_is_refused() {
    let app = spawn_app().await;
    register(&app, "eve@example.com", "E").await;
    let store = &app.running.as_ref().unwrap().store;
    let user = store.user_by_email("eve@example.com").await.unwrap().unwrap();
    let (tenant, _) = store.first_membership(&user.id).await.unwrap().unwrap();
    let now = netpulse_store::clock::now();
    for (id, expires_at) in [("nps_live", now.plus_ms(60_000)), ("nps_expired", now.minus_ms(1))] {
        let session = netpulse_store::NewSession {
            id_hash: netpulse_store::clock::token_hash(id),
            user: user.id.clone(),
            tenant: tenant.clone(),
            csrf: "c".into(),
            created_at: now.minus_ms(120_000),
            expires_at,
        };
        store.create_session(&session).await.unwrap();
    }
    let app = &app;
    let me = |id: &'static str| async move {
        let cookie = format!("np_session={id}");
        send(app, "GET", "/api/v1/auth/me", None, &[("cookie", cookie.as_str())]).await.0
    };
    assert_eq!(me("nps_live").await, 200);
    assert_eq!(me("nps_expired").await, 401, "a session past its expiry no longer authenticates");
}

/// The texts of the mails `to` received so far.
fn mails_to(mails: &crate::recovery::Mails, to: &str) -> Vec<String> {
    let rcpt = format!("<{to}>");
    let mails = mails.lock().unwrap();
    mails.iter().filter(|m| m.rcpt.contains(&rcpt)).map(|m| unqp(m.data.split_once("\r\n\r\n").unwrap().1)).collect()
}

#[tokio::test]
async fn registering_a_taken_address_answers_like_a_new_one_and_mails_its_owner_a_notice() {
    let (app, mails) = crate::recovery::app_with_mail().await;
    assert_eq!(register(&app, "taken@example.com", "Original").await.0, 202);
    wait_for(10, "the first verification mail", || async { mails_to(&mails, "taken@example.com").pop() }).await;

    let again =
        json!({ "email": "Taken@Example.com", "password": "another password entirely", "organisation": "Copy" });
    let taken = app.call("POST", "/api/v1/auth/register", Some(again), None).await;
    let fresh = register(&app, "fresh@example.com", "Fresh").await;
    assert_eq!(taken, fresh, "the same status and body for a taken and a new address");
    assert_eq!(taken.0, 202);

    let fresh_mail =
        wait_for(10, "the new address's mail", || async { mails_to(&mails, "fresh@example.com").pop() }).await;
    assert!(fresh_mail.contains("/verify?token="), "a new address gets its verification link: {fresh_mail}");
    let notice = wait_for(10, "the notice to the taken address", || async {
        let all = mails_to(&mails, "taken@example.com");
        (all.len() == 2).then(|| all[1].clone())
    })
    .await;
    assert!(notice.contains("Someone tried to create a NetPulse account"), "{notice}");
    assert!(notice.contains(&app.url("/login")) && notice.contains(&app.url("/forgot")), "{notice}");
    assert!(!notice.contains("token="), "the notice carries no link that does anything: {notice}");

    let (status, _, _) = login(&app, "taken@example.com", "another password entirely").await;
    assert_eq!(status, 401, "the attempt changed nothing");
    let owner = browser(&app, "taken@example.com").await;
    let (_, orgs) = owner.call(&app, "GET", "/api/v1/auth/organisations", None).await;
    assert_eq!(orgs["data"].as_array().map(Vec::len), Some(1), "no organisation was added: {orgs}");

    // The sign-up page answers alike as well.
    let form = |email: &'static str| [("email", email), ("password", PASSWORD), ("organisation", "Page")];
    let page_taken = crate::signed_out_forms::submit(&app, "/signup", "/signup", &form("taken@example.com"), "").await;
    let page_fresh = crate::signed_out_forms::submit(&app, "/signup", "/signup", &form("page@example.com"), "").await;
    assert_eq!((page_taken.0, &page_taken.1), (page_fresh.0, &page_fresh.1), "the same page");
    assert!(page_taken.0 == 200 && page_taken.1.contains("Check your e-mail"), "{}", page_taken.1);
}

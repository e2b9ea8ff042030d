//! The dashboard's account pages in HTML, as a browser gets them: sign-up, the page the
//! verification mail links to, members (addresses hidden from viewers) and API tokens
//! (admins only).

use crate::accounts::{browser, register, verify_directly, PASSWORD};
use crate::harness::*;
use crate::recovery::{app_with_mail, token_in_mail};
use crate::signed_out_forms::submit;
use serde_json::json;

#[tokio::test]
async fn sign_up_and_verify_by_pages() {
    let (app, mails) = app_with_mail().await;
    let (_, page, _) = app.raw("GET", "/signup", None, &[]).await;
    assert!(page.contains("action=\"/signup\""), "{page}");
    let form = [("email", "Ada@Example.com"), ("password", "short"), ("organisation", "Engines")];
    let (status, page, _) = submit(&app, "/signup", "/signup", &form, "").await;
    assert!(status == 422 && page.contains("at least 10 characters"), "{status}: {page}");
    let form = [("email", "Ada@Example.com"), ("password", PASSWORD), ("organisation", "Engines")];
    let (status, page, _) = submit(&app, "/signup", "/signup", &form, "").await;
    assert!(status == 200 && page.contains("Check your e-mail"), "{status}: {page}");
    let (status, again, _) = submit(&app, "/signup", "/signup", &form, "").await;
    assert_eq!((status, again), (200, page), "a taken address gets the same page");

    let token = token_in_mail(&mails, "ada@example.com", "/verify?token=", 0).await;
    let (status, page, _) = app.raw("GET", &format!("/verify?token={token}"), None, &[]).await;
    assert!(status == 200 && page.contains("Your e-mail address is verified."), "{status}: {page}");
    let (status, page, _) = app.raw("GET", &format!("/verify?token={token}"), None, &[]).await;
    assert!(status == 410 && page.contains("already used"), "{status}: {page}");
}

#[tokio::test]
async fn members_and_tokens_pages_show_what_the_role_may_see() {
    let app = spawn_app().await;
    register(&app, "owner-9c1@example.com", "A").await;
    verify_directly(&app, "owner-9c1@example.com").await;
    let owner = browser(&app, "owner-9c1@example.com").await;
    let (status, _) = owner
        .call(&app, "POST", "/api/v1/invitations", Some(json!({ "email": "bob-4f2@example.com", "role": "member" })))
        .await;
    assert_eq!(status, 201);
    let (_, tok) = app.api("POST", "/api/v1/tokens", Some(json!({ "name": "wall screen", "scope": "read" }))).await;
    let viewer = format!("np_session={}", tok["token"].as_str().unwrap());

    let (status, page, _) = app.raw("GET", "/members", None, &[("cookie", &owner.cookie)]).await;
    assert!(status == 200 && page.contains("owner-9c1@example.com") && page.contains("bob-4f2@example.com"), "{page}");
    let (status, page, _) = app.raw("GET", "/members", None, &[("cookie", &viewer)]).await;
    assert!(status == 200 && page.contains("[hidden]") && !page.contains("@example.com"), "{page}");
    assert!(!page.contains("Pending invitations"), "invitations are for admins");

    let (status, page, _) = app.raw("GET", "/tokens", None, &[("cookie", &owner.cookie)]).await;
    assert!(status == 200 && page.contains("wall screen") && !page.contains(tok["token"].as_str().unwrap()), "{page}");
    let (status, page, _) = app.raw("GET", "/tokens", None, &[("cookie", &viewer)]).await;
    assert!(status == 200 && !page.contains("wall screen") && page.contains("Only admins"), "{status}: {page}");
    let (_, _, headers) = app.raw("GET", "/members", None, &[]).await;
    assert_eq!(headers.get("location").unwrap(), "/login", "signed out: to the sign-in page");
}

#[tokio::test]
async fn the_members_page_invites_and_switches_with_the_sessions_csrf_token() {
    let (app, mails) = app_with_mail().await;
    register(&app, "owner@example.com", "A").await;
    register(&app, "carol@example.com", "C Corp").await;
    verify_directly(&app, "owner@example.com").await;
    verify_directly(&app, "carol@example.com").await; // only a verified address joins
    let (owner, carol) = (browser(&app, "owner@example.com").await, browser(&app, "carol@example.com").await);
    let (_, page, _) = app.raw("GET", "/members", None, &[("cookie", &owner.cookie)]).await;
    assert!(page.contains(&format!("value=\"{}\"", owner.csrf)), "the form carries the session's CSRF token");

    let invite = |csrf: &str| {
        let fields = [("csrf", csrf.to_owned()), ("email", "carol@example.com".into()), ("role", "member".into())];
        let cookie = owner.cookie.clone();
        let app = &app;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form("/members/invite", &fields, &[("cookie", &cookie)]).await
        }
    };
    let (status, page, _) = invite("forged").await;
    assert!(status == 403 && page.contains("Form expired"), "{status}: {page}");
    assert!(!page.contains("carol@example.com"));
    let (status, _, headers) = invite(&owner.csrf).await;
    assert_eq!((status, headers.get("location").unwrap().to_str().unwrap()), (303, "/members"));
    let (_, page, _) = app.raw("GET", "/members", None, &[("cookie", &owner.cookie)]).await;
    assert!(page.contains("Pending invitations") && page.contains("carol@example.com"), "{page}");

    let token = token_in_mail(&mails, "carol@example.com", "/invite?token=", 0).await;
    let (_, joined) = carol.call(&app, "POST", "/api/v1/invitations/accept", Some(json!({ "token": token }))).await;
    let (_, page, _) = app.raw("GET", "/members", None, &[("cookie", &carol.cookie)]).await;
    assert!(page.contains("Your organisations") && page.contains("C Corp"), "{page}");
    let tenant = joined["tenant"].as_str().unwrap();
    let fields = [("csrf", carol.csrf.as_str()), ("tenant", tenant)];
    let (status, _, _) = app.post_form("/members/switch", &fields, &[("cookie", &carol.cookie)]).await;
    assert_eq!(status, 303);
    let (_, me) = carol.call(&app, "GET", "/api/v1/auth/me", None).await;
    assert_eq!((me["tenant"].as_str(), me["role"].as_str()), (Some(tenant), Some("member")), "{me}");
}

/// The `<code>` of the "created" notice: the new token's secret.
fn shown_token(page: &str) -> String {
    let notice = &page[page.find("id=\"created\"").expect("the created notice")..];
    notice.split("<code>").nth(1).and_then(|c| c.split('<').next()).unwrap().to_owned()
}

#[tokio::test]
async fn tokens_are_created_shown_once_and_revoked_from_the_tokens_page() {
    let app = spawn_app().await;
    register(&app, "owner-t@example.com", "A").await;
    verify_directly(&app, "owner-t@example.com").await; // write tokens need a verified address
    let owner = browser(&app, "owner-t@example.com").await;
    let jar = [("cookie", owner.cookie.as_str())];
    let fields =
        |csrf: &str| vec![("csrf", csrf.to_owned()), ("name", "deploy bot".to_owned()), ("scope", "write".into())];
    let post = |path: &str, fields: Vec<(&'static str, String)>, cookie: String| {
        let (app, path) = (&app, path.to_owned());
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form(&path, &fields, &[("cookie", &cookie)]).await
        }
    };
    let (status, page, _) = post("/tokens", fields("forged"), owner.cookie.clone()).await;
    assert!(status == 403 && page.contains("Form expired"), "{status}: {page}");
    let (status, page, _) = post("/tokens", fields(&owner.csrf), owner.cookie.clone()).await;
    assert_eq!(status, 201, "{page}");
    let secret = shown_token(&page);
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/monitors",
            Some(json!({ "name": "x", "kind": "tcp", "host": "db.example.com", "port": 5432, "paused": true })),
            Some(&secret),
        )
        .await;
    assert_eq!(status, 201, "the shown token writes through the API");
    let (_, listed) = app.api("GET", "/api/v1/tokens", None).await;
    let made = listed["tokens"].as_array().unwrap().iter().find(|t| t["name"] == "deploy bot").unwrap().clone();
    assert_eq!(made["scope"], "write", "{listed}");
    let (_, page, _) = app.raw("GET", "/tokens", None, &jar).await;
    assert!(page.contains("deploy bot") && !page.contains(&secret), "shown once: {page}");

    let revoke = format!("/tokens/{}/revoke", made["id"].as_str().unwrap());
    let (status, _, _) = post(&revoke, vec![("csrf", "forged".into())], owner.cookie.clone()).await;
    assert_eq!(status, 403);
    let (status, _) = app.call("GET", "/api/v1/monitors", None, Some(&secret)).await;
    assert_eq!(status, 200, "a forged revoke changes nothing");
    let (status, _, headers) = post(&revoke, vec![("csrf", owner.csrf.clone())], owner.cookie.clone()).await;
    assert_eq!((status, headers.get("location").unwrap().to_str().unwrap()), (303, "/tokens"));
    let (status, _) = app.call("GET", "/api/v1/monitors", None, Some(&secret)).await;
    assert_eq!(status, 401, "a revoked token no longer works");

    // A pasted read token mints no tokens, neither write nor read (a leaked read token's
    // children would outlive its revocation).
    let (_, tok) = app.api("POST", "/api/v1/tokens", Some(json!({ "name": "wall screen", "scope": "read" }))).await;
    let viewer = format!("np_session={}", tok["token"].as_str().unwrap());
    let (status, page, _) = app.raw("GET", "/tokens", None, &[("cookie", &viewer)]).await;
    assert!(status == 200 && !page.contains("value=\"write\""), "no write choice for viewers: {page}");
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let (status, page, _) = post("/tokens", fields(&csrf), viewer.clone()).await;
    assert!(status == 403 && page.contains("a read token cannot create tokens"), "{status}: {page}");
    let read = vec![("csrf", csrf), ("name", "graphs".to_owned()), ("scope", "read".into())];
    let (status, page, _) = post("/tokens", read, viewer).await;
    assert!(status == 403 && page.contains("a read token cannot create tokens"), "{status}: {page}");
    let (status, list) = app.api("GET", "/api/v1/tokens", None).await;
    assert!(status == 200 && !list.to_string().contains("graphs"), "no token was made: {list}");
}

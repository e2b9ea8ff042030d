//! Getting back in, with the in-test SMTP server: a password reset link arrives, works once,
//! sets the new password and signs the user out everywhere; a password change keeps the
//! session that made it and revokes the others; resending the verification mail is limited
//! per address, for unknown addresses alike; and the owner account from
//! `NETPULSE_ADMIN_EMAIL`/`NETPULSE_ADMIN_PASSWORD`.

use crate::accounts::{browser, login, register, verify_directly, PASSWORD};
use crate::channels::{smtp_server, unqp, Mail};
use crate::harness::*;
use crate::signed_out_forms::submit;
use netpulse_pipeline::alerts::smtp::SmtpTls;
use netpulse_store::EmailPurpose;
use netpulse_store::Secret;
use serde_json::json;
use std::sync::{Arc, Mutex};

const NEW_PASSWORD: &str = "a brand new passphrase";

/// What the in-test SMTP server received.
pub(crate) type Mails = Arc<Mutex<Vec<Mail>>>;

pub(crate) async fn app_with_mail() -> (TestApp, Mails) {
    let (port, mails) = smtp_server().await;
    let app = spawn_app_adjusted(|c| {
        (c.smtp.host, c.smtp.port, c.smtp.tls) = ("127.0.0.1".into(), port, SmtpTls::None);
        c.smtp.from = "accounts@netpulse.test".into();
    })
    .await;
    (app, mails)
}

/// The token of the `n`-th mail (0-based) to `to` that holds a link containing `marker`.
pub(crate) async fn token_in_mail(mails: &Arc<Mutex<Vec<Mail>>>, to: &str, marker: &str, n: usize) -> String {
    let rcpt = format!("<{to}>");
    let text = wait_for(10, "the mail", || async {
        let mails = mails.lock().unwrap();
        let texts =
            mails.iter().filter(|m| m.rcpt.contains(&rcpt)).map(|m| unqp(m.data.split_once("\r\n\r\n").unwrap().1));
        texts.filter(|t| t.contains(marker)).nth(n)
    })
    .await;
    let link = text.split_whitespace().find(|w| w.contains(marker)).unwrap();
    link.split_once("token=").unwrap().1.to_owned()
}

#[tokio::test]
async fn a_reset_link_works_once_sets_the_new_password_and_signs_out_everywhere() {
    let (app, mails) = app_with_mail().await;
    register(&app, "ada@example.com", "A").await;
    verify_directly(&app, "ada@example.com").await;
    let (b1, b2) = (browser(&app, "ada@example.com").await, browser(&app, "ada@example.com").await);

    let ask = |email: &'static str| app.call("POST", "/api/v1/auth/reset", Some(json!({ "email": email })), None);
    let unknown = ask("nobody@example.com").await;
    let known = ask("ada@example.com").await;
    assert_eq!(known, unknown, "the same answer whether or not the address has an account");
    assert_eq!(known.0, 202);
    let token = token_in_mail(&mails, "ada@example.com", "/reset?token=", 0).await;
    assert!(mails.lock().unwrap().iter().all(|m| !m.rcpt.contains(&"<nobody@example.com>".to_owned())));

    let confirm = |token: String, password: &'static str| {
        app.call("POST", "/api/v1/auth/reset/confirm", Some(json!({ "token": token, "password": password })), None)
    };
    let (status, body) = confirm(token.clone(), "short").await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("password")), "{body}");
    let (status, body) = confirm(token.clone(), NEW_PASSWORD).await;
    assert_eq!(status, 200, "a refused password did not use the link up: {body}");
    for b in [&b1, &b2] {
        assert_eq!(b.call(&app, "GET", "/api/v1/auth/me", None).await.0, 401, "every session is revoked");
    }
    assert_eq!(login(&app, "ada@example.com", PASSWORD).await.0, 401, "the old password is gone");
    assert_eq!(login(&app, "ada@example.com", NEW_PASSWORD).await.0, 200);

    let (status, body) = confirm(token, NEW_PASSWORD).await;
    assert_eq!((status, body["error"]["code"].as_str()), (410, Some("reset_used")), "{body}");
    let store = &app.running.as_ref().unwrap().store;
    let user = store.user_by_email("ada@example.com").await.unwrap().unwrap();
    let past = netpulse_store::clock::now().minus_ms(1);
    store
        .add_email_token(&user.id, &netpulse_store::clock::token_hash("npr_old"), EmailPurpose::Reset, past)
        .await
        .unwrap();
    let (status, body) = confirm("npr_old".into(), NEW_PASSWORD).await;
    assert_eq!((status, body["error"]["code"].as_str()), (410, Some("reset_expired")), "{body}");
    let (status, body) = confirm("npr_nope".into(), NEW_PASSWORD).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("reset_unknown")), "{body}");
    let (status, _) = app.call("POST", "/api/v1/auth/verify", Some(json!({ "token": "npr_old" })), None).await;
    assert_eq!(status, 404, "a reset token is not a verification token");
}

#[tokio::test]
async fn every_account_mail_has_a_date_and_a_message_id_of_its_own() {
    let (app, mails) = app_with_mail().await;
    register(&app, "ada@example.com", "A").await; // verification
    register(&app, "ada@example.com", "A again").await; // "someone tried to register"
    app.call("POST", "/api/v1/auth/reset", Some(json!({ "email": "ada@example.com" })), None).await;
    verify_directly(&app, "ada@example.com").await;
    let owner = browser(&app, "ada@example.com").await;
    let (status, body) = owner
        .call(&app, "POST", "/api/v1/invitations", Some(json!({ "email": "bob@example.com", "role": "viewer" })))
        .await;
    assert_eq!(status, 201, "{body}");

    let sent = wait_for(10, "four account mails", || async {
        let m = mails.lock().unwrap();
        (m.len() >= 4).then(|| m.clone())
    })
    .await;
    let mut ids = std::collections::HashSet::new();
    for mail in &sent {
        let (head, _) = mail.data.split_once("\r\n\r\n").expect("headers, then a body");
        let header =
            |name: &str| head.split("\r\n").find_map(|h| h.strip_prefix(&format!("{name}: "))).map(str::to_owned);
        let subject = header("Subject").unwrap_or_default();
        let date = header("Date").unwrap_or_else(|| panic!("`{subject}` has no Date:\n{head}"));
        let when = time::OffsetDateTime::parse(&date, &time::format_description::well_known::Rfc2822)
            .unwrap_or_else(|e| panic!("`{subject}`: Date `{date}` is not RFC 5322 ({e})"));
        assert!((when.unix_timestamp() - now_secs()).abs() < 60, "`{subject}` is dated now: {date}");
        let id = header("Message-ID").unwrap_or_else(|| panic!("`{subject}` has no Message-ID:\n{head}"));
        assert!(id.starts_with('<') && id.ends_with("@netpulse.test>"), "`{subject}`: {id}");
        assert!(ids.insert(id.clone()), "`{subject}` reuses Message-ID {id}");
        assert_eq!(header("Auto-Submitted").as_deref(), Some("auto-generated"), "`{subject}`");
    }
}

#[tokio::test]
async fn a_password_change_keeps_this_session_and_revokes_the_others() {
    let app = spawn_app().await;
    register(&app, "grace@example.com", "G").await;
    let (this, other) = (browser(&app, "grace@example.com").await, browser(&app, "grace@example.com").await);
    let change = |current: &str| json!({ "current_password": current, "new_password": NEW_PASSWORD });

    let (status, body) = this.call(&app, "POST", "/api/v1/auth/password", Some(change("not it"))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_credentials")), "{body}");
    assert_eq!(other.call(&app, "GET", "/api/v1/auth/me", None).await.0, 200, "a refused change revokes nothing");
    let (status, body) = this.call(&app, "POST", "/api/v1/auth/password", Some(change(PASSWORD))).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(this.call(&app, "GET", "/api/v1/auth/me", None).await.0, 200, "this session stays");
    assert_eq!(other.call(&app, "GET", "/api/v1/auth/me", None).await.0, 401, "the other one is revoked");
    assert_eq!(login(&app, "grace@example.com", NEW_PASSWORD).await.0, 200);

    let (status, body) = app.api("POST", "/api/v1/auth/password", Some(change(PASSWORD))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "tokens have no password: {body}");
}

#[tokio::test]
async fn resending_the_verification_mail_is_limited_per_address_known_or_not() {
    let (app, mails) = app_with_mail().await;
    register(&app, "alan@example.com", "B").await;
    let first = token_in_mail(&mails, "alan@example.com", "/verify?token=", 0).await;
    let resend = |email: &'static str| {
        app.call("POST", "/api/v1/auth/resend-verification", Some(json!({ "email": email })), None)
    };
    let known = resend("alan@example.com").await;
    assert_eq!(resend("nobody@example.com").await, known, "the same answer for an unknown address");
    assert_eq!(known.0, 202);
    let second = token_in_mail(&mails, "alan@example.com", "/verify?token=", 1).await;
    assert_ne!(first, second, "a fresh link");
    for email in ["alan@example.com", "nobody@example.com"] {
        let (status, body) = resend(email).await;
        assert_eq!((status, body["error"]["code"].as_str()), (429, Some("rate_limited")), "{email}: {body}");
    }
    let (status, body) = app.call("GET", &format!("/api/v1/auth/verify?token={second}"), None, None).await;
    assert_eq!(status, 200, "the resent link verifies: {body}");
}

#[tokio::test]
async fn the_owner_account_from_the_environment_is_created_once_already_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = test_config(tmp.path());
    config.admin_email = Some("Root@Example.com".into());
    config.admin_password = Some(Secret::new(PASSWORD));
    let mut app = spawn_app_with(config.clone()).await;
    let (status, me, _) = login(&app, "root@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!((me["role"].as_str(), me["verified"].as_bool()), (Some("owner"), Some(true)), "{me}");
    let (_, token_me) = app.api("GET", "/api/v1/auth/me", None).await;
    assert_eq!(me["tenant"], token_me["tenant"], "the owner of the bootstrap organisation");
    register(&app, "later@example.com", "Later Ltd").await;
    app.stop().await;

    let app = spawn_app_with(config).await;
    let (status, again, _) = login(&app, "root@example.com", PASSWORD).await;
    assert_eq!((status, &again["user"]), (200, &me["user"]), "the same account after a restart");
    let store = &app.running.as_ref().unwrap().store;
    let later = store.user_by_email("later@example.com").await.unwrap().unwrap();
    let (tenant, role) = store.first_membership(&later.id).await.unwrap().unwrap();
    assert_ne!(tenant.to_string(), me["tenant"].as_str().unwrap(), "a later registration founds its own organisation");
    assert_eq!(role.as_str(), "owner");
}

/// The `name=value` of each `Set-Cookie`, joined as a `Cookie` header.
pub(crate) fn cookies_of(headers: &http::HeaderMap) -> String {
    let all = headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    all.collect::<Vec<_>>().join("; ")
}

#[tokio::test]
async fn the_dashboard_signs_in_by_password_and_resets_it_by_form() {
    let (app, mails) = app_with_mail().await;
    register(&app, "ada@example.com", "A").await;
    verify_directly(&app, "ada@example.com").await;
    let (_, page, _) = app.raw("GET", "/login", None, &[]).await;
    assert!(page.contains("action=\"/login/password\"") && page.contains("href=\"/forgot\""), "{page}");

    let app = &app;
    let sign_in = |password: &'static str| async move {
        submit(app, "/login", "/login/password", &[("email", "ada@example.com"), ("password", password)], "").await
    };
    let (status, page, _) = sign_in("wrong password!").await;
    assert!(status == 401 && page.contains("Wrong e-mail or password."), "{status}: {page}");
    let (status, _, headers) = sign_in(PASSWORD).await;
    assert_eq!((status, headers.get("location").unwrap().to_str().unwrap()), (303, "/"));
    let old = cookies_of(&headers);
    assert!(old.contains("np_session=nps_"), "{old}");
    let (status, page, _) = app.raw("GET", "/", None, &[("cookie", &old)]).await;
    assert!(status == 200 && page.contains("Monitors"), "{status}: {page}");

    let (status, page, _) = submit(app, "/forgot", "/forgot", &[("email", "ada@example.com")], "").await;
    assert!(status == 200 && page.contains("a link to reset its password is on its way"), "{page}");
    let token = token_in_mail(&mails, "ada@example.com", "/reset?token=", 0).await;
    let reset_page = format!("/reset?token={token}");
    let (status, page, _) = app.raw("GET", &reset_page, None, &[]).await;
    assert!(status == 200 && page.contains(&format!("value=\"{token}\"")), "{page}");
    let (status, page, _) = submit(app, &reset_page, "/reset", &[("token", &token), ("password", "short")], "").await;
    assert!(status == 422 && page.contains("at least 10 characters"), "{status}: {page}");
    let (status, page, _) =
        submit(app, &reset_page, "/reset", &[("token", &token), ("password", NEW_PASSWORD)], "").await;
    assert!(status == 200 && page.contains("Your password is changed"), "{status}: {page}");
    let (status, _, _) = app.raw("GET", "/", None, &[("cookie", &old)]).await;
    assert_eq!(status, 303, "the old session is gone: back to the sign-in page");

    let (_, _, headers) = sign_in(NEW_PASSWORD).await;
    let new = cookies_of(&headers);
    let (status, page, _) = app.post_form("/logout", &[], &[("cookie", &new)]).await;
    assert!(status == 403 && page.contains("Form expired"), "a sign-out without the page's token: {status} {page}");
    let (status, page, _) = app.raw("GET", "/", None, &[("cookie", &new)]).await;
    assert_eq!(status, 200, "still signed in");
    let sign_out = &page[page.find("id=\"sign-out\"").expect("the header's sign-out form")..];
    let csrf = sign_out.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap();
    let (status, _, _) = app.post_form("/logout", &[("csrf", csrf)], &[("cookie", &new)]).await;
    assert_eq!(status, 303);
    let (status, _, _) = app.raw("GET", "/api/v1/auth/me", None, &[("cookie", &new)]).await;
    assert_eq!(status, 401, "signing out of the dashboard revokes the session");
}

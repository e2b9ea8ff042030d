//! The CSRF guard of the signed-out forms (sign-in by token or password, sign-up, forgot,
//! reset, invitation): a submission without the page's pre-session cookie and the same value
//! in its hidden `csrf` field — a login CSRF from another site — is refused with 403 and
//! nothing happens; the same form fetched first, as a browser does, works. Every cookie the
//! engine sets (sessions, CSRF, pasted token, demo, pre-session) is `Secure` exactly when the
//! public URL is https. [`submit`] is how the other dashboard tests send these forms.

use crate::accounts::{browser, login, register, verify_directly, PASSWORD};
use crate::channels::unqp;
use crate::harness::*;
use crate::recovery::{app_with_mail, cookies_of, token_in_mail};
use serde_json::{json, Value};

/// The pre-session cookie (`np_form=…`) the page `page` sets, and its forms' hidden `csrf`.
pub(crate) async fn form_guard(app: &TestApp, page: &str, cookie: &str) -> (String, String) {
    let held: Vec<(&str, &str)> = if cookie.is_empty() { vec![] } else { vec![("cookie", cookie)] };
    let (status, body, headers) = app.raw("GET", page, None, &held).await;
    assert_eq!(status, 200, "GET {page}: {body}");
    let set = cookies_of(&headers);
    assert!(set.starts_with("np_form="), "GET {page} sets the pre-session cookie: {set}");
    // The page's own form, not the header's sign-out form of a signed-in page.
    let main = body.split("<main>").nth(1).unwrap_or(&body);
    let csrf = main.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next());
    (set, csrf.expect("the form's hidden csrf field").to_owned())
}

/// A signed-out form as a browser sends it: `GET page` (holding `cookie`, if any), then
/// `POST action` with `fields`, the page's cookie and its hidden `csrf` value.
pub(crate) async fn submit(
    app: &TestApp,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
    cookie: &str,
) -> (u16, String, http::HeaderMap) {
    let (guard, csrf) = form_guard(app, page, cookie).await;
    let jar = if cookie.is_empty() { guard } else { format!("{cookie}; {guard}") };
    let mut all = fields.to_vec();
    all.push(("csrf", &csrf));
    app.post_form(action, &all, &[("cookie", &jar)]).await
}

/// `fields` posted to `action` three forged ways: no token at all; the victim's cookie with
/// another value in the field; a valid-looking field (the attacker's own) without the cookie.
async fn forged(app: &TestApp, page: &str, action: &str, fields: &[(&str, &str)], cookie: &str) {
    let (guard, csrf) = form_guard(app, page, cookie).await;
    let (_, other) = form_guard(app, "/login", "").await;
    let with_guard = if cookie.is_empty() { guard } else { format!("{cookie}; {guard}") };
    let attempts = [(cookie.to_owned(), None), (with_guard, Some(other.as_str())), (cookie.to_owned(), Some(&*csrf))];
    for (jar, sent) in attempts {
        let mut all = fields.to_vec();
        all.extend(sent.map(|c| ("csrf", c)));
        let (status, body, headers) = app.post_form(action, &all, &[("cookie", &jar)]).await;
        assert!(status == 403 && body.contains("Form expired"), "POST {action} with {sent:?}: {status} {body}");
        assert!(!cookies_of(&headers).contains("np_session="), "no session is opened: {headers:?}");
    }
}

#[tokio::test]
async fn sign_in_forms_refuse_a_forged_submission_and_accept_the_page_s_own() {
    let app = spawn_app().await;
    register(&app, "ada@example.com", "A").await;
    let password = [("email", "ada@example.com"), ("password", PASSWORD)];
    forged(&app, "/login", "/login", &[("token", TOKEN)], "").await;
    forged(&app, "/login", "/login/password", &password, "").await;

    let (status, _, headers) = submit(&app, "/login", "/login", &[("token", TOKEN)], "").await;
    assert!(status == 303 && cookies_of(&headers).contains("np_session=np_test_owner"), "{status} {headers:?}");
    let (status, _, headers) = submit(&app, "/login", "/login/password", &password, "").await;
    assert!(status == 303 && cookies_of(&headers).contains("np_session=nps_"), "{status} {headers:?}");
    let (status, page, _) = submit(&app, "/login", "/login/password", &[password[0], ("password", "wrong!")], "").await;
    assert!(status == 401 && page.contains("Wrong e-mail or password.") && page.contains("name=\"csrf\""), "{page}");
}

#[tokio::test]
async fn the_pre_session_cookie_is_http_only_strict_short_lived_and_secure_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.http.public_url = "https://np.example.test".into();
    let app = spawn_app_with(config).await;
    for page in ["/login", "/signup", "/forgot", "/reset?token=x", "/invite?token=x"] {
        let (_, _, headers) = app.raw("GET", page, None, &[]).await;
        let set = headers.get("set-cookie").unwrap().to_str().unwrap();
        for attribute in ["np_form=", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600", "Secure"] {
            assert!(set.contains(attribute), "GET {page}: {set}");
        }
    }
}

/// The `Set-Cookie` values of an answer.
fn set_cookies(headers: &http::HeaderMap) -> Vec<String> {
    headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn every_cookie_is_secure_over_https_and_only_then() {
    for (public_url, secure) in [("https://np.example.test", true), ("http://np.example.test", false)] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        config.http.public_url = public_url.into();
        config.accounts.demo = true;
        let app = spawn_app_with(config).await;
        register(&app, "ada@example.com", "A").await;
        let (_, _, api_login) = login(&app, "ada@example.com", PASSWORD).await;
        let (_, _, form_login) =
            submit(&app, "/login", "/login/password", &[("email", "ada@example.com"), ("password", PASSWORD)], "")
                .await;
        let (_, _, token_login) = submit(&app, "/login", "/login", &[("token", TOKEN)], "").await;
        let (_, _, demo) = app.raw("GET", "/demo", None, &[]).await;
        let mut all = Vec::new();
        for (what, headers) in
            [("API login", &api_login), ("sign-in form", &form_login), ("pasted token", &token_login), ("demo", &demo)]
        {
            let cookies = set_cookies(headers);
            assert!(!cookies.is_empty(), "{what} sets a cookie");
            all.extend(cookies.into_iter().map(|c| (what, c)));
        }
        assert!(all.iter().any(|(_, c)| c.starts_with("np_csrf=")), "{all:?}");
        for (what, cookie) in &all {
            assert_eq!(cookie.ends_with("; Secure"), secure, "{public_url}: {what} sets {cookie}");
        }
    }
}

#[tokio::test]
async fn sign_up_forgot_reset_and_invitation_forms_refuse_forgeries_and_change_nothing() {
    let (app, mails) = app_with_mail().await;
    register(&app, "owner@example.com", "A").await;
    verify_directly(&app, "owner@example.com").await;
    let owner = browser(&app, "owner@example.com").await;

    register(&app, "bob@example.com", "B").await;
    verify_directly(&app, "bob@example.com").await; // only a verified address joins
    let (status, _) = owner
        .call(&app, "POST", "/api/v1/invitations", Some(json!({ "email": "bob@example.com", "role": "member" })))
        .await;
    assert_eq!(status, 201);
    let token = token_in_mail(&mails, "bob@example.com", "/invite?token=", 0).await;
    let (_, _, headers) = login(&app, "bob@example.com", PASSWORD).await;
    let bob = cookies_of(&headers);
    let invite_page = format!("/invite?token={token}");
    forged(&app, &invite_page, "/invite", &[("token", &token)], &bob).await;
    let (_, members) = owner.call(&app, "GET", "/api/v1/members", None).await;
    assert_eq!(members_of(&members), 1, "bob did not join: {members}");
    let (status, _, _) = submit(&app, &invite_page, "/invite", &[("token", &token)], &bob).await;
    assert_eq!(status, 303);
    let (_, members) = owner.call(&app, "GET", "/api/v1/members", None).await;
    assert_eq!(members_of(&members), 2, "bob joined: {members}");

    let signup = [("email", "mallory@example.com"), ("password", PASSWORD), ("organisation", "M")];
    forged(&app, "/signup", "/signup", &signup, "").await;
    let (status, _, _) = login(&app, "mallory@example.com", PASSWORD).await;
    assert_eq!(status, 401, "no account was created");

    forged(&app, "/forgot", "/forgot", &[("email", "owner@example.com")], "").await;
    let (status, _, _) = submit(&app, "/forgot", "/forgot", &[("email", "owner@example.com")], "").await;
    assert_eq!(status, 200);
    let token = token_in_mail(&mails, "owner@example.com", "/reset?token=", 0).await;
    let reset_page = format!("/reset?token={token}");
    let reset = [("token", token.as_str()), ("password", "a forged new password")];
    forged(&app, &reset_page, "/reset", &reset, "").await;
    let (status, _, _) = login(&app, "owner@example.com", PASSWORD).await;
    assert_eq!(status, 200, "the password is unchanged");
    let (status, page, _) = submit(&app, &reset_page, "/reset", &reset, "").await;
    assert!(status == 200 && page.contains("Your password is changed"), "the link still works: {status} {page}");
    let reset_mails = mails
        .lock()
        .unwrap()
        .iter()
        .filter(|m| unqp(m.data.split_once("\r\n\r\n").unwrap().1).contains("/reset?token="))
        .count();
    assert_eq!(reset_mails, 1, "the refused request sent no mail");
}

fn members_of(list: &Value) -> usize {
    list["data"].as_array().map_or(0, Vec::len)
}

//! Leaving an organisation by oneself (`POST /api/v1/auth/leave`, the members page's
//! "Leave organisation"): the person's sessions there and the API tokens they made there stop
//! at once, their session moves to their next organisation or ends with a page saying so,
//! the last owner is refused with 409 and stays, API tokens cannot leave, a CSRF-less
//! request is refused, and two owners leaving at once leave one.

use crate::accounts::{browser, register, verify_directly, Browser};
use crate::harness::*;
use crate::members::{joined, member_id, paused_monitor};
use crate::recovery::app_with_mail;
use serde_json::{json, Value};

async fn leave(app: &TestApp, b: &Browser) -> (u16, Value) {
    b.call(app, "POST", "/api/v1/auth/leave", None).await
}

/// The e-mail addresses of `by`'s organisation's members.
async fn member_emails(app: &TestApp, by: &Browser) -> Vec<String> {
    let (_, list) = by.call(app, "GET", "/api/v1/members", None).await;
    list["data"].as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_viewer_who_leaves_loses_the_organisations_pages_sessions_and_tokens_and_goes_on_in_their_own() {
    let (app, mails) = app_with_mail().await;
    register(&app, "owner@example.com", "A").await;
    verify_directly(&app, "owner@example.com").await;
    let owner = browser(&app, "owner@example.com").await;
    owner.call(&app, "POST", "/api/v1/monitors", Some(paused_monitor("A database"))).await;
    let viewer = joined(&app, &mails, &owner, "viewer@example.com", "viewer").await;
    let (_, me) = viewer.call(&app, "GET", "/api/v1/auth/me", None).await;
    let a = me["tenant"].clone();
    // A second session of the viewer in A (another device), and a read token made in A.
    let other_device = browser(&app, "viewer@example.com").await;
    let (status, _) = other_device.call(&app, "POST", "/api/v1/auth/switch", Some(json!({ "tenant": a }))).await;
    assert_eq!(status, 200);
    let (status, tok) =
        viewer.call(&app, "POST", "/api/v1/tokens", Some(json!({ "name": "wall", "scope": "read" }))).await;
    assert_eq!(status, 201, "{tok}");
    let token = tok["token"].as_str().unwrap().to_owned();
    let (_, page, _) = app.raw("GET", "/members", None, &[("cookie", &viewer.cookie)]).await;
    assert!(page.contains("action=\"/members/leave\""), "a viewer is offered to leave: {page}");

    // Refused: without the CSRF token, and by an API token (a token is no person).
    let (status, text, _) = app.raw("POST", "/api/v1/auth/leave", None, &[("cookie", &viewer.cookie)]).await;
    assert!(status == 403 && text.contains("csrf_failed"), "{status} {text}");
    let (status, body) = app.call("POST", "/api/v1/auth/leave", None, Some(&token)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("API tokens cannot"), "{body}");
    assert!(member_emails(&app, &owner).await.contains(&"viewer@example.com".to_owned()), "still a member");

    let (status, left) = leave(&app, &viewer).await;
    assert_eq!(status, 200, "{left}");
    assert_eq!((&left["left"], left["signed_out"].as_bool()), (&a, Some(false)), "{left}");
    let (_, me) = viewer.call(&app, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(me["tenant"], left["tenant"], "the session moved to the viewer's own organisation: {me}");
    assert_ne!(me["tenant"], a);
    let (_, list) = viewer.call(&app, "GET", "/api/v1/monitors", None).await;
    assert!(!list.to_string().contains("A database"), "A's monitors are out of reach: {list}");
    let (_, page, _) = app.raw("GET", "/", None, &[("cookie", &viewer.cookie)]).await;
    assert!(!page.contains("A database"), "so are A's pages: {page}");
    let (status, _) = viewer.call(&app, "POST", "/api/v1/auth/switch", Some(json!({ "tenant": a }))).await;
    assert_eq!(status, 404, "no way back into A");
    assert_eq!(other_device.call(&app, "GET", "/api/v1/monitors", None).await.0, 401, "the other session ended");
    let (status, _, _) = app.raw("GET", "/", None, &[("cookie", &other_device.cookie)]).await;
    assert_eq!(status, 303, "its dashboard goes to the sign-in page");
    assert_eq!(app.call("GET", "/api/v1/monitors", None, Some(&token)).await.0, 401, "the token stopped");
    assert!(!member_emails(&app, &owner).await.contains(&"viewer@example.com".to_owned()), "no longer listed");
    let (status, body) = leave(&app, &viewer).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("last_owner")), "own organisation: {body}");
}

#[tokio::test]
async fn the_last_owner_cannot_leave_and_an_owner_whose_only_organisation_it_is_is_signed_out() {
    let (app, mails) = app_with_mail().await;
    register(&app, "owner@example.com", "A").await;
    verify_directly(&app, "owner@example.com").await;
    let owner = browser(&app, "owner@example.com").await;

    let (status, body) = leave(&app, &owner).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("last_owner")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("make another member an owner"), "{body}");
    let (_, me) = owner.call(&app, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(me["role"], "owner", "stays: {me}");
    let (_, page, _) = app.raw("GET", "/members", None, &[("cookie", &owner.cookie)]).await;
    assert!(!page.contains("action=\"/members/leave\""), "no form for the last owner: {page}");
    assert!(page.contains("disabled") && page.contains("last owner"), "a disabled control says why: {page}");

    // With a second owner the first may leave; A was their only organisation.
    let carol = joined(&app, &mails, &owner, "carol@example.com", "owner").await;
    let (_, page, _) = app.raw("GET", "/members", None, &[("cookie", &owner.cookie)]).await;
    assert!(page.contains("action=\"/members/leave\""), "now offered: {page}");
    let (status, page, _) = app.post_form("/members/leave", &[("csrf", "forged")], &[("cookie", &owner.cookie)]).await;
    assert!(status == 403 && page.contains("Form expired"), "{status}: {page}");
    assert!(member_emails(&app, &carol).await.contains(&"owner@example.com".to_owned()), "still a member");

    let form = [("csrf", owner.csrf.as_str())];
    let (status, page, headers) = app.post_form("/members/leave", &form, &[("cookie", &owner.cookie)]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("You left") && page.contains("you are signed out"), "{page}");
    let cleared: Vec<&str> = headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(cleared.iter().any(|c| c.starts_with("np_session=;") && c.contains("Max-Age=0")), "{cleared:?}");
    assert_eq!(owner.call(&app, "GET", "/api/v1/auth/me", None).await.0, 401, "the session ended");
    let carol_id = member_id(&app, &carol, "carol@example.com").await;
    let (_, members) = carol.call(&app, "GET", "/api/v1/members", None).await;
    assert_eq!(members["data"].as_array().map(Vec::len), Some(1), "carol is left: {members}");
    assert_eq!((&members["data"][0]["user_id"], &members["data"][0]["role"]), (&json!(carol_id), &json!("owner")));
}

#[tokio::test]
async fn two_owners_leaving_at_once_leave_one() {
    let (app, mails) = app_with_mail().await;
    register(&app, "owner@example.com", "A").await;
    verify_directly(&app, "owner@example.com").await;
    let owner = browser(&app, "owner@example.com").await;
    let carol = joined(&app, &mails, &owner, "carol@example.com", "owner").await;
    let ((s1, b1), (s2, b2)) = tokio::join!(leave(&app, &owner), leave(&app, &carol));
    let mut statuses = [s1, s2];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{b1} {b2}");
    let stayed = if s1 == 409 { &owner } else { &carol };
    let (_, me) = stayed.call(&app, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(me["role"], "owner", "one owner stays: {me}");
    assert_eq!(member_emails(&app, stayed).await.len(), 1);
}

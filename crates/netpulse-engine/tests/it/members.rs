//! Members and invitations end to end, with the in-test SMTP server: an invitation mail
//! arrives, its link works once and gives the invited role; a user of several organisations
//! switches between them and the API and the dashboard follow; invitations are for admins
//! and owners and give at most their own role; viewers see no member's e-mail address.
//! Member management: roles change and members leave under the owner rules (the last owner
//! stays), a removed member's sessions and tokens stop at once, a demoted member's tokens
//! lose the role, and a revoked invitation's link says so and joins nobody; an invitation
//! joins only the invited address, once verified (another account holding the link is refused).

use crate::accounts::{browser, register, verify_directly, Browser};
use crate::harness::*;
use crate::recovery::{app_with_mail, cookies_of, token_in_mail, Mails};
use crate::signed_out_forms::submit;
use netpulse_store::{Invitation, Role};
use serde_json::{json, Value};

async fn invite(app: &TestApp, by: &Browser, email: &str, role: &str) -> (u16, Value) {
    by.call(app, "POST", "/api/v1/invitations", Some(json!({ "email": email, "role": role }))).await
}

pub(crate) fn paused_monitor(name: &str) -> Value {
    json!({ "name": name, "kind": "tcp", "host": "db.example.com", "port": 5432, "paused": true })
}

#[tokio::test]
async fn an_invited_user_joins_with_the_role_and_switches_between_organisations() {
    let (app, mails) = app_with_mail().await;
    register(&app, "owner@example.com", "A").await;
    register(&app, "bob@example.com", "B Corp").await;
    verify_directly(&app, "owner@example.com").await;
    verify_directly(&app, "bob@example.com").await;
    let (owner, bob) = (browser(&app, "owner@example.com").await, browser(&app, "bob@example.com").await);
    owner.call(&app, "POST", "/api/v1/monitors", Some(paused_monitor("A database"))).await;
    bob.call(&app, "POST", "/api/v1/monitors", Some(paused_monitor("B database"))).await;

    let (status, inv) = invite(&app, &owner, "Bob@Example.com", "viewer").await;
    assert_eq!(status, 201, "{inv}");
    assert!(!inv.to_string().contains("npi_"), "the token is only in the mail: {inv}");
    let token = token_in_mail(&mails, "bob@example.com", "/invite?token=", 0).await;
    let (_, pending) = owner.call(&app, "GET", "/api/v1/invitations", None).await;
    assert_eq!(pending["data"][0]["email"], "bob@example.com", "{pending}");

    let (status, joined) = bob.call(&app, "POST", "/api/v1/invitations/accept", Some(json!({ "token": token }))).await;
    assert_eq!((status, joined["role"].as_str()), (200, Some("viewer")), "{joined}");
    let (status, again) = bob.call(&app, "POST", "/api/v1/invitations/accept", Some(json!({ "token": token }))).await;
    assert_eq!((status, again["error"]["code"].as_str()), (410, Some("invitation_used")), "{again}");
    let (_, pending) = owner.call(&app, "GET", "/api/v1/invitations", None).await;
    assert_eq!(pending["data"].as_array().map(Vec::len), Some(0), "accepted: no longer pending");

    let (_, orgs) = bob.call(&app, "GET", "/api/v1/auth/organisations", None).await;
    let orgs = orgs["data"].as_array().unwrap().clone();
    assert_eq!(orgs.len(), 2, "{orgs:?}");
    let current: Vec<&str> =
        orgs.iter().filter(|o| o["current"] == true).map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(current, ["B Corp"], "still in B until switching");
    let (_, list) = bob.call(&app, "GET", "/api/v1/monitors", None).await;
    assert_eq!(list["data"][0]["name"], "B database");

    let (status, body) =
        bob.call(&app, "POST", "/api/v1/auth/switch", Some(json!({ "tenant": joined["tenant"] }))).await;
    assert_eq!(status, 200, "{body}");
    let (_, me) = bob.call(&app, "GET", "/api/v1/auth/me", None).await;
    assert_eq!((me["tenant"].clone(), me["role"].as_str()), (joined["tenant"].clone(), Some("viewer")), "{me}");
    let (_, list) = bob.call(&app, "GET", "/api/v1/monitors", None).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["data"][0]["name"], "A database", "the API follows the session's organisation");
    let (_, page, _) = app.raw("GET", "/", None, &[("cookie", &bob.cookie)]).await;
    assert!(page.contains("A database") && !page.contains("B database"), "so does the dashboard");
    let (status, body) = bob.call(&app, "POST", "/api/v1/monitors", Some(paused_monitor("x"))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "a viewer in A: {body}");

    let (_, members) = bob.call(&app, "GET", "/api/v1/members", None).await;
    assert_eq!(members["data"].as_array().map(Vec::len), Some(2), "{members}");
    assert!(!members.to_string().contains("@example.com"), "viewers see no e-mail address: {members}");
    let (_, members) = owner.call(&app, "GET", "/api/v1/members", None).await;
    assert!(members.to_string().contains("bob@example.com"), "{members}");

    let elsewhere = json!({ "tenant": "ten_0000000000000000000000000a" });
    let (status, _) = bob.call(&app, "POST", "/api/v1/auth/switch", Some(elsewhere)).await;
    assert_eq!(status, 404, "only into one's own organisations");
    let back = orgs.iter().find(|o| o["name"] == "B Corp").unwrap()["tenant"].clone();
    assert_eq!(bob.call(&app, "POST", "/api/v1/auth/switch", Some(json!({ "tenant": back }))).await.0, 200);
    let (_, list) = bob.call(&app, "GET", "/api/v1/monitors", None).await;
    assert_eq!(list["data"][0]["name"], "B database");
}

#[tokio::test]
async fn invitations_are_for_admins_and_give_at_most_their_own_role() {
    let (app, mails) = app_with_mail().await;
    register(&app, "owner@example.com", "A").await;
    register(&app, "carol@example.com", "C").await;
    verify_directly(&app, "owner@example.com").await;
    verify_directly(&app, "carol@example.com").await;
    let (owner, carol) = (browser(&app, "owner@example.com").await, browser(&app, "carol@example.com").await);
    assert_eq!(invite(&app, &owner, "carol@example.com", "admin").await.0, 201);
    let token = token_in_mail(&mails, "carol@example.com", "/invite?token=", 0).await;
    let (_, joined) = carol.call(&app, "POST", "/api/v1/invitations/accept", Some(json!({ "token": token }))).await;
    carol.call(&app, "POST", "/api/v1/auth/switch", Some(json!({ "tenant": joined["tenant"] }))).await;
    let (status, body) = invite(&app, &carol, "dan@example.com", "owner").await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("role")), "{body}");
    assert_eq!(invite(&app, &carol, "dan@example.com", "member").await.0, 201, "an admin invites members");

    let (_, tok) = app.api("POST", "/api/v1/tokens", Some(json!({ "name": "r", "scope": "read" }))).await;
    let read = tok["token"].as_str().unwrap();
    let body = json!({ "email": "eve@example.com", "role": "viewer" });
    assert_eq!(app.call("POST", "/api/v1/invitations", Some(body), Some(read)).await.0, 403);
    let (status, body) = app.api("POST", "/api/v1/invitations/accept", Some(json!({ "token": "npi_x" }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "tokens cannot join: {body}");

    let store = &app.running.as_ref().unwrap().store;
    let now = netpulse_store::clock::now();
    let (tenant, _) = store
        .first_membership(&store.user_by_email("owner@example.com").await.unwrap().unwrap().id)
        .await
        .unwrap()
        .unwrap();
    let old = Invitation {
        id: "inv_old".into(),
        email: "carol@example.com".into(),
        role: Role::Member,
        invited_by: "test".into(),
        created_at: now.minus_ms(10),
        expires_at: now.minus_ms(1),
    };
    store.create_invitation(&tenant, &old, &netpulse_store::clock::token_hash("npi_old")).await.unwrap();
    let (status, body) =
        carol.call(&app, "POST", "/api/v1/invitations/accept", Some(json!({ "token": "npi_old" }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (410, Some("invitation_expired")), "{body}");
    let (status, body) =
        carol.call(&app, "POST", "/api/v1/invitations/accept", Some(json!({ "token": "npi_nope" }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("invitation_unknown")), "{body}");
}

#[tokio::test]
async fn the_invitation_page_joins_and_switches_the_dashboard() {
    let (app, mails) = app_with_mail().await;
    register(&app, "owner@example.com", "A").await;
    register(&app, "bob@example.com", "B Corp").await;
    verify_directly(&app, "owner@example.com").await;
    let owner = browser(&app, "owner@example.com").await;
    invite(&app, &owner, "bob@example.com", "member").await;
    let token = token_in_mail(&mails, "bob@example.com", "/invite?token=", 0).await;
    let (_, page, _) = app.raw("GET", &format!("/invite?token={token}"), None, &[]).await;
    assert!(page.contains("Sign in") && !page.contains("Join the organisation"), "signed out: {page}");

    let (_, _, headers) = submit(
        &app,
        "/login",
        "/login/password",
        &[("email", "bob@example.com"), ("password", crate::accounts::PASSWORD)],
        "",
    )
    .await;
    let cookie = cookies_of(&headers);
    let invite_page = format!("/invite?token={token}");
    let (_, page, _) = app.raw("GET", &invite_page, None, &[("cookie", &cookie)]).await;
    assert!(page.contains("Join the organisation") && page.contains("<strong>member</strong>"), "{page}");
    let (status, page, _) = submit(&app, &invite_page, "/invite", &[("token", &token)], &cookie).await;
    assert!(status == 403 && page.contains("verify your e-mail address first"), "unverified: {status}: {page}");
    verify_directly(&app, "bob@example.com").await;
    let (status, _, _) = submit(&app, &invite_page, "/invite", &[("token", &token)], &cookie).await;
    assert_eq!(status, 303);
    let (_, me, _) = app.raw("GET", "/api/v1/auth/me", None, &[("cookie", &cookie)]).await;
    let (_, owner_me) = owner.call(&app, "GET", "/api/v1/auth/me", None).await;
    let me: Value = serde_json::from_str(&me).unwrap();
    assert_eq!((me["tenant"].clone(), me["role"].as_str()), (owner_me["tenant"].clone(), Some("member")), "{me}");
    let (status, page, _) = app.raw("GET", &invite_page, None, &[("cookie", &cookie)]).await;
    assert!(status == 410 && page.contains("already accepted"), "the used link says so: {status}: {page}");
    assert!(!page.contains("Join the organisation"), "{page}");
}

#[tokio::test]
async fn an_invitation_joins_only_the_invited_verified_address() {
    let (app, mails) = app_with_mail().await;
    for (email, org) in [("owner@example.com", "A"), ("bob@example.com", "B"), ("mallory@example.com", "M")] {
        register(&app, email, org).await;
        verify_directly(&app, email).await;
    }
    let owner = browser(&app, "owner@example.com").await;
    assert_eq!(invite(&app, &owner, "bob@example.com", "admin").await.0, 201);
    let token = token_in_mail(&mails, "bob@example.com", "/invite?token=", 0).await;

    // The link reached another account (forwarded, leaked): it joins nobody and stays usable.
    let mallory = browser(&app, "mallory@example.com").await;
    let accept = json!({ "token": token });
    let (status, body) = mallory.call(&app, "POST", "/api/v1/invitations/accept", Some(accept.clone())).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("invitation_other_address")), "{body}");
    assert!(!body.to_string().contains("bob@"), "the refusal does not tell the invited address: {body}");
    let (_, orgs) = mallory.call(&app, "GET", "/api/v1/auth/organisations", None).await;
    assert_eq!(orgs["data"].as_array().map(Vec::len), Some(1), "mallory joined nothing: {orgs}");
    let (_, pending) = owner.call(&app, "GET", "/api/v1/invitations", None).await;
    assert_eq!(pending["data"].as_array().map(Vec::len), Some(1), "still pending: {pending}");

    let bob = browser(&app, "bob@example.com").await;
    let (status, joined) = bob.call(&app, "POST", "/api/v1/invitations/accept", Some(accept)).await;
    assert_eq!((status, joined["role"].as_str()), (200, Some("admin")), "the invited address joins: {joined}");
}

#[tokio::test]
async fn unverified_accounts_send_no_invitations_nor_make_write_tokens_and_invitations_are_throttled() {
    let (app, _mails) = app_with_mail().await;
    register(&app, "new-5e1@example.com", "N").await;
    let owner = browser(&app, "new-5e1@example.com").await;
    let (status, body) = invite(&app, &owner, "x@example.com", "member").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("email_not_verified")), "{body}");
    let write = json!({ "name": "ci", "scope": "write" });
    let (status, body) = owner.call(&app, "POST", "/api/v1/tokens", Some(write.clone())).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("email_not_verified")), "{body}");
    let read = json!({ "name": "wall", "scope": "read" });
    assert_eq!(owner.call(&app, "POST", "/api/v1/tokens", Some(read)).await.0, 201, "read tokens stay open");

    verify_directly(&app, "new-5e1@example.com").await;
    assert_eq!(owner.call(&app, "POST", "/api/v1/tokens", Some(write)).await.0, 201, "verified: write tokens");
    let mut sent = 0;
    let refused = loop {
        let (status, body) = invite(&app, &owner, &format!("guest-{sent}@example.com"), "viewer").await;
        if status != 201 || sent == 40 {
            break (status, body);
        }
        sent += 1;
    };
    assert_eq!((refused.0, refused.1["error"]["code"].as_str()), (429, Some("rate_limited")), "{}", refused.1);
    assert!(sent >= 10, "{sent} invitations went out before the limit");
}

/// `email` (registered and verified, founding its own organisation) invited by `by` as
/// `role`, joined, and switched into `by`'s organisation; its browser.
pub(crate) async fn joined(app: &TestApp, mails: &Mails, by: &Browser, email: &str, role: &str) -> Browser {
    register(app, email, email).await;
    verify_directly(app, email).await;
    assert_eq!(invite(app, by, email, role).await.0, 201);
    let token = token_in_mail(mails, email, "/invite?token=", 0).await;
    let b = browser(app, email).await;
    let (status, j) = b.call(app, "POST", "/api/v1/invitations/accept", Some(json!({ "token": token }))).await;
    assert_eq!(status, 200, "{j}");
    assert_eq!(b.call(app, "POST", "/api/v1/auth/switch", Some(json!({ "tenant": j["tenant"] }))).await.0, 200);
    b
}

/// The user id of `email` in `by`'s organisation's member list.
pub(crate) async fn member_id(app: &TestApp, by: &Browser, email: &str) -> String {
    let (_, list) = by.call(app, "GET", "/api/v1/members", None).await;
    let rows = list["data"].as_array().unwrap();
    let row = rows.iter().find(|m| m["email"] == email).unwrap_or_else(|| panic!("{email} in {list}"));
    row["user_id"].as_str().unwrap().to_owned()
}

async fn set_role(app: &TestApp, by: &Browser, id: &str, role: &str) -> (u16, Value) {
    by.call(app, "PATCH", &format!("/api/v1/members/{id}"), Some(json!({ "role": role }))).await
}

#[tokio::test]
async fn roles_change_and_members_leave_under_the_owner_rules() {
    let (app, mails) = app_with_mail().await;
    register(&app, "owner@example.com", "A").await;
    verify_directly(&app, "owner@example.com").await;
    let owner = browser(&app, "owner@example.com").await;
    let carol = joined(&app, &mails, &owner, "carol@example.com", "admin").await;
    let dan = joined(&app, &mails, &owner, "dan@example.com", "member").await;
    let (owner_id, carol_id, dan_id) = (
        member_id(&app, &owner, "owner@example.com").await,
        member_id(&app, &owner, "carol@example.com").await,
        member_id(&app, &owner, "dan@example.com").await,
    );

    // The last owner can be neither demoted nor removed, by anyone.
    for (status, body) in [
        set_role(&app, &owner, &owner_id, "admin").await,
        owner.call(&app, "DELETE", &format!("/api/v1/members/{owner_id}"), None).await,
    ] {
        assert_eq!((status, body["error"]["code"].as_str()), (409, Some("last_owner")), "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("last owner"), "{body}");
    }
    // An admin touches no owner and makes none; members and viewers manage nobody.
    let (status, body) = set_role(&app, &carol, &owner_id, "viewer").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("only an owner"), "{body}");
    let (status, body) = carol.call(&app, "DELETE", &format!("/api/v1/members/{owner_id}"), None).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = set_role(&app, &carol, &dan_id, "owner").await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("role")), "{body}");
    let (status, body) = set_role(&app, &dan, &carol_id, "viewer").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "a member: {body}");
    let (_, me) = owner.call(&app, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(me["role"], "owner", "nothing changed: {me}");

    // A demoted admin's write token acts with the new role at once.
    let (status, tok) =
        carol.call(&app, "POST", "/api/v1/tokens", Some(json!({ "name": "ci", "scope": "write" }))).await;
    assert_eq!(status, 201, "{tok}");
    let carol_token = tok["token"].as_str().unwrap().to_owned();
    assert_eq!(app.call("GET", "/api/v1/tokens", None, Some(&carol_token)).await.0, 200, "acts as admin");
    let (status, body) = set_role(&app, &owner, &carol_id, "member").await;
    assert_eq!((status, body["role"].as_str()), (200, Some("member")), "{body}");
    let (_, me) = carol.call(&app, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(me["role"], "member", "the session follows the new role: {me}");
    assert_eq!(app.call("GET", "/api/v1/tokens", None, Some(&carol_token)).await.0, 403, "the token lost admin");
    let (status, _) = app.call("POST", "/api/v1/monitors", Some(paused_monitor("by ci")), Some(&carol_token)).await;
    assert_eq!(status, 201, "and still writes as a member");

    // Removing a member ends their sessions and tokens here at once; they keep their own organisation.
    let (status, tok) =
        dan.call(&app, "POST", "/api/v1/tokens", Some(json!({ "name": "dan", "scope": "write" }))).await;
    assert_eq!(status, 201, "{tok}");
    let dan_token = tok["token"].as_str().unwrap().to_owned();
    let (status, _) = owner.call(&app, "DELETE", &format!("/api/v1/members/{dan_id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(dan.call(&app, "GET", "/api/v1/monitors", None).await.0, 401, "the session stopped");
    assert_eq!(app.call("GET", "/api/v1/monitors", None, Some(&dan_token)).await.0, 401, "the token stopped");
    let (_, members) = owner.call(&app, "GET", "/api/v1/members", None).await;
    assert!(!members.to_string().contains("dan@example.com"), "{members}");
    let (_, tokens) = owner.call(&app, "GET", "/api/v1/tokens", None).await;
    assert!(!tokens.to_string().contains("\"dan\""), "no longer listed: {tokens}");
    let dan_again = browser(&app, "dan@example.com").await;
    let (_, orgs) = dan_again.call(&app, "GET", "/api/v1/auth/organisations", None).await;
    assert_eq!(orgs["data"].as_array().map(Vec::len), Some(1), "only their own: {orgs}");
    let (status, _) = owner.call(&app, "DELETE", &format!("/api/v1/members/{dan_id}"), None).await;
    assert_eq!(status, 404, "no longer a member");

    // With a second owner, the first may step down; then the second is the last.
    assert_eq!(set_role(&app, &owner, &carol_id, "owner").await.0, 200);
    assert_eq!(set_role(&app, &carol, &owner_id, "admin").await.0, 200, "an owner changes another owner");
    let (status, body) = carol.call(&app, "DELETE", &format!("/api/v1/members/{carol_id}"), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("last_owner")), "{body}");
}

#[tokio::test]
async fn a_revoked_invitation_is_gone_from_the_list_and_its_link_says_so() {
    let (app, mails) = app_with_mail().await;
    register(&app, "owner@example.com", "A").await;
    register(&app, "eve@example.com", "E").await;
    verify_directly(&app, "owner@example.com").await;
    let owner = browser(&app, "owner@example.com").await;
    let (status, inv) = invite(&app, &owner, "eve@example.com", "member").await;
    assert_eq!(status, 201, "{inv}");
    let token = token_in_mail(&mails, "eve@example.com", "/invite?token=", 0).await;
    let revoke = format!("/api/v1/invitations/{}", inv["id"].as_str().unwrap());
    let eve = browser(&app, "eve@example.com").await;
    assert_eq!(eve.call(&app, "DELETE", &revoke, None).await.0, 404, "another organisation's invitation is unknown");

    assert_eq!(owner.call(&app, "DELETE", &revoke, None).await.0, 204);
    let (_, pending) = owner.call(&app, "GET", "/api/v1/invitations", None).await;
    assert_eq!(pending["data"].as_array().map(Vec::len), Some(0), "{pending}");
    assert_eq!(owner.call(&app, "DELETE", &revoke, None).await.0, 404, "revoked once");

    let (status, body) = eve.call(&app, "POST", "/api/v1/invitations/accept", Some(json!({ "token": token }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (410, Some("invitation_revoked")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("was revoked"), "{body}");
    let invite_page = format!("/invite?token={token}");
    for cookie in ["", eve.cookie.as_str()] {
        let (status, page, _) = app.raw("GET", &invite_page, None, &[("cookie", cookie)]).await;
        assert!(status == 410 && page.contains("this invitation was revoked"), "the link says so: {status} {page}");
        assert!(!page.contains("Join the organisation"), "{page}");
    }
    let guard = crate::signed_out_forms::form_guard(&app, "/login", "").await;
    let jar = format!("{}; {}", eve.cookie, guard.0);
    let fields = [("token", token.as_str()), ("csrf", guard.1.as_str())];
    let (status, page, _) = app.post_form("/invite", &fields, &[("cookie", &jar)]).await;
    assert!(status == 410 && page.contains("this invitation was revoked"), "{status}: {page}");
    let (_, members) = owner.call(&app, "GET", "/api/v1/members", None).await;
    assert!(!members.to_string().contains("eve@example.com"), "eve did not join: {members}");
}

/// A members-page form posted by `b` (its session's CSRF token unless `csrf` is given).
async fn post_as(app: &TestApp, b: &Browser, path: &str, fields: &[(&str, &str)], csrf: Option<&str>) -> (u16, String) {
    let mut all = fields.to_vec();
    all.push(("csrf", csrf.unwrap_or(&b.csrf)));
    let (status, page, _) = app.post_form(path, &all, &[("cookie", &b.cookie)]).await;
    (status, page)
}

#[tokio::test]
async fn the_members_page_changes_roles_removes_members_and_revokes_invitations() {
    let (app, mails) = app_with_mail().await;
    register(&app, "owner@example.com", "A").await;
    verify_directly(&app, "owner@example.com").await;
    let owner = browser(&app, "owner@example.com").await;
    let dan = joined(&app, &mails, &owner, "dan@example.com", "member").await;
    let dan_id = member_id(&app, &owner, "dan@example.com").await;
    let (_, inv) = invite(&app, &owner, "frank@example.com", "viewer").await;
    let inv_id = inv["id"].as_str().unwrap();

    let (_, page, _) = app.raw("GET", "/members", None, &[("cookie", &owner.cookie)]).await;
    for form in [
        format!("/members/{dan_id}/role"),
        format!("/members/{dan_id}/remove"),
        format!("/invitations/{inv_id}/revoke"),
    ] {
        assert!(page.contains(&format!("action=\"{form}\"")), "the page has {form}: {page}");
    }
    let (_, page, _) = app.raw("GET", "/members", None, &[("cookie", &dan.cookie)]).await;
    assert!(!page.contains("Change role") && !page.contains("/revoke"), "members manage nobody: {page}");

    let role = format!("/members/{dan_id}/role");
    let (status, page) = post_as(&app, &owner, &role, &[("role", "viewer")], Some("forged")).await;
    assert!(status == 403 && page.contains("Form expired"), "{status}: {page}");
    assert_eq!(dan.call(&app, "GET", "/api/v1/auth/me", None).await.1["role"], "member", "unchanged");
    let (status, _) = post_as(&app, &owner, &role, &[("role", "viewer")], None).await;
    assert_eq!(status, 303);
    assert_eq!(dan.call(&app, "GET", "/api/v1/auth/me", None).await.1["role"], "viewer");
    let owner_id = member_id(&app, &owner, "owner@example.com").await;
    let (status, page) = post_as(&app, &owner, &format!("/members/{owner_id}/remove"), &[], None).await;
    assert!(status == 409 && page.contains("last owner"), "{status}: {page}");

    let (status, _) = post_as(&app, &owner, &format!("/invitations/{inv_id}/revoke"), &[], None).await;
    assert_eq!(status, 303);
    let (_, page, _) = app.raw("GET", "/members", None, &[("cookie", &owner.cookie)]).await;
    assert!(!page.contains("frank@example.com"), "the invitation is gone: {page}");
    let (status, _) = post_as(&app, &owner, &format!("/members/{dan_id}/remove"), &[], None).await;
    assert_eq!(status, 303);
    let (status, _, _) = app.raw("GET", "/members", None, &[("cookie", &dan.cookie)]).await;
    assert_eq!(status, 303, "the removed member's dashboard session is gone: to the sign-in page");
}

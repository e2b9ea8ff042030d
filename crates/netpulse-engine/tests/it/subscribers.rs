//! Status-page subscribers end to end: an e-mail sign-up on the public page is confirmed by
//! the link mailed to it (local SMTP server), then gets one mail per incident update with
//! `List-Unsubscribe` (RFC 8058) until it unsubscribes with one click; a webhook subscriber
//! (local receiver) gets each update signed like the webhook channel, again after a 503, until
//! it is removed; announced maintenance is told, private maintenance is not; a sign-up flood is
//! refused with 429 per client, per page and beyond the page's cap of pending sign-ups, storing
//! nothing more; a bad address and a plain-http hook under `ssrf.block_private` are refused
//! naming the field; the dashboard counts subscribers and shows no address.

use crate::alerting::verify_signature;
use crate::channels::{smtp_server, unqp, Mail};
use crate::harness::*;
use netpulse_engine::config::Config;
use netpulse_pipeline::alerts::smtp::SmtpTls;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const READER: &str = "reader@example.com";

/// An engine mailing through a local SMTP server, with `adjust` applied; and the mails it got.
async fn app_with_mail(adjust: impl FnOnce(&mut Config)) -> (TestApp, Arc<Mutex<Vec<Mail>>>) {
    let (port, mails) = smtp_server().await;
    let app = spawn_app_adjusted(|config| {
        (config.smtp.host, config.smtp.port, config.smtp.tls) = ("127.0.0.1".into(), port, SmtpTls::None);
        config.smtp.from = "status@netpulse.test".into();
        adjust(config);
    })
    .await;
    (app, mails)
}

fn mails_to(mails: &Arc<Mutex<Vec<Mail>>>, to: &str) -> Vec<Mail> {
    let want = format!("<{to}>");
    mails.lock().unwrap().iter().filter(|m| m.rcpt.contains(&want)).cloned().collect()
}

fn header<'a>(mail: &'a Mail, name: &str) -> Option<&'a str> {
    let head = mail.data.split_once("\r\n\r\n").map_or("", |(h, _)| h);
    head.split("\r\n").find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

fn body(mail: &Mail) -> String {
    unqp(mail.data.split_once("\r\n\r\n").expect("headers, then a body").1)
}

/// The local path of a link `http://127.0.0.1:port/…` in a mail.
fn path_of(app: &TestApp, link: &str) -> String {
    link.strip_prefix(&app.url("")).unwrap_or_else(|| panic!("a link on the public URL: {link}")).to_owned()
}

/// A page `acme` showing a monitor of a failing target, and its incident's updates URL.
async fn page_with_incident(app: &TestApp) -> (String, String, Target) {
    let target = Target::start().await;
    target.set_status(503);
    let body =
        json!({ "name": "checkout-internal", "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 800 });
    let monitor = app.create_monitor(body).await;
    let page =
        json!({ "slug": "acme", "title": "Acme", "monitors": [{ "monitor_id": monitor, "display_name": "Checkout" }] });
    let (st, page) = app.api("POST", "/api/v1/status-pages", Some(page)).await;
    assert_eq!(st, 201, "{page}");
    let incident = wait_for(20, "the incident", || async {
        app.incidents(&monitor).await.first().map(|i| i["id"].as_str().unwrap().to_owned())
    })
    .await;
    (page["id"].as_str().unwrap().to_owned(), format!("/api/v1/incidents/{incident}/updates"), target)
}

async fn post_update(app: &TestApp, updates: &str, state: &str, message: &str) {
    let (st, u) = app.api("POST", updates, Some(json!({ "state": state, "message": message }))).await;
    assert_eq!(st, 201, "{u}");
}

#[tokio::test]
async fn subscribers_get_each_update_by_mail_and_signed_webhook_until_they_leave() {
    let (app, mails) = app_with_mail(|_| {}).await;
    let (page, updates, _target) = page_with_incident(&app).await;
    let subscribers = format!("/api/v1/status-pages/{page}/subscribers");

    // A webhook subscriber, with its own signing secret shown once.
    let hook = Receiver::start().await;
    let (st, sub) = app.api("POST", &subscribers, Some(json!({ "url": hook.url() }))).await;
    assert_eq!(st, 201, "{sub}");
    let secret = sub["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_") && sub["confirmed"] == true, "{sub}");
    let (st, again) = app.api("POST", &subscribers, Some(json!({ "url": hook.url() }))).await;
    assert_eq!(st, 409, "one subscriber per URL: {again}");
    let (st, bad) = app.api("POST", &subscribers, Some(json!({ "url": "not a url" }))).await;
    assert_eq!((st, bad["error"]["field"].as_str()), (422, Some("url")), "{bad}");

    // Bad addresses are refused naming the field; nothing is stored.
    for email in [json!("not-an-address"), json!("a@localhost"), json!(7)] {
        let (st, text, _) = app.raw("POST", "/status/acme/subscribe", Some(json!({ "email": email })), &[]).await;
        let e: Value = serde_json::from_str(&text).unwrap();
        assert_eq!((st, e["error"]["field"].as_str()), (422, Some("email")), "{email}: {text}");
    }
    let (_, listed) = app.api("GET", &subscribers, None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "only the hook: {listed}");

    // The page offers the sign-up form (this server sends mail; one that sends none does not).
    let (_, public, _) = app.raw("GET", "/status/acme", None, &[]).await;
    assert!(public.contains("id=\"subscribe-email\""), "the page's sign-up form");
    // A sign-up posted from another site's page is refused; a reader who once looked at the
    // demo (its cookie) signs up like anyone else.
    let (st, refused, _) =
        app.post_form("/status/acme/subscribe", &[("email", READER)], &[("origin", "https://evil.example")]).await;
    assert_eq!(st, 403, "{refused}");
    assert!(mails_to(&mails, READER).is_empty(), "nothing mailed for a cross-site sign-up");
    let (st, demo_reader, _) = app
        .post_form("/status/acme/subscribe", &[("email", "viewer@example.com")], &[("cookie", "np_session=demo")])
        .await;
    assert_eq!(st, 202, "the demo's cookie does not make a public form read-only: {demo_reader}");

    // Sign-up by the page's form; a second sign-up of the address answers the same.
    let (st, first, _) = app.post_form("/status/acme/subscribe", &[("email", "Reader@Example.com")], &[]).await;
    assert_eq!(st, 202, "{first}");
    let (st, second, _) = app.post_form("/status/acme/subscribe", &[("email", READER)], &[]).await;
    assert_eq!((st, &second), (202, &first), "the answer says nothing about the address");
    let confirm = wait_for(10, "the confirmation mail", || async { mails_to(&mails, READER).pop() }).await;
    let text = body(&confirm);
    let link = text.split_whitespace().find(|w| w.contains("/confirm?token=")).expect("a confirmation link");
    let (_, listed) = app.api("GET", &subscribers, None).await;
    let pending: Vec<(&str, bool)> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["address"].as_str().unwrap(), s["confirmed"] == true))
        .collect();
    assert!(pending.contains(&(READER, false)), "stored lower-cased, pending: {listed}");

    // Nothing reaches a pending address; the hook, answering 503 once, gets the notice again.
    hook.reply_with(&[(503, None)]);
    post_update(&app, &updates, "investigating", "Payments fail for some customers.").await;
    app.dispatch_alerts().await;
    let tries = wait_for(10, "the hook's retry", || async { Some(hook.received()).filter(|r| r.len() >= 2) }).await;
    assert_eq!(tries[0].body, tries[1].body, "the same notice, retried after the 503");
    assert_eq!(tries[0].header("idempotency-key"), tries[1].header("idempotency-key"));
    assert_eq!(mails_to(&mails, READER).len(), 1, "only the confirmation mail before the link is followed");
    // Opening the link (or a mail scanner fetching it) only shows the button; its POST
    // confirms, once.
    let (st, page_text, _) = app.raw("GET", &path_of(&app, link), None, &[]).await;
    assert!(st == 200 && page_text.contains("<button") && page_text.contains("Acme"), "{page_text}");
    let (_, listed) = app.api("GET", &subscribers, None).await;
    assert!(listed.to_string().contains("\"confirmed\":false"), "not yet confirmed by a GET: {listed}");
    let (st, page_text, _) = app.post_form(&path_of(&app, link), &[], &[]).await;
    assert_eq!(st, 200, "{page_text}");
    assert!(page_text.contains("Subscribed"), "{page_text}");
    let (st, _, _) = app.post_form(&path_of(&app, link), &[], &[]).await;
    assert_eq!(st, 404, "the link works once");
    let (_, shown) = app.api("GET", &format!("/api/v1/status-pages/{page}"), None).await;
    assert_eq!(shown["subscribers"], 2, "{shown}");
    let (_, renamed) =
        app.api("PATCH", &format!("/api/v1/status-pages/{page}"), Some(json!({ "title": "Acme" }))).await;
    assert_eq!(renamed["subscribers"], 2, "a changed page's answer counts them too: {renamed}");
    let owner = format!("np_session={TOKEN}");
    let (st, screen, _) = app.raw("GET", "/status-pages", None, &[("cookie", &owner)]).await;
    assert!(st == 200 && screen.contains("<td class=\"subscribers\">2</td>"), "the dashboard counts them: {screen}");
    assert!(!screen.contains(READER), "and shows no address");

    // Three updates: three mails with List-Unsubscribe, three signed webhook posts.
    let told = [
        ("identified", "A bad deploy of the payment service."),
        ("monitoring", "Rolled back; watching."),
        ("resolved", "Payments work again."),
    ];
    for (state, message) in told {
        post_update(&app, &updates, state, message).await;
    }
    app.dispatch_alerts().await;
    app.dispatch_alerts().await;
    let notices: Vec<Mail> = mails_to(&mails, READER).into_iter().skip(1).collect();
    assert_eq!(notices.len(), 3, "one mail per update, never twice");
    let mut unsubscribe = String::new();
    for (mail, (state, message)) in notices.iter().zip(told) {
        let subject = header(mail, "Subject").unwrap();
        assert!(subject.starts_with("[Acme] Checkout:") && subject.to_lowercase().contains(state), "{subject}");
        assert!(body(mail).contains(message), "{}", body(mail));
        let list = header(mail, "List-Unsubscribe").expect("List-Unsubscribe");
        assert_eq!(header(mail, "List-Unsubscribe-Post"), Some("List-Unsubscribe=One-Click"));
        unsubscribe = list.trim_start_matches('<').trim_end_matches('>').to_owned();
        assert!(unsubscribe.starts_with(&app.url("/status/acme/unsubscribe?token=")), "{unsubscribe}");
        assert!(body(mail).contains(&unsubscribe), "a visible unsubscribe link");
    }
    let posts: Vec<Received> =
        hook.received().into_iter().filter(|r| r.header("x-netpulse-event") == "incident_update").collect();
    assert_eq!(posts.len(), 5, "the hook got the update before the link too (twice: once refused)");
    for (post, (state, message)) in posts[2..].iter().zip(told) {
        verify_signature(post, &secret);
        let got = post.json();
        assert_eq!((got["update"]["state"].as_str(), got["update"]["message"].as_str()), (Some(state), Some(message)));
        assert_eq!((got["page"]["slug"].as_str(), got["component"].as_str()), (Some("acme"), Some("Checkout")));
        assert_eq!(got["page"]["url"].as_str(), Some(app.url("/status/acme").as_str()));
    }

    // One click unsubscribes (the GET page only offers the button); no mail after that.
    let path = path_of(&app, &unsubscribe);
    let (st, offer, _) = app.raw("GET", &path, None, &[]).await;
    assert!(st == 200 && offer.contains("<button"), "{offer}");
    let (st, done, _) = app.post_form(&path, &[("List-Unsubscribe", "One-Click")], &[]).await;
    assert!(st == 200 && done.contains("Unsubscribed"), "{st} {done}");
    let (st, again, _) = app.post_form(&path, &[("List-Unsubscribe", "One-Click")], &[]).await;
    assert!(st == 404 && again.contains("not (or no longer) valid"), "a used link says so: {st} {again}");
    post_update(&app, &updates, "resolved", "Post-mortem published.").await;
    app.dispatch_alerts().await;
    assert_eq!(mails_to(&mails, READER).len(), 4, "no mail after unsubscribing");
    assert_eq!(hook.received().len(), 6, "the hook is still subscribed");

    // The owner removes the hook: it gets nothing more.
    let hook_id = sub["id"].as_str().unwrap();
    let (st, _) = app.api("DELETE", &format!("{subscribers}/{hook_id}"), None).await;
    assert_eq!(st, 204);
    let (_, listed) = app.api("GET", &subscribers, None).await;
    let left: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|s| s["address"].as_str().unwrap()).collect();
    assert_eq!(left, ["viewer@example.com"], "only the unconfirmed demo viewer's sign-up is left: {listed}");
    post_update(&app, &updates, "resolved", "Closed.").await;
    app.dispatch_alerts().await;
    assert_eq!(hook.received().len(), 6);
}

#[tokio::test]
async fn a_sign_up_flood_is_refused_and_stores_nothing_beyond_the_cap() {
    let (app, mails) = app_with_mail(|config| {
        config.accounts.pending_subscribers_per_page = 3;
        config.accounts.subscribe_per_hour_ip = 5;
    })
    .await;
    let (page, _, _target) = page_with_incident(&app).await;
    let mut answers = Vec::new();
    for i in 0..7 {
        let email = format!("flood{i}@example.com");
        let (st, text, headers) = app.raw("POST", "/status/acme/subscribe", Some(json!({ "email": email })), &[]).await;
        let retry = headers.get("retry-after").is_some();
        answers.push((st, retry, serde_json::from_str::<Value>(&text).unwrap()["error"]["message"].clone()));
    }
    let statuses: Vec<(u16, bool)> = answers.iter().map(|(s, r, _)| (*s, *r)).collect();
    assert_eq!(statuses, [(202, false); 3].into_iter().chain([(429, true); 4]).collect::<Vec<_>>(), "{answers:?}");
    assert!(answers[3].2.as_str().unwrap().contains("waiting for confirmation"), "{answers:?}: the page's cap");
    assert!(answers[6].2.as_str().unwrap().contains("from this address"), "{answers:?}: the client's budget");
    let (_, listed) = app.api("GET", &format!("/api/v1/status-pages/{page}/subscribers"), None).await;
    let stored: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|s| s["address"].as_str().unwrap()).collect();
    assert_eq!(stored.len(), 3, "nothing beyond the cap: {stored:?}");
    assert!(stored.iter().all(|a| ["flood0@example.com", "flood1@example.com", "flood2@example.com"].contains(a)));
    wait_for(10, "three confirmation mails", || async { (mails.lock().unwrap().len() >= 3).then_some(()) }).await;
    assert_eq!(mails.lock().unwrap().len(), 3, "a mail only for what was stored");
}

#[tokio::test]
async fn a_webhook_subscriber_must_be_https_while_private_ranges_are_blocked() {
    let app = spawn_app_adjusted(|config| config.ssrf.block_private = true).await;
    let (st, page) = app.api("POST", "/api/v1/status-pages", Some(json!({ "slug": "acme", "title": "Acme" }))).await;
    assert_eq!(st, 201, "{page}");
    assert_eq!(page["subscribers"], 0, "a new page's answer counts its subscribers: {page}");
    let subscribers = format!("/api/v1/status-pages/{}/subscribers", page["id"].as_str().unwrap());
    for (url, says) in [("http://hooks.example.com/np", "https://"), ("https://10.0.0.7/np", "private")] {
        let (st, e) = app.api("POST", &subscribers, Some(json!({ "url": url }))).await;
        assert_eq!((st, e["error"]["field"].as_str()), (422, Some("url")), "{url}: {e}");
        assert!(e["error"]["message"].as_str().unwrap().contains(says), "{url}: {e}");
    }
    let (_, listed) = app.api("GET", &subscribers, None).await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(0), "nothing stored: {listed}");
    // This server sends no mail (no [smtp]): its page offers no e-mail sign-up it cannot keep.
    let (st, public, _) = app.raw("GET", "/status/acme", None, &[]).await;
    assert!(st == 200 && !public.contains("subscribe-email") && public.contains("feed.atom"), "{public}");
}

#[tokio::test]
async fn subscribers_hear_of_announced_maintenance_only() {
    let app = spawn_app().await;
    let monitor = app
        .create_monitor(
            json!({ "name": "db-internal", "kind": "tcp", "host": "db.example.com", "port": 5432, "paused": true }),
        )
        .await;
    let page = json!({ "slug": "acme", "title": "Acme", "domain": "status.acme.example",
        "monitors": [{ "monitor_id": monitor, "display_name": "Database" }] });
    let (st, page) = app.api("POST", "/api/v1/status-pages", Some(page)).await;
    assert_eq!(st, 201, "{page}");
    let hook = Receiver::start().await;
    let subscribers = format!("/api/v1/status-pages/{}/subscribers", page["id"].as_str().unwrap());
    let (st, sub) = app.api("POST", &subscribers, Some(json!({ "url": hook.url() }))).await;
    assert_eq!(st, 201, "{sub}");
    let windows = format!("/api/v1/monitors/{monitor}/maintenance");
    let (st, quiet) = app.api("POST", &windows, Some(json!({ "duration_s": 600, "reason": "private work" }))).await;
    assert_eq!(st, 201, "{quiet}");
    let told = json!({ "duration_s": 3600, "reason": "Disk swap", "announce": true });
    let (st, window) = app.api("POST", &windows, Some(told)).await;
    assert_eq!(st, 201, "{window}");
    app.dispatch_alerts().await;
    app.dispatch_alerts().await;
    let got = hook.received();
    assert_eq!(got.len(), 1, "the announced window only, once: {:?}", hook.events());
    verify_signature(&got[0], sub["secret"].as_str().unwrap());
    assert_eq!(got[0].header("x-netpulse-event"), "maintenance_scheduled");
    let body = got[0].json();
    assert_eq!(
        (body["component"].as_str(), body["maintenance"]["reason"].as_str()),
        (Some("Database"), Some("Disk swap"))
    );
    assert_eq!(body["maintenance"]["id"], window["id"], "{body}");
    assert_eq!(body["page"]["url"], "http://status.acme.example", "the page's own domain: {body}");
}

#[tokio::test]
async fn sign_ups_to_one_page_from_many_clients_stop_at_the_pages_budget() {
    let (app, mails) = app_with_mail(|config| {
        config.http.trusted_proxies = vec!["127.0.0.1".into()];
        config.accounts.subscribe_per_hour_page = 4;
    })
    .await;
    let (st, page) = app.api("POST", "/api/v1/status-pages", Some(json!({ "slug": "acme", "title": "Acme" }))).await;
    assert_eq!(st, 201, "{page}");
    assert_eq!(page["subscribers"], 0, "a new page's answer counts its subscribers: {page}");
    let mut answers = Vec::new();
    for i in 0..6 {
        let (ip, email) = (format!("203.0.113.{i}"), json!({ "email": format!("reader{i}@example.com") }));
        let (st, text, _) =
            app.raw("POST", "/status/acme/subscribe", Some(email), &[("x-forwarded-for", ip.as_str())]).await;
        answers.push((st, text));
    }
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, [202, 202, 202, 202, 429, 429], "{answers:?}");
    assert!(answers[4].1.contains("sign-ups to this page"), "{answers:?}");
    let (_, listed) =
        app.api("GET", &format!("/api/v1/status-pages/{}/subscribers", page["id"].as_str().unwrap()), None).await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(4), "{listed}");
    wait_for(10, "four confirmation mails", || async { (mails.lock().unwrap().len() >= 4).then_some(()) }).await;
}

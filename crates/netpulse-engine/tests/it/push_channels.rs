//! The push and chat channels against local receivers speaking each service's documented
//! request format, checked field by field: ntfy (JSON publish), Telegram (Bot API `sendMessage`),
//! Gotify (`POST /message`), Pushover (a form to the Message API),
//! Matrix (a room message `PUT` with an idempotent transaction id), Google Chat (a `cardsV2` card). Each test takes a monitor
//! down and up again (one notice per transition), sends a test, and checks the secret never
//! shows and that bad settings are refused naming the field.

use crate::harness::*;
use serde_json::{json, Value};

pub(crate) fn http_monitor(name: &str, target: &Target) -> Value {
    json!({ "name": name, "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 800 })
}

/// `http://127.0.0.1:port`: the receiver standing in for a service's server.
pub(crate) fn server(r: &Receiver) -> String {
    format!("http://{}", r.addr)
}

pub(crate) async fn create_channel(app: &TestApp, body: Value) -> (String, Value) {
    let (status, json) = app.api("POST", "/api/v1/channels", Some(body)).await;
    assert_eq!(status, 201, "create channel: {json}");
    (json["id"].as_str().unwrap().to_owned(), json)
}

pub(crate) async fn requests(r: &Receiver, n: usize) -> Vec<Received> {
    wait_for(20, &format!("{n} requests"), || async {
        let got = r.received();
        (got.len() >= n).then_some(got)
    })
    .await
}

/// `body` is refused with 422 naming `field`, and the message says `says`.
pub(crate) async fn refused(app: &TestApp, body: Value, field: &str, says: &str) {
    let (status, json) = app.api("POST", "/api/v1/channels", Some(body.clone())).await;
    assert_eq!((status, json["error"]["field"].as_str()), (422, Some(field)), "{body} → {json}");
    assert!(json["error"]["message"].as_str().unwrap().contains(says), "{body} → {json}");
}

/// A monitor goes down, its incident opens; it comes back, the incident resolves. Returns
/// the incident id once the receiver got `down_at` + 1 requests, and waits for the resolve.
pub(crate) async fn outage(app: &TestApp, target: &Target, r: &Receiver, before: usize) -> (String, Vec<Received>) {
    target.set_status(503);
    let monitor = app.create_monitor(http_monitor("Checkout API", target)).await;
    requests(r, before + 1).await;
    let incident = app.incidents(&monitor).await[0]["id"].as_str().unwrap().to_owned();
    target.set_status(200);
    let got = requests(r, before + 2).await;
    app.dispatch_alerts().await;
    assert_eq!(r.received().len(), before + 2, "one notice per transition");
    (incident, got)
}

#[tokio::test]
async fn ntfy_publishes_json_with_priority_by_event_and_a_bearer_token() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let ntfy = Receiver::start().await;
    let token = "tk_7eevizlsiwf9yi4uxsrs83r4352o0";
    let (id, created) = create_channel(
        &app,
        json!({ "name": "phone", "kind": "ntfy", "url": server(&ntfy), "topic": "netpulse-ops", "secret": token }),
    )
    .await;
    assert_eq!((created["topic"].as_str(), created["has_secret"].as_bool()), (Some("…-ops"), Some(true)));
    assert!(!created.to_string().contains(token) && !created.to_string().contains("netpulse-ops"), "{created}");

    let (incident, got) = outage(&app, &target, &ntfy, 0).await;
    let down = &got[0];
    assert_eq!((down.method.as_str(), down.uri.path()), ("POST", "/"), "JSON is published at the server root");
    assert_eq!(down.header("authorization"), format!("Bearer {token}"));
    assert_eq!(down.header("content-type"), "application/json");
    let b = down.json();
    assert_eq!((b["topic"].as_str(), b["title"].as_str()), (Some("netpulse-ops"), Some("DOWN: Checkout API")));
    assert_eq!((b["priority"].as_u64(), b["tags"].clone()), (Some(5), json!(["rotating_light", "opened"])));
    let message = b["message"].as_str().unwrap();
    assert!(
        message.contains("is down since") && message.contains("503") && message.contains("\nRegions: local"),
        "{b}"
    );
    assert!(b["click"].as_str().unwrap().ends_with(&format!("/incidents/{incident}")), "{b}");
    let up = got[1].json();
    assert_eq!((up["title"].as_str(), up["priority"].as_u64()), (Some("RESOLVED: Checkout API"), Some(3)));
    assert_eq!(up["tags"], json!(["white_check_mark", "resolved"]));

    let (_, body) = app.api("POST", &format!("/api/v1/channels/{id}/test"), None).await;
    assert_eq!(body["delivered"], true, "{body}");
    let test = requests(&ntfy, 3).await[2].json();
    assert_eq!(
        (test["title"].as_str(), test["priority"].as_u64()),
        (Some("TEST: NetPulse test notification"), Some(3))
    );

    let base = json!({ "name": "n", "kind": "ntfy", "url": server(&ntfy) });
    refused(&app, base.clone(), "topic", "is required").await;
    let mut bad = base.clone();
    bad["topic"] = json!("ops/../admin");
    refused(&app, bad, "topic", "letters, digits").await;
    refused(
        &app,
        json!({ "name": "s", "kind": "slack", "url": server(&ntfy), "topic": "x" }),
        "topic",
        "not used by slack",
    )
    .await;
    let (status, patched) = app.api("PATCH", &format!("/api/v1/channels/{id}"), Some(json!({ "name": "pager" }))).await;
    assert_eq!((status, patched["topic"].as_str()), (200, Some("…-ops")), "a PATCH keeps the topic: {patched}");
}

#[tokio::test]
async fn every_new_kind_needs_https_while_private_addresses_are_blocked() {
    let app = spawn_app_adjusted(|cfg| cfg.ssrf.block_private = true).await;
    #[rustfmt::skip]
    let cases = [
        json!({ "name": "n", "kind": "ntfy", "url": "http://ntfy.example.com", "topic": "ops" }),
        json!({ "name": "t", "kind": "telegram", "url": "http://tg.example.com", "chat_id": "42", "secret": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" }),
        json!({ "name": "g", "kind": "gotify", "url": "http://gotify.example.com", "secret": "AvKcy9o-yvVhyKd" }),
        json!({ "name": "p", "kind": "pushover", "url": "http://po.example.com/1/messages.json", "secret": "azGDORePK8gMaC0QOYAMyEEuzJnyUi", "user_key": "uQiRzpo4DXghDmr9QzzfQu27cmVRsG" }),
        json!({ "name": "o", "kind": "opsgenie", "url": "http://og.example.com", "secret": "eb243592-faa2-4ba2" }),
        json!({ "name": "m", "kind": "matrix", "url": "http://matrix.example.org", "secret": "syt_x", "room_id": "!a:example.org" }),
        json!({ "name": "g", "kind": "google_chat", "url": "http://chat.example.com/v1/spaces/A/messages" }),
        json!({ "name": "t", "kind": "templated_webhook", "url": "http://hooks.example.com", "body_template": "{{title}}", "content_type": "text/plain" }),
    ];
    for body in cases {
        refused(&app, body, "url", "https://").await;
    }
}

#[tokio::test]
async fn telegram_sends_html_messages_through_the_bot_api() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let tg = Receiver::start().await;
    let token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
    let (id, created) = create_channel(
        &app,
        json!({ "name": "tg", "kind": "telegram", "url": server(&tg), "secret": token, "chat_id": "-1001234567890" }),
    )
    .await;
    assert_eq!(created["chat_id"], "-1001234567890");
    assert!(!created.to_string().contains("AAHdqTcv"), "the bot token is never shown: {created}");

    target.set_status(503);
    let monitor = app.create_monitor(http_monitor("Checkout <b>API</b> & co", &target)).await;
    let down = requests(&tg, 1).await[0].clone();
    let incident = app.incidents(&monitor).await[0]["id"].as_str().unwrap().to_owned();
    assert_eq!((down.method.as_str(), down.uri.path()), ("POST", format!("/bot{token}/sendMessage").as_str()));
    assert_eq!(down.header("content-type"), "application/json");
    let b = down.json();
    assert_eq!(b["chat_id"], json!(-1001234567890_i64), "a numeric chat id is sent as a number");
    assert_eq!(
        (b["parse_mode"].as_str(), b["link_preview_options"]["is_disabled"].as_bool()),
        (Some("HTML"), Some(true))
    );
    let text = b["text"].as_str().unwrap();
    assert!(
        text.starts_with("<b>DOWN: Checkout &lt;b&gt;API&lt;/b&gt; &amp; co</b>\n"),
        "tenant text is escaped: {text}"
    );
    assert!(text.contains("<b>Regions:</b> local") && text.contains("503"), "{text}");
    assert!(text.ends_with(&format!("/incidents/{incident}\">Open in NetPulse</a>")), "{text}");

    tg.reply_with(&[(429, None)]);
    target.set_status(200);
    let got = requests(&tg, 3).await;
    assert_eq!(got[1].body, got[2].body, "a 429 is retried with the same message");
    assert!(got[2].json()["text"].as_str().unwrap().starts_with("<b>RESOLVED: "), "{}", got[2].body);
    app.dispatch_alerts().await;
    assert_eq!(tg.received().len(), 3, "one message per transition (plus the retry)");

    let (_, body) = app.api("POST", &format!("/api/v1/channels/{id}/test"), None).await;
    assert_eq!(body["delivered"], true, "{body}");
    assert!(requests(&tg, 4).await[3].json()["text"].as_str().unwrap().starts_with("<b>TEST: "));
    tg.reply_with(&[(401, None)]);
    let (_, body) = app.api("POST", &format!("/api/v1/channels/{id}/test"), None).await;
    let error = body["error"].as_str().unwrap();
    assert!(body["delivered"] == false && error.contains("401") && !error.contains("AAHdq"), "{body}");

    let base = json!({ "name": "t", "kind": "telegram", "url": server(&tg), "secret": token });
    refused(&app, base.clone(), "chat_id", "is required").await;
    let mut bad = base.clone();
    bad["chat_id"] = json!("ops");
    refused(&app, bad.clone(), "chat_id", "numeric chat id").await;
    bad["chat_id"] = json!("@netpulse_ops");
    bad["secret"] = json!("not-a-token");
    refused(&app, bad, "secret", "bot token").await;
}

#[tokio::test]
async fn gotify_pushes_with_the_app_token_header_and_priority_by_event() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let gotify = Receiver::start().await;
    let token = "AvKcy9o-yvVhyKd";
    let url = format!("{}/gotify", server(&gotify));
    let (id, created) =
        create_channel(&app, json!({ "name": "g", "kind": "gotify", "url": url, "secret": token })).await;
    assert!(!created.to_string().contains(token), "{created}");

    let (incident, got) = outage(&app, &target, &gotify, 0).await;
    let down = &got[0];
    assert_eq!((down.method.as_str(), down.uri.path()), ("POST", "/gotify/message"));
    assert_eq!(
        (down.header("x-gotify-key"), down.uri.query()),
        (token.to_owned(), None),
        "the token is a header, not in the URL"
    );
    let b = down.json();
    assert_eq!((b["title"].as_str(), b["priority"].as_u64()), (Some("DOWN: Checkout API"), Some(8)));
    assert!(
        b["message"].as_str().unwrap().contains("is down since") && b["message"].as_str().unwrap().contains("503"),
        "{b}"
    );
    assert_eq!(b["extras"]["client::display"]["contentType"], "text/plain");
    let click = b["extras"]["client::notification"]["click"]["url"].as_str().unwrap();
    assert!(click.ends_with(&format!("/incidents/{incident}")), "{b}");
    let up = got[1].json();
    assert_eq!((up["title"].as_str(), up["priority"].as_u64()), (Some("RESOLVED: Checkout API"), Some(3)));

    let (_, body) = app.api("POST", &format!("/api/v1/channels/{id}/test"), None).await;
    assert_eq!(body["delivered"], true, "{body}");
    refused(&app, json!({ "name": "g", "kind": "gotify", "secret": token }), "url", "is required").await;
    refused(&app, json!({ "name": "g", "kind": "gotify", "url": server(&gotify) }), "secret", "is required").await;
}

#[tokio::test]
async fn pushover_posts_the_documented_form_with_priority_by_event() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let po = Receiver::start().await;
    let (app_token, user) = ("azGDORePK8gMaC0QOYAMyEEuzJnyUi", "uQiRzpo4DXghDmr9QzzfQu27cmVRsG");
    let url = format!("{}/1/messages.json", server(&po));
    let (id, created) = create_channel(
        &app,
        json!({ "name": "p", "kind": "pushover", "url": url, "secret": app_token, "user_key": user }),
    )
    .await;
    assert_eq!(created["user_key"], "…VRsG");
    assert!(!created.to_string().contains(app_token) && !created.to_string().contains(user), "{created}");

    let (incident, got) = outage(&app, &target, &po, 0).await;
    let down = &got[0];
    assert_eq!((down.method.as_str(), down.uri.path()), ("POST", "/1/messages.json"));
    assert_eq!(down.header("content-type"), "application/x-www-form-urlencoded");
    let f = down.form();
    assert_eq!((f["token"].as_str(), f["user"].as_str()), (app_token, user));
    assert_eq!((f["title"].as_str(), f["priority"].as_str()), ("DOWN: Checkout API", "1"));
    assert!(
        f["message"].contains("is down since") && f["message"].contains("503") && f["message"].chars().count() <= 1024
    );
    assert!(f["url"].ends_with(&format!("/incidents/{incident}")) && f["url_title"] == "Open in NetPulse", "{f:?}");
    assert!(f["timestamp"].parse::<i64>().unwrap() > 1_700_000_000, "{f:?}");
    let up = got[1].form();
    assert_eq!((up["title"].as_str(), up["priority"].as_str()), ("RESOLVED: Checkout API", "0"));

    let (_, body) = app.api("POST", &format!("/api/v1/channels/{id}/test"), None).await;
    assert_eq!(body["delivered"], true, "{body}");
    let base = json!({ "name": "p", "kind": "pushover", "url": server(&po), "secret": app_token });
    refused(&app, base.clone(), "user_key", "is required").await;
    let mut bad = base.clone();
    bad["user_key"] = json!("someone");
    refused(&app, bad, "user_key", "30 letters and digits").await;
}

#[tokio::test]
async fn matrix_puts_a_notice_with_one_transaction_id_per_notice_across_retries() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let hs = Receiver::start().await;
    let token = "syt_bmV0cHVsc2U_abcdefghijklmnop_0a1b2c";
    let room = "!OGEhHVWSdvArJzumhm:matrix.example.org";
    let (id, created) = create_channel(
        &app,
        json!({ "name": "m", "kind": "matrix", "url": server(&hs), "secret": token, "room_id": room }),
    )
    .await;
    assert_eq!(created["room_id"], room);
    assert!(!created.to_string().contains(token), "{created}");
    hs.reply_with(&[(429, None)]);

    target.set_status(503);
    let monitor = app.create_monitor(http_monitor("Checkout <API>", &target)).await;
    let got = requests(&hs, 2).await;
    let incident = app.incidents(&monitor).await[0]["id"].as_str().unwrap().to_owned();
    let (first, retry) = (&got[0], &got[1]);
    assert_eq!(first.method.as_str(), "PUT");
    let path = first.uri.path();
    let prefix = "/_matrix/client/v3/rooms/!OGEhHVWSdvArJzumhm:matrix.example.org/send/m.room.message/";
    assert!(path.starts_with(prefix), "the room id is one path segment: {path}");
    assert_eq!(retry.uri.path(), path, "a retry repeats the transaction id, so the homeserver stores one message");
    assert_eq!(first.header("authorization"), format!("Bearer {token}"));
    let b = first.json();
    assert_eq!((b["msgtype"].as_str(), b["format"].as_str()), (Some("m.notice"), Some("org.matrix.custom.html")));
    assert!(b["body"].as_str().unwrap().starts_with("DOWN: Checkout <API>\n"), "{b}");
    let html = b["formatted_body"].as_str().unwrap();
    assert!(html.starts_with("<strong>DOWN: Checkout &lt;API&gt;</strong>") && html.contains("503"), "{html}");
    assert!(html.contains(&format!("/incidents/{incident}\">Open in NetPulse</a>")), "{html}");

    target.set_status(200);
    let up = requests(&hs, 3).await[2].clone();
    assert_ne!(up.uri.path(), path, "the next notice is a new transaction");
    assert!(up.json()["body"].as_str().unwrap().starts_with("RESOLVED: "), "{}", up.body);
    app.dispatch_alerts().await;
    assert_eq!(hs.received().len(), 3);

    let (_, body) = app.api("POST", &format!("/api/v1/channels/{id}/test"), None).await;
    assert_eq!(body["delivered"], true, "{body}");
    let base = json!({ "name": "m", "kind": "matrix", "url": server(&hs), "secret": token });
    refused(&app, base.clone(), "room_id", "is required").await;
    let mut bad = base.clone();
    bad["room_id"] = json!("#ops:matrix.example.org");
    refused(&app, bad, "room_id", "starting with `!`").await;
}

#[tokio::test]
async fn google_chat_posts_a_card_with_the_facts_and_a_button() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let chat = Receiver::start().await;
    let url = format!(
        "{}/v1/spaces/AAAAxyz/messages?key=AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI&token=tok3nSecret",
        server(&chat)
    );
    let (id, created) = create_channel(&app, json!({ "name": "gc", "kind": "google_chat", "url": url })).await;
    assert!(!created.to_string().contains("tok3nSecret") && !created.to_string().contains("AIzaSy"), "{created}");

    target.set_status(503);
    let monitor = app.create_monitor(http_monitor("Checkout <users/all>", &target)).await;
    let down = requests(&chat, 1).await[0].clone();
    let incident = app.incidents(&monitor).await[0]["id"].as_str().unwrap().to_owned();
    assert_eq!((down.method.as_str(), down.uri.path()), ("POST", "/v1/spaces/AAAAxyz/messages"));
    assert!(down.uri.query().unwrap().contains("token=tok3nSecret"));
    assert_eq!(down.header("content-type"), "application/json; charset=UTF-8");
    let b = down.json();
    let text = b["text"].as_str().unwrap();
    assert!(text.starts_with("*DOWN: Checkout ‹users/all›*") && !text.contains("<users/all>"), "no mention: {text}");
    let card = &b["cardsV2"][0];
    assert_eq!(card["cardId"], "netpulse-opened");
    assert_eq!(card["card"]["header"]["title"], "DOWN: Checkout <users/all>");
    assert!(card["card"]["header"]["subtitle"].as_str().unwrap().contains("is down since"), "{card}");
    let widgets = card["card"]["sections"][0]["widgets"].as_array().unwrap();
    let regions = widgets.iter().find(|w| w["decoratedText"]["topLabel"] == "Regions").expect("a Regions widget");
    assert_eq!(regions["decoratedText"]["text"], "local");
    assert!(widgets.iter().any(|w| w["decoratedText"]["text"].as_str().is_some_and(|t| t.contains("503"))));
    let button = &widgets.last().unwrap()["buttonList"]["buttons"][0];
    assert!(
        button["onClick"]["openLink"]["url"].as_str().unwrap().ends_with(&format!("/incidents/{incident}")),
        "{button}"
    );

    target.set_status(200);
    let up = requests(&chat, 2).await[1].json();
    assert_eq!(up["cardsV2"][0]["card"]["header"]["title"], "RESOLVED: Checkout <users/all>");
    let (_, body) = app.api("POST", &format!("/api/v1/channels/{id}/test"), None).await;
    assert_eq!(body["delivered"], true, "{body}");
    refused(
        &app,
        json!({ "name": "g", "kind": "google_chat", "url": server(&chat), "secret": "x" }),
        "secret",
        "not used",
    )
    .await;
}

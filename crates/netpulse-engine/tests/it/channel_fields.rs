//! The kind-specific channel fields outside the API's own answers: the dashboard's form (the
//! inputs of the chosen kind reach the API, `Name: value` lines become headers, an error shows
//! next to its input) and what a read token sees (none of them).

use crate::dashboard::{browse, csrf, text_of};
use crate::harness::*;
use crate::push_channels::create_channel;
use serde_json::json;

const BOT_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

#[tokio::test]
async fn the_channel_form_sends_the_chosen_kinds_fields() {
    let app = spawn_app().await;
    let token = csrf(&app, "/channels").await;
    let telegram = |chat: &'static str| {
        vec![("name", "tg"), ("kind", "telegram"), ("secret", BOT_TOKEN), ("chat_id", chat), ("topic", "ignored")]
    };
    let mut bad = telegram("ops");
    bad.push(("csrf", &token));
    let page = browse(&app, "POST", "/channels", &bad).await;
    assert_eq!(page.status, 422, "{}", page.html);
    let inline = text_of(&page.html, "c-chat_id-error").expect("the error next to the chat id");
    assert!(inline.contains("numeric chat id"), "{inline}");
    assert!(page.html.contains("value=\"ops\"") && !page.html.contains(BOT_TOKEN), "typed kept, secret not echoed");

    let mut good = telegram("-1001234567890");
    good.push(("csrf", &token));
    assert_eq!(browse(&app, "POST", "/channels", &good).await.status, 200);
    let template = "{\"text\": \"{{title}}\"}";
    let hook = [
        ("csrf", token.as_str()),
        ("name", "hook"),
        ("kind", "templated_webhook"),
        ("url", "https://hooks.example.com/in"),
        ("method", "PUT"),
        ("headers", "Authorization: Bearer form-s3cret\r\nX-Team: ops\r\n"),
        ("body_template", template),
    ];
    let page = browse(&app, "POST", "/channels", &hook).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(!page.html.contains("form-s3cret"), "header values are not shown");

    let (_, listed) = app.api("GET", "/api/v1/channels", None).await;
    let of = |name: &str| listed["data"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone();
    let tg = of("tg");
    assert_eq!(tg["chat_id"], "-1001234567890");
    assert!(tg.get("topic").is_none(), "another kind's input is not sent: {tg}");
    let hook = of("hook");
    assert_eq!((hook["method"].as_str(), hook["body_template"].as_str()), (Some("PUT"), Some(template)));
    assert_eq!(hook["headers"], json!({ "Authorization": "…", "X-Team": "…" }));
}

#[tokio::test]
async fn a_read_token_sees_none_of_a_channels_kind_fields() {
    let app = spawn_app().await;
    let tg = json!({ "name": "tg", "kind": "telegram", "secret": BOT_TOKEN, "chat_id": "-1001234567890" });
    create_channel(&app, tg).await;
    let ntfy = json!({ "name": "n", "kind": "ntfy", "topic": "netpulse-private-topic" });
    create_channel(&app, ntfy).await;
    let (_, tok) = app.api("POST", "/api/v1/tokens", Some(json!({ "name": "grafana", "scope": "read" }))).await;
    let (status, seen) = app.call("GET", "/api/v1/channels", None, tok["token"].as_str()).await;
    assert_eq!(status, 200, "{seen}");
    let text = seen.to_string();
    assert!(!text.contains("1001234567890") && !text.contains("private-topic"), "{seen}");
    for c in seen["data"].as_array().unwrap() {
        let field = if c["kind"] == "telegram" { "chat_id" } else { "topic" };
        assert_eq!(c[field], "[hidden]", "{c}");
    }
}

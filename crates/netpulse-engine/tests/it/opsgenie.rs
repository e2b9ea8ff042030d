//! Opsgenie against a local receiver speaking the Alert API v2: create with the incident id
//! as alias, acknowledge and close by alias, the key in a `GenieKey` header, regions.

use crate::harness::*;
use crate::push_channels::{create_channel, http_monitor, refused, requests, server};
use serde_json::json;

const KEY: &str = "eb243592-faa2-4ba2-a551q-1afdf565c889";

#[tokio::test]
async fn opsgenie_creates_acknowledges_and_closes_one_alert_per_incident() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let og = Receiver::start().await;
    og.reply_with(&[(202, None), (202, None), (202, None)]);
    let (id, created) = create_channel(
        &app,
        json!({ "name": "og", "kind": "opsgenie", "url": server(&og), "secret": KEY, "region": "eu" }),
    )
    .await;
    assert_eq!(created["region"], "eu");
    assert!(!created.to_string().contains(KEY), "the API key is never shown: {created}");
    target.set_status(503);
    let monitor = app.create_monitor(http_monitor("Checkout API", &target)).await;

    let create = requests(&og, 1).await[0].clone();
    let incident = app.incidents(&monitor).await[0]["id"].as_str().unwrap().to_owned();
    assert_eq!((create.method.as_str(), create.uri.to_string()), ("POST", "/v2/alerts".to_owned()));
    assert_eq!(create.header("authorization"), format!("GenieKey {KEY}"));
    let b = create.json();
    assert_eq!((b["alias"].as_str(), b["message"].as_str()), (Some(incident.as_str()), Some("DOWN: Checkout API")));
    assert_eq!(
        (b["priority"].as_str(), b["source"].as_str(), b["entity"].as_str()),
        (Some("P1"), Some("NetPulse"), Some("Checkout API"))
    );
    assert_eq!(b["tags"], json!(["netpulse", "opened"]));
    assert!(b["description"].as_str().unwrap().contains("503") && b["details"]["regions"] == "local", "{b}");
    assert!(b["details"]["link"].as_str().unwrap().ends_with(&format!("/incidents/{incident}")), "{b}");

    let (status, body) = app.api("POST", &format!("/api/v1/incidents/{incident}/acknowledge"), None).await;
    assert_eq!(status, 200, "{body}");
    let ack = requests(&og, 2).await[1].clone();
    assert_eq!(
        (ack.method.as_str(), ack.uri.to_string()),
        ("POST", format!("/v2/alerts/{incident}/acknowledge?identifierType=alias"))
    );
    assert_eq!((ack.json()["user"].as_str(), ack.json()["source"].as_str()), (Some("NetPulse"), Some("NetPulse")));
    assert!(ack.json()["note"].as_str().unwrap().contains("acknowledged"), "{}", ack.body);

    target.set_status(200);
    let close = requests(&og, 3).await[2].clone();
    assert_eq!(close.uri.to_string(), format!("/v2/alerts/{incident}/close?identifierType=alias"));
    assert_eq!(close.header("authorization"), format!("GenieKey {KEY}"));
    assert!(close.json()["note"].as_str().unwrap().contains("back up"), "{}", close.body);
    app.dispatch_alerts().await;
    assert_eq!(og.received().len(), 3, "one request per transition");

    let (_, body) = app.api("POST", &format!("/api/v1/channels/{id}/test"), None).await;
    assert_eq!(body["delivered"], true, "{body}");
    let test = requests(&og, 4).await[3].json();
    assert!(test["alias"].as_str().unwrap().starts_with("test:") && test["priority"] == "P5", "{test}");

    let (status, eu) = app
        .api(
            "POST",
            "/api/v1/channels",
            Some(json!({ "name": "e", "kind": "opsgenie", "secret": KEY, "region": "eu" })),
        )
        .await;
    assert_eq!((status, eu["url"].as_str()), (201, Some("https://api.eu.opsgenie.com/")), "{eu}");
    let path = format!("/api/v1/channels/{}", eu["id"].as_str().unwrap());
    let (_, us) = app.api("PATCH", &path, Some(json!({ "region": "us" }))).await;
    assert_eq!((us["region"].as_str(), us["url"].as_str()), (Some("us"), Some("https://api.opsgenie.com/")), "{us}");
    refused(&app, json!({ "name": "o", "kind": "opsgenie", "secret": KEY, "region": "ap" }), "region", "`us` or `eu`")
        .await;
    refused(&app, json!({ "name": "o", "kind": "opsgenie", "region": "us" }), "secret", "is required").await;
}

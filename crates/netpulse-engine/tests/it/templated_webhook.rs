//! The templated webhook against a local receiver: the user's method, headers and body
//! template filled in from the notice (JSON-escaped for a JSON content type), and templates
//! refused when saved (an unknown field named, invalid JSON).

use crate::harness::*;
use crate::push_channels::{create_channel, http_monitor, refused, requests, server};
use serde_json::json;

const TEMPLATE: &str = r#"{"summary": "{{title}}", "source": "{{monitor.target}}", "severity": "{{severity}}",
 "custom": {"name": "{{ monitor.name }}", "incident": "{{incident.id}}", "url": "{{incident.url}}", "error": "{{error}}", "event": "{{event}}"}}"#;

#[tokio::test]
async fn a_templated_webhook_sends_the_users_request_with_escaped_values() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let r = Receiver::start().await;
    let url = format!("{}/api/events", server(&r));
    let (id, created) = create_channel(
        &app,
        json!({ "name": "t", "kind": "templated_webhook", "url": url, "method": "put",
                "headers": { "Authorization": "Bearer s3cr3t-t0ken", "X-Team": "ops" }, "body_template": TEMPLATE }),
    )
    .await;
    assert_eq!((created["method"].as_str(), created["content_type"].as_str()), (Some("PUT"), Some("application/json")));
    assert_eq!(created["headers"], json!({ "Authorization": "…", "X-Team": "…" }), "header values are never shown");
    assert_eq!(created["body_template"], TEMPLATE);

    target.set_status(503);
    let monitor = app.create_monitor(http_monitor("Checkout \"API\" {{event}}", &target)).await;
    let down = requests(&r, 1).await[0].clone();
    let incident = app.incidents(&monitor).await[0]["id"].as_str().unwrap().to_owned();
    assert_eq!((down.method.as_str(), down.uri.path()), ("PUT", "/api/events"));
    assert_eq!(
        (down.header("authorization"), down.header("x-team")),
        ("Bearer s3cr3t-t0ken".to_owned(), "ops".to_owned())
    );
    assert_eq!(down.header("content-type"), "application/json");
    let b = down.json();
    assert_eq!(b["custom"]["name"], "Checkout \"API\" {{event}}", "values are JSON-escaped and never expanded again");
    assert_eq!(
        (b["custom"]["incident"].as_str(), b["custom"]["event"].as_str()),
        (Some(incident.as_str()), Some("opened"))
    );
    assert!(b["custom"]["url"].as_str().unwrap().ends_with(&format!("/incidents/{incident}")));
    assert_eq!(
        (b["severity"].as_str(), b["source"].as_str()),
        (Some("critical"), Some(format!("GET {}", target.url()).as_str()))
    );
    assert!(b["custom"]["error"].as_str().unwrap().contains("503"), "{b}");

    target.set_status(200);
    let up = requests(&r, 2).await[1].json();
    assert_eq!((up["custom"]["event"].as_str(), up["severity"].as_str()), (Some("resolved"), Some("info")));
    app.dispatch_alerts().await;
    assert_eq!(r.received().len(), 2, "one request per transition");

    let (status, patched) = app
        .api(
            "PATCH",
            &format!("/api/v1/channels/{id}"),
            Some(json!({ "content_type": "text/plain", "body_template": "{{event}}: {{monitor.name}}" })),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    let (_, body) = app.api("POST", &format!("/api/v1/channels/{id}/test"), None).await;
    assert_eq!(body["delivered"], true, "{body}");
    let test = requests(&r, 3).await[2].clone();
    assert_eq!(
        (test.body.as_str(), test.header("content-type").as_str()),
        ("test: NetPulse test notification", "text/plain")
    );
    assert_eq!(test.header("authorization"), "Bearer s3cr3t-t0ken", "a PATCH keeps the headers it does not name");

    let base = json!({ "name": "t", "kind": "templated_webhook", "url": server(&r) });
    let with = |k: &str, v: serde_json::Value| {
        let mut b = base.clone();
        b["body_template"] = json!("{\"a\": \"{{event}}\"}");
        b[k] = v;
        b
    };
    refused(&app, base.clone(), "body_template", "is required").await;
    refused(
        &app,
        with("body_template", json!("{\"n\": \"{{monitor.nmae}}\"}")),
        "body_template",
        "unknown field `monitor.nmae`",
    )
    .await;
    refused(&app, with("body_template", json!("{\"n\": {{monitor.name}}}")), "body_template", "valid JSON").await;
    refused(&app, with("method", json!("DELETE")), "method", "POST, PUT or PATCH").await;
    refused(&app, with("headers", json!({ "Content-Type": "x/y" })), "headers.Content-Type", "content_type").await;
    refused(&app, with("secret", json!("x")), "secret", "headers").await;
}

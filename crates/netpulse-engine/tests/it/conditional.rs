//! Updates without lost writes: a monitor's answers carry an `ETag` (its version), and a
//! `PATCH` with `If-Match` changes the monitor only while it is still that version — a tool
//! that read it before someone else's change gets `412 precondition_failed` and changes
//! nothing; of two tools that read the same version and write at once, exactly one wins.

use crate::harness::*;
use serde_json::{json, Value};

async fn patch(app: &TestApp, id: &str, body: Value, if_match: Option<&str>) -> (u16, Value, Option<String>) {
    let auth = format!("Bearer {TOKEN}");
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(tag) = if_match {
        headers.push(("if-match", tag));
    }
    let (status, text, h) = app.raw("PATCH", &format!("/api/v1/monitors/{id}"), Some(body), &headers).await;
    let etag = h.get("etag").map(|v| v.to_str().unwrap().to_owned());
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), etag)
}

async fn get(app: &TestApp, id: &str) -> (Value, String) {
    let auth = format!("Bearer {TOKEN}");
    let (status, text, h) = app.raw("GET", &format!("/api/v1/monitors/{id}"), None, &[("authorization", &auth)]).await;
    assert_eq!(status, 200, "{text}");
    (serde_json::from_str(&text).unwrap(), h.get("etag").expect("an ETag").to_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_with_if_match_changes_only_the_version_it_read_and_never_loses_a_write() {
    let app = spawn_app().await;
    let id = app
        .create_monitor(json!({ "name": "api", "kind": "tcp", "host": "127.0.0.1", "port": 9, "paused": true }))
        .await;
    let (_, first) = get(&app, &id).await;
    assert!(first.starts_with('"') && first.ends_with('"'), "a strong entity tag: {first}");

    // With the ETag it read: changed, and the answer carries the new version.
    let (status, body, second) = patch(&app, &id, json!({ "interval_s": 120 }), Some(&first)).await;
    assert_eq!(status, 200, "{body}");
    let second = second.expect("the answer's ETag");
    assert_ne!(second, first, "every change is a new version");
    assert_eq!(get(&app, &id).await.1, second);

    // Someone who read the first version is refused, and nothing changes.
    let (status, body, _) = patch(&app, &id, json!({ "name": "stale edit" }), Some(&first)).await;
    assert_eq!(status, 412, "{body}");
    assert_eq!(body["error"]["code"], "precondition_failed", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(&second), "names the current ETag: {body}");
    let (now, tag) = get(&app, &id).await;
    assert_eq!(
        (now["name"].as_str(), now["interval_s"].as_u64(), tag.as_str()),
        (Some("api"), Some(120), second.as_str())
    );
    // A weak tag never matches (If-Match compares strongly); `*` matches while it exists;
    // a list matches when one of its tags is current; no If-Match is last-writer-wins.
    assert_eq!(patch(&app, &id, json!({ "name": "weak" }), Some(&format!("W/{second}"))).await.0, 412);
    let (status, text, _) = app
        .raw(
            "PATCH",
            &format!("/api/v1/monitors/{id}"),
            Some(json!({ "name": "two headers" })),
            &[("authorization", &format!("Bearer {TOKEN}")), ("if-match", "\"1\""), ("if-match", &second)],
        )
        .await;
    assert_eq!(status, 200, "repeated If-Match headers are one list: {text}");
    assert_eq!(patch(&app, &id, json!({ "name": "any" }), Some("*")).await.0, 200);
    let (_, third) = get(&app, &id).await;
    assert_eq!(patch(&app, &id, json!({ "name": "listed" }), Some(&format!("{first}, {third}"))).await.0, 200);
    assert_eq!(patch(&app, &id, json!({ "name": "plain" }), None).await.0, 200);

    // Two tools read the same version and write at once: one wins, the other is told.
    let (_, read) = get(&app, &id).await;
    let (a, b) = tokio::join!(
        patch(&app, &id, json!({ "name": "tool a" }), Some(&read)),
        patch(&app, &id, json!({ "name": "tool b" }), Some(&read)),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 412], "{a:?} {b:?}");
    let winner = if a.0 == 200 { "tool a" } else { "tool b" };
    assert_eq!(get(&app, &id).await.0["name"], winner, "the winner's change is what is stored");

    // Pausing and resuming read and write the whole definition too: racing a PATCH with
    // If-Match, they never write back what they read over the change it made.
    for round in 0..30 {
        let (_, read) = get(&app, &id).await;
        let name = format!("round {round}");
        let action = if round % 2 == 0 { "pause" } else { "resume" };
        let auth = format!("Bearer {TOKEN}");
        let (path, headers) = (format!("/api/v1/monitors/{id}/{action}"), [("authorization", auth.as_str())]);
        let toggle = app.raw("POST", &path, None, &headers);
        let (changed, toggled) = tokio::join!(patch(&app, &id, json!({ "name": name }), Some(&read)), toggle);
        assert_eq!(toggled.0, 200, "{}", toggled.1);
        if changed.0 == 200 {
            let (now, _) = get(&app, &id).await;
            assert_eq!(now["name"], name.as_str(), "round {round}: a 200 to If-Match holds: {now}");
            assert_eq!(now["paused"], round % 2 == 0, "round {round}: and so does the pause");
        } else {
            assert_eq!(changed.0, 412, "{:?}", changed.1);
        }
    }

    // A bad patch with the right ETag changes nothing either (validation first).
    let (_, current) = get(&app, &id).await;
    let (status, body, _) = patch(&app, &id, json!({ "port": 0 }), Some(&current)).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("port")), "{body}");
    assert_eq!(get(&app, &id).await.1, current);
}

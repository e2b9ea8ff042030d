//! Updates without lost writes: a monitor's answers carry an `ETag` (its version), and a
//! `PATCH` with `If-Match` changes the monitor only while it is still that version — a tool
//! that read it before someone else's change gets `412 precondition_failed` and changes
//! nothing; of two tools that read the same version and write at once, exactly one wins.
//! Channels and status pages (`PATCH`) and maintenance windows (`DELETE`, their one change)
//! do the same.

use crate::harness::*;
use serde_json::{json, Value};

async fn patch(app: &TestApp, id: &str, body: Value, if_match: Option<&str>) -> (u16, Value, Option<String>) {
    send(app, "PATCH", &format!("/api/v1/monitors/{id}"), Some(body), if_match).await
}

async fn get(app: &TestApp, id: &str) -> (Value, String) {
    read(app, &format!("/api/v1/monitors/{id}")).await
}

/// `method path` as the owner, with `If-Match` when given: status, body and the answer's ETag.
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> (u16, Value, Option<String>) {
    let auth = format!("Bearer {TOKEN}");
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(tag) = if_match {
        headers.push(("if-match", tag));
    }
    let (status, text, h) = app.raw(method, path, body, &headers).await;
    let etag = h.get("etag").map(|v| v.to_str().unwrap().to_owned());
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), etag)
}

/// `GET path`: the object and its ETag.
async fn read(app: &TestApp, path: &str) -> (Value, String) {
    let (status, body, etag) = send(app, "GET", path, None, None).await;
    assert_eq!(status, 200, "{body}");
    (body, etag.expect("an ETag"))
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

/// What a tool editing a channel or a status page sees: `field` changed by `good` with the
/// ETag it read; a tool that read the version before is refused and changes nothing; a bad
/// body with the current ETag gets its own error and changes nothing either.
async fn holds_to_the_version_read(app: &TestApp, path: &str, created: Option<String>, field: &str, bad: Value) {
    let (before, first) = read(app, path).await;
    assert_eq!(created.as_deref(), Some(first.as_str()), "the create answer's ETag is GET's");
    let (status, body, second) = send(app, "PATCH", path, Some(json!({ field: "edited" })), Some(&first)).await;
    assert_eq!(status, 200, "{body}");
    let second = second.expect("the answer's ETag");
    assert_ne!(second, first, "every change is a new version");
    let (now, tag) = read(app, path).await;
    assert_eq!((now[field].as_str(), tag.as_str()), (Some("edited"), second.as_str()), "GET's ETag is PATCH's");
    assert_ne!(before[field], now[field]);

    let (status, body, _) = send(app, "PATCH", path, Some(json!({ field: "stale edit" })), Some(&first)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (412, Some("precondition_failed")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(&second), "names the current ETag: {body}");
    let (bad_field, _) = bad.as_object().unwrap().iter().next().unwrap();
    let bad_field = bad_field.clone();
    let (status, body, _) = send(app, "PATCH", path, Some(bad), Some(&second)).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some(bad_field.as_str())), "{body}");
    let (after, tag) = read(app, path).await;
    assert_eq!((after[field].as_str(), tag.as_str()), (Some("edited"), second.as_str()), "nothing changed");
    // Without If-Match the last write wins, as before.
    assert_eq!(send(app, "PATCH", path, Some(json!({ field: "plain" })), None).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_and_status_pages_change_only_at_the_version_a_tool_read() {
    let app = spawn_app().await;
    let hook = json!({ "name": "ops", "kind": "webhook", "url": "https://example.com/hook" });
    let (status, channel, etag) = send(&app, "POST", "/api/v1/channels", Some(hook), None).await;
    assert_eq!(status, 201, "{channel}");
    let path = format!("/api/v1/channels/{}", channel["id"].as_str().unwrap());
    holds_to_the_version_read(&app, &path, etag, "name", json!({ "url": "not a url" })).await;

    let page = json!({ "slug": "etag-page", "title": "Status" });
    let (status, page, etag) = send(&app, "POST", "/api/v1/status-pages", Some(page), None).await;
    assert_eq!(status, 201, "{page}");
    let path = format!("/api/v1/status-pages/{}", page["id"].as_str().unwrap());
    holds_to_the_version_read(&app, &path, etag, "title", json!({ "slug": "Not A Slug" })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_is_cancelled_only_at_the_version_a_tool_read() {
    let app = spawn_app().await;
    let id = app.create_monitor(json!({ "name": "db", "kind": "tcp", "host": "127.0.0.1", "port": 9 })).await;
    let window = json!({ "starts_at": "2099-01-01T00:00:00Z", "duration_s": 3600, "reason": "upgrade" });
    let (status, w, etag) = send(&app, "POST", &format!("/api/v1/monitors/{id}/maintenance"), Some(window), None).await;
    assert_eq!(status, 201, "{w}");
    let path = format!("/api/v1/maintenance/{}", w["id"].as_str().unwrap());
    let (read_back, tag) = read(&app, &path).await;
    assert_eq!((&read_back, Some(tag.clone())), (&w, etag), "GET answers what POST did, with its ETag");

    let (status, body, _) = send(&app, "DELETE", &path, None, Some("\"1\"")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (412, Some("precondition_failed")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(&tag), "names the current ETag: {body}");
    assert_eq!(read(&app, &path).await.1, tag, "still scheduled, unchanged");
    assert_eq!(send(&app, "DELETE", &path, None, Some(&tag)).await.0, 204);
    assert_eq!(send(&app, "GET", &path, None, None).await.0, 404, "cancelled");
    assert_eq!(send(&app, "DELETE", &path, None, Some(&tag)).await.0, 404);
}

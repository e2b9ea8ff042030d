//! Alert delivery is visible: a real outage notified through three webhook channels — one
//! healthy, one whose receiver answers 500 once, one pointed at a closed local port — and
//! what the API and the dashboard then say: each channel's health (ok / failing since when,
//! with the last error), the account's delivery log (newest first, paged, by channel), the
//! incident's notifications (who, when, which channel, which answer, retries included), the
//! overview's banner and the header's flag. "Send test" joins the log and moves the health.

use crate::dashboard::browse;
use crate::harness::*;
use serde_json::{json, Value};

/// A local port with nothing listening: connections to it are refused.
async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

async fn channel(app: &TestApp, name: &str, url: &str) -> String {
    let (status, c) =
        app.api("POST", "/api/v1/channels", Some(json!({ "name": name, "kind": "webhook", "url": url }))).await;
    assert_eq!(status, 201, "{c}");
    c["id"].as_str().unwrap().to_owned()
}

fn health_of<'a>(channels: &'a Value, id: &str) -> &'a Value {
    &channels["data"].as_array().unwrap().iter().find(|c| c["id"] == id).expect("listed")["health"]
}

/// `(channel name, attempt, outcome, http status)` of each notification, in order.
fn summary(notifications: &Value) -> Vec<(String, u64, String, Option<u64>)> {
    let rows = notifications.as_array().expect("a list");
    rows.iter()
        .map(|n| {
            let name = n["channel"]["name"].as_str().unwrap().to_owned();
            let outcome = n["outcome"].as_str().unwrap().to_owned();
            (name, n["attempt"].as_u64().unwrap(), outcome, n["http_status"].as_u64())
        })
        .collect()
}

#[tokio::test]
async fn failing_channels_show_failing_and_the_incident_says_who_was_paged_with_what_answer() {
    let app = spawn_app_adjusted(|c| c.alerts.max_attempts = 2).await;
    let (healthy, flaky) = (Receiver::start().await, Receiver::start().await);
    flaky.reply_with(&[(500, None)]);
    let dead_url = format!("http://127.0.0.1:{}/hook", closed_port().await);
    let ok_id = channel(&app, "ops", &healthy.url()).await;
    let flaky_id = channel(&app, "flaky", &flaky.url()).await;
    let dead_id = channel(&app, "dead", &dead_url).await;
    let target = Target::start().await;
    target.set_status(503);
    let monitor = app
        .create_monitor(
            json!({ "name": "Checkout", "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 800 }),
        )
        .await;
    healthy.wait_for_events(1, 20).await;
    let incident = wait_for(20, "the dead channel's second attempt, failed for good", || async {
        let inc = app.incidents(&monitor).await.first()?["id"].as_str()?.to_owned();
        let (_, body) = app.api("GET", &format!("/api/v1/incidents/{inc}"), None).await;
        let done = summary(&body["notifications"]).iter().filter(|n| n.2 != "retrying").count() == 3;
        done.then_some(body)
    })
    .await;
    assert_eq!(flaky.received().len(), 2, "the 500 was retried once");

    let mut seen = summary(&incident["notifications"]);
    seen.sort();
    assert_eq!(
        seen,
        [
            ("dead".into(), 1, "retrying".into(), None),
            ("dead".into(), 2, "failed".into(), None),
            ("flaky".into(), 1, "retrying".into(), Some(500)),
            ("flaky".into(), 2, "delivered".into(), Some(200)),
            ("ops".into(), 1, "delivered".into(), Some(200)),
        ],
        "{incident}"
    );
    let first = &incident["notifications"][0];
    assert_eq!((first["event"].as_str(), first["monitor"]["name"].as_str()), (Some("opened"), Some("Checkout")));
    let dead_error = incident["notifications"].as_array().unwrap().iter().find(|n| n["outcome"] == "failed").unwrap()
        ["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(dead_error.contains("refused") || dead_error.contains("connect"), "{dead_error}");

    let (_, channels) = app.api("GET", "/api/v1/channels", None).await;
    let dead = health_of(&channels, &dead_id);
    assert_eq!((dead["state"].as_str(), dead["last"]["error"].as_str()), (Some("failing"), Some(dead_error.as_str())));
    assert!(dead["failing_since"].is_string() && dead["last_delivered_at"].is_null(), "{dead}");
    assert_eq!(health_of(&channels, &flaky_id)["state"], "ok", "delivered on its retry");
    assert_eq!(health_of(&channels, &ok_id)["state"], "ok");

    // The account's log: newest first, paged by cursor, filtered by channel.
    let (_, log) = app.api("GET", "/api/v1/deliveries?limit=2", None).await;
    let ids: Vec<i64> = log["data"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert!(ids.len() == 2 && ids[0] > ids[1], "{log}");
    let cursor = log["next_cursor"].as_str().expect("more pages");
    let (_, older) = app.api("GET", &format!("/api/v1/deliveries?limit=10&cursor={cursor}"), None).await;
    assert!(older["data"].as_array().unwrap().iter().all(|a| a["id"].as_i64().unwrap() < ids[1]), "{older}");
    assert_eq!(older["data"].as_array().unwrap().len(), 3, "five attempts in all");
    let (_, by_channel) = app.api("GET", &format!("/api/v1/deliveries?channel_id={dead_id}"), None).await;
    assert_eq!(summary(&by_channel["data"]).iter().map(|n| n.1).collect::<Vec<_>>(), [2, 1], "{by_channel}");
    let (status, bad) = app.api("GET", "/api/v1/deliveries?cursor=nope", None).await;
    assert_eq!((status, bad["error"]["field"].as_str()), (422, Some("cursor")), "{bad}");

    // The dashboard: the channel's row, the overview's banner, the header, the log, the incident.
    let page = browse(&app, "GET", "/channels", &[]).await;
    let row = &page.html[page.html.find(&format!("data-channel=\"{dead_id}\"")).expect("the dead channel's row")..];
    assert!(row.starts_with(&format!("data-channel=\"{dead_id}\" data-health=\"failing\"")), "{row}");
    assert!(row.split("</tr>").next().unwrap().contains(&dead_error), "the last error is on its row");
    assert!(page.html.contains(&format!("data-channel=\"{ok_id}\" data-health=\"ok\"")));
    let overview = browse(&app, "GET", "/", &[]).await.html;
    assert!(overview.contains("id=\"channels-failing\"") && overview.contains("1 channel failing"), "{overview}");
    let log_page = browse(&app, "GET", &format!("/deliveries?channel={dead_id}"), &[]).await;
    assert_eq!((log_page.status, log_page.html.matches("data-attempt=").count()), (200, 2), "{}", log_page.html);
    let inc_id = incident["id"].as_str().unwrap();
    let inc_page = browse(&app, "GET", &format!("/incidents/{inc_id}"), &[]).await.html;
    let notified = &inc_page[inc_page.find("<h2>Notifications</h2>").expect("a notifications section")..];
    assert_eq!(notified.matches("data-attempt=").count(), 5, "{notified}");
    assert!(notified.contains("HTTP 500") && notified.contains("data-outcome=\"failed\""), "{notified}");

    // Viewers see that a delivery failed, not the receiver's error text.
    let (_, token) = app.api("POST", "/api/v1/tokens", Some(json!({ "name": "wall", "scope": "read" }))).await;
    let read = token["token"].as_str().unwrap();
    let (_, seen) = app.call("GET", &format!("/api/v1/deliveries?channel_id={dead_id}"), None, Some(read)).await;
    assert_eq!(seen["data"][0]["error"], "[hidden]", "{seen}");
}

#[tokio::test]
async fn send_test_joins_the_log_and_moves_a_channel_between_failing_and_ok() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let id = channel(&app, "ops", &receiver.url()).await;
    let (_, before) = app.api("GET", &format!("/api/v1/channels/{id}"), None).await;
    assert_eq!(before["health"]["state"], "unknown", "no delivery yet: {before}");

    receiver.reply_with(&[(500, None)]);
    let (_, tested) = app.api("POST", &format!("/api/v1/channels/{id}/test"), None).await;
    assert_eq!(tested["delivered"], false, "{tested}");
    let (_, failing) = app.api("GET", &format!("/api/v1/channels/{id}"), None).await;
    let h = &failing["health"];
    assert_eq!((h["state"].as_str(), h["last"]["http_status"].as_u64()), (Some("failing"), Some(500)), "{h}");
    assert_eq!(h["last"]["event"], "test");
    assert!(
        browse(&app, "GET", "/channels", &[]).await.html.contains("id=\"failing-channels\""),
        "the header flags it"
    );

    let (_, tested) = app.api("POST", &format!("/api/v1/channels/{id}/test"), None).await;
    assert_eq!(tested["delivered"], true, "{tested}");
    let (_, ok) = app.api("GET", &format!("/api/v1/channels/{id}"), None).await;
    assert_eq!((ok["health"]["state"].as_str(), ok["health"]["failing_since"].as_str()), (Some("ok"), None), "{ok}");
    let (_, log) = app.api("GET", &format!("/api/v1/deliveries?channel_id={id}"), None).await;
    let outcomes: Vec<&str> = log["data"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["delivered", "failed"], "newest first: {log}");
    assert!(!browse(&app, "GET", "/channels", &[]).await.html.contains("id=\"failing-channels\""));
}

#[tokio::test]
async fn the_delivery_log_page_shows_fifty_and_pages_on_to_the_older_ones() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let id = channel(&app, "ops", &receiver.url()).await;
    for _ in 0..51 {
        let (_, tested) = app.api("POST", &format!("/api/v1/channels/{id}/test"), None).await;
        assert_eq!(tested["delivered"], true, "{tested}");
    }
    let first = browse(&app, "GET", "/deliveries", &[]).await.html;
    assert_eq!(first.matches("data-attempt=").count(), 50, "newest 50");
    let at = first.find("id=\"older\" href=\"").expect("a link to the older ones") + 17;
    let older = first[at..].split('"').next().unwrap().replace("&amp;", "&");
    let rest = browse(&app, "GET", &older, &[]).await;
    assert_eq!((rest.status, rest.html.matches("data-attempt=").count()), (200, 1), "{older}: {}", rest.html);
    assert!(!rest.html.contains("id=\"older\""), "the last page links no further");
    assert_eq!(browse(&app, "GET", "/deliveries?before=nope", &[]).await.status, 404, "not a cursor");
}

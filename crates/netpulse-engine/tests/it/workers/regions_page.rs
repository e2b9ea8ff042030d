//! The regions page and worker health with real workers over mTLS: a signed-in user sees
//! each region's workers with last seen, version, in flight, results and results/s; the
//! counts are the results the engine accepted (they match what was stored); a region whose
//! worker stopped is "region offline" on the page, on the overview's banner and as a live
//! `region` event, its monitors not down; another tenant sees the workers but none of these
//! counts; a viewer sees the health but not the workers' names or serials.

use super::{engine, eu_and_us, results};
use crate::harness::{wait_for, TestApp, TOKEN};
use netpulse_checker::HttpRequest;
use netpulse_core::TokenId;
use netpulse_store::clock;
use netpulse_store::{Role, Scope, TokenRecord};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const OTHER_TOKEN: &str = "np_test_other_tenant_token_0123456789";

/// A dashboard page fetched with the session cookie of `token`: status and HTML.
pub(crate) async fn page(app: &TestApp, path: &str, token: &str) -> (u16, String) {
    let mut req = HttpRequest::new(http::Method::GET, app.url(path).parse().unwrap(), Duration::from_secs(10));
    req.headers.push(("cookie".into(), format!("np_session={token}")));
    let resp = app.client.send(req).await.expect("dashboard answers");
    (resp.status, String::from_utf8_lossy(&resp.body).into_owned())
}

/// The `<tr>` of worker `name` on a regions page.
pub(crate) fn row<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html.find(&format!(r#"data-worker="{name}""#)).unwrap_or_else(|| panic!("no row for {name}:\n{html}"));
    &html[start..start + html[start..].find("</tr>").unwrap()]
}

/// The text of cell `data-cell="name"` in `row`, tags stripped.
pub(crate) fn cell(row: &str, name: &str) -> String {
    let start = row.find(&format!(r#"data-cell="{name}""#)).unwrap_or_else(|| panic!("no {name} cell: {row}"));
    let inner = &row[start..start + row[start..].find("</td>").unwrap()];
    let (mut text, mut in_tag) = (String::new(), true); // starts inside the <td …> tag
    for c in inner.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

/// The `<section>` of `region` on a regions page.
pub(crate) fn section<'a>(html: &'a str, region: &str) -> &'a str {
    let start = html.find(&format!(r#"data-region="{region}""#)).unwrap_or_else(|| panic!("no {region}:\n{html}"));
    &html[start..start + html[start..].find("</section>").unwrap()]
}

pub(crate) async fn region(app: &TestApp, token: &str, name: &str) -> Value {
    let (status, v) = app.call("GET", "/api/v1/regions", None, Some(token)).await;
    assert_eq!(status, 200, "{v}");
    v["data"].as_array().unwrap().iter().find(|r| r["region"] == name).cloned().unwrap_or(Value::Null)
}

/// A second tenant with a read token.
async fn other_tenant_with_token(app: &TestApp) {
    let store = &app.running.as_ref().unwrap().store;
    let other = netpulse_store::testing::other_tenant(store.as_ref()).await;
    let rec = TokenRecord {
        id: TokenId::from_parts(clock::now().millis(), 0x07e6),
        name: "other".into(),
        scope: Scope::Read,
        role: Role::Owner,
        created_at: clock::now(),
        last_used_at: None,
        created_by: None,
    };
    store.create_token(&other, &rec, &clock::token_hash(OTHER_TOKEN)).await.unwrap();
}

/// Open `GET /events` with the bearer token and wait for a `region` event naming `region`
/// with `status`.
async fn region_event(addr: SocketAddr, region: &str, status: &str, within: Duration) -> Value {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "GET /events HTTP/1.1\r\nhost: engine\r\nauthorization: Bearer {TOKEN}\r\naccept: text/event-stream\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut lines = BufReader::new(tcp).lines();
    let found = tokio::time::timeout(within, async {
        let mut kind = String::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(k) = line.strip_prefix("event: ") {
                kind = k.to_owned();
            } else if let Some(data) = line.strip_prefix("data: ") {
                let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
                if kind == "region" && v["region"] == region && v["status"] == status {
                    return v;
                }
            }
        }
        panic!("the event stream ended");
    });
    found.await.unwrap_or_else(|_| panic!("no live `region` event {region} {status}"))
}

#[tokio::test]
async fn the_regions_page_shows_worker_health_and_a_stopped_workers_region_as_offline() {
    let (app, tmp) = engine(&["eu", "us"]).await;
    let target = crate::harness::Target::start().await;
    let (eu, us) = eu_and_us(&app, &tmp, false);
    let id = app
        .create_monitor(json!({"name": "site", "kind": "http", "url": target.url(), "interval_s": 1,
            "regions": ["eu", "us"]}))
        .await;
    wait_for(20, "3 results from eu and from us", || async {
        let rs = results(&app, &id).await;
        let n = |r: &str| rs.iter().filter(|x| x["region"] == r).count();
        (n("eu") >= 3 && n("us") >= 3).then_some(())
    })
    .await;

    // The us worker stops; the event stream says so while it happens.
    let event = tokio::spawn(region_event(app.addr, "us", "offline", Duration::from_secs(15)));
    let live = app.running.as_ref().unwrap().live.clone();
    wait_for(5, "the event stream open", || async { live.has_subscribers().then_some(()) }).await;
    us.shutdown().await;
    let ev = event.await.unwrap();
    assert!(ev["at"].is_string(), "{ev}");
    wait_for(10, "us offline in the API", || async {
        (region(&app, TOKEN, "us").await["status"] == "offline").then_some(())
    })
    .await;

    // What us-1 delivered and the engine accepted is what was stored.
    let us_stored = wait_for(10, "us-1's accepted results all stored", || async {
        let stored = results(&app, &id).await.iter().filter(|r| r["worker"] == "us/us-1").count() as u64;
        let us_view = region(&app, TOKEN, "us").await;
        (us_view["workers"][0]["results_total"] == stored).then_some(stored)
    })
    .await;
    assert!(us_stored >= 3);
    let eu_view = region(&app, TOKEN, "eu").await;
    let eu_worker = &eu_view["workers"][0];
    assert!(eu_view["results_per_s"].as_f64().unwrap() > 0.0, "{eu_view}");
    assert_eq!(eu_worker["version"], env!("CARGO_PKG_VERSION"), "{eu_view}");

    let (status, html) = page(&app, "/regions", TOKEN).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(r#"href="/regions""#), "linked from the nav");
    // The picture of the fleet: each region beside the engine, eu online with its worker, us
    // offline; and what regions and workers are.
    let fleet =
        html.split(r#"<figure id="fleet">"#).nth(1).expect("the fleet's picture").split("</figure>").next().unwrap();
    assert!(fleet.contains(r#"data-fleet-region="eu" data-status="online""#), "{fleet}");
    assert!(fleet.contains(r#"data-fleet-region="us" data-status="offline""#), "{fleet}");
    assert!(fleet.contains("1 live worker · online") && fleet.contains("netpulse-worker"), "{fleet}");
    let eu_row = row(section(&html, "eu"), "eu-1");
    assert_eq!(cell(eu_row, "live"), "live");
    assert_eq!(cell(eu_row, "version"), env!("CARGO_PKG_VERSION"));
    let last_seen = cell(eu_row, "last-seen");
    assert!(last_seen == "just now" || last_seen.ends_with(" s ago"), "{last_seen}");
    assert!(cell(eu_row, "in-flight").parse::<u32>().is_ok(), "{eu_row}");
    assert!(cell(eu_row, "results").parse::<u64>().unwrap() >= 3, "{eu_row}");
    assert!(cell(eu_row, "results-per-s").parse::<f64>().unwrap() > 0.0, "{eu_row}");
    let us_section = section(&html, "us");
    assert!(us_section.contains(r#"data-status="offline""#), "{us_section}");
    assert!(us_section.contains("region offline") && us_section.contains("not marked down"), "{us_section}");
    assert_eq!(cell(row(us_section, "us-1"), "live"), "gone");
    assert_eq!(cell(row(us_section, "us-1"), "results"), us_stored.to_string());

    let (_, overview) = page(&app, "/", TOKEN).await;
    let banner = overview.split(r#"id="region-offline""#).nth(1).expect("the overview warns of the offline region");
    assert!(banner.contains("us (1 monitor)") && banner.contains("not marked down"), "{banner}");
    assert_ne!(app.monitor(&id).await["status"]["health"], "down");

    // Another tenant (a read token) sees the engine's regions and workers, not their names,
    // and none of this tenant's counts.
    other_tenant_with_token(&app).await;
    let theirs = region(&app, OTHER_TOKEN, "eu").await;
    assert_eq!(
        (theirs["workers"][0]["name"].as_str(), theirs["results_per_s"].as_f64()),
        (Some("[hidden]"), Some(0.0))
    );
    assert_eq!(theirs["workers"][0]["results_total"], 0, "{theirs}");
    let (status, html) = page(&app, "/regions", OTHER_TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(cell(row(section(&html, "eu"), "[hidden]"), "results"), "0");
    let (_, overview) = page(&app, "/", OTHER_TOKEN).await;
    assert!(!overview.contains("region-offline"), "no banner: none of its monitors checks from us");

    // A viewer (a read token) sees the workers' health, not who they are.
    let serial = eu_worker["serial"].as_str().expect("members see the serial").to_owned();
    let (_, tok) = app.api("POST", "/api/v1/tokens", Some(json!({ "name": "wall", "scope": "read" }))).await;
    let viewer = tok["token"].as_str().unwrap();
    let seen = region(&app, viewer, "eu").await;
    let w = &seen["workers"][0];
    assert_eq!((w["name"].as_str(), w["serial"].as_str()), (Some("[hidden]"), Some("[hidden]")), "{seen}");
    assert!(w["results_total"].as_u64().unwrap() >= 3, "{seen}");
    let (status, html) = page(&app, "/regions", viewer).await;
    assert_eq!(status, 200);
    assert!(!html.contains("eu-1") && !html.contains(&serial), "{html}");
    assert_eq!(cell(row(section(&html, "eu"), "[hidden]"), "live"), "live");
    eu.shutdown().await;
}

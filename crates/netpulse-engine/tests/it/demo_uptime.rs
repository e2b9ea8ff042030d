//! The uptime the demo organisation shows: its own dashboard and API count its sample
//! (`demo`) results, exactly as its results list has them; its public badge counts live
//! results only, so it has none; and a real organisation holding demo and synthetic results
//! still sees live-only figures everywhere.

use crate::harness::*;
use crate::status_pages::result;
use netpulse_core::{MonitorId, Outcome, Provenance, Timestamp};
use netpulse_store::clock;
use serde_json::{json, Value};

const DEMO: &str = "np_session=demo";
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

async fn get_as(app: &TestApp, cookie: &str, path: &str) -> String {
    let (status, body, _) = app.raw("GET", path, None, &[("cookie", cookie)]).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

async fn json_as(app: &TestApp, cookie: &str, path: &str) -> Value {
    serde_json::from_str(&get_as(app, cookie, path).await).unwrap()
}

/// Uptime in percent (up and degraded among all) of a results list, as the API gives it.
fn uptime_of(results: &Value) -> Option<f64> {
    let rows = results["data"].as_array().unwrap();
    let ok = rows.iter().filter(|r| r["outcome"] == "up" || r["outcome"] == "degraded").count();
    (!rows.is_empty()).then(|| ok as f64 * 100.0 / rows.len() as f64)
}

/// Whether two percentages agree (JSON numbers parse back to within an ulp or so).
fn same(a: Option<f64>, b: Option<f64>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if (a - b).abs() < 1e-9)
}

/// The text of the overview cell `cell` in the row of monitor `id`.
fn overview_cell<'a>(page: &'a str, id: &str, cell: &str) -> &'a str {
    let row = &page[page.find(&format!("data-monitor=\"{id}\"")).unwrap_or_else(|| panic!("row of {id}"))..];
    let row = &row[..row.find("</tr>").unwrap()];
    let at = format!("data-cell=\"{cell}\">");
    let text = &row[row.find(&at).unwrap_or_else(|| panic!("{cell} of {id}")) + at.len()..];
    &text[..text.find("</td>").unwrap()]
}

/// The monitor page's "uptime 24 h" figure.
fn monitor_uptime(page: &str) -> &str {
    let text = &page[page.find("id=\"uptime-24h\"").expect("the uptime figure")..];
    let text = &text[text.find('>').unwrap() + 1..];
    &text[..text.find("</span>").unwrap()]
}

/// The overview's 24 h uptime of one demo monitor, as its results list gives it: the overview
/// counts from the start of the hour 24 h before now (hour-granular, like the live rollups).
async fn uptime_24h_from_results(app: &TestApp, id: &str, now: Timestamp) -> Option<f64> {
    let from = now.minus_ms(DAY_MS).millis().div_euclid(HOUR_MS) * HOUR_MS;
    uptime_of(&json_as(app, DEMO, &format!("/api/v1/monitors/{id}/results?from={from}&limit=1000")).await)
}

#[tokio::test]
async fn the_demo_shows_uptime_counted_from_its_sample_results_and_its_public_badge_counts_none() {
    let app = spawn_app_adjusted(|c| c.accounts.demo = true).await;
    let before = clock::now();
    let list = json_as(&app, DEMO, "/api/v1/monitors").await;
    let page = get_as(&app, DEMO, "/").await;
    let after = clock::now();
    let monitors = list["data"].as_array().unwrap();
    assert_eq!(monitors.len(), 7, "{list}");
    assert!(page.contains("Demo organisation — read-only"), "labelled as sample data");
    assert!(!page.contains("no results"), "every hour of every sparkline has demo results");
    for m in monitors {
        let id = m["id"].as_str().unwrap();
        // Both ends of the requests, in case an hour began in between.
        let expected =
            [uptime_24h_from_results(&app, id, before).await, uptime_24h_from_results(&app, id, after).await];
        assert!(expected.iter().any(|e| same(*e, m["uptime_24h"].as_f64())), "{}: {m} vs {expected:?}", m["name"]);
        let shown = overview_cell(&page, id, "uptime-24h");
        assert!(expected.iter().any(|p| format!("{:.2} %", p.unwrap()) == shown), "{}: {shown}", m["name"]);
        assert!(overview_cell(&page, id, "uptime-30d").ends_with(" %"), "{}", m["name"]);

        let one = json_as(&app, DEMO, &format!("/api/v1/monitors/{id}")).await;
        assert!(one["uptime_24h"].as_f64().is_some(), "{one}");
        let monitor_page = get_as(&app, DEMO, &format!("/monitors/{id}")).await;
        assert_ne!(monitor_uptime(&monitor_page), "–", "{}", m["name"]);
        assert!(!monitor_page.contains("data-total=\""), "the demo's figure is not counted on live in the browser");
    }

    // Over the seeded days, the monitors with seeded outages are below 100 %, by exactly
    // the share of failed results in the window the answer names.
    // (One checked from one region: its three days fit one page of results.)
    let postgres = monitors.iter().find(|m| m["name"] == "Postgres primary").unwrap();
    let id = postgres["id"].as_str().unwrap();
    let uptime = json_as(&app, DEMO, &format!("/api/v1/monitors/{id}/uptime?window=3d")).await;
    assert_eq!((&uptime["evidence"], &uptime["sources"]), (&json!("demo"), &json!(["results"])), "{uptime}");
    let (from, to) = (uptime["from"].as_str().unwrap(), uptime["to"].as_str().unwrap());
    let results = json_as(&app, DEMO, &format!("/api/v1/monitors/{id}/results?from={from}&to={to}&limit=1000")).await;
    assert!(results["next_cursor"].is_null() && results["data"].as_array().unwrap().len() > 800, "3 days of results");
    assert!(same(uptime["uptime_percent"].as_f64(), uptime_of(&results)), "{uptime}");
    assert!(uptime["uptime_percent"].as_f64().unwrap() < 100.0, "the seeded outages count: {uptime}");
    assert!(uptime["checks"]["down"].as_u64().unwrap() >= 4, "a whole outage of four slots: {uptime}");

    // The badge is public evidence: it counts live results only, and the demo has none.
    let monitor_page = get_as(&app, DEMO, &format!("/monitors/{id}")).await;
    let start = monitor_page.find(&format!("/badge/{id}/uptime.svg?key=")).unwrap();
    let badge = &monitor_page[start..];
    let badge = badge[..badge.find('"').unwrap()].replace("&amp;", "&");
    let (status, svg, _) = app.raw("GET", &badge, None, &[]).await;
    assert_eq!(status, 200, "{badge}: {svg}");
    assert!(svg.contains("no data") && !svg.contains('%'), "a public badge never counts demo results: {svg}");
}

#[tokio::test]
async fn a_real_organisations_uptime_counts_only_its_live_results_with_the_demo_enabled() {
    let app = spawn_app_adjusted(|c| c.accounts.demo = true).await;
    let store = app.running.as_ref().unwrap().store.clone();
    let tenant = store.authenticate(&clock::token_hash(TOKEN)).await.unwrap().unwrap().tenant_id;
    let id = app
        .create_monitor(json!({ "name": "db", "kind": "tcp", "host": "127.0.0.1", "port": 9, "paused": true }))
        .await;
    let m = MonitorId::from_trusted(id.clone());
    let now = clock::now();
    let mut planted = Vec::new();
    for (i, outcome) in [Outcome::Up, Outcome::Up, Outcome::Up, Outcome::Down].into_iter().enumerate() {
        planted.push(result(&tenant, &m, now.minus_ms(60_000 * (i as i64 + 1)), outcome, Provenance::Live, "x"));
    }
    for i in 0..12 {
        let at = now.minus_ms(30_000 * i);
        planted.push(result(&tenant, &m, at, Outcome::Up, Provenance::Demo, ""));
        planted.push(result(&tenant, &m, at, Outcome::Down, Provenance::Synthetic, "x"));
    }
    store.ingest(&planted, now).await.unwrap();

    let (_, list) = app.api("GET", "/api/v1/monitors", None).await;
    assert_eq!(list["data"][0]["uptime_24h"].as_f64(), Some(75.0), "live only: {list}");
    let (_, one) = app.api("GET", &format!("/api/v1/monitors/{id}"), None).await;
    assert_eq!(one["uptime_24h"].as_f64(), Some(75.0), "{one}");
    let (_, uptime) = app.api("GET", &format!("/api/v1/monitors/{id}/uptime?window=24h"), None).await;
    assert_eq!((uptime["uptime_percent"].as_f64(), &uptime["evidence"]), (Some(75.0), &json!("live")), "{uptime}");
    assert_eq!(uptime["checks"]["up"], 3, "{uptime}");

    let owner = format!("np_session={TOKEN}");
    let page = get_as(&app, &owner, "/").await;
    assert_eq!(overview_cell(&page, &id, "uptime-24h"), "75.00 %");
    assert_eq!(overview_cell(&page, &id, "uptime-30d"), "75.00 %");
    let monitor_page = get_as(&app, &owner, &format!("/monitors/{id}")).await;
    assert_eq!(monitor_uptime(&monitor_page), "75.00 %");
    assert!(monitor_page.contains(r#"data-ok="3" data-total="4""#), "what the browser counts on from: {monitor_page}");
}

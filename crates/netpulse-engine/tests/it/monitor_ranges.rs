//! The monitor page's look back over a range (1 h, 24 h, 7 d, 30 d): per region the median and
//! p95 per bucket from the stored results, failures marked, the monitor's incident and
//! maintenance window shaded, figures per region over the range, and 90 daily uptime bars.

use crate::dashboard::browse;
use crate::harness::*;
use netpulse_core::{MonitorId, Outcome, Provenance};
use netpulse_store::clock;
use serde_json::json;

const MIN: i64 = 60_000;

#[tokio::test]
async fn a_monitor_page_looks_back_over_a_range_with_percentiles_per_region_and_shaded_outages() {
    let app = spawn_app().await;
    let body = json!({ "name": "Edge", "kind": "tcp", "host": "127.0.0.1", "port": 9, "paused": true });
    let id = app.create_monitor(body).await;
    let store = app.running.as_ref().unwrap().store.clone();
    let tenant = store.authenticate(&clock::token_hash(TOKEN)).await.unwrap().unwrap().tenant_id;
    let monitor = MonitorId::parse(&id).unwrap();
    let now = clock::now();
    // Every 10 minutes over the last 20 hours from eu (20–29 ms) and us (200–209 ms); 3 h ago
    // both regions fail for 40 minutes.
    let mut batch = Vec::new();
    for i in (0..120_i64).rev() {
        let at = now.minus_ms(i * 10 * MIN + 5_000);
        let failing = (3 * 60..3 * 60 + 40).contains(&(i * 10));
        for (region, base) in [("eu", 20), ("us", 200)] {
            let outcome = if failing { Outcome::Down } else { Outcome::Up };
            let mut r = crate::status_pages::result(&tenant, &monitor, at, outcome, Provenance::Live, "refused");
            r.region = region.into();
            r.timings.total_ms = (!failing).then_some(base + (i % 10) as u32);
            batch.push(r);
        }
    }
    store.ingest(&batch, now).await.unwrap();
    let (st, w) = app
        .api(
            "POST",
            &format!("/api/v1/monitors/{id}/maintenance"),
            Some(
                json!({ "starts_at": now.minus_ms(90 * MIN).to_rfc3339(), "duration_s": 7200, "reason": "db upgrade" }),
            ),
        )
        .await;
    assert_eq!(st, 201, "{w}");
    let incidents = app.incidents(&id).await;
    assert!(!incidents.is_empty(), "the 40 failing minutes opened an incident");

    let page = browse(&app, "GET", &format!("/monitors/{id}?range=24h"), &[]).await;
    assert_eq!(page.status, 200);
    let html = page.html;
    assert!(html.contains("aria-current=\"page\">24 h</a>"), "the range chosen is marked");
    assert!(!html.contains("id=\"latency\""), "no live chart of recent results in a look back");
    for region in ["eu", "us"] {
        for line in ["p50", "p95"] {
            assert!(
                html.contains(&format!("<polyline class=\"{line}\" data-series=\"{region}\"")),
                "a {line} line for {region}"
            );
        }
    }
    // 12-minute buckets hold one or two checks per region: eu's median is 20–29 ms, its p95 and
    // slowest 29 ms; us's p95 209 ms. 120 checks per region, 4 of them failed.
    let row = |region: &str| {
        let at = html.find(&format!("<tr data-region=\"{region}\">")).expect("a row per region");
        html[at..].split("</tr>").next().unwrap().to_owned()
    };
    assert!(row("eu").contains("<td>eu</td><td>120</td><td>4</td><td>96.67 %</td><td data-cell=\"p50\">25 ms</td><td data-cell=\"p95\">29 ms</td><td>29 ms</td>"), "{}", row("eu"));
    assert!(row("us").contains("<td>us</td><td>120</td><td>4</td>"), "{}", row("us"));
    assert!(row("us").contains("<td data-cell=\"p95\">209 ms</td>"), "{}", row("us"));
    assert!(html.contains("<rect class=\"fail\""), "failed checks are marked");
    assert!(html.contains("<rect class=\"shade maintenance\""), "the maintenance window is shaded");
    assert!(html.contains("maintenance ") && html.contains("db upgrade"));
    assert!(html.contains("<rect class=\"shade outage\""), "the incident is shaded");
    assert_eq!(html.matches("<span class=\"bar ").count(), 90, "90 daily uptime bars");
    assert!(html.matches("<span class=\"bar down\"").count() >= 1, "a day with failures");

    // The last hour: no failures in it, still both regions; and an empty range says so.
    let hour = browse(&app, "GET", &format!("/monitors/{id}?range=1h"), &[]).await.html;
    assert!(hour.contains("<td>eu</td><td>6</td><td>0</td>"), "6 checks per region in the last hour");
    assert!(
        hour.contains("p95 per 30 s") && html.contains("p95 per 12 min"),
        "whole buckets: 30 s an hour, 12 min a day"
    );
    assert!(!hour.contains("<rect class=\"fail\""));
    let other = app
        .create_monitor(json!({ "name": "Quiet", "kind": "tcp", "host": "127.0.0.1", "port": 9, "paused": true }))
        .await;
    let empty = browse(&app, "GET", &format!("/monitors/{other}?range=30d"), &[]).await.html;
    assert!(empty.contains("No checks in the last 30 d."));
    // The default view is still the live chart of recent results.
    let recent = browse(&app, "GET", &format!("/monitors/{id}"), &[]).await.html;
    assert!(recent.contains("id=\"latency\"") && recent.contains("aria-current=\"page\">Recent</a>"));
}

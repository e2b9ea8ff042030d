//! The monitor page's latency chart: an inline SVG, one line per region over the recent
//! results (the region's colour on its points and in the legend), failures marked in red at
//! the bottom. Drawn here for the first paint (and without script); the page's script
//! ([`super`]'s `dashboard.js`) redraws it the same way from `data-points` as results arrive.
//! Inline SVG inside HTML: every element gets an explicit end tag (`{}`), never a void `;`,
//! or the HTML parser would nest the following elements inside it.

use super::times::{utc_minute, utc_second};
use maud::{html, Markup};
use netpulse_core::CheckResult;
use std::collections::BTreeMap;
use std::fmt::Write as _;

const W: f64 = 1000.0;
const H: f64 = 160.0;
const PAD: f64 = 24.0;
/// Region colours in region-name order (the script has the same list).
/// The series colours; the legend's `series0`… classes in `dashboard.css` name them in order
/// (the dashboard's CSP allows no `style` attribute).
pub(super) const COLORS: &[&str] = &["#2456b3", "#16803c", "#8e44ad", "#b26a00", "#0f766e"];

/// The points the script redraws from: `[started_ms, latency_ms|null, region, failed, id]`,
/// oldest first.
fn points_json(points: &[&CheckResult]) -> String {
    let rows: Vec<serde_json::Value> = points
        .iter()
        .map(|r| serde_json::json!([r.started_at.millis(), answered_ms(r), r.region, r.outcome.is_failure(), r.id]))
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// The latency a point is drawn at: none for a failed check (drawn in red at the bottom).
fn answered_ms(r: &CheckResult) -> Option<u32> {
    r.timings.total_ms.filter(|_| !r.outcome.is_failure())
}

/// `results` newest first (as the results table has them).
pub fn latency(results: &[CheckResult]) -> Markup {
    let points: Vec<&CheckResult> = results.iter().rev().collect();
    html! {
        div #latency data-points=(points_json(&points)) { (svg(&points)) }
    }
}

fn svg(points: &[&CheckResult]) -> Markup {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return html! { p.empty #chart-empty { "No results yet." } };
    };
    let (t0, t1) = (first.started_at.millis(), last.started_at.millis().max(first.started_at.millis() + 1));
    let max = points.iter().filter_map(|r| answered_ms(r)).max().unwrap_or(0).max(1);
    let x = |t: i64| PAD + (t - t0) as f64 / (t1 - t0) as f64 * (W - 2.0 * PAD);
    let y = |ms: u32| H - PAD - f64::from(ms) / f64::from(max) * (H - 2.0 * PAD);
    let mut lines: BTreeMap<&str, String> = BTreeMap::new();
    for r in points {
        if let Some(ms) = answered_ms(r) {
            let _ =
                write!(lines.entry(r.region.as_str()).or_default(), "{:.1},{:.1} ", x(r.started_at.millis()), y(ms));
        }
    }
    let color = |region: &str| {
        let i = lines.keys().position(|k| *k == region).unwrap_or(0);
        COLORS[i % COLORS.len()]
    };
    html! {
        svg.chart #latency-chart viewBox={ "0 0 " (W) " " (H) } preserveAspectRatio="none" role="img" aria-label="latency per region over the recent results" {
            line.grid x1=(PAD) y1=(H - PAD) x2=(W - PAD) y2=(H - PAD) stroke="#e3e6eb" {}
            text x=(PAD) y="14" font-size="12" fill="#687386" { (max) " ms" }
            text x=(PAD) y=(H - 6.0) font-size="12" fill="#687386" { (utc_minute(first.started_at)) }
            text x=(W - PAD) y=(H - 6.0) font-size="12" fill="#687386" text-anchor="end" { (utc_minute(last.started_at)) }
            @for (region, pts) in &lines {
                polyline data-series=(region) points=(pts) fill="none" stroke=(color(region)) stroke-width="2" vector-effect="non-scaling-stroke" {
                    title { (region) }
                }
            }
            @for (r, ms) in points.iter().filter_map(|r| Some((r, answered_ms(r)?))) {
                circle.pt cx=(format!("{:.1}", x(r.started_at.millis()))) cy=(format!("{:.1}", y(ms))) r="2.5" fill=(color(&r.region)) { title { (r.region) " " (utc_second(r.started_at)) " " (ms) " ms" } }
            }
            @for r in points.iter().filter(|r| r.outcome.is_failure()) {
                circle.fail cx=(format!("{:.1}", x(r.started_at.millis()))) cy=(H - PAD) r="4" fill="#c62828" { title { (r.region) " " (utc_second(r.started_at)) " " (r.outcome.as_str()) } }
            }
        }
        p.sub.legend { @for (i, region) in lines.keys().enumerate() { span class={ "series" (i % COLORS.len()) } { "■ " (region) " " } } }
    }
}

const HOUR_MS: i64 = 3_600_000;

/// The overview's sparkline: one bar per hour of the last 24 (the current hour last), its
/// height the hour's uptime, red when the hour had failures, grey without results.
/// `hours` are one monitor's hourly live tallies, in any order.
pub fn sparkline(hours: &[netpulse_core::uptime::HourTally], now: netpulse_core::Timestamp) -> Markup {
    let last = now.millis().div_euclid(HOUR_MS);
    let slot = |at: netpulse_core::Timestamp| 23 - (last - at.millis().div_euclid(HOUR_MS));
    let mut bars = [None; 24];
    for (at, tally) in hours {
        if let Some(b) = usize::try_from(slot(*at)).ok().and_then(|i| bars.get_mut(i)) {
            *b = tally.uptime_percent();
        }
    }
    html! {
        svg.spark viewBox="0 0 96 20" role="img" aria-label="uptime per hour, last 24 hours" {
            @for (i, p) in bars.iter().enumerate() {
                @let (h, color) = match p {
                    None => (3.0, "#d5d9e0"),
                    Some(p) => (3.0 + p / 100.0 * 17.0, if *p >= 100.0 { "#16803c" } else { "#c62828" }),
                };
                rect x=(i * 4) y=(format!("{:.1}", 20.0 - h)) width="3" height=(format!("{h:.1}")) fill=(color) {
                    title { @match p { None => "no results", Some(p) => (format!("{p:.2} %")) } }
                }
            }
        }
    }
}

//! The monitor page's latency over a chosen range (1 h, 24 h, 7 d, 30 d): an inline SVG with,
//! per region, the median (solid) and p95 (dashed) of each bucket, failed checks as red marks
//! along the bottom, the monitor's incidents shaded red and its maintenance windows grey, a
//! labelled latency axis and time labels in the viewer's zone (HTML `<time>` elements under
//! the chart, which `local_time.js` rewrites). Server-rendered only: a range is a look back,
//! the live chart of recent results is the other view ([`super::chart`]).
//!
//! The figures come from [`netpulse_core::latency`]: raw results where they are kept, minute
//! rollups beyond raw retention (a mean instead of the median there, and no p95, said under
//! the chart). Inline SVG inside HTML: every element gets an explicit end tag.

use super::chart::COLORS;
use super::times::{duration, exact, utc_minute};
use maud::{html, Markup};
use netpulse_core::latency::{BucketFigures, Buckets, RegionSeries};
use netpulse_core::Timestamp;
use std::fmt::Write as _;

/// The ranges offered, as the query names them, with their length.
pub const RANGES: [(&str, &str, i64); 4] = [
    ("1h", "1 h", 3_600_000),
    ("24h", "24 h", 86_400_000),
    ("7d", "7 d", 7 * 86_400_000),
    ("30d", "30 d", 30 * 86_400_000),
];

/// Buckets per range (one per 30 s over an hour, 12 min over a day, 1 h 24 min over a week,
/// 6 h over 30 days).
pub const BUCKETS: u32 = 120;

const W: f64 = 1000.0;
const H: f64 = 200.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 14.0;

/// A span of time to shade: an incident (red) or a maintenance window (grey).
pub struct Shade {
    pub from: Timestamp,
    pub to: Timestamp,
    pub maintenance: bool,
    pub label: String,
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v` (at least 1).
fn nice_ceil(v: u32) -> u32 {
    let mut step = 1u32;
    loop {
        for m in [1, 2, 5] {
            if step.saturating_mul(m) >= v {
                return step.saturating_mul(m);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// The figure a bucket's median line is drawn at: the median, or the mean of a bucket that
/// only rollups hold.
fn middle(f: &BucketFigures) -> Option<u32> {
    f.p50_ms.or(f.mean_ms.filter(|_| f.rolled))
}

/// Polyline point lists of the consecutive buckets that have a value, and the lone points.
fn segments(values: &[Option<(f64, f64)>]) -> (Vec<String>, Vec<(f64, f64)>) {
    let (mut lines, mut lone, mut run) = (Vec::new(), Vec::new(), Vec::<(f64, f64)>::new());
    for v in values.iter().chain([&None]) {
        match v {
            Some(p) => run.push(*p),
            None => {
                match run.len() {
                    0 => {}
                    1 => lone.push(run[0]),
                    _ => lines.push(run.iter().fold(String::new(), |mut s, (x, y)| {
                        let _ = write!(s, "{x:.1},{y:.1} ");
                        s
                    })),
                }
                run.clear();
            }
        }
    }
    (lines, lone)
}

/// The chart of `series` over `b`, with `shades`.
pub fn chart(series: &[RegionSeries], b: &Buckets, shades: &[Shade], label: &str) -> Markup {
    let (from, to) = (b.from.millis(), b.to().millis());
    if series.is_empty() {
        return html! { p.empty #range-empty { "No checks in the last " (label) "." } };
    }
    let top = series
        .iter()
        .flat_map(|s| s.buckets.iter().flatten())
        .filter_map(|f| f.p95_ms.max(middle(f)))
        .max()
        .unwrap_or(1);
    let ymax = nice_ceil(top.max(10));
    let x = |t: i64| LEFT + (t - from) as f64 / (to - from) as f64 * (W - LEFT - RIGHT);
    let y = |ms: u32| H - BOTTOM - f64::from(ms.min(ymax)) / f64::from(ymax) * (H - TOP - BOTTOM);
    let mid = |k: usize| b.start(k as u32).millis() + b.width_ms / 2;
    let rolled_until = series
        .iter()
        .flat_map(|s| s.buckets.iter().enumerate().filter(|(_, f)| f.as_ref().is_some_and(|f| f.rolled)))
        .map(|(k, _)| b.start(k as u32 + 1))
        .max();
    // Per bucket across regions: failed and all checks.
    let failures: Vec<(usize, u64, u64)> = (0..b.count as usize)
        .filter_map(|k| {
            let (failed, checks) = series
                .iter()
                .filter_map(|s| s.buckets[k].as_ref())
                .fold((0, 0), |(f, c), b| (f + b.failed, c + b.checks));
            (failed > 0).then_some((k, failed, checks))
        })
        .collect();
    let span = |s: &Shade| (x(s.from.millis().max(from)), x(s.to.millis().min(to)));
    let ticks = [0.0, 0.25, 0.5, 0.75, 1.0];
    html! {
        div #range-chart data-range=(label) {
            svg.chart.range viewBox={ "0 0 " (W) " " (H) } preserveAspectRatio="none" role="img"
                aria-label={ "latency per region over the last " (label) ": median and p95" } {
                @for s in shades.iter().filter(|s| s.to.millis() > from && s.from.millis() < to) {
                    @let (x0, x1) = span(s);
                    rect class={ "shade " @if s.maintenance { "maintenance" } @else { "outage" } }
                        x=(format!("{x0:.1}")) y=(TOP) width=(format!("{:.1}", (x1 - x0).max(2.0))) height=(H - TOP - BOTTOM)
                        fill=(if s.maintenance { "#8a94a6" } else { "#c62828" }) fill-opacity="0.14" {
                        title { (s.label) }
                    }
                }
                @for frac in [0.0, 0.5, 1.0] {
                    @let v = (f64::from(ymax) * frac).round() as u32;
                    line.grid x1=(LEFT) y1=(format!("{:.1}", y(v))) x2=(W - RIGHT) y2=(format!("{:.1}", y(v))) stroke="#e3e6eb" {}
                    text x=(LEFT - 6.0) y=(format!("{:.1}", y(v) + 4.0)) font-size="12" fill="#687386" text-anchor="end" { (v) " ms" }
                }
                @for t in ticks {
                    @let tx = LEFT + t * (W - LEFT - RIGHT);
                    line x1=(format!("{tx:.1}")) y1=(H - BOTTOM) x2=(format!("{tx:.1}")) y2=(H - BOTTOM + 4.0) stroke="#8a94a6" {}
                }
                @for (i, s) in series.iter().enumerate() {
                    @let color = COLORS[i % COLORS.len()];
                    @let p50: Vec<Option<(f64, f64)>> = s.buckets.iter().enumerate()
                        .map(|(k, f)| f.as_ref().and_then(middle).map(|v| (x(mid(k)), y(v)))).collect();
                    @let p95: Vec<Option<(f64, f64)>> = s.buckets.iter().enumerate()
                        .map(|(k, f)| f.as_ref().and_then(|f| f.p95_ms).map(|v| (x(mid(k)), y(v)))).collect();
                    @let (lines50, lone50) = segments(&p50);
                    @let (lines95, _) = segments(&p95);
                    @for pts in &lines95 {
                        polyline.p95 data-series=(s.region) points=(pts) fill="none" stroke=(color) stroke-width="1.2"
                            stroke-dasharray="4 3" vector-effect="non-scaling-stroke" { title { (s.region) " p95" } }
                    }
                    @for pts in &lines50 {
                        polyline.p50 data-series=(s.region) points=(pts) fill="none" stroke=(color) stroke-width="2"
                            vector-effect="non-scaling-stroke" { title { (s.region) " median" } }
                    }
                    @for (px, py) in &lone50 {
                        circle.p50 data-series=(s.region) cx=(format!("{px:.1}")) cy=(format!("{py:.1}")) r="2.5" fill=(color) { title { (s.region) " median" } }
                    }
                }
                @for (k, failed, checks) in &failures {
                    @let (x0, x1) = (x(b.start(*k as u32).millis()), x(b.start(*k as u32 + 1).millis()));
                    rect.fail x=(format!("{x0:.1}")) y=(H - BOTTOM - 5.0) width=(format!("{:.1}", (x1 - x0).max(2.0))) height="5" fill="#c62828" {
                        title { (utc_minute(b.start(*k as u32))) ": " (failed) " of " (checks) " checks failed" }
                    }
                }
            }
            div.axis {
                @for (i, t) in ticks.iter().enumerate() {
                    span class={ "tick t" (i) } { (exact(Timestamp::from_millis(from + ((to - from) as f64 * t) as i64))) }
                }
            }
            p.sub.legend {
                @for (i, s) in series.iter().enumerate() { span class={ "series" (i % COLORS.len()) } { "■ " (s.region) " " } }
                " — solid: median, dashed: p95 per " (duration(b.width_ms)) "; "
                span.key-fail { "■" } " failed checks; " span.key-outage { "■" } " incident; " span.key-maint { "■" } " maintenance."
                @if let Some(until) = rolled_until {
                    " Before " (exact(until)) " only minute rollups are kept: the solid line is the mean there, with no p95."
                }
            }
        }
    }
}

/// Per region over the range: checks, failed, uptime, median, p95 and slowest.
pub fn per_region(series: &[RegionSeries]) -> Markup {
    let ms = |v: Option<u32>| v.map_or("–".into(), |v| format!("{v} ms"));
    html! {
        @if !series.is_empty() {
            table #range-regions.compact {
                thead { tr { th { "Region" } th { "Checks" } th { "Failed" } th { "Answered" } th { "Median" } th { "p95" } th { "Slowest" } } }
                tbody { @for s in series { tr data-region=(s.region) {
                    @let t = &s.total;
                    td { (s.region) } td { (t.checks) } td { (t.failed) }
                    td { (super::percent((t.checks > 0).then(|| (t.checks - t.failed) as f64 * 100.0 / t.checks as f64))) }
                    td data-cell="p50" { (ms(t.p50_ms)) } td data-cell="p95" { (ms(t.p95_ms)) } td { (ms(t.max_ms)) }
                } } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        assert_eq!([1, 3, 7, 10, 11, 180, 201, 999].map(nice_ceil), [1, 5, 10, 10, 20, 200, 500, 1000]);
    }

    #[test]
    fn gaps_break_the_line_and_lone_points_stand_alone() {
        let v = [Some((1.0, 1.0)), Some((2.0, 2.0)), None, Some((4.0, 4.0)), None];
        let (lines, lone) = segments(&v);
        assert_eq!(lines, ["1.0,1.0 2.0,2.0 "]);
        assert_eq!(lone, [(4.0, 4.0)]);
    }
}

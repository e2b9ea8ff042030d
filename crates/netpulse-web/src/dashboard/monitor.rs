//! One monitor's page: state, target and 24 h uptime, 90 daily uptime bars, a TLS monitor's
//! certificate ([`super::certificate`]), its incidents, the latency chart (a line per region,
//! live; or with `?range=` a look back over 1 h to 30 d, [`super::range_chart`]), latency per region, the result table (50 per page, older pages by the
//! store's cursor) and the badge URLs. The first page updates live (its `data-since` tells
//! the stream where the page's results end; a reconnecting stream resumes from the newest
//! result shown, and rows carry `data-ms` so a streamed one goes where its start puts it);
//! older pages stay put.
//!
//! The 24 h uptime figure follows the stream too, counted in the browser: the page renders the
//! checks it counted (`data-ok`, `data-total`: the raw results started in the last 24 h up to
//! and including the newest shown one, `since`), and dashboard.js adds each result the stream
//! brings that the count cannot hold — the live ones (announced after the stream opened, so
//! stored after this rendering) and the catch-up ones (started after the newest shown result
//! when the stream opened or reopened), each once by id.
//! No query per result or per page; the cost is that the window's start stays where it was
//! at rendering (a page left open for hours counts from 24 h before it was rendered).

use super::{badge, badges, certificate, chart, incidents, not_found, page, percent, range_chart, signed_in, state_of};
use crate::base::ApiError;
use crate::base::AppState;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use netpulse_core::latency::Buckets;
use netpulse_core::{CheckResult, MonitorId, Timestamp};
use netpulse_store::clock;
use netpulse_store::{Evidence, IncidentFilter, IncidentRecord, MaintenanceWindow};
use serde::Deserialize;
use std::collections::BTreeMap;

const PAGE: usize = 50;
const WEEK_MS: i64 = 7 * 86_400_000;

#[derive(Deserialize)]
pub struct PageQuery {
    cursor: Option<String>,
    /// A look back over one of [`range_chart::RANGES`] instead of the live chart of recent results.
    range: Option<String>,
}

/// What the latency section shows over a range: the series, its buckets, what to shade.
struct RangeView {
    key: &'static str,
    label: &'static str,
    buckets: Buckets,
    series: Vec<netpulse_core::latency::RegionSeries>,
    shades: Vec<range_chart::Shade>,
}

/// The incidents and maintenance windows to shade: each incident from its opening to its
/// resolution (or now), each window's kept occurrence (a repeating window keeps only its
/// current or next one).
fn shades(incidents: &[IncidentRecord], windows: &[MaintenanceWindow], now: Timestamp) -> Vec<range_chart::Shade> {
    let outages = incidents.iter().map(|i| range_chart::Shade {
        from: i.opened_at,
        to: i.resolved_at.unwrap_or(now),
        maintenance: false,
        label: format!("incident {} · {}", super::times::utc_minute(i.opened_at), i.cause),
    });
    let windows = windows.iter().filter(|w| w.starts_at <= now).map(|w| range_chart::Shade {
        from: w.starts_at,
        to: w.ends_at.min(now),
        maintenance: true,
        label: format!("maintenance {} · {}", super::times::utc_minute(w.starts_at), w.reason),
    });
    outages.chain(windows).collect()
}

/// `GET /monitors/{id}?cursor=…`.
pub async fn show(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let auth = match signed_in(&s, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Ok(id) = MonitorId::parse(&id) else { return not_found(&auth) };
    let now = clock::now();
    let t = auth.tenant();
    let view = match s.store.get_monitor(t, &id).await {
        Ok(Some(v)) => v,
        Ok(None) => return not_found(&auth),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let range = q.range.as_deref().and_then(|r| range_chart::RANGES.iter().find(|(k, _, _)| *k == r));
    let ev = auth.caller.evidence();
    let filter = IncidentFilter { monitor: Some(id.clone()), open_only: false };
    // Exactly the range's length up to and including now, so the buckets are whole: 30 s over an hour.
    let buckets = range.map(|(_, _, len)| Buckets::new(now.plus_ms(1 - *len), now.plus_ms(1), range_chart::BUCKETS));
    let loaded = tokio::try_join!(
        s.store.list_results(t, &id, now.minus_ms(WEEK_MS), now.plus_ms(1), PAGE, q.cursor.as_deref()),
        s.store.list_incidents(t, &filter, if range.is_some() { 200 } else { 20 }),
        days(&s, t, &id, now, ev),
        async {
            match &buckets {
                Some(b) => s.store.latency_cells(t, &id, b, ev).await,
                None => Ok(Vec::new()),
            }
        },
        async {
            match range {
                Some(_) => s.store.list_maintenance(t, &id).await,
                None => Ok(Vec::new()),
            }
        },
    );
    let (results, incidents, daily, cells, windows) = match loaded {
        Ok(x) => x,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let range = range.zip(buckets).map(|(&(key, label, _), b)| RangeView {
        key,
        label,
        series: netpulse_core::latency::series(&cells, &b),
        buckets: b,
        shades: shades(&incidents, &windows, now),
    });
    let older = q.cursor.is_some();
    // The first page's live stream starts with what happened after this rendering.
    let newest = results.results.first().map_or(now.minus_ms(WEEK_MS), |r| r.started_at);
    let since = (!older).then(|| newest.millis());
    // The demo's figure counts its sample results, which the stream does not tell apart: it
    // stays as rendered. Else the first page counts up to `since` only, and what started later
    // reaches the page by the stream (see the module doc).
    let live = ev == Evidence::Live;
    let tally_to = since.filter(|_| live).map_or(now.plus_ms(1), |s| Timestamp::from_millis(s + 1));
    let tally = match s.store.tally(t, &id, now.minus_ms(86_400_000), tally_to, ev).await {
        Ok(x) => x,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let visitors = match crate::api::visitor_sources::last_day(&s, &auth.caller, &id).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let d = &view.record.draft;
    let body = html! {
        @if auth.caller.is_demo() { (crate::dashboard::demo::banner()) }
        h1 data-monitor=(id) data-since=[since] { (d.name) " " span #state { (badge(state_of(&view))) } }
        p.sub { (d.spec.kind()) " · " (crate::base::audience::target(&d.spec, auth.caller.audience())) " · every " (d.interval.secs()) " s · uptime 24 h: " span #uptime-24h data-ok=[live.then_some(tally.up + tally.degraded)] data-total=[live.then_some(tally.total())] { (percent(tally.uptime_percent())) } @if d.managed_by.is_some() { " · " span.tag #managed-by title="netpulse apply keeps this monitor: change the file, not the form" { "managed by a file" } } @if auth.may_write() { " · " a #edit href={ "/monitors/" (id) "/edit" } { "Edit" } " · " a #maintenance href={ "/monitors/" (id) "/maintenance" } { "Maintenance" } } " · " a #real-visitors href={ "/monitors/" (id) "/visitors" } { "Real visitors" } }
        @if let Some(e) = &view.status.last_error { p.error { "Last error: " (e) } }
        section #days { (super::status_page::day_bars(&daily)) }
        (super::visitor_sources::seen_line(&visitors, !live))
        @if let Some(warn) = certificate::warn_days(&view) { (certificate::section(&results.results, warn, now)) }
        h2 { "Incidents" }
        (incidents::table(&incidents, None))
        h2 { "Latency" }
        nav.filters.ranges aria-label="latency range" {
            a href={ "/monitors/" (id) } aria-current=[range.is_none().then_some("page")] { "Recent" }
            @for (key, label, _) in range_chart::RANGES {
                " " a href={ "/monitors/" (id) "?range=" (key) } aria-current=[range.as_ref().filter(|r| r.key == key).map(|_| "page")] { (label) }
            }
        }
        @match &range {
            Some(r) => { (range_chart::chart(&r.series, &r.buckets, &r.shades, r.label)) (range_chart::per_region(&r.series)) }
            None => { (chart::latency(&results.results)) (per_region(&results.results)) }
        }
        h2 { @if older { "Older results" } @else { "Recent results" } }
        (results_table(&results.results, older))
        p.pager {
            @if older { a href={ "/monitors/" (id) } { "← Newest" } " " }
            @if let Some(next) = &results.next { a #older rel="next" href={ "/monitors/" (id) "?cursor=" (next) } { "Older results →" } }
        }
        (badges::snippet(&s.base_url, &id, &s.badge_key.sign(&id)))
    };
    page(&d.name, Some(&auth), body).into_response()
}

/// The monitor's 90 daily uptime bars, as its status pages count them (`Live`: the hourly
/// rollup; `Demo`: the demo's raw results per hour).
async fn days(
    s: &AppState,
    t: &netpulse_core::TenantId,
    m: &MonitorId,
    now: Timestamp,
    ev: Evidence,
) -> Result<Vec<netpulse_core::uptime::DayBar>, netpulse_store::StoreError> {
    let hours: Vec<netpulse_core::uptime::HourTally> = match ev {
        Evidence::Live => {
            s.store.page_tallies(t, std::slice::from_ref(m), now).await?.into_iter().map(|(_, at, t)| (at, t)).collect()
        }
        Evidence::Demo => {
            s.store.hourly_tallies_since(t, now.minus_ms(90 * 86_400_000), ev).await?.remove(m).unwrap_or_default()
        }
    };
    Ok(netpulse_core::uptime::page_figures(&hours, now).daily)
}

fn results_table(results: &[CheckResult], older: bool) -> Markup {
    let now = clock::now();
    html! {
        table #results data-paged=[older.then_some("1")] {
            thead { tr { th { "Started" } th { "Outcome" } th { "Latency" } th { "Status" } th { "Region" } th { "Error" } } }
            tbody { @for r in results { tr data-result=(r.id) data-ms=(r.started_at.millis()) {
                td { (super::times::relative(r.started_at, now)) }
                td { (badge(r.outcome.as_str())) }
                td { (super::latency(r.timings.total_ms, Some(r.outcome))) }
                td { (r.status_code.map_or("–".into(), |c| c.to_string())) }
                td { (r.region) }
                td.error { (r.error.as_deref().unwrap_or("")) }
            } } }
        }
    }
}

/// Per region over the shown results: checks, failures, median and slowest latency.
fn per_region(results: &[CheckResult]) -> Markup {
    let mut by: BTreeMap<&str, (usize, usize, Vec<u32>)> = BTreeMap::new();
    for r in results {
        let e = by.entry(r.region.as_str()).or_default();
        e.0 += 1;
        e.1 += usize::from(r.outcome.is_failure());
        e.2.extend(r.timings.total_ms.filter(|_| !r.outcome.is_failure()));
    }
    for (_, _, lat) in by.values_mut() {
        lat.sort_unstable();
    }
    let ms = |v: Option<&u32>| v.map_or("–".into(), |v| format!("{v} ms"));
    html! {
        @if !by.is_empty() {
            table #regions.compact {
                thead { tr { th { "Region" } th { "Checks shown" } th { "Failed" } th { "Median latency" } th { "Slowest" } } }
                tbody { @for (region, (n, failed, lat)) in &by { tr data-region=(region) {
                    td { (region) } td { (n) } td { (failed) }
                    td data-cell="median" { (ms(lat.get(lat.len() / 2))) } td { (ms(lat.last())) }
                } } }
            }
        }
    }
}

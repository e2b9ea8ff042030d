//! `GET /regions`: the regions checks run from and the health of their workers (last seen,
//! version, checks in flight, results and results/s), as the signed-in tenant sees them
//! through [`Fleet::regions`](netpulse_pipeline::gateway::fleet::Fleet::regions) — the same view as
//! `GET /api/v1/regions`: the engine's regions and workers, the tenant's own result counts.
//!
//! A region with no live worker is shown as "region offline" with what that means: its
//! monitors are not marked down because of it. The overview carries [`offline_banner`]
//! while a region one of the tenant's monitors checks from is offline. Both pages reload
//! on the live `region` event (`GET /events`) when such a region goes offline or comes back.

use super::{ago, page, signed_in};
use crate::base::ApiError;
use crate::base::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped};
use netpulse_core::Timestamp;
use netpulse_pipeline::gateway::fleet::{RegionView, WorkerHealth};
use netpulse_store::clock;
use netpulse_store::MonitorView;

pub(super) const STYLE: &str = "
.notice { background: #fff4e0; border: 1px solid #f0c36d; border-radius: 8px; padding: .6rem .9rem; margin: 0 0 1rem; }
section.region { margin-bottom: 1.5rem; }
section.region h2 { margin-top: 1rem; }";

/// Reload the page when a region of this tenant goes offline or comes back.
pub(super) const RELOAD_ON_REGION: &str = r#"(function () {
  var es = new EventSource("/events");
  es.addEventListener("region", function () { location.reload(); });
})();"#;

/// What an offline region means for the user's monitors.
const OFFLINE_MEANS: &str = "Its monitors are not marked down because of it: the region leaves their \
    region quorum until a worker reconnects, and checks from their other regions still count. Results a \
    worker buffered while cut off are delivered when it reconnects.";

pub async fn show(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let auth = match signed_in(&s, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let monitors = match s.store.list_monitors(&auth.caller.tenant_id).await {
        Ok(m) => m,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let now = clock::now();
    let regions = crate::base::audience::regions(s.fleet.regions(&auth.caller.tenant_id, now), auth.caller.audience());
    let body = html! {
        style { (PreEscaped(STYLE)) }
        h1 { "Regions" }
        p.sub { "Where checks run from. Results and results/s count your organisation's results the engine accepted (results/s over the last minute)." }
        (banner(&regions, &monitors))
        @for r in &regions { (region(r, monitor_count(&monitors, &r.region), now)) }
        script { (PreEscaped(RELOAD_ON_REGION)) }
    };
    page("Regions", Some(&auth), body).into_response()
}

fn monitor_count(monitors: &[MonitorView], region: &str) -> usize {
    monitors.iter().filter(|m| !m.record.draft.paused && m.record.draft.regions.iter().any(|r| r == region)).count()
}

fn region(r: &RegionView, monitors: usize, now: Timestamp) -> Markup {
    let online = r.status == "online";
    let served_by = if r.served_by == "local" { "the engine's own checker" } else { "regional workers" };
    html! {
        section.region data-region=(r.region) data-status=(r.status) {
            h2 { (r.region) " " span class={ "badge " (if online { "up" } else { "down" }) } { @if online { "online" } @else { "region offline" } } }
            p.sub {
                "Served by " (served_by) " · " (r.live_workers) " live · " (rate(r.results_per_s))
                " · " (r.queued_jobs) " checks queued · " (monitors) " of your monitors check from here"
            }
            @if !online {
                p.notice data-offline=(r.region) {
                    strong { "Region offline: " } "no worker of " (r.region) " has asked for checks recently"
                    (last_worker(&r.workers, now)) ". " (OFFLINE_MEANS)
                }
            }
            @if r.served_by == "workers" { (workers(&r.workers, now)) }
        }
    }
}

fn last_worker(workers: &[WorkerHealth], now: Timestamp) -> Markup {
    match workers.iter().map(|w| w.last_seen).max() {
        Some(t) => html! { " (last seen " (ago(Some(t), now)) ")" },
        None => html! { " (none has connected since the engine started)" },
    }
}

fn rate(per_s: f64) -> String {
    format!("{per_s:.2} results/s")
}

fn workers(ws: &[WorkerHealth], now: Timestamp) -> Markup {
    html! {
        @if ws.is_empty() { p.empty { "No worker has connected. Issue one with " code { "netpulse ca issue" } " (see docs/workers.md)." } }
        @else {
            table.workers {
                thead { tr { th { "Worker" } th { "Status" } th { "Version" } th { "Last seen" } th { "In flight" } th { "Results" } th { "Results/s" } } }
                tbody { @for w in ws { tr data-worker=(w.name) {
                    td { (w.name) div.sub { "serial " (w.serial) } }
                    td data-cell="live" { span class={ "badge " (if w.live { "up" } else { "unknown" }) } { @if w.live { "live" } @else { "gone" } } }
                    td data-cell="version" { (if w.version.is_empty() { "–" } else { &w.version }) }
                    td data-cell="last-seen" { (ago(Some(w.last_seen), now)) }
                    td data-cell="in-flight" { (w.in_flight) }
                    td data-cell="results" { (w.results_total) }
                    td data-cell="results-per-s" { (format!("{:.2}", w.results_per_s)) }
                } } }
            }
        }
    }
}

/// A banner naming the offline regions the tenant's (unpaused) monitors check from; empty
/// when there are none. For pages other than this one (it brings its style).
pub fn offline_banner(regions: &[RegionView], monitors: &[MonitorView]) -> Markup {
    let banner = banner(regions, monitors);
    html! { @if !banner.0.is_empty() { style { (PreEscaped(STYLE)) } (banner) } }
}

fn banner(regions: &[RegionView], monitors: &[MonitorView]) -> Markup {
    let offline: Vec<(&str, usize)> = regions
        .iter()
        .filter(|r| r.status != "online")
        .map(|r| (r.region.as_str(), monitor_count(monitors, &r.region)))
        .filter(|(_, n)| *n > 0)
        .collect();
    html! {
        @if !offline.is_empty() {
            p.notice #region-offline role="status" {
                strong { "Region offline: " }
                @for (i, (region, n)) in offline.iter().enumerate() {
                    @if i > 0 { ", " }
                    (region) " (" (n) " monitor" @if *n != 1 { "s" } ")"
                }
                ". " (OFFLINE_MEANS) " " a href="/regions" { "Regions" }
            }
        }
    }
}

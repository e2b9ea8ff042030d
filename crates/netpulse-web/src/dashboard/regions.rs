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
section.region h2 { margin-top: 1rem; }
figure#fleet { margin: 0 0 1.5rem; }
svg.fleet { width: 100%; max-width: 720px; height: auto; display: block; }";

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
        (fleet_picture(&regions))
        @for r in &regions { (region(r, monitor_count(&monitors, &r.region), now)) }
        script { (PreEscaped(RELOAD_ON_REGION)) }
    };
    page("Regions", Some(&auth), body).into_response()
}

/// The fleet at a glance: the engine, and each region beside it — served by the engine's own
/// checker, or by regional workers that lease checks over mutual TLS and send results back —
/// green while online, red while offline; and what that means in two sentences.
fn fleet_picture(regions: &[RegionView]) -> Markup {
    const ROW: f64 = 58.0;
    let h = (regions.len().max(1) as f64 * ROW + 12.0).max(120.0);
    let mid = h / 2.0;
    html! {
        figure #fleet {
            svg.fleet viewBox={ "0 0 720 " (h) } role="img" aria-label="the engine and the regions it checks from" {
                rect x="8" y=(mid - 42.0) width="210" height="84" rx="10" fill="#2456b3" {}
                text x="113" y=(mid - 12.0) text-anchor="middle" font-size="16" font-weight="700" fill="#fff" { "NetPulse engine" }
                text x="113" y=(mid + 10.0) text-anchor="middle" font-size="12" fill="#dbe6ff" { "scheduler · gateway · ingest" }
                text x="113" y=(mid + 28.0) text-anchor="middle" font-size="12" fill="#dbe6ff" { "alerts · dashboard" }
                @for (i, r) in regions.iter().enumerate() {
                    @let y = 6.0 + i as f64 * ROW + ROW / 2.0;
                    @let online = r.status == "online";
                    @let color = if online { "#16803c" } else { "#c62828" };
                    @let local = r.served_by == "local";
                    line x1="218" y1=(mid) x2="440" y2=(y) stroke=(color) stroke-width="2"
                        stroke-dasharray=[(!online).then_some("6 4")] {}
                    text x="330" y=(y - 8.0 + (mid - y) / 2.0) text-anchor="middle" font-size="11" fill="#687386" {
                        @if local { "in process" } @else { "jobs ↓ results ↑ (mTLS)" }
                    }
                    g.fleet-region data-fleet-region=(r.region) data-status=(r.status) {
                        rect x="440" y=(y - 22.0) width="270" height="44" rx="8" fill="none" stroke=(color) stroke-width="2" {}
                        text x="454" y=(y - 3.0) font-size="14" font-weight="600" fill="currentColor" { (r.region) }
                        text x="454" y=(y + 14.0) font-size="12" fill="#687386" {
                            @if local { "the engine's own checker" }
                            @else { (r.live_workers) " live worker" @if r.live_workers != 1 { "s" } " · " @if online { "online" } @else { "offline" } }
                        }
                    }
                }
            }
            figcaption.sub {
                "A region is a place checks run from; a monitor names its regions, and it is down only when a quorum of them (a majority by default) sees it down. "
                "The engine checks its own region itself; every other region is served by " code { "netpulse-worker" } " processes there, which connect to the engine's gateway with their own certificate, lease checks and send the results back (docs/workers.md)."
            }
        }
    }
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

//! The monitors overview: every monitor with its state, last check, latency (a TLS monitor's
//! certificate flagged when it expires within its `warn_days`), uptime over
//! 24 h and 30 d (hourly live rollups; the demo organisation: its raw demo results, see
//! `store::Evidence`) and a 24-hour sparkline, filtered by a search in the
//! name, a tag and a state (`GET /?q=…&tag=…&state=…`, a plain form, no script needed).
//! Rows update live (dashboard.js); while a filter is on, monitors created elsewhere are not
//! added, since they may not match it. The table's `data-since` (when the page was rendered)
//! makes the stream open with the health changes the page missed (dashboard/events.rs).
//! Until an account has seen an alert delivered, the overview opens with the first-run
//! guide ([`super::first_run`]).

use super::{ago, badge, chart, page, percent, signed_in, state_of};
use crate::base::ApiError;
use crate::base::AppState;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;
use netpulse_core::uptime::Tally;
use netpulse_store::clock;
use netpulse_store::MonitorView;
use serde::Deserialize;
use std::collections::BTreeSet;

const DAY_MS: i64 = 86_400_000;
const STATES: [&str; 6] = ["up", "degraded", "suspect", "down", "paused", "unknown"];

/// The overview's filter; empty fields do not filter.
#[derive(Deserialize, Default)]
pub struct Filter {
    #[serde(default)]
    q: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    state: String,
}

impl Filter {
    fn is_on(&self) -> bool {
        !(self.q.trim().is_empty() && self.tag.is_empty() && self.state.is_empty())
    }
    fn keeps(&self, v: &MonitorView) -> bool {
        let d = &v.record.draft;
        let q = self.q.trim().to_lowercase();
        (q.is_empty() || d.name.to_lowercase().contains(&q))
            && (self.tag.is_empty() || d.tags.contains(&self.tag))
            && (self.state.is_empty() || state_of(v) == self.state)
    }
}

/// `GET /`.
pub async fn show(State(s): State<AppState>, headers: HeaderMap, Query(f): Query<Filter>) -> Response {
    let auth = match signed_in(&s, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let now = clock::now();
    let t = auth.tenant();
    let ev = auth.caller.evidence();
    let loaded = tokio::try_join!(
        s.store.list_monitors(t),
        s.store.tallies_since(t, now.minus_ms(DAY_MS), ev),
        s.store.tallies_since(t, now.minus_ms(30 * DAY_MS), ev),
        s.store.hourly_tallies_since(t, now.minus_ms(23 * 3_600_000), ev),
        s.store.list_channels(t),
        s.store.channel_health(t),
    );
    let (monitors, day, month, hours, channels, health) = match loaded {
        Ok(x) => x,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let tags: BTreeSet<&str> = monitors.iter().flat_map(|v| v.record.draft.tags.iter().map(String::as_str)).collect();
    let shown: Vec<&MonitorView> = monitors.iter().filter(|v| f.keeps(v)).collect();
    let expiries = super::certificate::expiries(&s, t, &shown, now).await;
    let uptime = |m: &std::collections::HashMap<_, Tally>, v: &MonitorView| {
        percent(m.get(&v.record.id).and_then(Tally::uptime_percent))
    };
    let body = html! {
        @if auth.caller.is_demo() { (crate::dashboard::demo::banner()) }
        h1 { "Monitors" }
        (super::regions::offline_banner(&s.fleet.regions(t, now), &monitors))
        (super::deliveries::failing_banner(&channels, &health, now))
        (super::first_run::guide(&auth, &monitors, &channels, &health))
        @if monitors.is_empty() {
            p.empty #no-monitors { "No monitors yet."
                @if auth.may_write() { " " a href="/monitors/new" { "Create one" } " here or with the API (see docs/api.md)." } }
        } @else {
            form.filter #filter method="get" action="/" {
                input type="search" name="q" value=(f.q) placeholder="Search names" aria-label="Search names";
                select name="tag" aria-label="Tag" {
                    option value="" { "Any tag" }
                    @for tag in &tags { option value=(tag) selected[*tag == f.tag] { (tag) } }
                }
                select name="state" aria-label="State" {
                    option value="" { "Any state" }
                    @for st in STATES { option value=(st) selected[st == f.state] { (st) } }
                }
                button type="submit" { "Filter" }
                @if f.is_on() { a href="/" { "Clear" } span.sub #shown { (shown.len()) " of " (monitors.len()) } }
            }
        }
        table #monitors hidden[monitors.is_empty()] data-filtered=[f.is_on().then_some("1")] data-since=(now.millis()) {
            thead { tr { th { "Monitor" } th { "Status" } th { "Last check" } th { "Latency" } th { "Last 24 h" } th { "Uptime 24 h" } th { "Uptime 30 d" } } }
            tbody {
                @for v in &shown {
                    tr data-monitor=(v.record.id) {
                        td {
                            a href={ "/monitors/" (v.record.id) } { (v.record.draft.name) }
                            div.sub { (v.record.draft.spec.kind()) " · " (crate::base::audience::target(&v.record.draft.spec, auth.caller.audience()))
                                @for tag in &v.record.draft.tags { " " span.tag { (tag) } }
                                (super::certificate::flag(v, &expiries, now)) }
                        }
                        td data-cell="state" { (badge(state_of(v))) }
                        td data-cell="last" { (ago(v.status.last_checked_at, now)) }
                        td data-cell="latency" { (super::latency(v.status.last_latency_ms, v.status.last_outcome)) }
                        td { (chart::sparkline(hours.get(&v.record.id).map_or(&[][..], Vec::as_slice), now)) }
                        td data-cell="uptime-24h" { (uptime(&day, v)) }
                        td data-cell="uptime-30d" { (uptime(&month, v)) }
                    }
                }
            }
        }
    };
    page("Monitors", Some(&auth), body).into_response()
}

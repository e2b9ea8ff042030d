//! Public status pages: `GET /status/{slug}` (HTML) and `GET /status/{slug}.json`, no sign-in.
//!
//! What they show comes only from [`Store::public_status_page`](netpulse_store::Store::public_status_page):
//! the display names and groups the tenant chose, status and uptime from `live` results only,
//! and incidents that a person posted with a public message. They never carry a monitor's
//! own name, target URL, hostname, IP, headers, error texts, the tenant's channels or e-mails.
//!
//! Caching: an `ETag` over the page's facts (everything but the clock: the "generated at"
//! time and the windows' end), `Cache-Control: public, max-age=30`, and `304` on a matching
//! `If-None-Match` — a client that got `304` already holds the same figures. A reading is
//! served for `http.status_page_cache_s` seconds and, while one request re-reads it, for at
//! most as long again ([`status_cache`](super::status_cache): one store read per slug at a
//! time); the page states that bound, and its "generated at" is the reading's time.

use crate::base::status_cache::Entry;
use crate::base::ApiError;
use crate::base::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use netpulse_core::uptime::COUNTING_RULES;
use netpulse_core::{Outcome, Timestamp};
use netpulse_store::clock;
use netpulse_store::{IncidentStatus, PublicMonitor, PublicStatusPage};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const STYLE: &str = include_str!("status_page.css");

/// `/status/{slug}` and `/status/{slug}.json`.
pub async fn show(State(s): State<AppState>, Path(slug): Path<String>, headers: HeaderMap) -> Response {
    let (slug, as_json) = match slug.strip_suffix(".json") {
        Some(base) => (base.to_owned(), true),
        None => (slug, false),
    };
    let missing = || ApiError::not_found("status page").into_response();
    if !crate::api::status_pages::valid_slug(&slug) {
        return missing();
    }
    let (store, metrics, read_slug) = (s.store.clone(), s.metrics.clone(), slug.clone());
    let (ttl_s, bound_s) = (s.status_cache.ttl().as_secs(), s.status_cache.bound().as_secs());
    let read = move || async move {
        metrics.status_page_reads.add(1);
        Ok(store.public_status_page(&read_slug, clock::now()).await?.map(|p| reading(p, ttl_s, bound_s)))
    };
    let entry = match s.status_cache.get_or_read(&slug, read).await {
        Ok(Some(e)) => e,
        Ok(None) => return missing(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let etag = if as_json { &entry.json_etag } else { &entry.html_etag };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut r = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else if as_json {
        let mut r = entry.json.clone().into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    } else {
        let mut r = entry.html.clone().into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        r.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src https: http:"),
        );
        r
    };
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=30"));
    h.insert(header::ETAG, HeaderValue::from_str(etag).expect("hex is ASCII"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    r
}

/// One reading of a page: its facts, their ETags and both renderings (`ttl_s`: how often
/// the page is re-read; `bound_s`: how old a served copy can be).
fn reading(page: PublicStatusPage, ttl_s: u64, bound_s: u64) -> Entry {
    let facts = facts(&page);
    let digest = &hex::encode(Sha256::digest(facts.to_string().as_bytes()))[..24];
    let mut json = facts.clone();
    stamp(&mut json, &page, ttl_s, bound_s);
    let html = render(&page, bound_s).into_string();
    Entry::new((format!("\"h{digest}\""), format!("\"j{digest}\"")), (html, json.to_string()))
}

/// A monitor's public status: `paused`, `unknown` (no live result yet), `up`, `degraded`
/// or `down` (down or error), from its newest live result.
pub fn status_of(m: &PublicMonitor) -> &'static str {
    if m.paused {
        return "paused";
    }
    match m.latest.map(|l| l.outcome) {
        None => "unknown",
        Some(Outcome::Up) => "up",
        Some(Outcome::Degraded) => "degraded",
        Some(Outcome::Down | Outcome::Error) => "down",
    }
}

/// The page's headline from its monitors' statuses.
fn overall(page: &PublicStatusPage) -> (&'static str, &'static str) {
    let st: Vec<&str> = page.monitors.iter().map(status_of).collect();
    if st.contains(&"down") {
        ("down", "Some systems are down")
    } else if st.contains(&"degraded") {
        ("degraded", "Some systems are degraded")
    } else if st.contains(&"up") && st.iter().all(|s| matches!(*s, "up" | "paused")) {
        ("up", "All systems operational")
    } else {
        ("unknown", "No recent data")
    }
}

fn incident_status(s: IncidentStatus) -> &'static str {
    match s {
        IncidentStatus::Open => "ongoing",
        IncidentStatus::Acknowledged => "investigating",
        IncidentStatus::Resolved => "resolved",
    }
}

fn round2(p: Option<f64>) -> Value {
    p.map_or(Value::Null, |p| json!((p * 100.0).round() / 100.0))
}

/// The page's facts without the clock (the ETag's input); [`stamp`] adds the clock.
fn facts(page: &PublicStatusPage) -> Value {
    json!({
        "slug": page.slug,
        "title": page.title,
        "message": page.message,
        "logo_url": page.logo_url,
        "status": overall(page).0,
        "counting_rules": COUNTING_RULES,
        "monitors": page.monitors.iter().map(|m| json!({
            "name": m.display_name,
            "group": m.group,
            "status": status_of(m),
            "last_check_at": m.latest.map(|l| l.at.to_rfc3339()),
            "uptime": m.figures.windows.iter().map(|w| json!({
                "window": w.label, "from": w.from.to_rfc3339(), "percent": round2(w.percent), "checks": w.tally.total(),
                "maintenance_checks": w.tally.maintenance,
            })).collect::<Vec<_>>(),
            "daily": m.figures.daily.iter().map(|d| json!({
                "date": &d.day_start.to_rfc3339()[..10], "percent": round2(d.percent), "checks": d.tally.total(),
                "maintenance_checks": d.tally.maintenance,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "incidents": page.incidents.iter().map(|(name, i)| json!({
            "monitor": name,
            "status": incident_status(i.status),
            "started_at": i.opened_at.to_rfc3339(),
            "resolved_at": i.resolved_at.map(Timestamp::to_rfc3339),
            "message": i.public_message,
            "posted_at": i.posted_at.to_rfc3339(),
        })).collect::<Vec<_>>(),
    })
}

/// Add the generation time, the windows' end (then), how often the page is re-read and how
/// stale a served copy can be.
fn stamp(body: &mut Value, page: &PublicStatusPage, ttl_s: u64, bound_s: u64) {
    let now = page.generated_at.to_rfc3339();
    body["generated_at"] = json!(now);
    body["refreshed_every_s"] = json!(ttl_s);
    body["at_most_s_old"] = json!(bound_s);
    if let Some(ms) = body["monitors"].as_array_mut() {
        for m in ms {
            if let Some(ws) = m["uptime"].as_array_mut() {
                for w in ws {
                    w["to"] = json!(now);
                }
            }
        }
    }
}

/// `2026-11-25 02:37 UTC`.
fn when(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    format!("{} {} UTC", &s[..10], &s[11..16])
}

fn pct(p: Option<f64>) -> String {
    p.map_or_else(|| "no data".into(), |p| format!("{p:.2} %"))
}

fn bar_class(p: Option<f64>) -> &'static str {
    match p {
        None => "none",
        Some(p) if p >= 99.9 => "up",
        Some(p) if p >= 99.0 => "degraded",
        Some(_) => "down",
    }
}

fn monitor(m: &PublicMonitor) -> Markup {
    let st = status_of(m);
    html! {
        section.monitor {
            div.head {
                h3 { (m.display_name) }
                span class={ "badge " (st) } { (st) }
            }
            p.sub {
                "Last check: "
                @match m.latest { Some(l) => { time datetime=(l.at.to_rfc3339()) { (when(l.at)) } } None => { "none yet" } }
            }
            div.bars role="img" aria-label="daily uptime, last 90 days" {
                @for d in &m.figures.daily {
                    span class={ "bar " (bar_class(d.percent)) }
                        title={ (&d.day_start.to_rfc3339()[..10]) ": " (pct(d.percent)) " (" (d.tally.total()) " checks" @if d.tally.maintenance > 0 { ", " (d.tally.maintenance) " in maintenance" } ")" } {}
                }
            }
            div.bars-legend.sub { span { "90 days ago" } span { "today" } }
            table.windows {
                tr { @for w in &m.figures.windows { th { (w.label) } } }
                tr { @for w in &m.figures.windows { td { (pct(w.percent)) } } }
                tr.sub { @for w in &m.figures.windows { td { (when(w.from)) " – " (when(w.to)) br; (w.tally.total()) " checks"
                    @if w.tally.maintenance > 0 { br; (w.tally.maintenance) " in maintenance, not counted" } } } }
            }
        }
    }
}

fn render(page: &PublicStatusPage, bound_s: u64) -> Markup {
    let (overall_class, headline) = overall(page);
    let mut groups: Vec<(&str, Vec<&PublicMonitor>)> = Vec::new();
    for m in &page.monitors {
        match groups.iter_mut().find(|(g, _)| *g == m.group) {
            Some((_, v)) => v.push(m),
            None => groups.push((&m.group, vec![m])),
        }
    }
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (page.title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                main {
                    header.page {
                        @if let Some(logo) = &page.logo_url { img.logo src=(logo) alt="" referrerpolicy="no-referrer"; }
                        h1 { (page.title) }
                    }
                    @if !page.message.is_empty() { p.message { (page.message) } }
                    div class={ "overall " (overall_class) } #overall { (headline) }
                    @for (group, ms) in &groups {
                        @if !group.is_empty() { h2 { (group) } }
                        @for m in ms { (monitor(m)) }
                    }
                    h2 { "Incidents (last 90 days)" }
                    @if page.incidents.is_empty() {
                        p.sub { "No incidents posted." }
                    }
                    @for (name, i) in &page.incidents {
                        article.incident {
                            h3 { (name) " " span class={ "badge " (incident_status(i.status)) } { (incident_status(i.status)) } }
                            p.sub {
                                "Started " (when(i.opened_at))
                                @if let Some(r) = i.resolved_at { " · resolved " (when(r)) }
                            }
                            p { (i.public_message) }
                            p.sub { "Posted " (when(i.posted_at)) }
                        }
                    }
                    footer.sub {
                        p #generated { "Generated at " time datetime=(page.generated_at.to_rfc3339()) { (when(page.generated_at)) } "."
                            @if bound_s > 0 { " Served copies are at most " (bound_s) " s old." } }
                        p { (COUNTING_RULES) }
                        p { "Powered by NetPulse." }
                    }
                }
            }
        }
    }
}

//! Public status pages: `GET /status/{slug}` (HTML), `GET /status/{slug}.json`, and the page's
//! feed of incident updates, `GET /status/{slug}/feed.atom` and `/feed.json` ([`super::status_feed`]);
//! no sign-in.
//!
//! What they show comes only from [`Store::public_status_page`](netpulse_store::Store::public_status_page):
//! the display names and groups the tenant chose, status and uptime from `live` results only,
//! and incidents that a person posted public updates to (each update's state, impact and
//! message; the newest unresolved impact heads the page). They never carry a monitor's
//! own name, target URL, hostname, IP, headers, error texts, the tenant's channels or e-mails.
//!
//! Caching: an `ETag` over the page's facts (everything but the clock: the "generated at"
//! time and the windows' end), `Cache-Control: public, max-age=30`, and `304` on a matching
//! `If-None-Match` — a client that got `304` already holds the same figures. A reading is
//! served for `http.status_page_cache_s` seconds and, while one request re-reads it, for at
//! most as long again ([`status_cache`](super::status_cache): one store read per slug at a
//! time); the page states that bound, and its "generated at" is the reading's time.

use crate::base::page_domains::{host_name, valid_domain};
use crate::base::status_cache::{Entry, Rendered};
use crate::base::ApiError;
use crate::base::AppState;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use netpulse_core::uptime::{COUNTING_RULES, DEMO_COUNTING};
use netpulse_core::{Outcome, Timestamp};
use netpulse_store::clock;
use netpulse_store::{Impact, IncidentStatus, PublicIncident, PublicMonitor, PublicStatusPage, UpdateState};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub(super) const STYLE: &str = include_str!("status_page.css");

/// The renderings of one reading, in [`Entry`] order.
#[derive(Clone, Copy)]
pub enum Format {
    Html,
    Json,
    Atom,
    Feed,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Html => "text/html; charset=utf-8",
            Format::Json => "application/json",
            Format::Atom => "application/atom+xml; charset=utf-8",
            Format::Feed => "application/feed+json",
        }
    }
}

/// `/status/{slug}` and `/status/{slug}.json`.
pub async fn show(State(s): State<AppState>, Path(slug): Path<String>, headers: HeaderMap) -> Response {
    match slug.strip_suffix(".json") {
        Some(base) => serve(&s, base, Format::Json, &headers).await,
        None => serve(&s, &slug, Format::Html, &headers).await,
    }
}

/// `/status/{slug}/feed.atom`, `/status/{slug}/feed.json` and `/status/{slug}/history`.
pub async fn feed(
    State(s): State<AppState>,
    Path((slug, file)): Path<(String, String)>,
    Query(q): Query<super::status_history::HistoryQuery>,
    headers: HeaderMap,
) -> Response {
    match file.as_str() {
        "feed.atom" => serve(&s, &slug, Format::Atom, &headers).await,
        "feed.json" => serve(&s, &slug, Format::Feed, &headers).await,
        "history" => super::status_history::show(&s, &slug, q.month.as_deref(), &headers).await,
        _ => ApiError::not_found("status page feed").into_response(),
    }
}

/// Before any route: a request whose `Host` names a page's own domain gets that page (`/`,
/// `/index.json`, `/feed.atom`, `/feed.json`) and nothing else; any other host goes on.
pub async fn custom_domain(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).map(host_name);
    let Some(host) = host.filter(|h| valid_domain(h)) else { return next.run(req).await };
    let slug = match s.status_cache.domains().slug_for(&host, s.store.as_ref()).await {
        Ok(Some(slug)) => slug,
        Ok(None) => return next.run(req).await,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let format = match (req.method().as_str(), req.uri().path()) {
        ("GET" | "HEAD", "/") => Format::Html,
        ("GET" | "HEAD", "/index.json") => Format::Json,
        ("GET" | "HEAD", "/feed.atom") => Format::Atom,
        ("GET" | "HEAD", "/feed.json") => Format::Feed,
        ("GET" | "HEAD", "/history") => {
            let month = req.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("month=")));
            return super::status_history::show(&s, &slug, month, req.headers()).await;
        }
        _ => return ApiError::not_found("page").into_response(),
    };
    serve(&s, &slug, format, req.headers()).await
}

async fn serve(s: &AppState, slug: &str, format: Format, headers: &HeaderMap) -> Response {
    let missing = || ApiError::not_found("status page").into_response();
    if !crate::api::status_pages::valid_slug(slug) {
        return missing();
    }
    let (store, metrics, read_slug) = (s.store.clone(), s.metrics.clone(), slug.to_owned());
    let (ttl_s, bound_s) = (s.status_cache.ttl().as_secs(), s.status_cache.bound().as_secs());
    let base = s.base_url.trim_end_matches('/').to_owned();
    let mail = s.config.smtp.is_configured();
    let read = move || async move {
        metrics.status_page_reads.add(1);
        Ok(store.public_status_page(&read_slug, clock::now()).await?.map(|p| reading(p, &base, mail, ttl_s, bound_s)))
    };
    let entry = match s.status_cache.get_or_read(slug, read).await {
        Ok(Some(e)) => e,
        Ok(None) => return missing(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    respond(entry.get(format as usize), format, headers)
}

/// A rendering as the answer, or `304` when the client holds it (`If-None-Match`), with
/// the public pages' caching and safety headers.
pub(super) fn respond(rendered: &Rendered, format: Format, headers: &HeaderMap) -> Response {
    let etag = &rendered.etag;
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut r = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = rendered.body.clone().into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
        if let Format::Html = format {
            r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy()));
        }
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

/// One reading of a page: its facts and every rendering with its ETag (`base`: this server's
/// public URL for the feeds' links; `mail`: whether this server sends mail, so the page offers
/// sign-up by e-mail; `ttl_s`: how often the page is re-read; `bound_s`: how old a served
/// copy can be).
fn reading(page: PublicStatusPage, base: &str, mail: bool, ttl_s: u64, bound_s: u64) -> Entry {
    let url = crate::api::status_pages::page_url(base, &page.slug, page.domain.as_deref());
    let facts = facts(&page);
    let digest = &hex::encode(Sha256::digest(facts.to_string().as_bytes()))[..24];
    let mut json = facts.clone();
    stamp(&mut json, &page, ttl_s, bound_s);
    let subscribe = mail.then(|| format!("{}/status/{}/subscribe", base.trim_end_matches('/'), page.slug));
    let html = render(&page, &url, subscribe.as_deref(), bound_s).into_string();
    let (atom, feed) = (super::status_feed::atom(&page, &url), super::status_feed::json_feed(&page, &url));
    Entry::new(vec![
        (format!("\"h{digest}\""), html),
        (format!("\"j{digest}\""), json.to_string()),
        (format!("\"a{digest}\""), atom),
        (format!("\"f{digest}\""), feed),
    ])
}

/// How the page counts (the demo's own page counts its sample checks, and says so).
fn counting_rules(demo: bool) -> std::borrow::Cow<'static, str> {
    match demo {
        true => COUNTING_RULES.replace(DEMO_COUNTING.0, DEMO_COUNTING.1).into(),
        false => COUNTING_RULES.into(),
    }
}

/// A component's public status: `paused` or `maintenance` (inside an announced window) as the
/// operator set it; else the worse of what its probes say (`unknown` before its first live
/// result, `up`, `degraded`, or `down` for down or error) and what an unresolved posted
/// incident states for it (degraded, `partial`, or major as `down`).
pub fn status_of(m: &PublicMonitor) -> &'static str {
    let probed = probed_status(m);
    if matches!(probed, "paused" | "maintenance") {
        return probed;
    }
    let posted = m.posted_impact.map(|i| match i {
        Impact::Degraded => "degraded",
        Impact::Partial => "partial",
        Impact::Major => "down",
    });
    match posted {
        Some(p) if severity(p) > severity(probed) => p,
        _ => probed,
    }
}

/// How bad a component status is, for picking the worse of two.
fn severity(status: &str) -> u8 {
    match status {
        "down" => 3,
        "partial" => 2,
        "degraded" => 1,
        _ => 0,
    }
}

/// What a monitor's probes say of it (see [`status_of`]).
fn probed_status(m: &PublicMonitor) -> &'static str {
    if m.paused {
        return "paused";
    }
    if m.in_maintenance {
        return "maintenance";
    }
    match m.latest.map(|l| l.outcome) {
        None => "unknown",
        Some(Outcome::Up) => "up",
        Some(Outcome::Degraded) => "degraded",
        Some(Outcome::Down | Outcome::Error) => "down",
    }
}

/// The page's headline: from its monitors' statuses, or from the impact its poster gave an
/// unresolved incident when that is as bad or worse.
fn overall(page: &PublicStatusPage) -> (&'static str, &'static str) {
    let st: Vec<&str> = page.monitors.iter().map(status_of).collect();
    let from_monitors = if st.contains(&"down") {
        (3, "down", "Some systems are down")
    } else if st.contains(&"partial") {
        (2, "partial", "Partial outage")
    } else if st.contains(&"degraded") {
        (1, "degraded", "Some systems are degraded")
    } else if st.contains(&"maintenance") {
        (0, "maintenance", "Maintenance in progress")
    } else if st.contains(&"up") && st.iter().all(|s| matches!(*s, "up" | "paused")) {
        (0, "up", "All systems operational")
    } else {
        (0, "unknown", "No recent data")
    };
    let posted = unresolved_impact(page).map(|i| match i {
        Impact::Major => (3, "down", "Major outage"),
        Impact::Partial => (2, "partial", "Partial outage"),
        Impact::Degraded => (1, "degraded", "Degraded performance"),
    });
    match posted {
        Some(p) if p.0 >= from_monitors.0 => (p.1, p.2),
        _ => (from_monitors.1, from_monitors.2),
    }
}

/// The worst impact among the page's incidents whose newest update is not `resolved`.
fn unresolved_impact(page: &PublicStatusPage) -> Option<Impact> {
    page.incidents
        .iter()
        .filter_map(|(_, i)| i.latest())
        .filter(|u| u.state != UpdateState::Resolved)
        .map(|u| u.impact)
        .max()
}

/// An incident's public state: its newest update's.
pub(super) fn state_of(i: &PublicIncident) -> &'static str {
    i.latest().map_or(incident_status(i.status), |u| u.state.as_str())
}

fn incident_status(s: IncidentStatus) -> &'static str {
    match s {
        IncidentStatus::Open => "investigating",
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
        "counting_rules": counting_rules(page.demo),
        "demo_data": page.demo,
        "monitors": page.monitors.iter().map(|m| json!({
            "name": m.display_name,
            "group": m.group,
            "status": status_of(m),
            "posted_impact": m.posted_impact,
            "last_check_at": m.latest.map(|l| l.at.to_rfc3339()),
            "uptime": m.figures.windows.iter().map(|w| json!({
                "window": w.label, "from": w.from.to_rfc3339(), "percent": round2(w.percent), "checks": w.tally.total(),
                "maintenance_checks": w.tally.maintenance,
            })).collect::<Vec<_>>(),
            "real_visitors_24h": (m.visitors.loads > 0).then(|| json!({
                "page_loads": m.visitors.loads, "failed": m.visitors.failed, "percent": round2(m.visitors.percent_ok()),
                "demo_data": page.demo,
            })),
            "daily": m.figures.daily.iter().map(|d| json!({
                "date": &d.day_start.to_rfc3339()[..10], "percent": round2(d.percent), "checks": d.tally.total(),
                "maintenance_checks": d.tally.maintenance,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "maintenance": page.maintenance.iter().map(|(name, w)| json!({
            "monitor": name, "starts_at": w.starts_at.to_rfc3339(), "ends_at": w.ends_at.to_rfc3339(),
            "reason": w.reason, "status": if w.starts_at <= page.generated_at { "in_progress" } else { "scheduled" },
        })).collect::<Vec<_>>(),
        "incidents": page.incidents.iter().map(|(name, i)| json!({
            "monitor": name,
            "status": state_of(i),
            "impact": i.latest().map(|u| u.impact),
            "started_at": i.opened_at.to_rfc3339(),
            "resolved_at": i.resolved_at.map(Timestamp::to_rfc3339),
            "message": i.public_message,
            "posted_at": i.posted_at.to_rfc3339(),
            "also_affects": i.also_affected,
            "updates": i.updates.iter().map(|u| json!({
                "state": u.state, "impact": u.impact, "message": u.message, "posted_at": u.posted_at.to_rfc3339(),
            })).collect::<Vec<_>>(),
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

/// The status pages' Content-Security-Policy: their inline style, the local-time script
/// ([`super::times::LOCAL_TIME`]) by its hash and no other script, logos from anywhere.
fn policy() -> &'static str {
    static POLICY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    POLICY.get_or_init(|| {
        format!(
            "default-src 'none'; script-src {}; style-src 'unsafe-inline'; img-src https: http:",
            super::headers::hash_source(super::times::LOCAL_TIME)
        )
    })
}

/// `2026-11-25 02:37 UTC` in a `<time>` the viewer's browser shows in local time.
pub(super) fn when(t: Timestamp) -> Markup {
    super::times::exact(t)
}

/// The local-time script, at the end of a status page's body.
pub(super) fn local_time() -> Markup {
    html! { script { (PreEscaped(super::times::LOCAL_TIME)) } }
}

/// `identified` → `Identified`.
pub(super) fn title_case(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
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

/// The daily uptime bars of 90 UTC days, oldest first (status pages and the monitor page).
pub(super) fn day_bars(daily: &[netpulse_core::uptime::DayBar]) -> Markup {
    html! {
        div.bars role="img" aria-label="daily uptime, last 90 days" {
            @for d in daily {
                span class={ "bar " (bar_class(d.percent)) }
                    title={ (&d.day_start.to_rfc3339()[..10]) ": " (pct(d.percent)) " (" (d.tally.total()) " checks" @if d.tally.maintenance > 0 { ", " (d.tally.maintenance) " in maintenance" } ")" } {}
            }
        }
        div.bars-legend.sub { span { "90 days ago" } span { "today" } }
    }
}

fn monitor(m: &PublicMonitor, demo: bool) -> Markup {
    let st = status_of(m);
    html! {
        section.monitor {
            div.head {
                h3 { (m.display_name) }
                span class={ "badge " (st) } { (st) }
            }
            p.sub {
                "Last check: "
                @match m.latest { Some(l) => { time datetime=(super::times::iso_seconds(l.at)) title=(super::times::utc_second(l.at)) data-rel { (super::times::utc_minute(l.at)) } } None => { "none yet" } }
            }
            (day_bars(&m.figures.daily))
            @if let Some(line) = m.visitors.seen_line("24 h") {
                p.visitors data-visitors=(m.visitors.loads) { (line) @if demo { " (demo data)" } }
            }
            table.windows {
                tr { @for w in &m.figures.windows { th { (w.label) } } }
                tr { @for w in &m.figures.windows { td { (pct(w.percent)) } } }
                tr.sub { @for w in &m.figures.windows { td { (when(w.from)) " – " (when(w.to)) br; (w.tally.total()) " checks"
                    @if w.tally.maintenance > 0 { br; (w.tally.maintenance) " in maintenance, not counted" } } } }
            }
        }
    }
}

/// One posted incident with its updates, newest first.
pub(super) fn incident_article(name: &str, i: &PublicIncident) -> Markup {
    html! {
        article.incident {
            h3 { (name) " " span class={ "badge " (state_of(i)) } { (state_of(i)) }
                @if let Some(u) = i.latest() { " " span.sub { (u.impact.as_str()) " impact" } } }
            p.sub {
                "Started " (when(i.opened_at))
                @if let Some(r) = i.resolved_at { " · resolved " (when(r)) " · lasted " (super::times::duration(r.since(i.opened_at))) }
            }
            @if !i.also_affected.is_empty() { p.affects { "Also affects: " (i.also_affected.join(", ")) } }
            ol.updates {
                @for u in &i.updates {
                    li { strong { (title_case(u.state.as_str())) } " — " (u.message)
                        br; span.sub { (when(u.posted_at)) } }
                }
            }
        }
    }
}

fn render(page: &PublicStatusPage, url: &str, subscribe: Option<&str>, bound_s: u64) -> Markup {
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
                        @for m in ms { (monitor(m, page.demo)) }
                    }
                    @if !page.maintenance.is_empty() {
                        h2 { "Scheduled maintenance" }
                        @for (name, w) in &page.maintenance {
                            @let running = w.starts_at <= page.generated_at;
                            article.incident.maintenance {
                                h3 { (name) " " span class={ "badge " @if running { "maintenance" } @else { "scheduled" } } {
                                    @if running { "in progress" } @else { "scheduled" } } }
                                p.sub { (when(w.starts_at)) " – " (when(w.ends_at)) }
                                @if !w.reason.is_empty() { p { (w.reason) } }
                            }
                        }
                    }
                    h2 { "Incidents (last 90 days)" }
                    @if page.incidents.is_empty() {
                        p.sub { "No incidents posted." }
                    }
                    @for (name, i) in &page.incidents { (incident_article(name, i)) }
                    @if let Some(subscribe) = subscribe {
                        form.subscribe method="post" action=(subscribe) {
                            label for="subscribe-email" { "Get updates by e-mail" }
                            input #subscribe-email type="email" name="email" required placeholder="you@example.com" autocomplete="email";
                            button type="submit" { "Subscribe" }
                        }
                    }
                    p.sub { "Follow updates: " a href={ (url) "/feed.atom" } { "Atom" } " · " a href={ (url) "/feed.json" } { "JSON Feed" }
                        " · " a href={ (url) "/history" } { "Incident history" } }
                    footer.sub {
                        p #generated { "Generated at " (when(page.generated_at)) "."
                            @if bound_s > 0 { " Served copies are at most " (bound_s) " s old." } }
                        p { (counting_rules(page.demo)) }
                        p { "Powered by NetPulse." }
                    }
                }
                (local_time())
            }
        }
    }
}

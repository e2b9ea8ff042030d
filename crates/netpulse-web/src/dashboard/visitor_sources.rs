//! A monitor's real visitors in the dashboard (`/monitors/{id}/visitors`): what its visitors
//! saw over the last 24 hours, each source with the tags to embed and the beacons it refused,
//! and a form to add one (members and up). Both go through the API's own functions
//! ([`crate::api::visitor_sources`]), so a refused source gets the API's message next to its
//! field, with what was typed kept.

use super::form_fields::FormValues;
use super::forms::{submitted, Submitted};
use super::{not_found, page, signed_in, SignedIn};
use crate::api::monitors;
use crate::api::visitor_sources::{create_from, delete_source, last_day, source_json};
use crate::base::{ApiError, AppState};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use netpulse_core::visits::VisitTally;
use netpulse_store::MonitorView;
use serde_json::{Map, Value};

/// The form's fields: (API field, label, hint).
const FIELDS: [(&str, &str, &str); 6] = [
    ("origins", "Origins", "the sites whose pages report, one per line, e.g. https://shop.example.com"),
    ("sample_one_in", "Sample one in", "page views; 10 means one view in ten reports (1 to 1000)"),
    ("per_minute", "Beacons a minute", "at most, over all engine nodes; more are dropped and counted (1 to 10000)"),
    ("health_url", "Health URL", "optional: fetched by the visitor's browser after the page loaded"),
    (
        "on_status_pages",
        "On status pages",
        "show what visitors saw on this monitor's status pages (it tells your traffic)",
    ),
    (
        "in_alerts",
        "In alerts",
        "outage notices tell how many page views failed; visitors never open or resolve an incident",
    ),
];

/// The line a monitor's page and its visitors page print of the last 24 hours.
pub(crate) fn seen_line(day: &VisitTally, demo: bool) -> Markup {
    html! {
        @if let Some(line) = day.seen_line("24 h") {
            p.visitors data-visitors=(day.loads) {
                (line)
                @if let Some(ms) = day.median_page_ms { " · median page load " (ms) " ms" }
                @if demo { " " span.badge.demo { "demo data" } }
            }
        }
    }
}

/// `GET /monitors/{id}/visitors`.
pub async fn show(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let auth = match signed_in(&s, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Ok(view) = monitors::load(&s, &auth.caller, &id).await else { return not_found(&auth) };
    render(&s, &auth, &view, &FormValues::new(), None).await
}

/// `POST /monitors/{id}/visitors`: add a source.
pub async fn create(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    let (auth, values) = match submitted(&s, &headers, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(view) = monitors::load(&s, &auth.caller, &id).await else { return not_found(&auth) };
    let mut input = Map::new();
    for (k, _, _) in FIELDS {
        let Some(v) = values.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()) else { continue };
        let json = match k {
            "origins" => Value::from(v.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>()),
            "sample_one_in" | "per_minute" => v.parse::<u32>().map_or_else(|_| Value::from(v), Value::from),
            "on_status_pages" | "in_alerts" => Value::from(v == "yes"),
            _ => Value::from(v),
        };
        input.insert(k.into(), json);
    }
    input.entry("origins").or_insert(Value::Array(vec![]));
    match create_from(&s, &auth.caller, &id, input).await {
        Ok(_) => Redirect::to(&format!("/monitors/{id}/visitors")).into_response(),
        Err(e) => render(&s, &auth, &view, &values, Some(e)).await,
    }
}

/// `POST /visitor-sources/{id}/delete`; the form says which monitor's page to return to.
pub async fn delete(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    let (auth, values) = match submitted(&s, &headers, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let monitor = values.get("monitor").cloned().unwrap_or_default();
    let Ok(view) = monitors::load(&s, &auth.caller, &monitor).await else { return not_found(&auth) };
    match delete_source(&s, &auth.caller, &id).await {
        Ok(()) => Redirect::to(&format!("/monitors/{}/visitors", view.record.id)).into_response(),
        Err(e) => render(&s, &auth, &view, &FormValues::new(), Some(e)).await,
    }
}

async fn render(
    s: &AppState,
    auth: &SignedIn,
    view: &MonitorView,
    typed: &FormValues,
    error: Option<ApiError>,
) -> Response {
    let id = &view.record.id;
    let (sources, day) =
        match (s.store.visit_sources(auth.tenant(), Some(id)).await, last_day(s, &auth.caller, id).await) {
            (Ok(v), Ok(d)) => (v, d),
            (Err(e), _) => return ApiError::from(e).into_response(),
            (_, Err(e)) => return e.into_response(),
        };
    let demo = auth.caller.evidence() == netpulse_store::Evidence::Demo;
    let at_field = error.as_ref().and_then(|e| e.field.as_deref()).map(|f| f.split('[').next().unwrap_or(f));
    let at_field = at_field.filter(|f| FIELDS.iter().any(|(k, _, _)| k == f));
    let body = html! {
        h1 { "Real visitors: " a href={ "/monitors/" (id) } { (view.record.draft.name) } }
        p.sub { "Visitors' browsers report, sampled, whether your pages loaded and how fast. Anonymous: no cookies, no addresses stored — "
            a href="/privacy/real-visitors" { "what is collected" } ". Counted apart from the monitor's checks." }
        (seen_line(&day, demo))
        @if day.loads == 0 { p.empty #no-visits { "No page views reported in the last 24 hours." } }
        @for src in &sources {
            @let j = source_json(s, src);
            section.card data-source=(src.id) {
                h2 { "Source " code { (src.site_key) } }
                p { "Origins: " (src.origins.join(", ")) " · "
                    @if src.sample_one_in == 1 { "every page view" } @else { "one page view in " (src.sample_one_in) }
                    " · at most " (src.per_minute) " beacons a minute"
                    @if let Some(h) = &src.health_url { " · health URL " code { (h) } }
                    " · " (if src.on_status_pages { "shown on status pages" } else { "not shown on status pages" })
                    " · " (if src.in_alerts { "told in outage notices" } else { "not in alerts" }) }
                p.sub { "Embed in your pages (script, or the pixel where scripts cannot run):" }
                pre.snippet data-snippet="script" { (j["script_tag"].as_str().unwrap_or_default()) }
                pre.snippet data-snippet="pixel" { (j["pixel_tag"].as_str().unwrap_or_default()) }
                @let d = &j["dropped"];
                p data-dropped=(d["origin"].as_u64().unwrap_or(0) + d["rate"].as_u64().unwrap_or(0) + d["token"].as_u64().unwrap_or(0) + d["bot"].as_u64().unwrap_or(0) + d["malformed"].as_u64().unwrap_or(0)) {
                    "Refused beacons: " (d["origin"]) " from other origins, " (d["rate"]) " over the budget, "
                    (d["token"]) " without a valid token, " (d["bot"]) " from crawlers, " (d["malformed"]) " malformed."
                }
                @if auth.may_write() { form.inline method="post" action={ "/visitor-sources/" (src.id) "/delete" } {
                    input type="hidden" name="csrf" value=(auth.csrf);
                    input type="hidden" name="monitor" value=(id);
                    button type="submit" data-action="delete-source" { "Delete source and its visits" }
                } }
            }
        }
        @if auth.may_write() { h2 { "Add a source" } }
        @if let (Some(e), None) = (&error, at_field) { p.error #form-error role="alert" { (e.message) } }
        @if auth.may_write() { form.monitor #new-source method="post" action={ "/monitors/" (id) "/visitors" } novalidate {
            input type="hidden" name="csrf" value=(auth.csrf);
            @for (k, label, hint) in FIELDS {
                div.field {
                    label for={ "v-" (k) } { (label) }
                    @let value = typed.get(k).map(String::as_str).unwrap_or("");
                    @if k == "origins" {
                        textarea id={ "v-" (k) } name=(k) rows="3" { (value) }
                    } @else if k == "on_status_pages" || k == "in_alerts" {
                        select id={ "v-" (k) } name=(k) { option value="no" selected[value != "yes"] { "no" } option value="yes" selected[value == "yes"] { "yes" } }
                    } @else {
                        @let placeholder = match k { "sample_one_in" => "10", "per_minute" => "60", _ => "https://shop.example.com/api/health" };
                        input id={ "v-" (k) } type="text" name=(k) value=(value) placeholder=(placeholder);
                    }
                    span.sub { (hint) }
                    @if let Some(e) = error.as_ref().filter(|_| at_field == Some(k)) {
                        p.error id={ "v-" (k) "-error" } role="alert" { (e.message) }
                    }
                }
            }
            button type="submit" { "Add source" }
        } }
    };
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    (status, page("Real visitors", Some(auth), body)).into_response()
}

//! Incidents in the dashboard: the list (`/incidents`, filtered by open, acknowledged or
//! resolved), one incident with its timeline and its notifications (every delivery attempt,
//! [`super::deliveries`]), and the acknowledge and resolve buttons (for
//! members and up: [`SignedIn::may_write`]). The buttons are small forms with the CSRF token that go through the API's own command
//! function, so they obey the same roles and the same state machine as the API.

use super::forms::{submitted, Submitted};
use super::{badge, not_found, page, signed_in, times, SignedIn};
use crate::api::incidents as api;
use crate::base::ApiError;
use crate::base::AppState;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use netpulse_core::IncidentId;
use netpulse_store::{IncidentCommand, IncidentFilter, IncidentRecord, IncidentStatus};
use serde::Deserialize;

/// How many of the newest incidents the list filters.
const LIST_LIMIT: usize = 500;
const FILTERS: [(&str, &str); 4] =
    [("open", "Open"), ("acknowledged", "Acknowledged"), ("resolved", "Resolved"), ("all", "All")];

/// An incident's state in the words of the API's `status` field (`open`, `acknowledged`,
/// `resolved`): the list's filters, the badges and the live script all use them.
pub(crate) fn status_name(s: IncidentStatus) -> &'static str {
    match s {
        IncidentStatus::Open => "open",
        IncidentStatus::Acknowledged => "acknowledged",
        IncidentStatus::Resolved => "resolved",
    }
}

/// The incidents table; with a CSRF token (for those who may use them) it gets
/// acknowledge/resolve buttons.
pub fn table(rows: &[IncidentRecord], csrf: Option<&str>) -> Markup {
    let now = netpulse_store::clock::now();
    html! {
        @if rows.is_empty() { p.empty #no-incidents { "No incidents." } }
        table #incidents hidden[rows.is_empty()] {
            thead { tr {
                th { "Incident" } th { "Status" } th { "Opened" } th { "Duration" } th { "Cause" }
                @if csrf.is_some() { th { "Actions" } }
            } }
            tbody { @for i in rows { tr data-incident=(i.id) data-status=(status_name(i.status)) data-opened-ms=(i.opened_at.millis()) {
                td { a href={ "/incidents/" (i.id) } { (i.monitor_name) } @if i.flapping { " " (badge("flapping")) } }
                td { (badge(status_name(i.status))) }
                td { (times::relative(i.opened_at, now)) }
                td data-cell="duration" { (lasted(i, now)) }
                td.error { (i.cause) }
                @if let Some(token) = csrf { td.actions { (actions(i, token)) } }
            } } }
        }
    }
}

/// How long the incident lasted ("12 min"), or has lasted so far ("12 min so far").
fn lasted(i: &IncidentRecord, now: netpulse_core::Timestamp) -> String {
    match i.resolved_at {
        Some(r) => times::duration(r.since(i.opened_at)),
        None => format!("{} so far", times::duration(now.since(i.opened_at))),
    }
}

fn actions(i: &IncidentRecord, csrf: &str) -> Markup {
    let button = |verb: &str, label: &str| {
        html! {
            form.inline method="post" action={ "/incidents/" (i.id) "/" (verb) } {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" data-action=(verb) { (label) }
            }
        }
    };
    html! {
        @if i.status == IncidentStatus::Open { (button("acknowledge", "Acknowledge")) }
        @if i.status != IncidentStatus::Resolved { (button("resolve", "Resolve")) }
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

/// `GET /incidents?status=open|acknowledged|resolved|all` (default: open).
pub async fn list(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Response {
    let auth = match signed_in(&s, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let chosen = q.status.as_deref().filter(|c| FILTERS.iter().any(|(k, _)| k == c)).unwrap_or("open");
    let filter = IncidentFilter { monitor: None, open_only: matches!(chosen, "open" | "acknowledged") };
    let rows = match s.store.list_incidents(auth.tenant(), &filter, LIST_LIMIT).await {
        Ok(rows) => rows,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let rows: Vec<IncidentRecord> =
        rows.into_iter().filter(|i| chosen == "all" || status_name(i.status) == chosen).collect();
    let body = html! {
        @if auth.caller.is_demo() { (crate::dashboard::demo::banner()) }
        h1 { "Incidents" }
        nav.filters {
            @for (key, label) in FILTERS {
                a href={ "/incidents?status=" (key) } aria-current=[(key == chosen).then_some("page")] { (label) }
            }
        }
        (table(&rows, auth.may_write().then_some(auth.csrf.as_str())))
        p.sub { "Filters the newest " (LIST_LIMIT) " incidents." }
    };
    page("Incidents", Some(&auth), body).into_response()
}

/// `GET /incidents/{id}`: the incident, its buttons and its timeline.
pub async fn show(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let auth = match signed_in(&s, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Ok(id) = IncidentId::parse(&id) else { return not_found(&auth) };
    let (rec, timeline) = match s.store.get_incident(auth.tenant(), &id).await {
        Ok(Some(x)) => x,
        Ok(None) => return not_found(&auth),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let (sent, grouped) = match crate::api::deliveries::of_incident(&s, &auth.caller, &id).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let seen = match crate::api::visitor_sources::during(&s, &auth.caller, &rec).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let body = html! {
        (incident_body(&auth, &rec, &timeline, (&sent, &grouped)))
        @if seen.loads > 0 { h2 { "Real visitors" } (visitors_verdict(&seen)) }
    };
    page("Incident", Some(&auth), body).into_response()
}

/// What the monitor's real visitors saw while the incident was open.
fn visitors_verdict(seen: &netpulse_core::visits::VisitTally) -> Markup {
    let views = netpulse_core::visits::thousands(seen.loads);
    let failed = netpulse_core::visits::thousands(seen.failed);
    html! {
        @if seen.confirms_outage() {
            p #visitors-confirm data-confirmed="yes" { span.badge.down { "confirmed by real visitors" } " "
                (failed) " of " (views) " page views failed while it was open: the probes and the visitors agree." }
        } @else {
            p #visitors-confirm data-confirmed="no" { (failed) " of " (views) " page views reported by real visitors failed while it was open." }
        }
    }
}

fn incident_body(
    auth: &SignedIn,
    rec: &IncidentRecord,
    timeline: &[netpulse_store::TimelineEntry],
    (sent, grouped): (&[netpulse_store::DeliveryAttempt], &[netpulse_store::GroupedNotice]),
) -> Markup {
    let now = netpulse_store::clock::now();
    let empty = if grouped.is_empty() {
        "Nobody was notified: no channel got a notice about this incident (yet)."
    } else {
        "No notice about this incident went out on its own."
    };
    html! {
        @if auth.caller.is_demo() { (crate::dashboard::demo::banner()) }
        h1 { "Incident: " a href={ "/monitors/" (rec.monitor_id) } { (rec.monitor_name) } }
        (table(std::slice::from_ref(rec), auth.may_write().then_some(auth.csrf.as_str())))
        h2 { "Timeline" }
        ul.timeline #timeline { @for e in timeline { li { span.sub { (times::exact(e.at)) } " " (e.message) } } }
        h2 { "Notifications" }
        p.sub { "Who was notified, when, through which channel and with what answer, retries included." }
        (super::deliveries::attempts_table(sent, now, auth.caller.audience(), empty))
        @if !grouped.is_empty() { ul #grouped-notices { @for g in grouped { li {
            "Its " (g.event) " notice went out inside the storm notice on "
            a href={ "/deliveries?channel=" (g.channel_id) } { (g.channel_name.as_deref().unwrap_or("a deleted channel")) }
            " (" (super::ago(Some(g.at), now)) ")."
        } } } }
    }
}

/// `POST /incidents/{id}/acknowledge`.
pub async fn acknowledge(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    command(s, headers, id, form, |by| IncidentCommand::Acknowledge { by }).await
}

/// `POST /incidents/{id}/resolve`.
pub async fn resolve(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Submitted,
) -> Response {
    command(s, headers, id, form, |by| IncidentCommand::Resolve { by }).await
}

async fn command(
    s: AppState,
    headers: HeaderMap,
    id: String,
    form: Submitted,
    cmd: fn(String) -> IncidentCommand,
) -> Response {
    let (auth, _) = match submitted(&s, &headers, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match api::apply(&s, &auth.caller, &id, cmd(auth.caller.actor())).await {
        Ok(rec) => Redirect::to(&format!("/incidents/{}", rec.id)).into_response(),
        Err(e) if e.code == "not_found" => not_found(&auth),
        Err(e) => {
            let body = html! { h1 { "Not done" } p.error role="alert" { (e.message) } p { a href={ "/incidents/" (id) } { "Back to the incident" } } };
            (e.status, page("Not done", Some(&auth), body)).into_response()
        }
    }
}

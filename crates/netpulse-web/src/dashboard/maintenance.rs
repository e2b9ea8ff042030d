//! A monitor's maintenance windows in the dashboard (`/monitors/{id}/maintenance`): the list
//! with a *Cancel* button each, and a form to schedule one (members and up). Both go through the API's own
//! functions ([`crate::api::maintenance`]), so a refused window gets the API's message next
//! to its field, with what was typed kept. During a window checks keep running and are
//! recorded; alerts are muted.

use super::form_fields::FormValues;
use super::forms::{submitted, Submitted};
use super::{badge, not_found, page, signed_in, SignedIn};
use crate::api::maintenance::{cancel_window, create_from};
use crate::api::monitors;
use crate::base::ApiError;
use crate::base::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use netpulse_store::MonitorView;
use serde_json::{Map, Value};

/// The form's fields: (API field, label, hint).
const FIELDS: [(&str, &str, &str); 6] = [
    ("starts_at", "Starts at", "RFC 3339, e.g. 2026-01-31T02:00:00Z; empty: now"),
    ("duration_s", "Duration (s)", "60 to 604800; or give an end"),
    ("ends_at", "Ends at", "RFC 3339; instead of a duration"),
    ("repeat_every_s", "Repeat every (s)", "optional, e.g. 604800 for weekly"),
    ("reason", "Reason", "shown in the timeline, and on status pages when announced"),
    ("announce", "Announce", "show it on the status pages that carry this monitor, ahead of time and while it runs"),
];

/// `GET /monitors/{id}/maintenance`.
pub async fn show(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let auth = match signed_in(&s, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Ok(view) = monitors::load(&s, &auth.caller, &id).await else { return not_found(&auth) };
    render(&s, &auth, &view, &FormValues::new(), None).await
}

/// `POST /monitors/{id}/maintenance`: schedule a window.
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
            "duration_s" | "repeat_every_s" => v.parse::<i64>().map_or_else(|_| Value::from(v), Value::from),
            "announce" => Value::from(v == "yes"),
            _ => Value::from(v),
        };
        input.insert(k.into(), json);
    }
    match create_from(&s, &auth.caller, &id, input).await {
        Ok(_) => Redirect::to(&format!("/monitors/{id}/maintenance")).into_response(),
        Err(e) => render(&s, &auth, &view, &values, Some(e)).await,
    }
}

/// `POST /maintenance/{id}/cancel`; the form says which monitor's page to return to.
pub async fn cancel(
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
    match cancel_window(&s, &auth.caller, &id, &Default::default()).await {
        Ok(()) => Redirect::to(&format!("/monitors/{}/maintenance", view.record.id)).into_response(),
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
    let windows = match s.store.list_maintenance(auth.tenant(), id).await {
        Ok(w) => w,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let at_field = error.as_ref().and_then(|e| e.field.as_deref()).filter(|f| FIELDS.iter().any(|(k, _, _)| k == f));
    let body = html! {
        h1 { "Maintenance: " a href={ "/monitors/" (id) } { (view.record.draft.name) } }
        p.sub { "During a window checks keep running and are recorded; alerts are muted. A monitor still down when the window ends pages then, once." }
        @if windows.is_empty() { p.empty #no-windows { "No maintenance windows." } }
        table #windows hidden[windows.is_empty()] {
            thead { tr { th { "Starts" } th { "Ends" } th { "Repeats" } th { "Reason" } th { "Announced" } th { "Phase" } @if auth.may_write() { th { "" } } } }
            tbody { @for w in &windows { tr data-window=(w.id) {
                td { (super::times::exact(w.starts_at)) } td { (super::times::exact(w.ends_at)) }
                td { (w.repeat_every_s.map_or("–".into(), |r| format!("every {r} s"))) }
                td { (w.reason) } td { (if w.announce { "yes" } else { "no" }) } td { (badge(&w.phase)) }
                @if auth.may_write() { td { form.inline method="post" action={ "/maintenance/" (w.id) "/cancel" } {
                    input type="hidden" name="csrf" value=(auth.csrf);
                    input type="hidden" name="monitor" value=(id);
                    button type="submit" data-action="cancel" { "Cancel" }
                } } }
            } } }
        }
        @if auth.may_write() { h2 { "Schedule a window" } }
        @if let (Some(e), None) = (&error, at_field) { p.error #form-error role="alert" { (e.message) } }
        @if auth.may_write() { form.monitor #new-window method="post" action={ "/monitors/" (id) "/maintenance" } novalidate {
            input type="hidden" name="csrf" value=(auth.csrf);
            @for (k, label, hint) in FIELDS {
                div.field {
                    label for={ "w-" (k) } { (label) }
                    @if k == "announce" {
                        @let yes = typed.get(k).is_some_and(|v| v == "yes");
                        select id={ "w-" (k) } name=(k) { option value="no" selected[!yes] { "no" } option value="yes" selected[yes] { "yes" } }
                    } @else {
                        input id={ "w-" (k) } type="text" name=(k) value=(typed.get(k).map(String::as_str).unwrap_or(""));
                    }
                    span.sub { (hint) }
                    @if let Some(e) = error.as_ref().filter(|_| at_field == Some(k)) {
                        p.error id={ "w-" (k) "-error" } role="alert" { (e.message.strip_prefix(&format!("{k}: ")).unwrap_or(&e.message)) }
                    }
                }
            }
            button type="submit" { "Schedule" }
        } }
    };
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    (status, page("Maintenance", Some(auth), body)).into_response()
}

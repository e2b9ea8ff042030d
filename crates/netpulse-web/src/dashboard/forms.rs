//! Creating and editing monitors from the dashboard: one server-rendered form for every
//! kind (the script shows only the chosen kind's fields). A submission becomes the API's
//! input shape ([`form_fields`](super::form_fields)) and goes through the API's own create
//! and replace functions, so the form and the API refuse the same input with the same
//! message; the message appears next to the field and the user's input is kept. Each
//! nullable policy field (reminders, quorum) is a three-way choice — inherit (the form shows
//! the organisation's value), a number, or its explicit "none" — and editing shows the
//! monitor's stored choice.
//!
//! Every form carries the signed-in caller's CSRF token in a hidden field; a submission
//! without it is refused before anything is parsed.

use super::form_fields::{
    choice_key, form_field, from_input, to_input, FormValues, Input, FIELDS, INHERIT, KINDS, VALUE,
};
use super::{not_found, page, signed_in, SignedIn};
use crate::api::monitors;
use crate::base::caller::same_secret;
use crate::base::ApiError;
use crate::base::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use netpulse_core::incident::{Policy, PolicyLayer};
use netpulse_core::monitor::ManagedBy;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct KindQuery {
    kind: Option<String>,
}

/// `GET /monitors/new`: an empty form with the API's defaults filled in.
pub async fn new_form(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<KindQuery>) -> Response {
    let auth = match signed_in(&s, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Err(e) = auth.caller.require_write() {
        // A read-only audience gets the reason, not a form that could only answer 403.
        let body =
            html! { h1 { "New monitor" } p.error role="alert" { (e.message) } p { a href="/" { "Back to monitors" } } };
        return (e.status, page("New monitor", Some(&auth), body)).into_response();
    }
    let kind = q.kind.filter(|k| KINDS.contains(&k.as_str())).unwrap_or_else(|| "http".into());
    let form = match MonitorForm::of(&s, &auth, Target::New).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    form.render(&kind, &defaults(&s), None)
}

/// `POST /monitors/new`.
pub async fn create(State(s): State<AppState>, headers: HeaderMap, form: Submitted) -> Response {
    let (auth, values) = match submitted(&s, &headers, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let form = match MonitorForm::of(&s, &auth, Target::New).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let kind = values.get("kind").map(String::as_str).unwrap_or("");
    if !KINDS.contains(&kind) {
        let e = ApiError::invalid("kind", format!("{kind} is not a monitor kind; use one of {}", KINDS.join(", ")));
        return form.render("http", &values, Some(&e));
    }
    let created = match to_input(kind, &values) {
        Ok(input) => monitors::create_from(&s, &auth.caller, input).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(view) => Redirect::to(&format!("/monitors/{}", view.record.id)).into_response(),
        Err(e) => form.render(kind, &values, Some(&e)),
    }
}

/// `GET /monitors/{id}/edit`: the form filled with the stored monitor.
pub async fn edit_form(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let auth = match signed_in(&s, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Err(e) = auth.caller.require_write() {
        // The form shows every stored field, secrets included: only for those who may change it.
        return e.into_response();
    }
    let Ok(view) = monitors::load(&s, &auth.caller, &id).await else { return not_found(&auth) };
    let values = from_input(&monitors::draft_json(&view.record.draft));
    match MonitorForm::of(&s, &auth, Target::Edit(id, view.record.draft.managed_by)).await {
        Ok(form) => form.render(view.record.draft.spec.kind(), &values, None),
        Err(r) => r,
    }
}

/// `POST /monitors/{id}/edit`: replaces the definition; the kind and the fields the form
/// does not show (channels, dependency, policy escalation, a file's mark and the like)
/// stay as stored (channels: those that still exist).
pub async fn update(
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
    let form = match MonitorForm::of(&s, &auth, Target::Edit(id.clone(), view.record.draft.managed_by)).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let kind = view.record.draft.spec.kind();
    let stored = monitors::draft_json(&view.record.draft);
    let mut input = match to_input(kind, &values) {
        Ok(input) => input,
        Err(e) => return form.render(kind, &values, Some(&e)),
    };
    for kept in ["depends_on", "managed_by"] {
        input.insert(kept.into(), stored.get(kept).cloned().unwrap_or(Value::Null));
    }
    // The API refuses a channel id that names no channel; the form does not show channels,
    // so it keeps the stored ones that still exist (a deleted one notifies nobody anyway)
    // rather than refuse a change the user could not fix here.
    let known = match monitors::existing_channels(&s, &auth.caller).await {
        Ok(known) => known,
        Err(e) => return e.into_response(),
    };
    let channels =
        view.record.draft.channels.clone().map(|c| c.into_iter().filter(|c| known.contains(c)).collect::<Vec<_>>());
    input.insert("channels".into(), json!(channels));
    // The policy starts from the stored one: the form's policy fields replace theirs (an
    // emptied optional field clears it), the rest (escalation, ...) stays.
    let mut policy = stored.get("policy").and_then(Value::as_object).cloned().unwrap_or_default();
    for f in FIELDS.iter().filter(|f| f.applies_to(kind)) {
        if let Some(k) = f.key.strip_prefix("policy.") {
            policy.remove(k);
        }
    }
    if let Some(Value::Object(shown)) = input.remove("policy") {
        policy.extend(shown);
    }
    input.insert("policy".into(), Value::Object(policy));
    // Written only over the version this request read, so a change made meanwhile (through
    // the API or another form) is never overwritten with what was read before it.
    let version = Some(view.record.updated_at);
    match monitors::replace(&s, &auth.caller, view, input, version).await {
        Ok(_) => Redirect::to(&format!("/monitors/{id}")).into_response(),
        Err(e) => form.render(kind, &values, Some(&e)),
    }
}

/// A dashboard form's body, read only once the sender is known (so a caller without the
/// right gets 403, not a complaint about the body).
pub(super) type Submitted = Result<Form<Vec<(String, String)>>, FormRejection>;

/// The signed-in caller and the submitted values, once the CSRF token matched. Forms are
/// for signed-in people: a bearer token is refused before the body is read.
pub(super) async fn submitted(
    s: &AppState,
    headers: &HeaderMap,
    form: Submitted,
) -> Result<(SignedIn, FormValues), Response> {
    if let Some(refused) = bearer_refused(headers) {
        return Err(refused);
    }
    let auth = signed_in(s, headers).await?;
    let Form(form) = form.map_err(|e| ApiError::bad_request(e.body_text()).into_response())?;
    // A name sent more than once (a multiple select: the channels to escalate to) holds its
    // values joined by commas, as a typed comma-separated list would.
    let mut values = FormValues::new();
    for (k, v) in form {
        values.entry(k).and_modify(|old: &mut String| *old = format!("{old},{v}")).or_insert(v);
    }
    let sent = values.get("csrf").map(String::as_bytes).unwrap_or_default();
    if !same_secret(sent, auth.csrf.as_bytes()) {
        let body = html! { h1 { "Form expired" } p.error role="alert" { "This form was not sent from this dashboard session. Reload the page and try again." } };
        return Err((StatusCode::FORBIDDEN, page("Form expired", Some(&auth), body)).into_response());
    }
    Ok((auth, values))
}

/// Dashboard forms are for signed-in people: a request carrying a bearer token is refused
/// (before its body is read).
pub(super) fn bearer_refused(headers: &HeaderMap) -> Option<Response> {
    if !headers.contains_key(header::AUTHORIZATION) {
        return None;
    }
    Some(ApiError::forbidden("dashboard forms are for signed-in people; use the API").into_response())
}

fn defaults(s: &AppState) -> FormValues {
    let cfg = &s.config.monitors;
    // No policy field is filled in: a new monitor inherits the organisation's defaults.
    let Value::Object(input) = json!({
        "method": "GET", "expected_status": "200-399", "follow_redirects": true, "verify_tls": true, "tls": true,
        "port": 443, "warn_days": 14, "record_type": "A", "grace_s": 60, "retries": 0,
        "interval_s": cfg.default_interval_s, "regions": [cfg.local_region],
    }) else {
        unreachable!("an object literal")
    };
    from_input(&input)
}

enum Target {
    New,
    /// The monitor's id, and what keeps it besides people.
    Edit(String, Option<ManagedBy>),
}

/// One monitor form being answered: who asks, what it creates or edits, and the policy a
/// field left to inherit gets (the organisation's defaults over the built-in ones).
struct MonitorForm<'a> {
    auth: &'a SignedIn,
    target: Target,
    inherited: Policy,
}

impl<'a> MonitorForm<'a> {
    async fn of(s: &AppState, auth: &'a SignedIn, target: Target) -> Result<MonitorForm<'a>, Response> {
        let defaults = monitors::defaults(s, &auth.caller).await.map_err(IntoResponse::into_response)?;
        Ok(MonitorForm { auth, target, inherited: defaults.policy_for(&PolicyLayer::default()) })
    }

    fn render(&self, kind: &str, values: &FormValues, error: Option<&ApiError>) -> Response {
        render(self.auth, &self.target, &json!(self.inherited), kind, values, error)
    }
}

fn render(
    auth: &SignedIn,
    target: &Target,
    inherited: &Value,
    kind: &str,
    values: &FormValues,
    error: Option<&ApiError>,
) -> Response {
    let (title, action, submit) = match target {
        Target::New => ("New monitor".to_owned(), "/monitors/new".to_owned(), "Create monitor"),
        Target::Edit(id, _) => ("Edit monitor".to_owned(), format!("/monitors/{id}/edit"), "Save changes"),
    };
    let managed = matches!(target, Target::Edit(_, Some(_)));
    let at_field = error.and_then(|e| e.field.as_deref()).and_then(form_field);
    let body = html! {
        h1 { (title) }
        @if managed { (managed_banner()) }
        @if let (Some(e), None) = (error, at_field) { p.error #form-error role="alert" { (e.message) } }
        form.monitor method="post" action=(action) novalidate {
            input type="hidden" name="csrf" value=(auth.csrf);
            (kind_field(target, kind))
            @for field in FIELDS {
                (field_row(field, kind, values, inherited, error.filter(|_| at_field == Some(field.key))))
            }
            button type="submit" { (submit) }
        }
    };
    let status = error.map_or(StatusCode::OK, |e| e.status);
    (status, page(&title, Some(auth), body)).into_response()
}

fn kind_field(target: &Target, kind: &str) -> Markup {
    html! {
        div.field {
            label for="f-kind" { "Kind" }
            @if let Target::Edit(..) = target {
                input #f-kind type="text" value=(kind) readonly;
                span.sub { "A monitor's kind cannot change; create a new monitor instead." }
            } @else {
                select #f-kind name="kind" {
                    @for k in KINDS { option value=(k) selected[k == kind] { (k) } }
                }
            }
        }
    }
}

fn field_row(
    field: &super::form_fields::Field,
    kind: &str,
    values: &FormValues,
    inherited: &Value,
    error: Option<&ApiError>,
) -> Markup {
    let id = format!("f-{}", field.key.replace('.', "-"));
    let value = values.get(field.key).map(String::as_str).unwrap_or("");
    let message = error.map(|e| {
        let api_field = e.field.as_deref().unwrap_or("");
        e.message.strip_prefix(&format!("{api_field}: ")).unwrap_or(&e.message).to_owned()
    });
    let error_id = format!("{id}-error");
    if let Input::OrNone(n) = field.input {
        let choice = n.choice(field.key, values);
        let name = choice_key(field.key);
        let org = n.describe(&inherited[field.key.trim_start_matches("policy.")]);
        let described = message.as_ref().map(|_| &error_id);
        return html! {
            div.field.choices.invalid[message.is_some()] role="radiogroup" aria-labelledby=(format!("{id}-label")) {
                span.label id=(format!("{id}-label")) { (field.label) }
                label { input #(format!("{id}-inherit")) type="radio" name=(name) value=(INHERIT) checked[choice == INHERIT]; " Inherit (organisation default: " (org) ")" }
                label.value {
                    input #(format!("{id}-value")) type="radio" name=(name) value=(VALUE) checked[choice == VALUE];
                    " " (n.before) " "
                    input #(id) type="text" inputmode="numeric" name=(field.key) value=(value) aria-label=(field.label) aria-describedby=[described];
                    " " (n.unit)
                }
                label { input #(format!("{id}-{}", n.word)) type="radio" name=(name) value=(n.word) checked[choice == n.word]; " " (capitalised(n.none)) }
                @if !field.hint.is_empty() { span.sub { (field.hint) } }
                @if let Some(m) = &message { p.error id=(error_id) role="alert" { (m) } }
            }
        };
    }
    html! {
        div.field.invalid[message.is_some()] data-kinds=(field.kinds.join(" ")) hidden[!field.applies_to(kind)] {
            label for=(id) { (field.label) }
            @match field.input {
                Input::Check => input #(id) type="checkbox" name=(field.key) checked[values.contains_key(field.key)];,
                Input::Headers | Input::Lines | Input::Multiline => textarea #(id) name=(field.key) rows="3" { (value) },
                Input::Choice(options) => select #(id) name=(field.key) {
                    @for o in options { option value=(o) selected[*o == value] { (o) } }
                },
                Input::YesNo => select #(id) name=(field.key) {
                    @for (o, text) in [("", "organisation default"), ("yes", "yes"), ("no", "no")] {
                        option value=(o) selected[o == value] { (text) }
                    }
                },
                Input::Number => input #(id) type="text" inputmode="numeric" name=(field.key) value=(value) aria-describedby=[message.as_ref().map(|_| &error_id)];,
                _ => input #(id) type="text" name=(field.key) value=(value) aria-describedby=[message.as_ref().map(|_| &error_id)];,
            }
            @if !field.hint.is_empty() { span.sub { (field.hint) } }
            @if let Some(m) = &message { p.error id=(error_id) role="alert" { (m) } }
        }
    }
}

/// `never` → `Never`.
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// The warning over the edit form of a monitor a monitors-as-code file keeps.
pub(super) fn managed_banner() -> Markup {
    html! {
        p.managed #managed role="status" {
            strong { "Managed by a file:" } " edits here are overwritten by the next "
            code { "netpulse apply" } ". Change the file instead (docs/monitors-as-code.md)."
        }
    }
}

//! Alert delivery in the dashboard: the delivery log page (`/deliveries`, the account's every
//! attempt to deliver a notice, newest first, 50 a page, optionally one channel's), the
//! attempts table that incident pages reuse (who was notified, when, through which channel,
//! with what answer, retries included), each channel's health cell on `/channels`, and the
//! overview's banner and the header's flag for channels whose deliveries are failing.
//! Delivery errors read `[hidden]` for viewers, read tokens and the demo, as in the API.

use super::{ago, not_found, page, signed_in};
use crate::api::deliveries::{parse_query, PAGE};
use crate::base::audience::{delivery_error, Audience};
use crate::base::{ApiError, AppState};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use netpulse_core::{TenantId, Timestamp};
use netpulse_store::{AttemptOutcome, ChannelHealth, ChannelRecord, DeliveryAttempt};
use serde::Deserialize;

/// The log page's query: `channel` (a channel id) filters, `before` (an attempt id) pages on.
#[derive(Deserialize, Default)]
pub struct LogPage {
    channel: Option<String>,
    before: Option<String>,
}

/// How many of `t`'s channels are failing now (0 when the log cannot be read: the header's
/// flag never stops a page).
pub(crate) async fn failing_count(s: &AppState, t: &TenantId) -> usize {
    match s.store.channel_health(t).await {
        Ok(h) => h.iter().filter(|h| h.is_failing()).count(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read channel health for the header");
            0
        }
    }
}

/// `GET /deliveries`.
pub async fn log(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<LogPage>) -> Response {
    let auth = match signed_in(&s, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let channel = q.channel.as_deref().filter(|c| !c.is_empty());
    let Ok(query) = parse_query(channel, None, q.before.as_deref().filter(|b| !b.is_empty()), PAGE) else {
        return not_found(&auth);
    };
    let rows = match s.store.delivery_attempts(auth.tenant(), &query).await {
        Ok(rows) => rows,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let next = rows.last().filter(|_| rows.len() == PAGE).map(|a| a.id);
    let more = |id: i64| match channel {
        Some(c) => format!("/deliveries?channel={c}&before={id}"),
        None => format!("/deliveries?before={id}"),
    };
    let now = netpulse_store::clock::now();
    let body = html! {
        @if auth.caller.is_demo() { (super::demo::banner()) }
        h1 { "Deliveries" }
        p.sub { "Every attempt to deliver a notice to a channel, newest first: retries and tests included." }
        @if channel.is_some() || query.before.is_some() { p { a href="/deliveries" { "All channels, newest first" } } }
        (attempts_table(&rows, now, auth.caller.audience(), "No deliveries yet: notices appear here as they are sent."))
        @if let Some(id) = next { p { a #older href=(more(id)) { "Older deliveries →" } } }
    };
    page("Deliveries", Some(&auth), body).into_response()
}

/// The attempts, one row each: time, monitor, incident, channel, notice, attempt number and
/// the answer.
pub fn attempts_table(rows: &[DeliveryAttempt], now: Timestamp, audience: Audience, empty: &str) -> Markup {
    html! {
        @if rows.is_empty() { p.empty #no-deliveries { (empty) } }
        table #deliveries hidden[rows.is_empty()] {
            thead { tr {
                th { "Time" } th { "Monitor" } th { "Incident" } th { "Channel" } th { "Notice" } th { "Attempt" } th { "Answer" }
            } }
            tbody { @for a in rows { tr data-attempt=(a.id) data-outcome=(a.outcome.as_str()) {
                td { (ago(Some(a.at), now)) }
                td { @match &a.monitor_id {
                    Some(m) => a href={ "/monitors/" (m) } { (a.monitor_name) },
                    None => span.sub { (a.monitor_name) },
                } }
                td { @match &a.incident_id { Some(i) => a href={ "/incidents/" (i) } { "incident" }, None => "–" } }
                td { a href={ "/deliveries?channel=" (a.channel_id) } { (a.channel_name) } " " span.sub { (a.channel_kind) } }
                td { (a.event) }
                td { (a.attempt) }
                td { (answer(a, now, audience)) }
            } } }
        }
    }
}

/// What came back: a badge, the HTTP status, the error, and when a retry is due.
fn answer(a: &DeliveryAttempt, now: Timestamp, audience: Audience) -> Markup {
    let (class, label) = match a.outcome {
        AttemptOutcome::Delivered => ("up", "delivered"),
        AttemptOutcome::Retrying => ("degraded", "retrying"),
        AttemptOutcome::Failed => ("down", "failed"),
    };
    html! {
        span class={ "badge " (class) } { (label) }
        @if let Some(st) = a.http_status { " " span.sub { "HTTP " (st) } }
        @if let Some(e) = delivery_error(a.error.clone(), audience) { div.error { (e) } }
        @if let Some(next) = a.next_attempt_at {
            div.sub { "next try " @if next > now { "in " (secs(next.since(now) / 1000)) } @else { "due now" } }
        }
    }
}

fn secs(s: i64) -> String {
    match s {
        ..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h", s / 3600),
    }
}

/// A channel's health on `/channels`: ok (last delivered …), failing since … with the last
/// error, or no delivery yet.
pub fn health_cell(h: Option<&ChannelHealth>, now: Timestamp, audience: Audience) -> Markup {
    html! {
        @match h {
            None => span.badge.unknown data-health="unknown" { "no deliveries yet" },
            Some(h) if !h.is_failing() => {
                span.badge.up data-health="ok" { "ok" }
                div.sub { "last delivered " (ago(h.last_delivered_at, now)) " (" (h.last.event) ")" }
            },
            Some(h) => {
                span.badge.down data-health="failing" { "failing" }
                div.sub { "since " (ago(h.failing_since, now))
                    " · last delivered " (ago(h.last_delivered_at, now)) }
                @if let Some(e) = delivery_error(h.last.error.clone(), audience) { div.error.last-error { (e) } }
            },
        }
    }
}

/// The overview's banner naming the failing channels; empty when none is failing.
pub fn failing_banner(channels: &[ChannelRecord], health: &[ChannelHealth], now: Timestamp) -> Markup {
    let failing: Vec<(&ChannelRecord, &ChannelHealth)> = health
        .iter()
        .filter(|h| h.is_failing())
        .filter_map(|h| channels.iter().find(|c| c.id == h.channel_id).map(|c| (c, h)))
        .collect();
    html! {
        @if !failing.is_empty() {
            p.alarm #channels-failing role="alert" {
                strong { "Notifications are not getting through: " }
                @for (i, (c, h)) in failing.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href={ "/deliveries?channel=" (c.id) } { (c.name) } " (failing since " (ago(h.failing_since, now)) ")"
                }
                ". " a href="/channels" { "Channels" }
            }
        }
    }
}

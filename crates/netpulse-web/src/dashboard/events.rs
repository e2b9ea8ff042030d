//! `GET /events`: the live bus as Server-Sent Events, for the dashboard's script.
//!
//! Authenticated like the API (the dashboard's session cookie, or a bearer token) and
//! tenant-scoped: a stream forwards only events whose tenant is the caller's, optionally only
//! one monitor's (`?monitor=mon_…`). A monitor page's stream (`?monitor=…&since=…`) opens
//! with what the page missed between its rendering and the stream's start ([`catch_up`]), so
//! a page rendered just before a monitor's first result never keeps showing "unknown" and
//! an empty chart. The overview's stream (`?since=…`, no monitor) opens with the health of
//! the monitors whose health changed since the overview was rendered ([`overview_catch_up`]),
//! not every monitor's: a change committed between rendering and subscribing is shown, and a
//! big tenant's connections cost only what changed. Each live `result` event written observes
//! `netpulse_check_to_dashboard_ms` from the envelope's `sent_at`. The stream ends when the
//! engine shuts down (so graceful shutdown is not held up by open dashboards).
//!
//! Written as plain SSE text, several events to a write: each time a stream wakes for an
//! event it also takes every event already waiting (up to [`CHUNK_BYTES`]) into the same
//! chunk, so under load a dashboard costs one write per wake-up, not one per event, and an
//! idle one costs nothing until the next keep-alive comment.

use crate::base::{AppState, Caller};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::stream::StreamExt;
use netpulse_core::{MonitorId, TenantId, Timestamp};
use netpulse_pipeline::live::LiveEvent;
use netpulse_pipeline::metrics::Metrics;
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast::{error::RecvError, error::TryRecvError, Receiver};
use tokio::sync::watch;

/// At most this much text goes into one chunk; what is left waits for the next write.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// An SSE event as text: `event: kind`, the data (one line: JSON has no raw newline, and
/// any other newline starts a `data:` line of its own), and the blank line ending it.
fn frame(out: &mut BytesMut, kind: &str, data: &str) {
    out.put_slice(b"event: ");
    out.put_slice(kind.as_bytes());
    for line in data.split('\n') {
        out.put_slice(b"\ndata: ");
        out.put_slice(line.as_bytes());
    }
    out.put_slice(b"\n\n");
}

/// One caught-up event, as text.
struct Missed {
    kind: &'static str,
    data: String,
}

#[derive(Deserialize)]
pub struct EventsQuery {
    monitor: Option<String>,
    /// With `monitor`: the newest result the page already shows (`started_ms`); the stream
    /// then opens with what the page missed since it was rendered (see [`catch_up`]).
    /// Without: when the overview was rendered (engine clock, ms; see [`overview_catch_up`]).
    since: Option<i64>,
}

/// How much earlier than the overview's rendering a health change is looked for: a change is
/// stamped when its transaction writes it (PostgreSQL: by the database's clock), a little
/// before it commits, so one that committed just after the rendering read may carry a stamp
/// from before it. Sending a few monitors' current health again is harmless.
const OVERVIEW_SLACK_MS: i64 = 30_000;

/// What an overview rendered at `since` missed before its stream opened: the health now of
/// the monitors whose health changed since (a `health` event each). Read after subscribing,
/// like [`catch_up`], so a change is caught up, streamed live, or both.
async fn overview_catch_up(s: &AppState, t: &TenantId, since: i64) -> Vec<Missed> {
    let from = Timestamp::from_millis(since.saturating_sub(OVERVIEW_SLACK_MS));
    match s.store.health_changed_since(t, from).await {
        Ok(changed) => changed
            .iter()
            .map(|(m, h)| Missed { kind: "health", data: json!({ "monitor_id": m, "health": h.as_str() }).to_string() })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "live catch-up: health changes not read");
            Vec::new()
        }
    }
}

/// What a monitor page rendered at `since` missed before its stream opened: the monitor's
/// state now (a `health` event) and the stored results started after `since` (oldest first,
/// at most a page of them). Read after subscribing, so nothing falls between the two; a
/// result both stored and announced arrives twice and the page shows it once (by id). These
/// events carry no `sent_at` and are not check-to-dashboard observations.
async fn catch_up(s: &AppState, t: &TenantId, m: &MonitorId, since: Option<i64>) -> Vec<Missed> {
    let view = match s.store.get_monitor(t, m).await {
        Ok(Some(v)) => v,
        Ok(None) => return Vec::new(),
        Err(e) => {
            tracing::warn!(error = %e, monitor = %m, "live catch-up: monitor not read");
            return Vec::new();
        }
    };
    let state = crate::dashboard::state_of(&view);
    let mut out = vec![Missed { kind: "health", data: json!({ "monitor_id": m, "health": state }).to_string() }];
    let Some(since) = since else { return out };
    let now = netpulse_store::clock::now();
    match s.store.list_results(t, m, Timestamp::from_millis(since.saturating_add(1)), now.plus_ms(1), 50, None).await {
        Ok(page) => out.extend(
            page.results
                .iter()
                .rev()
                .map(|r| Missed { kind: "result", data: netpulse_pipeline::live::result_json(r, None) }),
        ),
        Err(e) => tracing::warn!(error = %e, monitor = %m, "live catch-up: results not read"),
    }
    out
}

/// One open stream; counts itself in `netpulse_live_subscribers` while it lives.
struct Subscription {
    rx: Receiver<Arc<LiveEvent>>,
    closed: watch::Receiver<bool>,
    tenant: TenantId,
    monitor: Option<MonitorId>,
    metrics: Arc<Metrics>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.metrics.live_subscribers.dec();
    }
}

impl Subscription {
    fn wants(&self, e: &LiveEvent) -> bool {
        let about_monitor = || match (&self.monitor, &e.monitor_id) {
            (Some(wanted), Some(m)) => wanted == m,
            _ => true, // every monitor's stream, or a tenant-wide event
        };
        e.tenant_id == self.tenant && about_monitor()
    }

    /// Write `e` into `out` if this stream wants it.
    fn take(&self, e: &LiveEvent, out: &mut BytesMut) {
        if !self.wants(e) {
            return;
        }
        if let Some(sent) = e.sent_at {
            let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64() * 1000.0;
            self.metrics.check_to_dashboard_ms.observe_ms(now_ms - sent.millis() as f64);
        }
        frame(out, e.kind, &e.json);
    }

    /// The next chunk: the events that woke the stream and every one already waiting behind
    /// them (up to [`CHUNK_BYTES`]); a keep-alive comment after `keep_alive` without one;
    /// `None` once the bus is closed.
    async fn next_chunk(&mut self, keep_alive: Duration) -> Option<Bytes> {
        let mut out = BytesMut::new();
        // From the last write: other tenants' events do not put the keep-alive off.
        let idle = tokio::time::sleep(keep_alive);
        tokio::pin!(idle);
        while out.is_empty() {
            let got = tokio::select! {
                got = self.rx.recv() => got,
                _ = self.closed.wait_for(|c| *c) => return None,
                _ = &mut idle => return Some(Bytes::from_static(b":\n\n")),
            };
            match got {
                Ok(e) => self.take(&e, &mut out),
                Err(RecvError::Lagged(n)) => frame(&mut out, "lagged", &n.to_string()),
                Err(RecvError::Closed) => return None,
            }
        }
        while out.len() < CHUNK_BYTES {
            match self.rx.try_recv() {
                Ok(e) => self.take(&e, &mut out),
                Err(TryRecvError::Lagged(n)) => frame(&mut out, "lagged", &n.to_string()),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        Some(out.freeze())
    }
}

pub async fn events(State(s): State<AppState>, caller: Caller, Query(q): Query<EventsQuery>) -> Response {
    // A malformed monitor id matches nothing, like another tenant's id.
    let monitor =
        q.monitor.map(|m| MonitorId::parse(&m).unwrap_or_else(|_| MonitorId::from_trusted("mon_none".into())));
    s.metrics.live_subscribers.inc();
    let sub = Subscription {
        rx: s.live.subscribe(),
        closed: s.live.closed(),
        tenant: caller.tenant().clone(),
        monitor,
        metrics: s.metrics.clone(),
    };
    let missed = match (&sub.monitor, q.since) {
        (Some(m), since) => catch_up(&s, &sub.tenant, m, since).await,
        (None, Some(since)) => overview_catch_up(&s, &sub.tenant, since).await,
        (None, None) => Vec::new(),
    };
    let keep_alive = s.config.stream_keep_alive;
    let live = futures_util::stream::unfold(sub, move |mut sub| async move {
        let chunk = sub.next_chunk(keep_alive).await?;
        Some((Ok::<_, Infallible>(chunk), sub))
    });
    let first = (!missed.is_empty()).then(|| {
        let mut out = BytesMut::new();
        for m in &missed {
            frame(&mut out, m.kind, &m.data);
        }
        Ok(out.freeze())
    });
    let stream = futures_util::stream::iter(first).chain(live);
    ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], Body::from_stream(stream))
        .into_response()
}

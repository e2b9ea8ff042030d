//! `GET /events`: the live bus as Server-Sent Events, for the dashboard's script.
//!
//! Authenticated like the API (the dashboard's session cookie, or a bearer token) and
//! tenant-scoped: a stream forwards only events whose tenant is the caller's, optionally only
//! one monitor's (`?monitor=mon_…`). Each `result` event written observes
//! `netpulse_check_to_dashboard_ms` from the envelope's `sent_at`. The stream ends when the
//! engine shuts down (so graceful shutdown is not held up by open dashboards).

use crate::api::{AppState, Caller};
use crate::live::LiveEvent;
use crate::metrics::Metrics;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::Stream;
use netpulse_core::{MonitorId, TenantId};
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast::{error::RecvError, Receiver};
use tokio::sync::watch;

#[derive(Deserialize)]
pub struct EventsQuery {
    monitor: Option<String>,
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

    async fn next(&mut self) -> Option<Event> {
        loop {
            let got = tokio::select! {
                got = self.rx.recv() => got,
                _ = self.closed.wait_for(|c| *c) => return None,
            };
            match got {
                Ok(e) if self.wants(&e) => {
                    if let Some(sent) = e.sent_at {
                        let now_ms =
                            SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64() * 1000.0;
                        self.metrics.check_to_dashboard_ms.observe_ms(now_ms - sent.millis() as f64);
                    }
                    return Some(Event::default().event(e.kind).data(&e.json));
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) => return Some(Event::default().event("lagged").data(n.to_string())),
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

pub async fn events(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<EventsQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
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
    let stream = futures_util::stream::unfold(sub, |mut sub| async move {
        let e = sub.next().await?;
        Some((Ok(e), sub))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

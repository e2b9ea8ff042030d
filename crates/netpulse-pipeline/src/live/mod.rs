//! The live bus: what the dashboard hears over Server-Sent Events.
//!
//! Events on a [`tokio::sync::broadcast`] channel: `result` (one per result the queue
//! accepted, with the envelope's `sent_at`, announced at once by
//! [`announcing::Announcing`] so the dashboard sees it within milliseconds);
//! `health` (a monitor's displayed health changed) and `incident` (opened, reopened,
//! resolved), published by ingest *after* commit, so a browser never shows an incident a
//! failed transaction would take back; the API adds `monitor` when one is created, and the
//! gateway `region` when a region the tenant checks from goes offline or comes back.
//! Each event carries its tenant; `GET /events` forwards only the caller's tenant's events.
//! Events are rendered to JSON once, at publish, whatever the number of subscribers.
//!
//! A subscriber that falls more than [`CAPACITY`] events behind loses the oldest ones and is
//! told so (`event: lagged`); the page then reloads to resynchronise.
//!
//! With several engine nodes (Redis queue) a bus is *relayed* ([`LiveBus::relayed`]): every
//! event is also handed to [`relay`], which publishes it for the other nodes and
//! delivers theirs here with [`LiveBus::deliver_remote`] (never relayed again). The embedded
//! mode's bus has no relay and no Redis dependency.

pub mod announcing;
pub mod relay;

use netpulse_core::{CheckResult, MonitorId, TenantId, Timestamp};
use netpulse_store::plan::LiveChange;
use serde_json::json;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, watch};

/// Events a slow subscriber may fall behind before it loses some.
pub const CAPACITY: usize = 8192;

/// One event on the bus, already rendered.
#[derive(Debug)]
pub struct LiveEvent {
    pub tenant_id: TenantId,
    /// The monitor it is about; `None` for tenant-wide events (`region`).
    pub monitor_id: Option<MonitorId>,
    /// The SSE event name: `result`, `health`, `incident`, `monitor` or `region`.
    pub kind: &'static str,
    /// When the result left the checker (results only): check-to-dashboard latency.
    pub sent_at: Option<Timestamp>,
    /// The event's JSON data.
    pub json: String,
}

/// The publishing side, cloned into ingest and the HTTP state.
#[derive(Clone)]
pub struct LiveBus {
    tx: broadcast::Sender<Arc<LiveEvent>>,
    /// Set at shutdown: every SSE stream ends, so the HTTP server can drain.
    closed: Arc<watch::Sender<bool>>,
    /// Set when events are shared with other engine nodes: each event is also sent here.
    outbound: Option<mpsc::Sender<Arc<LiveEvent>>>,
}

impl Default for LiveBus {
    fn default() -> Self {
        Self::new(CAPACITY)
    }
}

impl LiveBus {
    pub fn new(capacity: usize) -> Self {
        Self { tx: broadcast::channel(capacity).0, closed: Arc::new(watch::channel(false).0), outbound: None }
    }

    /// A bus whose events also go to the returned receiver (the relay to other nodes). When
    /// the relay falls [`CAPACITY`] events behind, further events are not relayed (live
    /// events are best-effort; local subscribers still get them).
    pub fn relayed(capacity: usize) -> (Self, mpsc::Receiver<Arc<LiveEvent>>) {
        let (out, rx) = mpsc::channel(CAPACITY);
        (Self { outbound: Some(out), ..Self::new(capacity) }, rx)
    }

    /// End every subscriber's stream (engine shutdown).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Becomes `true` when the bus is closed.
    pub fn closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.tx.subscribe()
    }

    /// Whether anyone listens on this node (ingest then keeps its batching linger short).
    pub fn has_subscribers(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Whether events are worth rendering: someone listens here, or they are relayed to
    /// other nodes (whose dashboards this node cannot see).
    pub fn wants_events(&self) -> bool {
        self.outbound.is_some() || self.has_subscribers()
    }

    fn send(&self, e: LiveEvent) {
        let e = Arc::new(e);
        if let Some(out) = &self.outbound {
            let _ = out.try_send(e.clone()); // best-effort: a stalled relay drops, never blocks
        }
        // No subscriber is not an error: nobody is looking.
        let _ = self.tx.send(e);
    }

    /// An event another engine node published: to this node's subscribers only.
    pub fn deliver_remote(&self, e: LiveEvent) {
        let _ = self.tx.send(Arc::new(e));
    }

    /// A result the queue just accepted.
    pub fn result_checked(&self, r: &CheckResult, sent_at: Timestamp) {
        if !self.wants_events() {
            return;
        }
        self.send(LiveEvent {
            tenant_id: r.tenant_id.clone(),
            monitor_id: Some(r.monitor_id.clone()),
            kind: "result",
            sent_at: Some(sent_at),
            json: result_json(r, Some(sent_at)),
        });
    }

    /// A monitor was created (the overview adds its row, still "never" checked).
    pub fn monitor_created(&self, m: &netpulse_store::MonitorRecord) {
        if !self.wants_events() {
            return;
        }
        let json = json!({
            "monitor_id": m.id,
            "name": m.draft.name,
            "kind": m.draft.spec.kind(),
            // Every subscriber of the tenant gets this, viewers too: shown as to a viewer.
            "target": netpulse_core::redact::target(&m.draft.spec),
            "paused": m.draft.paused,
        });
        self.send(LiveEvent {
            tenant_id: m.tenant_id.clone(),
            monitor_id: Some(m.id.clone()),
            kind: "monitor",
            sent_at: None,
            json: json.to_string(),
        });
    }

    /// A region `tenant` checks from went offline or came back (the dashboard shows it).
    pub fn region_changed(&self, tenant: &TenantId, region: &str, online: bool, at: Timestamp) {
        if !self.wants_events() {
            return;
        }
        let status = if online { "online" } else { "offline" };
        self.send(LiveEvent {
            tenant_id: tenant.clone(),
            monitor_id: None,
            kind: "region",
            sent_at: None,
            json: json!({ "region": region, "status": status, "at": at.to_rfc3339() }).to_string(),
        });
    }

    /// A health change or an incident transition that was just committed.
    pub fn change(&self, c: &LiveChange) {
        if !self.wants_events() {
            return;
        }
        let e = match c {
            LiveChange::Health { tenant_id, monitor_id, health } => LiveEvent {
                tenant_id: tenant_id.clone(),
                monitor_id: Some(monitor_id.clone()),
                kind: "health",
                sent_at: None,
                json: json!({ "monitor_id": monitor_id, "health": health.as_str() }).to_string(),
            },
            LiveChange::Incident { tenant_id, monitor_id, incident_id, change, at } => LiveEvent {
                tenant_id: tenant_id.clone(),
                monitor_id: Some(monitor_id.clone()),
                kind: "incident",
                sent_at: None,
                json: json!({
                    "monitor_id": monitor_id,
                    "incident_id": incident_id,
                    "change": change,
                    "at": at.to_rfc3339(),
                })
                .to_string(),
            },
        };
        self.send(e);
    }
}

/// A `result` event's data; `sent_at` (when it left the checker) is absent for a stored
/// result replayed to a page that missed it.
pub fn result_json(r: &CheckResult, sent_at: Option<Timestamp>) -> String {
    json!({
        "id": r.id,
        "monitor_id": r.monitor_id,
        "outcome": r.outcome.as_str(),
        "latency_ms": r.timings.total_ms,
        "status_code": r.status_code,
        "region": r.region,
        "error": r.error,
        "started_at": r.started_at.to_rfc3339(),
        "started_ms": r.started_at.millis(),
        "sent_at": sent_at.map(Timestamp::millis),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use netpulse_core::incident::Health;

    #[test]
    fn events_carry_their_tenant_and_are_rendered_once() {
        let bus = LiveBus::new(4);
        let mut rx = bus.subscribe();
        let t = TenantId::from_trusted("ten_a".into());
        let m = MonitorId::from_trusted("mon_a".into());
        bus.change(&LiveChange::Health { tenant_id: t.clone(), monitor_id: m.clone(), health: Health::Down });
        let e = rx.try_recv().expect("event");
        assert_eq!((e.kind, &e.tenant_id), ("health", &t));
        assert_eq!(e.json, r#"{"health":"down","monitor_id":"mon_a"}"#);
    }

    #[test]
    fn a_relayed_bus_relays_its_own_events_never_remote_ones() {
        let (bus, mut out) = LiveBus::relayed(4);
        assert!(bus.wants_events() && !bus.has_subscribers(), "rendered for other nodes' dashboards");
        let mut rx = bus.subscribe();
        let t = TenantId::from_trusted("ten_a".into());
        let m = MonitorId::from_trusted("mon_a".into());
        bus.change(&LiveChange::Health { tenant_id: t.clone(), monitor_id: m.clone(), health: Health::Down });
        assert_eq!(out.try_recv().expect("relayed").kind, "health");
        assert_eq!(rx.try_recv().expect("local").kind, "health");
        let remote = LiveEvent { tenant_id: t, monitor_id: Some(m), kind: "result", sent_at: None, json: "{}".into() };
        bus.deliver_remote(remote);
        assert_eq!(rx.try_recv().expect("delivered here").kind, "result");
        assert!(out.try_recv().is_err(), "another node's event is not relayed back");
    }

    #[test]
    fn nothing_is_rendered_without_subscribers() {
        let bus = LiveBus::new(4);
        assert!(!bus.has_subscribers());
        let t = TenantId::from_trusted("ten_a".into());
        let m = MonitorId::from_trusted("mon_a".into());
        bus.change(&LiveChange::Health { tenant_id: t, monitor_id: m, health: Health::Up });
        assert_eq!(bus.subscribe().try_recv().unwrap_err(), broadcast::error::TryRecvError::Empty);
    }
}

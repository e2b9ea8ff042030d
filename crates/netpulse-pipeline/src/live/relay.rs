//! Live events across engine nodes: with the Redis queue, every node publishes its live bus's
//! events on the pub/sub channel `{queue.redis.prefix}:live`, and every node serving the API
//! or the dashboard subscribes and hands other nodes' events to its own SSE subscribers.
//!
//! Each message names the node that published it; a node drops its own (its subscribers
//! already had them), so nothing is shown twice. Events keep their tenant, and `GET /events`
//! filters them as it filters local ones. Best-effort, like the bus itself: an event
//! published while a subscriber is reconnecting (Redis restarted) is not seen there, and a
//! relay that falls behind drops events. Live events are not evidence: the dashboard reloads
//! what is stored. Publishing pipelines what is waiting; subscribing needs a dedicated
//! connection, reopened with backoff when it ends.

use super::{LiveBus, LiveEvent};
use crate::queue::RedisQueueConfig;
use futures_util::StreamExt;
use netpulse_core::{MonitorId, TenantId, Timestamp};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Events published in one pipeline, at most.
const PIPELINE: usize = 256;
/// The event names a node accepts from others (the bus's `kind`s).
const KINDS: [&str; 5] = ["result", "health", "incident", "monitor", "region"];

/// One event as it crosses Redis.
#[derive(Serialize, Deserialize)]
struct Wire {
    node: String,
    tenant: String,
    monitor: Option<String>,
    kind: String,
    sent_at: Option<i64>,
    json: String,
}

impl Wire {
    fn of(node: &str, e: &LiveEvent) -> Self {
        Wire {
            node: node.to_owned(),
            tenant: e.tenant_id.as_str().to_owned(),
            monitor: e.monitor_id.as_ref().map(|m| m.as_str().to_owned()),
            kind: e.kind.to_owned(),
            sent_at: e.sent_at.map(|t| t.millis()),
            json: e.json.clone(),
        }
    }

    /// The event, unless it is malformed or names an unknown kind.
    fn into_event(self) -> Option<LiveEvent> {
        let kind = KINDS.into_iter().find(|k| *k == self.kind)?;
        let monitor_id = match self.monitor {
            Some(m) => Some(MonitorId::parse(&m).ok()?),
            None => None,
        };
        Some(LiveEvent {
            tenant_id: TenantId::parse(&self.tenant).ok()?,
            monitor_id,
            kind,
            sent_at: self.sent_at.map(Timestamp::from_millis),
            json: self.json,
        })
    }
}

/// The relay of one node.
pub struct LiveRelay {
    node: String,
    channel: String,
    client: redis::Client,
}

impl LiveRelay {
    /// The relay of node `node` on the queue's Redis; `Ok` once the command connection is up.
    pub async fn connect(config: &RedisQueueConfig, node: &str) -> anyhow::Result<(Self, ConnectionManager)> {
        let (client, cmd) = crate::queue::redis::connect_commands(config).await?;
        Ok((Self { node: node.to_owned(), channel: format!("{}:live", config.prefix), client }, cmd))
    }

    /// The pub/sub channel's name.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Publish every event of `events` (this node's bus) until the bus is dropped.
    pub async fn publish(self: Arc<Self>, mut events: mpsc::Receiver<Arc<LiveEvent>>, mut cmd: ConnectionManager) {
        let (mut waiting, mut failing) = (Vec::with_capacity(PIPELINE), false);
        while events.recv_many(&mut waiting, PIPELINE).await > 0 {
            let mut pipe = redis::pipe();
            for e in waiting.drain(..) {
                match serde_json::to_string(&Wire::of(&self.node, &e)) {
                    Ok(msg) => pipe.cmd("PUBLISH").arg(&self.channel).arg(msg).ignore(),
                    Err(_) => continue,
                };
            }
            match pipe.query_async::<()>(&mut cmd).await {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    failing = true; // said once per outage, not once per event
                    tracing::warn!(error = %e, channel = %self.channel, "live events not relayed to other nodes");
                }
                Err(_) => {}
            }
        }
    }

    /// Subscribe (returns once Redis confirmed the subscription), then deliver other nodes'
    /// events to `bus` until it closes, resubscribing with backoff when the connection ends.
    pub async fn subscribe(self: Arc<Self>, bus: LiveBus) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let first = self.open().await?;
        Ok(tokio::spawn(async move {
            let mut closed = bus.closed();
            let mut pubsub = Some(first);
            let mut backoff = Duration::from_millis(100);
            loop {
                if let Some(p) = pubsub.take() {
                    tokio::select! {
                        _ = self.forward(p, &bus) => {}
                        _ = closed.wait_for(|c| *c) => return,
                    }
                    tracing::warn!(channel = %self.channel, "live relay subscription ended; resubscribing");
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = closed.wait_for(|c| *c) => return,
                }
                match self.open().await {
                    Ok(p) => {
                        tracing::info!(channel = %self.channel, "live relay subscribed again");
                        pubsub = Some(p);
                        backoff = Duration::from_millis(100);
                    }
                    Err(_) => backoff = (backoff * 2).min(Duration::from_secs(5)),
                }
            }
        }))
    }

    async fn open(&self) -> anyhow::Result<redis::aio::PubSub> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&self.channel).await?;
        Ok(pubsub)
    }

    /// Deliver messages until the connection ends.
    async fn forward(&self, mut pubsub: redis::aio::PubSub, bus: &LiveBus) {
        let mut messages = pubsub.on_message();
        while let Some(msg) = messages.next().await {
            let Ok(wire) = serde_json::from_slice::<Wire>(msg.get_payload_bytes()) else { continue };
            if wire.node == self.node {
                continue; // our own: local subscribers already had it
            }
            if let Some(e) = wire.into_event() {
                bus.deliver_remote(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_crosses_the_wire_unchanged_and_unknown_kinds_are_dropped() {
        let e = LiveEvent {
            tenant_id: TenantId::from_parts(1_700_000_000_000, 1),
            monitor_id: Some(MonitorId::from_parts(1_700_000_000_000, 2)),
            kind: "result",
            sent_at: Some(Timestamp::from_millis(42)),
            json: r#"{"id":"res_1"}"#.into(),
        };
        let text = serde_json::to_string(&Wire::of("node-a", &e)).unwrap();
        let back = serde_json::from_str::<Wire>(&text).unwrap().into_event().expect("an event");
        assert_eq!((back.kind, &back.tenant_id, &back.monitor_id), (e.kind, &e.tenant_id, &e.monitor_id));
        assert_eq!((back.sent_at, back.json), (e.sent_at, e.json.clone()));
        let mut odd = Wire::of("node-a", &e);
        odd.kind = "shutdown".into();
        assert!(odd.into_event().is_none());
    }
}

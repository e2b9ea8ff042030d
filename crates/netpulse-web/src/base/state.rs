//! What every handler can reach: the store, the queue, the live bus, the web configuration
//! and the web layer's own caches, built once by the binary's composition root.

use super::badge_key::BadgeKey;
use super::status_cache::StatusPageCache;
use super::throttle::Throttles;
use crate::config::WebConfig;
use netpulse_pipeline::alerts::Sender;
use netpulse_pipeline::gateway::fleet::Fleet;
use netpulse_pipeline::live::LiveBus;
use netpulse_pipeline::metrics::Metrics;
use netpulse_pipeline::queue::ResultQueue;
use netpulse_store::Store;
use std::sync::Arc;
use tokio::sync::Notify;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<WebConfig>,
    pub results: Arc<dyn ResultQueue>,
    pub metrics: Arc<Metrics>,
    /// Tells the scheduler that monitors changed.
    pub monitors_changed: Arc<Notify>,
    /// Tells the maintenance clock that a window was created or cancelled.
    pub maintenance_changed: Arc<Notify>,
    pub sender: Sender,
    pub base_url: String,
    /// Committed results and state changes, for the dashboard's `/events`.
    pub live: LiveBus,
    /// Signs public badge URLs.
    pub badge_key: BadgeKey,
    /// Regions served by remote workers and their health.
    pub fleet: Arc<Fleet>,
    /// Login attempts per IP address and per account, and account mail.
    pub throttles: Arc<Throttles>,
    /// Recent readings of public status pages.
    pub status_cache: Arc<StatusPageCache>,
    /// Page tokens, budgets and refusals of real-visitor beacons.
    pub visitors: Arc<super::visitor_gate::VisitorGate>,
}

//! The simulated organisation of a scenario: its channels (a receiver every monitor pages,
//! and an on-call receiver when the scenario escalates), its alerting defaults (the
//! scenario's policy, which every monitor inherits through `Policy::resolve`), and each
//! monitor's facts and maintenance windows, built by the same code the store uses
//! (`MonitorFacts::from_draft`).

use super::engine::{Monitored, SimEngine};
use super::outbox::SimOutbox;
use super::scenario::Scenario;
use netpulse_core::ids::fnv1a;
use netpulse_core::incident::{Policy, PolicyLayer};
use netpulse_core::monitor::{CheckSpec, Interval, MonitorDraft, TcpSpec};
use netpulse_core::{ChannelId, MonitorId, TenantId, Timestamp};
use netpulse_store::plan::{EnabledChannel, MonitorFacts};
use netpulse_store::{ChannelKind, ChannelRecord, MaintenanceWindow, Secret};

/// What a run starts from.
pub struct Built {
    pub engine: SimEngine,
    pub tenant: TenantId,
    /// Each scenario monitor's id, in scenario order.
    pub ids: Vec<MonitorId>,
}

/// Build the organisation and engine of scenario `s`, whose second 0 is `epoch_ms`.
pub fn build(s: &Scenario, epoch_ms: i64) -> anyhow::Result<Built> {
    let tenant = TenantId::from_parts(epoch_ms, 1);
    let mut primary = sim_channel(&tenant, epoch_ms, 1, "simulated receiver");
    primary.settings = serde_json::json!({ "notify_degraded": true });
    let escalation = s.escalate_after_s.map(|_| sim_channel(&tenant, epoch_ms, 2, "simulated on-call receiver"));
    let policy = Policy {
        confirm_threshold: s.confirm_threshold,
        recovery_threshold: s.recovery_threshold,
        escalate_after_s: s.escalate_after_s,
        escalate_to: escalation.iter().map(|c| c.id.clone()).collect(),
        ..Policy::default()
    };
    let defaults = PolicyLayer::all_of(&policy);
    let channels: Vec<ChannelRecord> = std::iter::once(primary).chain(escalation).collect();
    let enabled: Vec<EnabledChannel> = channels
        .iter()
        .map(|c| EnabledChannel {
            id: c.id.clone(),
            notify_degraded: netpulse_store::plan::notify_degraded(&c.settings),
        })
        .collect();
    let ids: Vec<MonitorId> = s.monitors.iter().map(|m| monitor_id(&m.id, epoch_ms)).collect();
    let interval = Interval::from_trusted(s.interval_s);
    let mut monitors = Vec::with_capacity(s.monitors.len());
    for (i, m) in s.monitors.iter().enumerate() {
        let draft = MonitorDraft {
            name: m.id.clone(),
            spec: CheckSpec::Tcp(TcpSpec { host: format!("{}.sim.invalid", m.id), port: 443 }),
            interval,
            timeout_ms: 1000,
            retries: 0,
            regions: s.regions.clone(),
            tags: vec![],
            paused: false,
            policy: PolicyLayer::default(),
            channels: Some(vec![channels[0].id.clone()]),
            depends_on: m.depends_on.as_ref().map(|p| monitor_id(p, epoch_ms)),
            managed_by: None,
        };
        let facts = MonitorFacts::from_draft(tenant.clone(), ids[i].clone(), &draft, &defaults, enabled.clone(), None);
        let parent = m.depends_on.as_ref().and_then(|p| s.monitors.iter().position(|o| &o.id == p));
        let at = |s: u64| Timestamp::from_millis(epoch_ms + s as i64 * 1000);
        let windows = m.maintenance().into_iter().enumerate().map(|(n, (a, b))| MaintenanceWindow {
            id: format!("mw_{i}_{n}"),
            monitor_id: ids[i].clone(),
            starts_at: at(a),
            ends_at: at(b),
            repeat_every_s: None,
            reason: "simulated".into(),
            phase: "scheduled".into(),
            announce: false,
            updated_at: Timestamp::from_millis(epoch_ms),
        });
        monitors.push(Monitored::new(facts, interval, parent, windows.collect()));
    }
    let redelivery = (s.faults.redeliver_ratio > 0.0)
        .then(|| (2 * s.faults.reorder_max_s + u64::from(s.interval_s) + 10) as i64 * 1000);
    let engine = SimEngine::new(monitors, SimOutbox::new(channels), redelivery);
    Ok(Built { engine, tenant, ids })
}

/// A simulated webhook channel (`n` makes its id).
fn sim_channel(tenant: &TenantId, epoch_ms: i64, n: u128, name: &str) -> ChannelRecord {
    ChannelRecord {
        id: ChannelId::from_parts(epoch_ms, n),
        tenant_id: tenant.clone(),
        name: name.into(),
        kind: ChannelKind::Webhook,
        url: "http://receiver.invalid/".into(),
        secret: Secret::new("simulation-secret"),
        settings: serde_json::json!({}),
        enabled: true,
        created_at: Timestamp::from_millis(epoch_ms),
        updated_at: Timestamp::from_millis(epoch_ms),
    }
}

/// A scenario monitor's id: derived from its name, so dependencies can name it up front.
fn monitor_id(name: &str, epoch_ms: i64) -> MonitorId {
    MonitorId::from_parts(epoch_ms, u128::from(fnv1a(name.as_bytes())))
}

//! Storm control at send time: the dispatcher's side of [`netpulse_core::storm`].
//!
//! Before a pass sends what it claimed, [`screen`] asks the pure [`storm::screen`] per
//! channel whether those notices go out on their own or fold into a storm, and persists the
//! answer with [`Store::save_storm`] in one transaction: the grouped rows' status becomes
//! `grouped` (visible in the channel's delivery log), the storm state is saved, and the
//! storm's `storm` / `storm_over` notice is queued like any other (one row per dedup key, so
//! it goes out once). [`settle`] ends storms that have gone quiet. Both run only while the
//! dispatcher holds the `alerts` lease, so with several engine nodes one node decides.

use async_trait::async_trait;
use netpulse_core::alert::{AlertEvent, AlertKind};
use netpulse_core::storm::{self, Announcement, Notice, Storm, StormPolicy};
use netpulse_core::{ChannelId, TenantId, Timestamp};
use netpulse_store::{ChannelStore, OutboxItem, Store, StoreResult};
use std::collections::BTreeMap;

/// The rows storm control reads and writes: a channel's storm, its recent pages, and the
/// transaction that saves a decision. The engine's store has them
/// ([`netpulse_store::ChannelStore`]); `netpulse simulate` keeps them in memory, so both run
/// the same [`screen`] and [`settle`].
#[async_trait]
pub trait StormRows: Send + Sync {
    async fn storm(&self, t: &TenantId, ch: &ChannelId) -> StoreResult<Option<Storm>>;
    async fn recent_pages(&self, t: &TenantId, ch: &ChannelId, since: Timestamp)
        -> StoreResult<Vec<(i64, AlertEvent)>>;
    async fn save_storm(
        &self,
        t: &TenantId,
        ch: &ChannelId,
        storm: Option<&Storm>,
        grouped: &[i64],
        announce: Option<&AlertEvent>,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn active_storms(&self) -> StoreResult<Vec<(TenantId, ChannelId)>>;
    /// The tenant's storm control (its alerting defaults, else `engine`).
    async fn storm_policy(&self, t: &TenantId, engine: &StormPolicy) -> StoreResult<StormPolicy>;
}

#[async_trait]
impl StormRows for dyn Store {
    async fn storm(&self, t: &TenantId, ch: &ChannelId) -> StoreResult<Option<Storm>> {
        ChannelStore::storm(self, t, ch).await
    }
    async fn recent_pages(
        &self,
        t: &TenantId,
        ch: &ChannelId,
        since: Timestamp,
    ) -> StoreResult<Vec<(i64, AlertEvent)>> {
        ChannelStore::recent_pages(self, t, ch, since).await
    }
    async fn save_storm(
        &self,
        t: &TenantId,
        ch: &ChannelId,
        storm: Option<&Storm>,
        grouped: &[i64],
        announce: Option<&AlertEvent>,
        now: Timestamp,
    ) -> StoreResult<()> {
        ChannelStore::save_storm(self, t, ch, storm, grouped, announce, now).await
    }
    async fn active_storms(&self) -> StoreResult<Vec<(TenantId, ChannelId)>> {
        ChannelStore::active_storms(self).await
    }
    async fn storm_policy(&self, t: &TenantId, engine: &StormPolicy) -> StoreResult<StormPolicy> {
        Ok(self.alerting_defaults(t).await?.storm(engine))
    }
}

/// The claimed `items` that are still to be sent on their own; the rest are grouped. Each
/// tenant's storm control is its own setting ([`netpulse_store::AlertingDefaults::storm`]),
/// `engine` (the `[alerts]` config) where it sets none.
pub async fn screen<S: StormRows + ?Sized>(
    store: &S,
    items: Vec<OutboxItem>,
    now: Timestamp,
    engine: &StormPolicy,
) -> StoreResult<Vec<OutboxItem>> {
    let mut by_channel: BTreeMap<(TenantId, ChannelId), Vec<&OutboxItem>> = BTreeMap::new();
    for item in &items {
        by_channel.entry((item.channel.tenant_id.clone(), item.channel.id.clone())).or_default().push(item);
    }
    let mut policies = TenantPolicies::new(engine);
    let mut grouped = Vec::new();
    for ((t, ch), waiting) in by_channel {
        let waiting: Vec<Notice> = waiting.iter().map(|i| notice(i.id, &i.event)).collect();
        if !waiting.iter().any(|n| matches!(n.kind, AlertKind::Opened | AlertKind::Flapping | AlertKind::Escalated))
            && store.storm(&t, &ch).await?.is_none()
        {
            continue; // the common case: nothing that could start or join a storm
        }
        let p = policies.of(store, &t).await?;
        if p.threshold == 0 {
            continue; // this tenant turned storm control off
        }
        grouped.extend(screen_channel(store, &t, &ch, &waiting, now, &p).await?);
    }
    Ok(items.into_iter().filter(|i| !grouped.contains(&i.id)).collect())
}

/// End the storms that have gone quiet (no new failing monitor for the tenant's window).
pub async fn settle<S: StormRows + ?Sized>(store: &S, now: Timestamp, engine: &StormPolicy) -> StoreResult<()> {
    let mut policies = TenantPolicies::new(engine);
    for (t, ch) in store.active_storms().await? {
        let p = policies.of(store, &t).await?;
        screen_channel(store, &t, &ch, &[], now, &p).await?;
    }
    Ok(())
}

/// Each tenant's storm control, read once per pass.
struct TenantPolicies<'a> {
    engine: &'a StormPolicy,
    read: BTreeMap<TenantId, StormPolicy>,
}

impl<'a> TenantPolicies<'a> {
    fn new(engine: &'a StormPolicy) -> Self {
        Self { engine, read: BTreeMap::new() }
    }

    async fn of<S: StormRows + ?Sized>(&mut self, store: &S, t: &TenantId) -> StoreResult<StormPolicy> {
        if let Some(p) = self.read.get(t) {
            return Ok(*p);
        }
        let p = store.storm_policy(t, self.engine).await?;
        self.read.insert(t.clone(), p);
        Ok(p)
    }
}

async fn screen_channel<S: StormRows + ?Sized>(
    store: &S,
    t: &TenantId,
    ch: &ChannelId,
    waiting: &[Notice],
    now: Timestamp,
    p: &StormPolicy,
) -> StoreResult<Vec<i64>> {
    let current = store.storm(t, ch).await?;
    let since = now.minus_ms(i64::from(p.window_s) * 1000);
    let recent: Vec<Notice> = store
        .recent_pages(t, ch, since)
        .await?
        .iter()
        .filter(|(id, _)| !waiting.iter().any(|w| w.row == *id))
        .map(|(id, e)| notice(*id, e))
        .collect();
    let s = storm::screen(ch.as_str(), current.as_ref(), &recent, waiting, now, p);
    if s.storm == current && s.grouped.is_empty() && s.announcement.is_none() {
        return Ok(vec![]);
    }
    let announce = s.announcement.as_ref().map(|a| announcement(t, a, now));
    store.save_storm(t, ch, s.storm.as_ref(), &s.grouped, announce.as_ref(), now).await?;
    if let Some(a) = &announce {
        tracing::info!(channel = %ch, tenant = %t, key = %a.dedup_key, members = a.storm.len(), "alert storm: {}", a.kind.as_str());
    }
    Ok(s.grouped)
}

fn notice(row: i64, e: &AlertEvent) -> Notice {
    Notice {
        row,
        kind: e.kind,
        monitor: e.monitor_id.clone(),
        name: e.monitor_name.clone(),
        incident: e.incident_id.clone(),
    }
}

/// The notice a storm's start or end sends on its channel.
fn announcement(t: &TenantId, a: &Announcement, now: Timestamp) -> AlertEvent {
    let (kind, s, suffix) = match a {
        Announcement::Started(s) => (AlertKind::Storm, s, String::new()),
        Announcement::Grew(s, _) => (AlertKind::Storm, s, format!(":{}", s.members.len())),
        Announcement::Over(s) => (AlertKind::StormOver, s, ":over".to_owned()),
    };
    AlertEvent {
        kind,
        dedup_key: format!("{}{suffix}", s.key),
        tenant_id: t.clone(),
        incident_id: None,
        monitor_id: None,
        monitor_name: format!("{} monitors", s.members.len()),
        target: String::new(),
        at: now,
        since: Some(s.started_at),
        error: None,
        regions: vec![],
        affected_regions: vec![],
        storm: s.members.clone(),
        visitors: None,
    }
}

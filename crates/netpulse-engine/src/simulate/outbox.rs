//! The simulator's alert outbox and storm rows, in memory: what the store's `alert_outbox`
//! and `alert_storms` tables do for the dispatcher, without a database. One row per
//! (channel, dedup key), so a transition queued twice (a redelivered result, a timer and a
//! check racing) goes out once; rows are claimed in id order; storm control reads and saves
//! through [`StormRows`], so the engine's own [`netpulse_pipeline::alerts::storm`] screens
//! and settles storms here too. Sent rows are forgotten except their dedup key and, for the
//! storm window, recent pages.

use async_trait::async_trait;
use netpulse_core::alert::{AlertEvent, AlertKind};
use netpulse_core::storm::{Storm, StormPolicy};
use netpulse_core::{ChannelId, TenantId, Timestamp};
use netpulse_pipeline::alerts::storm::StormRows;
use netpulse_store::{ChannelRecord, OutboxItem, StoreResult};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;

/// A page still counted by storm control: its row id, when it was queued, and the notice.
type Page = (i64, Timestamp, AlertEvent);

#[derive(Default)]
struct Rows {
    next_id: i64,
    /// Queued, not yet claimed, in id order.
    pending: Vec<(i64, ChannelId, AlertEvent)>,
    /// Every (channel, dedup key) ever queued.
    keys: HashSet<(ChannelId, String)>,
    /// Pages (`opened`, `flapping`, `escalated`) per channel, pending or sent, oldest first.
    pages: HashMap<ChannelId, VecDeque<Page>>,
    storms: BTreeMap<ChannelId, Storm>,
}

/// The outbox of one simulated organisation and its channels.
pub struct SimOutbox {
    channels: Vec<ChannelRecord>,
    rows: Mutex<Rows>,
}

fn is_page(kind: AlertKind) -> bool {
    matches!(kind, AlertKind::Opened | AlertKind::Flapping | AlertKind::Escalated)
}

impl SimOutbox {
    pub fn new(channels: Vec<ChannelRecord>) -> Self {
        Self { channels, rows: Mutex::new(Rows::default()) }
    }

    fn rows(&self) -> std::sync::MutexGuard<'_, Rows> {
        self.rows.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queue `event` on `channel` at `now`, unless that channel has its dedup key already.
    pub fn insert(&self, channel: &ChannelId, event: AlertEvent, now: Timestamp) {
        let mut rows = self.rows();
        if !rows.keys.insert((channel.clone(), event.dedup_key.clone())) {
            return;
        }
        rows.next_id += 1;
        let id = rows.next_id;
        if is_page(event.kind) {
            rows.pages.entry(channel.clone()).or_default().push_back((id, now, event.clone()));
        }
        rows.pending.push((id, channel.clone(), event));
    }

    /// Claim every queued row (the simulated receivers answer at once, so none is retried).
    pub fn claim(&self) -> Vec<OutboxItem> {
        let pending = std::mem::take(&mut self.rows().pending);
        let channel = |id: &ChannelId| self.channels.iter().find(|c| c.id == *id).cloned();
        let items = pending
            .into_iter()
            .filter_map(|(id, ch, event)| channel(&ch).map(|channel| OutboxItem { id, channel, event, attempts: 0 }));
        items.collect()
    }

    pub fn has_storms(&self) -> bool {
        !self.rows().storms.is_empty()
    }

    /// A cold start: the storms are read back from what was saved.
    pub fn reload(&self) -> serde_json::Result<()> {
        let mut rows = self.rows();
        let saved = serde_json::to_string(&rows.storms)?;
        rows.storms = serde_json::from_str(&saved)?;
        Ok(())
    }
}

#[async_trait]
impl StormRows for SimOutbox {
    async fn storm(&self, _: &TenantId, ch: &ChannelId) -> StoreResult<Option<Storm>> {
        Ok(self.rows().storms.get(ch).cloned())
    }

    async fn recent_pages(
        &self,
        _: &TenantId,
        ch: &ChannelId,
        since: Timestamp,
    ) -> StoreResult<Vec<(i64, AlertEvent)>> {
        let mut rows = self.rows();
        let Some(pages) = rows.pages.get_mut(ch) else { return Ok(Vec::new()) };
        while pages.front().is_some_and(|(_, at, _)| *at < since) {
            pages.pop_front();
        }
        Ok(pages.iter().map(|(id, _, e)| (*id, e.clone())).collect())
    }

    async fn save_storm(
        &self,
        _: &TenantId,
        ch: &ChannelId,
        storm: Option<&Storm>,
        grouped: &[i64],
        announce: Option<&AlertEvent>,
        now: Timestamp,
    ) -> StoreResult<()> {
        {
            let mut rows = self.rows();
            // Grouped rows are not sent on their own, and are no longer pages of the channel.
            if let Some(pages) = rows.pages.get_mut(ch) {
                pages.retain(|(id, _, _)| !grouped.contains(id));
            }
            match storm {
                Some(s) => rows.storms.insert(ch.clone(), s.clone()),
                None => rows.storms.remove(ch),
            };
        }
        if let Some(e) = announce {
            self.insert(ch, e.clone(), now);
        }
        Ok(())
    }

    async fn active_storms(&self) -> StoreResult<Vec<(TenantId, ChannelId)>> {
        let rows = self.rows();
        let tenant = |ch: &ChannelId| self.channels.iter().find(|c| c.id == *ch).map(|c| c.tenant_id.clone());
        Ok(rows.storms.keys().filter_map(|ch| Some((tenant(ch)?, ch.clone()))).collect())
    }

    /// The simulated organisation sets no storm control of its own: the scenario's applies.
    async fn storm_policy(&self, _: &TenantId, engine: &StormPolicy) -> StoreResult<StormPolicy> {
        Ok(*engine)
    }
}

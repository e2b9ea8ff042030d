//! The parsed monitor drafts ingest needs, cached per store and keyed by row version.
//!
//! Reading and parsing every stepped monitor's `draft` (and casting it to `jsonb` to find its
//! parent) in every batch would be most of a batch of ~5,000 monitors. Drafts change only
//! when a monitor is edited, so ingest reads just each row's
//! version ([`RowVersion`]: `xmin`, the id of the transaction that wrote that row version —
//! any `UPDATE` of the row, even by another engine node, gives it a new one — and
//! `updated_at`, so an xid reused after wraparound would also need the same edit millisecond
//! to match) and [`DraftCache`] keeps the parsed drafts; only versions it has not seen are
//! read. A cached entry is used only when its version equals the row version just read, so a
//! stale draft is never used. Each entry also holds the tenant's policy defaults read with
//! the draft: changing them writes every monitor row of the tenant in the same transaction
//! (`SettingsStore::set_alerting_defaults`), so they never outlive their row version either.
//! Channels and the parent's state change without the monitor row changing, so they are
//! still read in every transaction.

use crate::*;
use netpulse_core::incident::PolicyLayer;
use netpulse_core::monitor::MonitorDraft;
use netpulse_core::MonitorId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_postgres::types::Type;
use tokio_postgres::Transaction;

/// A `monitors` row version: (`xmin`, `updated_at`).
pub type RowVersion = (i64, i64);

/// Past this many entries the cache starts over (memory stays bounded; misses refill it).
const MAX_ENTRIES: usize = 1 << 20;

/// A monitor's parsed draft and its tenant's policy defaults, as of one row version.
pub struct Parsed {
    pub draft: MonitorDraft,
    pub defaults: PolicyLayer,
}

/// Parsed drafts by monitor id, each with the row version it was read from.
#[derive(Default)]
pub struct DraftCache {
    drafts: Mutex<HashMap<MonitorId, (RowVersion, Arc<Parsed>)>>,
}

impl DraftCache {
    /// The drafts of the `(monitor, version)` rows just read, in the same order, reading from
    /// the database (inside `tx`) only the versions not cached yet; `None` for a monitor
    /// deleted in between (the rows are not locked).
    pub async fn drafts(
        &self,
        tx: &Transaction<'_>,
        rows: &[(&MonitorId, RowVersion)],
    ) -> StoreResult<Vec<Option<Arc<Parsed>>>> {
        let mut found: HashMap<&str, Arc<Parsed>> = HashMap::with_capacity(rows.len());
        let mut missing = Vec::new();
        {
            let cached = self.drafts.lock().expect("draft cache");
            for (m, version) in rows {
                match cached.get(*m) {
                    Some((v, d)) if v == version => {
                        found.insert(m.as_str(), d.clone());
                    }
                    _ => missing.push(m.as_str()),
                }
            }
        }
        let mut read: HashMap<MonitorId, (RowVersion, Arc<Parsed>)> = HashMap::new();
        if !missing.is_empty() {
            let rows = tx
                .query_typed(
                    "SELECT m.id, m.xmin::text::int8, m.updated_at, m.draft, s.alerting FROM monitors m \
                     LEFT JOIN tenant_settings s ON s.tenant_id = m.tenant_id WHERE m.id = ANY($1)",
                    &[(&missing, Type::TEXT_ARRAY)],
                )
                .await?;
            for r in &rows {
                let draft: MonitorDraft = serde_json::from_str(r.try_get::<_, &str>(3)?)?;
                let defaults: Option<AlertingDefaults> =
                    r.try_get::<_, Option<&str>>(4)?.map(serde_json::from_str).transpose()?;
                let defaults = defaults.unwrap_or_default().policy;
                let version: RowVersion = (r.try_get(1)?, r.try_get(2)?);
                read.insert(MonitorId::from_trusted(r.try_get(0)?), (version, Arc::new(Parsed { draft, defaults })));
            }
        }
        let drafts =
            rows.iter().map(|(m, _)| found.get(m.as_str()).or_else(|| read.get(*m).map(|(_, d)| d)).cloned()).collect();
        if !read.is_empty() {
            let mut cached = self.drafts.lock().expect("draft cache");
            if cached.len() + read.len() > MAX_ENTRIES {
                cached.clear();
            }
            cached.extend(read);
        }
        Ok(drafts)
    }

    /// Forget a monitor (deleted on this node; other nodes' entries only go unused).
    pub fn forget(&self, m: &MonitorId) {
        self.drafts.lock().expect("draft cache").remove(m);
    }
}

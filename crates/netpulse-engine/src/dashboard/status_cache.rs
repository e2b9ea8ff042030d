//! The in-process cache of public status pages: per slug, the page's facts as read from the
//! store, its two ETags (HTML and JSON) and, rendered on first need, the HTML and JSON
//! bodies. An entry is served for `http.status_page_cache_s` seconds (0 = no cache) and
//! dropped whenever this node changes a status page or posts an incident to one, so a
//! page is at most that many seconds behind new results (and behind changes made on another
//! node). What a cached answer says is what was true when it was read: its "generated at"
//! time is the read's time and its ETag is over that reading's facts. A `304` answer from a
//! cached entry renders nothing.

use crate::store::PublicStatusPage;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// One reading of a status page and its renderings.
pub struct Entry {
    pub page: PublicStatusPage,
    /// The page's facts without the clock (the ETags' input).
    pub facts: Value,
    pub html_etag: String,
    pub json_etag: String,
    /// Filled by the first request that needs the body.
    pub html: OnceLock<String>,
    pub json: OnceLock<String>,
    read_at: Instant,
}

impl Entry {
    pub fn new(page: PublicStatusPage, facts: Value, html_etag: String, json_etag: String) -> Self {
        Entry {
            page,
            facts,
            html_etag,
            json_etag,
            html: OnceLock::new(),
            json: OnceLock::new(),
            read_at: Instant::now(),
        }
    }
}

/// Status pages by slug, each valid for `ttl`.
pub struct StatusPageCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
}

impl StatusPageCache {
    pub fn new(ttl: Duration) -> Self {
        StatusPageCache { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// How long an entry is served; zero means every request reads the store.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The fresh entry of `slug`, if any.
    pub fn get(&self, slug: &str) -> Option<Arc<Entry>> {
        let entries = self.entries.lock().expect("cache lock");
        entries.get(slug).filter(|e| e.read_at.elapsed() < self.ttl).cloned()
    }

    /// Keep `entry` for `slug` (nothing is kept with a zero TTL).
    pub fn put(&self, slug: &str, entry: Arc<Entry>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().expect("cache lock");
        entries.retain(|_, e| e.read_at.elapsed() < self.ttl);
        entries.insert(slug.to_owned(), entry);
    }

    /// Forget `slug` (the page is gone).
    pub fn remove(&self, slug: &str) {
        self.entries.lock().expect("cache lock").remove(slug);
    }

    /// Forget every page: a page's definition or its posted incidents changed on this node.
    pub fn clear(&self) {
        self.entries.lock().expect("cache lock").clear();
    }
}

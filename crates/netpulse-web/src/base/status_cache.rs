//! The in-process cache of public status pages: per slug, one reading of the page from the
//! store and every rendering of it (HTML, JSON, Atom and JSON feeds) with its ETag, rendered
//! with the reading (so an
//! answer never renders, nor waits for another's rendering, and shares the bodies without
//! copying them). What a cached answer says is what was true when it was read: its
//! "generated at" time is the read's time and its ETag is over that reading's facts.
//!
//! Single flight, stale while revalidate (`ttl` = `http.status_page_cache_s`, 0 = no cache):
//! - an entry younger than `ttl` is served as it is;
//! - an entry between `ttl` and `2 × ttl` old is still served, and the first request that
//!   sees it so starts one background re-read of the page; the others keep getting the old
//!   entry until the new one is in;
//! - without an entry (or with one older than `2 × ttl`) exactly one request per slug reads
//!   the store and the concurrent ones wait for its reading.
//!
//! So a served page is at most `2 × ttl` behind new results ([`StatusPageCache::bound`]),
//! and a burst of requests on an expired page costs one store read. Every change this node
//! makes to a status page or a posted incident clears the cache, and a reading that started
//! before the change is not kept.

use super::page_domains::PageDomains;
use axum::body::Bytes;
use netpulse_store::StoreResult;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One reading of a status page, in each of its renderings (the page, its JSON, its feeds).
pub struct Entry {
    renders: Vec<Rendered>,
    read_at: Instant,
}

/// One rendering of a reading: its ETag (over the facts without the clock) and its body.
pub struct Rendered {
    pub etag: String,
    pub body: Bytes,
}

impl Entry {
    /// The renderings of one reading, as (ETag, body), in the order [`Entry::get`] takes them.
    pub fn new(renders: Vec<(String, String)>) -> Self {
        let renders = renders.into_iter().map(|(etag, body)| Rendered { etag, body: Bytes::from(body) }).collect();
        Entry { renders, read_at: Instant::now() }
    }

    /// The `i`-th rendering given to [`Entry::new`].
    pub fn get(&self, i: usize) -> &Rendered {
        &self.renders[i]
    }
}

/// A slug's entry and the lock its one reader holds.
#[derive(Default)]
struct Slot {
    entry: Option<Arc<Entry>>,
    reading: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Default)]
struct Slots {
    by_slug: HashMap<String, Slot>,
    /// Bumped by every clear: a reading begun under an older generation is not kept.
    generation: u64,
}

/// Status pages by slug (see the module docs for the rule).
pub struct StatusPageCache {
    ttl: Duration,
    slots: Mutex<Slots>,
    domains: PageDomains,
}

/// How a request finds its slug.
enum Found {
    Fresh(Arc<Entry>),
    Stale(Arc<Entry>, Arc<tokio::sync::Mutex<()>>),
    Missing(Arc<tokio::sync::Mutex<()>>),
}

impl StatusPageCache {
    pub fn new(ttl: Duration) -> Self {
        StatusPageCache { ttl, slots: Mutex::new(Slots::default()), domains: PageDomains::new(ttl) }
    }

    /// Which page each host name serves, remembered as long as a page.
    pub fn domains(&self) -> &PageDomains {
        &self.domains
    }

    /// How long an entry is served before it is re-read; zero means every request reads.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How old a served page can be: twice the TTL (fresh, then stale while one request
    /// re-reads it); zero without a cache.
    pub fn bound(&self) -> Duration {
        self.ttl * 2
    }

    fn find(&self, slug: &str) -> (Found, u64) {
        let mut slots = self.slots.lock().expect("cache lock");
        let generation = slots.generation;
        if !slots.by_slug.contains_key(slug) {
            slots.by_slug.insert(slug.to_owned(), Slot::default());
        }
        let slot = &slots.by_slug[slug];
        let found = match &slot.entry {
            Some(e) if e.read_at.elapsed() < self.ttl => Found::Fresh(e.clone()),
            Some(e) if e.read_at.elapsed() < self.bound() => Found::Stale(e.clone(), slot.reading.clone()),
            _ => Found::Missing(slot.reading.clone()),
        };
        (found, generation)
    }

    /// The page of `slug` from the cache, or from `read` (the store) by one request at a
    /// time; `None` when there is no such page.
    pub async fn get_or_read<F, Fut>(self: &Arc<Self>, slug: &str, read: F) -> StoreResult<Option<Arc<Entry>>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = StoreResult<Option<Entry>>> + Send + 'static,
    {
        if self.ttl.is_zero() {
            return Ok(read().await?.map(Arc::new));
        }
        let lock = match self.find(slug) {
            (Found::Fresh(e), _) => return Ok(Some(e)),
            (Found::Stale(e, lock), generation) => {
                if let Ok(guard) = lock.try_lock_owned() {
                    self.refresh_in_background(slug, read(), guard, generation);
                }
                return Ok(Some(e));
            }
            (Found::Missing(lock), _) => lock,
        };
        let _guard = lock.lock().await;
        // The request that held the lock before may have just read the page.
        let generation = match self.find(slug) {
            (Found::Fresh(e), _) => return Ok(Some(e)),
            (_, generation) => generation,
        };
        let entry = read().await?.map(Arc::new);
        self.keep(slug, entry.clone(), generation);
        Ok(entry)
    }

    fn refresh_in_background<Fut>(
        self: &Arc<Self>,
        slug: &str,
        read: Fut,
        guard: tokio::sync::OwnedMutexGuard<()>,
        generation: u64,
    ) where
        Fut: Future<Output = StoreResult<Option<Entry>>> + Send + 'static,
    {
        let (cache, slug) = (self.clone(), slug.to_owned());
        tokio::spawn(async move {
            let _guard = guard;
            match read.await {
                Ok(entry) => cache.keep(&slug, entry.map(Arc::new), generation),
                // The stale entry stays until it is too old; the next request tries again.
                Err(e) => tracing::warn!(error = %e, slug, "status page re-read failed"),
            }
        });
    }

    /// Keep a reading (or its absence) unless a clear happened since it began, and drop the
    /// slots nobody uses any more (no entry worth serving, nobody reading).
    fn keep(&self, slug: &str, entry: Option<Arc<Entry>>, generation: u64) {
        let mut slots = self.slots.lock().expect("cache lock");
        if slots.generation == generation {
            if let Some(slot) = slots.by_slug.get_mut(slug) {
                slot.entry = entry;
            }
        }
        let bound = self.bound();
        slots.by_slug.retain(|_, s| {
            s.entry.as_ref().is_some_and(|e| e.read_at.elapsed() < bound) || Arc::strong_count(&s.reading) > 1
        });
    }

    /// Forget every page: a page's definition or its posted incidents changed on this node.
    pub fn clear(&self) {
        self.domains.clear();
        let mut slots = self.slots.lock().expect("cache lock");
        slots.generation += 1;
        for slot in slots.by_slug.values_mut() {
            slot.entry = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::watch;

    fn entry() -> Entry {
        Entry::new(vec![("\"h\"".into(), "<html>".into()), ("\"j\"".into(), "{}".into())])
    }

    /// A read that counts itself and finishes only once `gate` opens.
    fn gated(reads: &Arc<AtomicUsize>, gate: &watch::Receiver<bool>) -> impl FnOnce() -> GatedRead {
        let (reads, mut gate) = (reads.clone(), gate.clone());
        move || {
            Box::pin(async move {
                reads.fetch_add(1, Ordering::SeqCst);
                let _ = gate.wait_for(|open| *open).await;
                Ok(Some(entry()))
            })
        }
    }
    type GatedRead = std::pin::Pin<Box<dyn Future<Output = StoreResult<Option<Entry>>> + Send>>;

    async fn until_reads(reads: &AtomicUsize, n: usize) {
        while reads.load(Ordering::SeqCst) < n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn concurrent_misses_of_a_slug_share_one_read() {
        let cache = Arc::new(StatusPageCache::new(Duration::from_secs(60)));
        let (open, gate) = watch::channel(false);
        let reads = Arc::new(AtomicUsize::new(0));
        let waiting: Vec<_> = (0..10)
            .map(|_| {
                let (cache, read) = (cache.clone(), gated(&reads, &gate));
                tokio::spawn(async move { cache.get_or_read("page", read).await })
            })
            .collect();
        until_reads(&reads, 1).await;
        open.send_replace(true);
        for w in waiting {
            assert!(w.await.unwrap().unwrap().is_some(), "every request gets the page");
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        let other = cache.get_or_read("other", gated(&reads, &gate)).await.unwrap();
        assert!(other.is_some() && reads.load(Ordering::SeqCst) == 2, "another slug has its own read");
    }

    #[tokio::test]
    async fn a_reading_begun_before_a_clear_is_not_kept() {
        let cache = Arc::new(StatusPageCache::new(Duration::from_secs(60)));
        let (open, gate) = watch::channel(false);
        let reads = Arc::new(AtomicUsize::new(0));
        let first = {
            let (cache, read) = (cache.clone(), gated(&reads, &gate));
            tokio::spawn(async move { cache.get_or_read("page", read).await })
        };
        until_reads(&reads, 1).await;
        cache.clear(); // the page changed while it was being read
        open.send_replace(true);
        assert!(first.await.unwrap().unwrap().is_some(), "its own request still gets an answer");
        cache.get_or_read("page", gated(&reads, &gate)).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2, "the next request reads the changed page");
    }
}

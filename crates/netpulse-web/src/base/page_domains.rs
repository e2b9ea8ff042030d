//! Status pages under their own host names (`status.example.com`): which page a request's
//! `Host` names, remembered per name for the status-page cache's TTL (names with no page too,
//! so a stream of requests for one unknown name costs one store read per TTL), at most
//! [`MAX_NAMES`] names at once.

use netpulse_store::{Store, StoreResult};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most host names remembered at once; past it the map starts over.
pub const MAX_NAMES: usize = 10_000;

/// Host name → the slug of the page served under it (or none), with when it was read.
pub struct PageDomains {
    ttl: Duration,
    names: Mutex<HashMap<String, (Option<String>, Instant)>>,
}

impl PageDomains {
    pub fn new(ttl: Duration) -> Self {
        PageDomains { ttl, names: Mutex::new(HashMap::new()) }
    }

    /// The slug of the page served under `host` (a [`valid_domain`]).
    pub async fn slug_for(&self, host: &str, store: &dyn Store) -> StoreResult<Option<String>> {
        if let Some((slug, at)) = self.names.lock().expect("domains lock").get(host) {
            if at.elapsed() < self.ttl {
                return Ok(slug.clone());
            }
        }
        let slug = store.status_page_slug_for_domain(host).await?;
        let mut names = self.names.lock().expect("domains lock");
        if names.len() >= MAX_NAMES {
            names.clear();
        }
        names.insert(host.to_owned(), (slug.clone(), Instant::now()));
        Ok(slug)
    }

    /// Forget every name (a page's domain changed).
    pub fn clear(&self) {
        self.names.lock().expect("domains lock").clear();
    }
}

/// A host name a page may be served under: 4 to 253 characters of lowercase labels
/// (`a-z`, `0-9`, inner `-`, 1 to 63 each), at least two of them, the last not all digits
/// (so never an IP address).
pub fn valid_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    (4..=253).contains(&s.len())
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && !labels.last().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
}

/// The host name of a `Host` header value: lowercased, without its port.
pub fn host_name(host: &str) -> String {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dns_names_qualify() {
        for good in ["status.acme.com", "a1.b-c.io", "xn--bcher-kva.example"] {
            assert!(valid_domain(good), "{good}");
        }
        for bad in ["localhost", "127.0.0.1", "10.0.0.300", "-a.com", "a-.com", "A.com", "a..com", "a_b.com", "[::1]"] {
            assert!(!valid_domain(bad), "{bad}");
        }
        assert_eq!(host_name("Status.Acme.com:8443"), "status.acme.com");
        assert_eq!(host_name("status.acme.com."), "status.acme.com");
    }
}

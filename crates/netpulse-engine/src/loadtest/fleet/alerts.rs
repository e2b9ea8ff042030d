//! The alert audit of `netpulse loadtest fleet` (real-probe mode): a few monitors (one per
//! region, at most four: below the storm threshold, so each incident pages on its own) check
//! a target of the run that fails with 503 for a stretch of the steady state ([`Flapper`]);
//! a webhook channel of the organisation (every monitor notifies every channel) points at a
//! receiver of the run ([`Receiver`]) that counts every delivery by its
//! `X-NetPulse-Dedup-Key`. At the end, read from PostgreSQL: every incident paged once when
//! it opened and, once resolved, once when it resolved (missed otherwise); a key delivered
//! more than once is a duplicate page; an incident of a monitor whose target never failed
//! is a false alarm.

use axum::http::{HeaderMap, StatusCode};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The failing target: `200 ok` until [`Flapper::set_down`], then `503`.
pub struct Flapper {
    pub url: String,
    down: Arc<AtomicBool>,
}

impl Flapper {
    pub async fn start() -> anyhow::Result<Self> {
        let down = Arc::new(AtomicBool::new(false));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/health", listener.local_addr()?);
        let d = down.clone();
        let app = axum::Router::new().fallback(move || {
            let d = d.clone();
            async move {
                match d.load(Ordering::Relaxed) {
                    true => (StatusCode::SERVICE_UNAVAILABLE, "down"),
                    false => (StatusCode::OK, "ok"),
                }
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, down })
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Relaxed);
    }
}

/// The webhook receiver: deliveries counted by dedup key.
pub struct Receiver {
    pub url: String,
    keys: Arc<Mutex<HashMap<String, u32>>>,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Self> {
        let keys = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let k = keys.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap| {
            let k = k.clone();
            async move {
                if let Some(key) = headers.get("x-netpulse-dedup-key").and_then(|v| v.to_str().ok()) {
                    *k.lock().expect("receiver lock").entry(key.to_owned()).or_default() += 1;
                }
                StatusCode::NO_CONTENT
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, keys })
    }

    fn received(&self) -> HashMap<String, u32> {
        self.keys.lock().expect("receiver lock").clone()
    }
}

/// Add the receiver as a webhook channel of the organisation, through node `http`'s API.
pub async fn add_channel(http: SocketAddr, token: &str, receiver: &Receiver) -> anyhow::Result<()> {
    let body = serde_json::json!({ "name": "fleet audit", "kind": "webhook", "url": receiver.url }).to_string();
    let status = super::http_post(http, "/api/v1/channels", token, body).await;
    anyhow::ensure!(status == Some(201), "creating the audit's webhook channel answered {status:?}");
    Ok(())
}

/// What the alert audit found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct AlertAudit {
    /// Monitors whose target failed, and when (seconds into the timeline).
    pub failing_monitors: usize,
    pub outage_s: (f64, f64),
    pub incidents: i64,
    pub resolved: i64,
    /// Incidents of monitors whose target never failed.
    pub false_alarms: i64,
    /// Deliveries received, and of how many distinct dedup keys.
    pub deliveries: u64,
    pub keys: usize,
    /// Incident transitions (opened; resolved when resolved) no delivery was received for.
    pub missed: usize,
    /// Deliveries beyond one per dedup key.
    pub duplicated: u64,
}

impl AlertAudit {
    pub fn ok(&self) -> bool {
        self.missed == 0
            && self.duplicated == 0
            && self.false_alarms == 0
            && self.incidents >= self.failing_monitors as i64
    }
}

/// Compare the incidents in PostgreSQL with what the receiver got; wait up to 60 s for the
/// last deliveries (the dispatcher retries with backoff).
pub async fn audit(
    direct_url: &str,
    failing: &[String],
    outage_s: (f64, f64),
    receiver: &Receiver,
) -> anyhow::Result<AlertAudit> {
    let c = super::super::direct(direct_url).await?;
    let rows = c.query("SELECT id, monitor_id, status FROM incidents", &[]).await?;
    let incidents: Vec<(String, String, String)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    let missing = |got: &HashMap<String, u32>| {
        let has = |prefix: &str| got.keys().any(|k| k.starts_with(prefix));
        incidents
            .iter()
            .map(|(id, _, status)| {
                usize::from(!has(&format!("{id}:opened")))
                    + usize::from(status == "resolved" && !has(&format!("{id}:resolved")))
            })
            .sum::<usize>()
    };
    let started = std::time::Instant::now();
    let mut got = receiver.received();
    while missing(&got) > 0 && started.elapsed() < std::time::Duration::from_secs(60) {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        got = receiver.received();
    }
    Ok(AlertAudit {
        failing_monitors: failing.len(),
        outage_s,
        incidents: incidents.len() as i64,
        resolved: incidents.iter().filter(|(_, _, s)| s == "resolved").count() as i64,
        false_alarms: incidents.iter().filter(|(_, m, _)| !failing.contains(m)).count() as i64,
        deliveries: got.values().map(|n| u64::from(*n)).sum(),
        keys: got.len(),
        missed: missing(&got),
        duplicated: got.values().map(|n| u64::from(n.saturating_sub(1))).sum(),
    })
}

//! The web layer's configuration: its own sections (`[http]`, `[accounts]`), and [`WebConfig`],
//! what the handlers read of the engine's configuration, handed in by the binary.

use netpulse_checker::guard::{IpCidr, SsrfConfig};
use netpulse_core::storm::StormPolicy;
use netpulse_pipeline::alerts::smtp::SmtpConfig;
use netpulse_pipeline::retention::RetentionConfig;
use netpulse_pipeline::scheduler::MonitorsConfig;
use serde::Deserialize;
use std::net::SocketAddr;

/// The HTTP listener (`[http]`).
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    pub public_url: String,
    /// How long a public status page's reading is served before the store is read again
    /// (seconds; 0 = read on every request). Changes made on this node show at once.
    pub status_page_cache_s: u64,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client;
    /// from anyone else the header is ignored and the peer address is the client.
    pub trusted_proxies: Vec<String>,
    /// A connection must send a whole request head within this (a new one, or a kept-alive
    /// one between requests), else it is closed (seconds).
    pub header_read_timeout_s: u64,
    /// A connection on which no byte moves either way for this long is closed (a stalled
    /// body, a client that stops reading); live streams send a comment more often (seconds).
    pub idle_timeout_s: u64,
    /// Connections open at once; past it new ones get `503` and a warning is logged.
    pub max_connections: usize,
    /// At shutdown, how long requests in progress may take to finish before their
    /// connections are closed (seconds).
    pub shutdown_drain_s: u64,
}

impl HttpConfig {
    /// The trusted proxies as ranges (valid after [`Self::validate`]).
    pub fn trusted_proxies(&self) -> Vec<IpCidr> {
        self.trusted_proxies.iter().filter_map(|p| IpCidr::parse(p).ok()).collect()
    }

    /// How often a live stream (`/events`) sends a keep-alive comment: often enough that the
    /// idle timeout never cuts a healthy one.
    pub fn stream_keep_alive(&self) -> std::time::Duration {
        std::time::Duration::from_millis((self.idle_timeout_s * 1000 / 3).clamp(100, 15_000))
    }

    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if let Some(e) = self.trusted_proxies.iter().find_map(|p| IpCidr::parse(p).err()) {
            return Err(("http.trusted_proxies", e.to_string()));
        }
        for (key, v) in
            [("http.header_read_timeout_s", self.header_read_timeout_s), ("http.idle_timeout_s", self.idle_timeout_s)]
        {
            if v == 0 {
                return Err((key, "must be at least 1 second".into()));
            }
        }
        if self.max_connections == 0 {
            return Err(("http.max_connections", "must be at least 1".into()));
        }
        if !self.public_url.is_empty() && url::Url::parse(&self.public_url).is_err() {
            return Err((
                "http.public_url",
                format!("`{}` is not a URL; write e.g. https://status.example.com", self.public_url),
            ));
        }
        Ok(())
    }
}

/// Sessions, login and registration throttling (`[accounts]`).
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsConfig {
    pub session_days: u32,
    pub login_per_minute_ip: u32,
    pub login_per_minute_account: u32,
    /// Sign-ups accepted per hour from one IP address.
    pub register_per_hour_ip: u32,
    /// Account mails (verification, reset, "someone tried to register", invitations) per
    /// hour to the addresses of one domain.
    pub mail_per_hour_domain: u32,
    /// Password hashes (argon2id, 19 MiB each) computed at once, and how many more requests
    /// may wait for one; beyond that a request needing one is answered `503 busy`.
    pub password_hashes: u32,
    pub password_hash_queue: u32,
    /// Status-page subscription sign-ups accepted per hour from one IP address.
    pub subscribe_per_hour_ip: u32,
    /// Status-page subscription sign-ups accepted per hour for one page.
    pub subscribe_per_hour_page: u32,
    /// Sign-ups a status page holds waiting for their confirmation link; more get 429.
    pub pending_subscribers_per_page: u32,
    /// Seed the read-only demo organisation and serve it at `/demo` (`serve --demo`).
    pub demo: bool,
}

impl AccountsConfig {
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.session_days == 0 {
            return Err(("accounts.session_days", "must be at least 1".into()));
        }
        if self.login_per_minute_ip == 0 || self.login_per_minute_account == 0 {
            return Err(("accounts.login_per_minute_ip", "login limits must be at least 1 per minute".into()));
        }
        if self.register_per_hour_ip == 0 {
            return Err(("accounts.register_per_hour_ip", "must be at least 1".into()));
        }
        if self.mail_per_hour_domain == 0 {
            return Err(("accounts.mail_per_hour_domain", "must be at least 1".into()));
        }
        for (key, v) in [
            ("accounts.subscribe_per_hour_ip", self.subscribe_per_hour_ip),
            ("accounts.subscribe_per_hour_page", self.subscribe_per_hour_page),
            ("accounts.pending_subscribers_per_page", self.pending_subscribers_per_page),
        ] {
            if v == 0 {
                return Err((key, "must be at least 1".into()));
            }
        }
        if self.password_hashes == 0 {
            return Err(("accounts.password_hashes", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// What the API, the dashboard and the account handlers read of the engine's configuration.
#[derive(Clone, Debug)]
pub struct WebConfig {
    pub accounts: AccountsConfig,
    /// Proxies whose `X-Forwarded-For` is believed (`http.trusted_proxies`).
    pub trusted_proxies: Vec<IpCidr>,
    /// How often a live stream sends a keep-alive comment ([`HttpConfig::stream_keep_alive`]).
    pub stream_keep_alive: std::time::Duration,
    /// Limits and defaults of monitors, and the in-process checker's region.
    pub monitors: MonitorsConfig,
    /// Regions a monitor may name: the local one, plus the gateway's when it is on.
    pub regions: Vec<String>,
    /// How long raw results and rollups are kept (uptime windows are planned over them).
    pub retention: RetentionConfig,
    /// Where account mail and e-mail channels send through.
    pub smtp: SmtpConfig,
    /// Whether channel URLs must be https (`ssrf.block_private`).
    pub ssrf: SsrfConfig,
    /// The engine's storm control, the default of every organisation's.
    pub storm: StormPolicy,
}

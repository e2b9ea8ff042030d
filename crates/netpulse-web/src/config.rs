//! The web layer's configuration: its own sections (`[http]`, `[accounts]`), and [`WebConfig`],
//! what the handlers read of the engine's configuration, handed in by the binary.

use netpulse_checker::guard::SsrfConfig;
use netpulse_core::storm::StormPolicy;
use netpulse_pipeline::alerts::smtp::SmtpConfig;
use netpulse_pipeline::retention::RetentionConfig;
use netpulse_pipeline::scheduler::MonitorsConfig;
use serde::Deserialize;
use std::net::SocketAddr;

/// The HTTP listener (`[http]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    pub public_url: String,
    /// How long a public status page's reading is served before the store is read again
    /// (seconds; 0 = read on every request). Changes made on this node show at once.
    pub status_page_cache_s: u64,
}

impl HttpConfig {
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !self.public_url.is_empty() && url::Url::parse(&self.public_url).is_err() {
            return Err((
                "http.public_url",
                format!("`{}` is not a URL; write e.g. https://status.example.com", self.public_url),
            ));
        }
        Ok(())
    }
}

/// Sessions and login throttling (`[accounts]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsConfig {
    pub session_days: u32,
    pub login_per_minute_ip: u32,
    pub login_per_minute_account: u32,
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
        Ok(())
    }
}

/// What the API, the dashboard and the account handlers read of the engine's configuration.
#[derive(Clone, Debug)]
pub struct WebConfig {
    pub accounts: AccountsConfig,
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

//! Configuration: one typed struct, layered and validated at start.
//!
//! Layers, later wins: the commented defaults embedded in the binary
//! (`default-config.toml`) → an optional TOML file (`--config FILE`) → environment variables
//! `NETPULSE_<SECTION>__<KEY>`. Every value remembers where it came from, so an error says
//! which key is wrong, where it was set and how to fix it. Secrets are [`Secret`]s and never
//! print.

use netpulse_checker::guard::SsrfConfig;
use netpulse_pipeline::alerts::smtp::SmtpConfig;
use netpulse_pipeline::alerts::AlertsConfig;
use netpulse_pipeline::gateway::GatewayConfig;
use netpulse_pipeline::ingest::IngestConfig;
use netpulse_pipeline::local_checker::CheckerConfig;
use netpulse_pipeline::scheduler::MonitorsConfig;
use netpulse_store::config::StorageConfig;
use netpulse_store::Secret;
use netpulse_web::config::{AccountsConfig, HttpConfig};
use serde::Deserialize;
use std::collections::BTreeMap;

use std::net::SocketAddr;
use std::path::Path;

pub const DEFAULTS: &str = include_str!("default-config.toml");

/// The engine's whole configuration.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub http: HttpConfig,
    pub storage: StorageConfig,
    /// How long raw results and each rollup are kept (`[retention]`).
    pub retention: netpulse_pipeline::retention::RetentionConfig,
    pub monitors: MonitorsConfig,
    pub checker: CheckerConfig,
    pub gateway: GatewayConfig,
    pub ssrf: SsrfConfig,
    pub alerts: AlertsConfig,
    pub smtp: SmtpConfig,
    pub accounts: AccountsConfig,
    pub ingest: IngestConfig,
    pub log: LogConfig,
    /// The async runtime of `serve` (`[runtime]`).
    pub runtime: RuntimeConfig,
    /// The result queue between checkers and ingest (`[queue]`).
    pub queue: netpulse_pipeline::queue::QueueConfig,
    /// Which loops this process runs (`NETPULSE_ROLES`, `serve --roles`); default all.
    #[serde(default)]
    pub roles: crate::roles::Roles,
    /// The bootstrap owner token (`NETPULSE_ADMIN_TOKEN`); generated when absent. Secrets are
    /// never printed (`check-config` leaves them out).
    #[serde(default, skip_serializing)]
    pub admin_token: Option<Secret>,
    /// With `admin_password`, an owner account of the bootstrap tenant created at first
    /// start (`NETPULSE_ADMIN_EMAIL`, `NETPULSE_ADMIN_PASSWORD`).
    #[serde(default)]
    pub admin_email: Option<String>,
    #[serde(default, skip_serializing)]
    pub admin_password: Option<Secret>,
}

impl Config {
    /// Regions a monitor may name: the local one, plus the gateway's when it is on.
    pub fn regions_served(&self) -> Vec<String> {
        let mut r = vec![self.monitors.local_region.clone()];
        if self.gateway.enabled {
            r.extend(self.gateway.regions.iter().filter(|g| **g != self.monitors.local_region).cloned());
        }
        r
    }
}

#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub level: String,
    pub format: String,
}

/// The async runtime `serve` runs on (`[runtime]`).
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Async worker threads; `0`: one with the embedded SQLite store, one per core otherwise.
    pub worker_threads: usize,
}

impl RuntimeConfig {
    /// How many async workers to start for a store of `backend`. One is enough for the
    /// embedded engine (checks wait on the network, SQLite runs on the blocking pool), and a
    /// second one mostly adds wake-ups between them (measured: −17 % CPU per check at 1,000
    /// monitors, docs/design/cost-per-check.md).
    pub fn workers(&self, backend: netpulse_store::config::StorageBackend) -> usize {
        match (self.worker_threads, backend) {
            (0, netpulse_store::config::StorageBackend::Sqlite) => 1,
            (0, _) => std::thread::available_parallelism().map_or(1, usize::from),
            (n, _) => n,
        }
    }
}

/// A configuration problem, naming the key, where it was set and the fix.
#[derive(Debug, thiserror::Error)]
#[error("config error: {key}: {message} (set in {source_name})")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
    pub source_name: String,
}

/// Where each key's value came from.
#[derive(Default)]
struct Sources(BTreeMap<String, String>);

impl Sources {
    fn of(&self, key: &str) -> String {
        let mut k = key.to_owned();
        loop {
            if let Some(s) = self.0.get(&k) {
                return s.clone();
            }
            match k.rfind('.') {
                Some(i) => k.truncate(i),
                None => return "the built-in defaults".into(),
            }
        }
    }
}

impl Config {
    /// Load defaults → `file` → the `NETPULSE_*` variables in `env`, then validate.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut sources = Sources::default();
        let mut merged: toml::Table = DEFAULTS.parse().expect("embedded defaults are valid TOML");
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                key: "--config".into(),
                message: format!("cannot read {}: {e}", path.display()),
                source_name: "the command line".into(),
            })?;
            let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
                key: "(file)".into(),
                message: format!("not valid TOML: {}", e.message()),
                source_name: path.display().to_string(),
            })?;
            merge(&mut merged, table, "", &path.display().to_string(), &mut sources);
        }
        for (name, value) in env {
            apply_env(&mut merged, &name, &value, &mut sources);
        }
        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(merged)).map_err(|e| {
            let key = e.path().to_string();
            ConfigError { source_name: sources.of(&key), message: e.into_inner().message().to_owned(), key }
        })?;
        config.validate().map_err(|(key, message)| ConfigError {
            source_name: sources.of(key),
            key: key.into(),
            message,
        })?;
        Ok(config)
    }

    /// Load from the process environment.
    pub fn from_env(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(file, std::env::vars())
    }

    /// A configuration for tests: temp data dir, random port, 1 s minimum interval.
    pub fn for_test(data_dir: &Path) -> Self {
        let mut c = Self::load(None, []).expect("defaults are valid");
        c.http.listen = "127.0.0.1:0".parse().expect("valid");
        c.storage.data_dir = data_dir.to_path_buf();
        c.monitors.min_interval_s = 1;
        c.alerts.poll_interval_ms = 50;
        c.alerts.timeout_ms = 2000;
        c.alerts.retry_base_ms = 200;
        c.ingest.linger_ms = 20;
        c.log.level = "warn".into();
        c
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        self.monitors.validate()?;
        self.checker.validate()?;
        self.ingest.validate()?;
        self.alerts.validate()?;
        self.retention.validate()?;
        self.storage.validate()?;
        self.queue.validate()?;
        self.roles.validate(self.storage.backend, self.queue.backend)?;
        self.gateway.validate()?;
        self.ssrf.validate()?;
        self.http.validate()?;
        if !["trace", "debug", "info", "warn", "error"].contains(&self.log.level.as_str()) {
            return Err(("log.level", format!("`{}` is not one of trace, debug, info, warn, error", self.log.level)));
        }
        if !["text", "json"].contains(&self.log.format.as_str()) {
            return Err(("log.format", format!("`{}` is not one of text, json", self.log.format)));
        }
        if self.runtime.worker_threads > 1024 {
            return Err(("runtime.worker_threads", "must be between 0 (automatic) and 1024".into()));
        }
        self.smtp.validate()?;
        self.accounts.validate()?;
        if self.admin_email.is_some() != self.admin_password.is_some() {
            return Err((
                "admin_email",
                "set both NETPULSE_ADMIN_EMAIL and NETPULSE_ADMIN_PASSWORD, or neither".into(),
            ));
        }
        if matches!(&self.admin_token, Some(t) if t.expose().len() < 20) {
            return Err(("admin_token", "must be at least 20 characters; use a long random value".into()));
        }
        Ok(())
    }

    /// The base URL for links (alerts, dashboard).
    pub fn public_url(&self, bound: SocketAddr) -> String {
        if self.http.public_url.is_empty() {
            format!("http://{bound}")
        } else {
            self.http.public_url.trim_end_matches('/').to_owned()
        }
    }
}

fn merge(into: &mut toml::Table, from: toml::Table, prefix: &str, source: &str, sources: &mut Sources) {
    for (k, v) in from {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b, &key, source, sources),
            (_, v) => {
                sources.0.insert(key, source.to_owned());
                into.insert(k, v);
            }
        }
    }
}

/// `NETPULSE_HTTP__LISTEN=…` sets `http.listen`; variables naming no known section are left
/// to other readers (e.g. the test harness's `NETPULSE_TEST_DB`).
fn apply_env(merged: &mut toml::Table, name: &str, value: &str, sources: &mut Sources) {
    let Some(rest) = name.strip_prefix("NETPULSE_") else {
        return;
    };
    let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    let known = match path.as_slice() {
        [top] => ["admin_token", "admin_email", "admin_password", "roles"].contains(&top.as_str()),
        [section, _] => merged.get(section).is_some_and(toml::Value::is_table),
        [section, sub, _] => merged.get(section).and_then(|s| s.get(sub)).is_some_and(toml::Value::is_table),
        _ => false,
    };
    if !known {
        return;
    }
    let parsed = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|_| !matches!(path.as_slice(), [a] if a == "admin_token" || a == "admin_password"))
        .filter(|_| path.as_slice() != ["smtp", "password"])
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    let mut table = merged;
    for seg in &path[..path.len() - 1] {
        table = table.get_mut(seg).and_then(toml::Value::as_table_mut).expect("checked known");
    }
    table.insert(path[path.len() - 1].clone(), parsed);
    sources.0.insert(path.join("."), format!("environment variable {name}"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use netpulse_pipeline::alerts::smtp::SmtpTls;
    use netpulse_store::config::StorageBackend;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn defaults_load_and_env_overrides() {
        let c = Config::load(
            None,
            env(&[
                ("NETPULSE_HTTP__LISTEN", "0.0.0.0:9000"),
                ("NETPULSE_MONITORS__MIN_INTERVAL_S", "30"),
                ("NETPULSE_TEST_DB", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.http.listen.port(), 9000);
        assert_eq!(c.monitors.min_interval_s, 30);
        assert_eq!(c.monitors.default_interval_s, 60);
    }

    /// docs/configuration.md reproduces the embedded defaults verbatim (scripts/config-reference.py).
    #[test]
    fn configuration_reference_is_the_embedded_defaults() {
        let page = include_str!("../../../docs/configuration.md");
        let block = format!("<!-- defaults:begin -->\n```toml\n{DEFAULTS}```\n<!-- defaults:end -->");
        assert!(page.contains(&block), "docs/configuration.md is stale: run scripts/config-reference.py");
    }

    #[test]
    fn errors_name_the_key_and_where_it_was_set() {
        let e = Config::load(None, env(&[("NETPULSE_HTTP__LISTEN", "localhost")])).unwrap_err();
        assert_eq!(e.key, "http.listen");
        assert!(e.source_name.contains("NETPULSE_HTTP__LISTEN"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("np.toml");
        std::fs::write(&f, "[monitors]\nmin_interval_s = 0\n").unwrap();
        let e = Config::load(Some(&f), []).unwrap_err();
        assert_eq!(e.key, "monitors.min_interval_s");
        assert!(e.to_string().contains("np.toml"), "{e}");

        std::fs::write(&f, "[monitor]\nmin_interval_s = 5\n").unwrap();
        let e = Config::load(Some(&f), []).unwrap_err();
        assert!(e.message.contains("unknown field `monitor`"), "{e}");
    }

    #[test]
    fn smtp_is_checked_once_a_host_is_set() {
        let e = Config::load(None, env(&[("NETPULSE_SMTP__HOST", "mail.example.com")])).unwrap_err();
        assert_eq!(e.key, "smtp.from", "{e}");
        let c = Config::load(
            None,
            env(&[
                ("NETPULSE_SMTP__HOST", "mail.example.com"),
                ("NETPULSE_SMTP__FROM", "alerts@example.com"),
                ("NETPULSE_SMTP__USERNAME", "np"),
                ("NETPULSE_SMTP__PASSWORD", "12345678"),
                ("NETPULSE_SMTP__TLS", "tls"),
            ]),
        )
        .unwrap();
        assert_eq!((c.smtp.password.expose(), c.smtp.tls), ("12345678", SmtpTls::Tls), "a numeric password stays text");
        let e = Config::load(None, env(&[("NETPULSE_SMTP__TLS", "ssl")])).unwrap_err();
        assert_eq!(e.key, "smtp.tls", "{e}");
    }

    #[test]
    fn secrets_never_print() {
        let c = Config::load(None, env(&[("NETPULSE_ADMIN_TOKEN", "np_0123456789abcdefghij")])).unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("0123456789abcdef"), "{printed}");
        assert!(printed.contains("[redacted]"));
    }

    #[test]
    fn postgres_backend_needs_a_url_and_never_prints_its_password() {
        let e = Config::load(None, env(&[("NETPULSE_STORAGE__BACKEND", "postgres")])).unwrap_err();
        assert_eq!(e.key, "storage.postgres.url", "{e}");
        assert!(e.message.contains("requires storage.postgres.url"), "{e}");

        let c = Config::load(
            None,
            env(&[
                ("NETPULSE_STORAGE__BACKEND", "postgres"),
                ("NETPULSE_STORAGE__POSTGRES__URL", "postgres://np:hunter2-pw@127.0.0.1:6432/netpulse"),
                ("NETPULSE_STORAGE__POSTGRES__POOL_SIZE", "4"),
            ]),
        )
        .unwrap();
        assert_eq!(c.storage.backend, StorageBackend::Postgres);
        assert_eq!(c.storage.postgres.pool_size, 4);
        assert_eq!(c.storage.postgres.migrate_url(), c.storage.postgres.url.expose(), "empty migrate_url = url");
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("127.0.0.1:6432"), "the address stays readable: {printed}");

        let e = Config::load(None, env(&[("NETPULSE_STORAGE__POSTGRES__MIGRATE_URL", "localhost:5432")])).unwrap_err();
        assert_eq!(e.key, "storage.postgres.migrate_url", "{e}");
        assert!(Config::for_test(Path::new("/tmp")).storage.backend == StorageBackend::Sqlite);
    }

    #[test]
    fn roles_split_across_nodes_need_a_shared_store_and_queue() {
        let load = |pairs: &[(&str, &str)]| {
            Config::load(None, pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>())
        };
        let pg = ("NETPULSE_STORAGE__POSTGRES__URL", "postgres://np@127.0.0.1:6432/np");
        let e = load(&[("NETPULSE_ROLES", "ingest")]).unwrap_err();
        assert_eq!(e.key, "roles", "{e}");
        assert!(e.message.contains("storage.backend = \"postgres\""), "{e}");
        let e = load(&[("NETPULSE_ROLES", "ingest"), ("NETPULSE_STORAGE__BACKEND", "postgres"), pg]).unwrap_err();
        assert_eq!(e.key, "queue.backend", "{e}");
        assert!(e.message.contains("queue.backend = \"redis\""), "{e}");
        let c = load(&[
            ("NETPULSE_ROLES", "ingest,alerts"),
            ("NETPULSE_STORAGE__BACKEND", "postgres"),
            pg,
            ("NETPULSE_QUEUE__BACKEND", "redis"),
        ])
        .unwrap();
        assert!(c.roles.has(crate::roles::Role::Ingest) && !c.roles.serves_http());
        let e = load(&[("NETPULSE_ROLES", "checker,api")]).unwrap_err();
        assert_eq!(e.key, "roles", "{e}");
        let e = load(&[("NETPULSE_QUEUE__BACKEND", "redis"), ("NETPULSE_QUEUE__REDIS__URL", "127.0.0.1:6379")])
            .unwrap_err();
        assert_eq!(e.key, "queue.redis.url", "{e}");
    }
}

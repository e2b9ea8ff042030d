//! Engine roles: which loops this process runs (`serve --roles …`, `NETPULSE_ROLES`, or
//! `roles = [...]` in the config; default all). Several engine nodes can split the roles
//! between them, or all run every role, when they share one PostgreSQL store and one Redis
//! queue; the scheduler and the alert dispatcher then hold leases ([`netpulse_pipeline::lease`]) so only
//! one node schedules and one dispatches at a time.

use netpulse_pipeline::queue::QueueBackend;
use netpulse_store::config::StorageBackend;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt;

/// One part of the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// The REST API (and the heartbeat endpoint).
    Api,
    /// The server-rendered dashboard.
    Dashboard,
    /// Dispatches due checks and evaluates heartbeats (under the `scheduler` lease).
    Scheduler,
    /// Stores results from the queue.
    Ingest,
    /// Delivers notifications from the outbox (under the `alerts` lease), and prunes.
    Alerts,
    /// The in-process checker running the scheduler's local-region jobs.
    Checker,
}

impl Role {
    pub const ALL: [Role; 6] = [Role::Api, Role::Dashboard, Role::Scheduler, Role::Ingest, Role::Alerts, Role::Checker];

    pub fn name(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::Dashboard => "dashboard",
            Role::Scheduler => "scheduler",
            Role::Ingest => "ingest",
            Role::Alerts => "alerts",
            Role::Checker => "checker",
        }
    }
}

/// The set of roles this process runs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawRoles")]
pub struct Roles(BTreeSet<Role>);

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoles {
    One(String),
    Many(Vec<String>),
}

impl TryFrom<RawRoles> for Roles {
    type Error = String;
    fn try_from(raw: RawRoles) -> Result<Self, String> {
        match raw {
            RawRoles::One(s) => Roles::parse(&s),
            RawRoles::Many(v) => Roles::parse(&v.join(",")),
        }
    }
}

/// Serialized as the list of role names, as a config file writes it.
impl serde::Serialize for Roles {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|r| r.name()))
    }
}

impl Default for Roles {
    fn default() -> Self {
        Roles(Role::ALL.into_iter().collect())
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|r| r.name()).collect();
        f.write_str(&names.join(","))
    }
}

impl Roles {
    /// `"api,dashboard"` (or `"all"`); names the unknown role on failure.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut set = BTreeSet::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "all" {
                set.extend(Role::ALL);
                continue;
            }
            let role = Role::ALL.into_iter().find(|r| r.name() == name).ok_or_else(|| {
                format!("unknown role `{name}`; roles are all, api, dashboard, scheduler, ingest, alerts, checker")
            })?;
            set.insert(role);
        }
        if set.is_empty() {
            return Err("name at least one role, e.g. api,dashboard or all".into());
        }
        Ok(Roles(set))
    }

    pub fn has(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    pub fn is_all(&self) -> bool {
        self.0.len() == Role::ALL.len()
    }

    /// The HTTP server runs when the API or the dashboard does.
    pub fn serves_http(&self) -> bool {
        self.has(Role::Api) || self.has(Role::Dashboard)
    }
}

impl Roles {
    /// Refuses a roles list that cannot work with the store and queue backends: the other
    /// roles run on other nodes, which must share the store and the queue with this one.
    pub fn validate(&self, storage: StorageBackend, queue: QueueBackend) -> Result<(), (&'static str, String)> {
        let roles = self;
        if roles.has(Role::Checker) && !roles.has(Role::Scheduler) {
            return Err((
                "roles",
                format!(
                    "roles = {roles}: the in-process checker runs the jobs of this node's scheduler; add scheduler \
                     (remote regions use the checker worker binary instead)"
                ),
            ));
        }
        if roles.is_all() {
            return Ok(());
        }
        if storage == StorageBackend::Sqlite {
            return Err((
                "roles",
                format!(
                    "roles = {roles} leaves the other roles to other engine nodes, which must share one store: \
                     set storage.backend = \"postgres\" (the SQLite file belongs to one process), or run all roles"
                ),
            ));
        }
        let produces = roles.has(Role::Api) || roles.has(Role::Checker);
        if queue == QueueBackend::Memory && produces != roles.has(Role::Ingest) {
            let why = if produces {
                "results published here (checks, heartbeats) would wait for an ingest role this process does not run"
            } else {
                "ingest here would read results other nodes publish"
            };
            return Err((
                "queue.backend",
                format!(
                    "roles = {roles}: {why}; results must cross nodes through a shared queue: \
                     set queue.backend = \"redis\" and queue.redis.url"
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_lists_and_name_unknown_ones() {
        assert!(Roles::parse("all").unwrap().is_all());
        let r = Roles::parse("api, dashboard").unwrap();
        assert!(r.serves_http() && !r.has(Role::Ingest));
        assert_eq!(r.to_string(), "api,dashboard");
        assert!(Roles::parse("api,ingset").unwrap_err().contains("`ingset`"));
        assert!(Roles::parse(" , ").is_err());
        assert!(Roles::default().is_all());
    }
}

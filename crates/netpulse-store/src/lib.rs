//! The store port: everything NetPulse persists, behind one contract, with its two backends
//! (`sqlite` embedded, `postgres` for scale-out through PgBouncer) and the facts the layers
//! above share with it (the [`clock`], [`Secret`]s, the `[storage]` configuration, the demo
//! tenant).
//!
//! The contract is one trait per area, each module holding its area's types and trait:
//! [`accounts`] (users, sessions, API tokens), [`members`] (memberships, invitations),
//! [`monitors`], [`results`] (ingest, quarantine, raw results), [`uptime`] (tallies,
//! retention), [`incidents`], [`channels`] (outbox, deliveries, storms), [`deliveries`] (the log of delivery attempts, channel health), [`status_pages`] (and their [`subscribers`]), [`visits`] (real-visitor sources and their page views),
//! [`maintenance`] windows, [`settings`] (alerting defaults), [`leases`], and [`PingStore`]
//! (readiness, the flush at a graceful stop). [`Store`] is their sum; `dyn Store` callers reach every method without importing the area traits,
//! callers of a concrete backend bring them in with [`prelude`]. Each backend implements an
//! area in its file of that name (`sqlite/monitors.rs`, `postgres/monitors.rs`, …).
//!
//! Invariants:
//! - Every method that touches tenant data takes a [`TenantId`] and scopes its query by it;
//!   an id of another tenant behaves exactly like an id that does not exist.
//! - [`ResultStore::ingest`] is idempotent on result ids and atomic: a result, the monitor
//!   state it moves, the incident rows and the outbox rows of its notices commit together, so
//!   a redelivered batch or a restarted engine never steps a result twice or queues a notice
//!   twice.
//! - System methods without a tenant (scheduler, ingest, outbox) act on rows that already
//!   carry their tenant.
//!
//! [`TenantId`]: netpulse_core::TenantId

pub mod accounts;
pub mod channels;
pub mod clock;
pub mod config;
pub mod deliveries;
pub mod demo;
pub mod error;
pub mod incidents;
pub mod leases;
pub mod maintenance;
pub mod members;
pub mod monitors;
pub mod plan;
pub mod postgres;
pub mod quarantine;
pub mod results;
pub mod secret;
pub mod settings;
pub mod sqlite;
pub mod status_pages;
pub mod subscribers;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod timers;
pub mod uptime;
pub mod visits;

pub use accounts::{
    AccountStore, EmailPurpose, EmailTokenUse, NewAccount, NewSession, Role, Scope, SessionAuth, TokenAuth,
    TokenRecord, UserRecord,
};
pub use channels::{ChannelKind, ChannelRecord, ChannelStore, Delivery, DeliveryRecord, DeliveryResult, OutboxItem};
pub use deliveries::{AttemptOutcome, AttemptQuery, ChannelHealth, DeliveryAttempt, DeliveryLogStore, GroupedNotice};
pub use error::{StoreError, StoreResult};
pub use incidents::{IncidentCommand, IncidentFilter, IncidentRecord, IncidentStatus, IncidentStore, TimelineEntry};
pub use leases::LeaseStore;
pub use maintenance::{advance, maintenance_ends, transition, MaintenanceStore, MaintenanceWindow, WindowMove};
pub use members::{
    check_leave, check_member_change, Invitation, InvitationState, InvitationUse, LeaveOutcome, Member, MemberChange,
    MemberChangeOutcome, MemberRefusal, MemberStore, Membership,
};
pub use monitors::{
    partition_of, Conditional, MonitorRecord, MonitorStatus, MonitorStore, MonitorView, ScheduledMonitor,
};
pub use quarantine::QuarantinedResult;
pub use results::{IngestReport, ResultStore, ResultsPage};
pub use secret::{create_private_dir, write_secret_file, DatabaseUrl, Secret};
pub use settings::{AlertingDefaults, SettingsStore};
pub use status_pages::{
    Impact, IncidentUpdate, LatestLive, PageMonitorState, PublicIncident, PublicMonitor, PublicStatusPage, StatusPage,
    StatusPageMonitor, StatusPageStore, UpdateState,
};
pub use subscribers::{
    NoticeSubject, SignUp, SignUpOutcome, Subscriber, SubscriberKind, SubscriberNotice, SubscriberStore,
};
pub use uptime::{group_hours, sum_hours, Evidence, HourlyTallies, RetentionPass, UptimeStore};
pub use visits::{Recorded, Spend, VisitDrops, VisitRow, VisitSource, VisitStore};

/// Whether the database answers (the readiness probe), and leaving it whole at a stop.
#[async_trait::async_trait]
pub trait PingStore: Send + Sync {
    async fn ping(&self) -> StoreResult<()>;
    /// At a graceful stop, after the last write: leave everything in the database's own
    /// files (SQLite checkpoints its WAL into the `.db` file). PostgreSQL has nothing to do.
    async fn flush(&self) -> StoreResult<()> {
        Ok(())
    }
}

/// The whole store: every area. Implemented by every type that implements them all, so a
/// backend only implements the areas.
pub trait Store:
    PingStore
    + AccountStore
    + MemberStore
    + MonitorStore
    + ResultStore
    + UptimeStore
    + IncidentStore
    + ChannelStore
    + DeliveryLogStore
    + StatusPageStore
    + SubscriberStore
    + VisitStore
    + MaintenanceStore
    + SettingsStore
    + LeaseStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: PingStore
        + AccountStore
        + MemberStore
        + MonitorStore
        + ResultStore
        + UptimeStore
        + IncidentStore
        + ChannelStore
        + DeliveryLogStore
        + StatusPageStore
        + SubscriberStore
        + VisitStore
        + MaintenanceStore
        + SettingsStore
        + LeaseStore
        + Send
        + Sync
        + 'static
{
}

/// The area traits, for callers that hold a concrete store (`SqliteStore`, `PgStore`) rather
/// than a `dyn Store`: `use netpulse_store::prelude::*;`.
pub mod prelude {
    pub use crate::{
        AccountStore, ChannelStore, DeliveryLogStore, IncidentStore, LeaseStore, MaintenanceStore, MemberStore,
        MonitorStore, PingStore, ResultStore, SettingsStore, StatusPageStore, Store, SubscriberStore, UptimeStore,
        VisitStore,
    };
}

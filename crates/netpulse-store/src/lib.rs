//! The store port: everything NetPulse persists, behind one contract, with its two backends
//! (`sqlite` embedded, `postgres` for scale-out through PgBouncer) and the facts the layers
//! above share with it (the [`clock`], [`Secret`]s, the `[storage]` configuration, the demo
//! tenant).
//!
//! Invariants:
//! - Every method that touches tenant data takes a [`TenantId`] and scopes its query by it;
//!   an id of another tenant behaves exactly like an id that does not exist.
//! - [`Store::ingest`] is idempotent on result ids and atomic: a result, the monitor state it
//!   moves, the incident rows and the outbox rows of its notices commit together, so a
//!   redelivered batch or a restarted engine never steps a result twice or queues a notice twice.
//! - System methods without a tenant (scheduler, ingest, outbox) act on rows that already
//!   carry their tenant.

pub mod clock;
pub mod config;
pub mod demo;
pub mod members;
pub mod plan;
pub mod postgres;
pub mod quarantine;
pub mod secret;
pub mod settings;
pub mod sqlite;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod timers;

pub use members::{
    check_leave, check_member_change, Invitation, InvitationState, InvitationUse, LeaveOutcome, Member, MemberChange,
    MemberChangeOutcome, MemberRefusal, Membership,
};
pub use quarantine::QuarantinedResult;
pub use secret::{write_secret_file, DatabaseUrl, Secret};
pub use settings::AlertingDefaults;

use async_trait::async_trait;
use netpulse_core::alert::AlertEvent;
use netpulse_core::incident::{Health, MonitorState, Observation};
use netpulse_core::monitor::MonitorDraft;
use netpulse_core::retention::{Horizons, UptimeWindow};
use netpulse_core::storm::Storm;
use netpulse_core::uptime::Tally;
use netpulse_core::{ChannelId, CheckResult, IncidentId, MonitorId, Outcome, TenantId, Timestamp, TokenId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A store failure; whether to retry is a property of the error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Conflict(String),
    /// The database refuses this data and always will (PostgreSQL SQLSTATE class 22 "data
    /// exception", class 23 other than a unique violation; SQLite constraint, size and type
    /// errors): retrying the same write cannot succeed.
    #[error("the database refuses the data: {0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
    /// Whether the same write fails again whatever happens ([`StoreError::Invalid`]).
    pub fn is_permanent(&self) -> bool {
        matches!(self, StoreError::Invalid(_))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What an API token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    /// The stored (and shown) text.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }
    /// From the stored text; anything but `write` reads as read-only.
    pub fn parse(s: &str) -> Self {
        if s == "write" {
            Scope::Write
        } else {
            Scope::Read
        }
    }
}

/// A token that authenticated.
#[derive(Clone, Debug)]
pub struct TokenAuth {
    pub token_id: TokenId,
    pub tenant_id: TenantId,
    pub scope: Scope,
    /// The role the token acts with: a read token is a viewer; a write token has the role
    /// of the member who created it (the bootstrap token: admin).
    pub role: Role,
    /// The person whose token it is (none for the bootstrap token and tokens made before
    /// creators were recorded).
    pub created_by: Option<UserId>,
}

impl TokenAuth {
    /// The role of a token from its stored scope and role column.
    pub fn role_of(scope: Scope, stored: Option<&str>) -> Role {
        match (scope, stored) {
            (Scope::Read, _) => Role::Viewer,
            (Scope::Write, None) => Role::Admin,
            (Scope::Write, Some(r)) => Role::parse(r).min(Role::Admin),
        }
    }
}

/// A member's role in a tenant: viewers read, members also change monitors and incidents,
/// admins and owners also manage channels and tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
    /// From the stored text; anything unknown reads as the least privileged role.
    pub fn parse(s: &str) -> Self {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).unwrap_or(Role::Viewer)
    }
}

/// A person's account.
#[derive(Clone, Debug)]
pub struct UserRecord {
    pub id: UserId,
    /// Lower-case.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub verified_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// A registration: a user and the organisation it creates.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub user: UserRecord,
    pub tenant: TenantId,
    pub tenant_name: String,
}

/// A browser session being opened; `id_hash` is the SHA-256 of the cookie value.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub id_hash: String,
    pub user: UserId,
    pub tenant: TenantId,
    pub csrf: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A live session that authenticated.
#[derive(Clone, Debug)]
pub struct SessionAuth {
    pub user: UserId,
    pub tenant_id: TenantId,
    pub role: Role,
    pub csrf: String,
    pub verified: bool,
}

/// What an e-mail token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailPurpose {
    Verify,
    Reset,
}

impl EmailPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailPurpose::Verify => "verify",
            EmailPurpose::Reset => "reset",
        }
    }
}

/// What presenting an e-mail token did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmailTokenUse {
    /// Accepted now (for `Verify`, the user is verified from now on).
    Accepted(UserId),
    Expired,
    AlreadyUsed,
    Unknown,
}

/// An API token as listed (never its value).
#[derive(Clone, Debug, Serialize)]
pub struct TokenRecord {
    pub id: TokenId,
    pub name: String,
    pub scope: Scope,
    pub role: Role,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    /// The person whose token it is: removing them from the organisation revokes it, and
    /// demoting them lowers its role (none for the bootstrap token).
    pub created_by: Option<UserId>,
}

/// A stored monitor.
#[derive(Clone, Debug)]
pub struct MonitorRecord {
    pub id: MonitorId,
    pub tenant_id: TenantId,
    pub draft: MonitorDraft,
    /// The secret path segment of a heartbeat monitor's push URL.
    pub heartbeat_token: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A monitor's current status, kept up to date by ingest.
#[derive(Clone, Debug, Default)]
pub struct MonitorStatus {
    pub health: Health,
    pub last_checked_at: Option<Timestamp>,
    pub last_outcome: Option<Outcome>,
    pub last_latency_ms: Option<u32>,
    pub last_error: Option<String>,
    pub last_success_at: Option<Timestamp>,
    pub open_incident: Option<IncidentId>,
}

impl MonitorStatus {
    /// Fold one stored result into the displayed status: the latest result wins, a late one
    /// only moves `last_success_at`.
    pub fn observe(&mut self, r: &CheckResult) {
        if !r.outcome.is_failure() && self.last_success_at.is_none_or(|t| r.started_at > t) {
            self.last_success_at = Some(r.started_at);
        }
        if self.last_checked_at.is_some_and(|t| r.started_at < t) {
            return;
        }
        self.last_checked_at = Some(r.started_at);
        self.last_outcome = Some(r.outcome);
        self.last_latency_ms = r.timings.total_ms;
        self.last_error = r.error.clone();
    }
}

/// A monitor with its status.
#[derive(Clone, Debug)]
pub struct MonitorView {
    pub record: MonitorRecord,
    pub status: MonitorStatus,
}

/// An incident row.
#[derive(Clone, Debug, Serialize)]
pub struct IncidentRecord {
    pub id: IncidentId,
    pub monitor_id: MonitorId,
    pub monitor_name: String,
    pub status: IncidentStatus,
    pub cause: String,
    pub flapping: bool,
    pub opened_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl IncidentStatus {
    /// From the stored text (`open`, `acknowledged`, `resolved`).
    pub fn parse(s: &str) -> Self {
        match s {
            "open" => IncidentStatus::Open,
            "acknowledged" => IncidentStatus::Acknowledged,
            _ => IncidentStatus::Resolved,
        }
    }
}

/// One line of an incident's timeline.
#[derive(Clone, Debug, Serialize)]
pub struct TimelineEntry {
    pub at: Timestamp,
    pub message: String,
}

/// A person's command on an incident.
#[derive(Clone, Debug)]
pub enum IncidentCommand {
    Acknowledge { by: String },
    Resolve { by: String },
}

/// Kinds of alert channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// Signed JSON `POST` (HMAC-SHA256); `secret` signs.
    Webhook,
    /// Slack incoming webhook; `url` is the webhook URL.
    Slack,
    /// Discord channel webhook; `url` is the webhook URL.
    Discord,
    /// Microsoft Teams (Workflows or incoming webhook); `url` is the webhook URL.
    Teams,
    /// PagerDuty Events API v2; `secret` is the routing key, `url` the events endpoint.
    Pagerduty,
    /// E-mail through the configured SMTP server; `url` lists the recipients.
    Email,
}

impl ChannelKind {
    /// The stored and API name (`webhook`, `slack`, `discord`, `teams`, `pagerduty`, `email`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Teams => "teams",
            ChannelKind::Pagerduty => "pagerduty",
            ChannelKind::Email => "email",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

/// A stored channel. `url` is where it delivers (a webhook URL; for e-mail, the recipients);
/// `secret` signs or authenticates deliveries and is never shown after creation; `settings`
/// holds kind-specific options as JSON.
#[derive(Clone, Debug)]
pub struct ChannelRecord {
    pub id: ChannelId,
    pub tenant_id: TenantId,
    pub name: String,
    pub kind: ChannelKind,
    pub url: String,
    pub secret: Secret,
    pub settings: serde_json::Value,
    pub enabled: bool,
    pub created_at: Timestamp,
}

/// A maintenance window of one monitor. `phase` is `scheduled`, `active` or `over`; a
/// repeating window moves to its next occurrence when it ends.
#[derive(Clone, Debug, Serialize)]
pub struct MaintenanceWindow {
    pub id: String,
    pub monitor_id: MonitorId,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub repeat_every_s: Option<i64>,
    pub reason: String,
    pub phase: String,
}

/// A public status page of a tenant. `monitors` are in display order.
#[derive(Clone, Debug, Serialize)]
pub struct StatusPage {
    pub id: String,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub slug: String,
    pub title: String,
    pub message: String,
    pub logo_url: Option<String>,
    pub created_at: Timestamp,
    pub monitors: Vec<StatusPageMonitor>,
}

/// A monitor on a status page, under the name and group the tenant chose.
#[derive(Clone, Debug, Serialize)]
pub struct StatusPageMonitor {
    pub monitor_id: MonitorId,
    pub display_name: String,
    pub group: String,
}

/// An incident posted to status pages: only what may be shown publicly.
#[derive(Clone, Debug)]
pub struct PublicIncident {
    pub id: IncidentId,
    pub monitor_id: MonitorId,
    pub status: IncidentStatus,
    pub opened_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub public_message: String,
    pub posted_at: Timestamp,
}

/// The newest live result of a monitor.
#[derive(Clone, Copy, Debug)]
pub struct LatestLive {
    pub at: Timestamp,
    pub outcome: Outcome,
}

/// What a status page needs of one of its monitors beyond the rollups.
#[derive(Clone, Copy, Debug)]
pub struct PageMonitorState {
    pub paused: bool,
    /// The newest live result, if any.
    pub latest: Option<LatestLive>,
}

/// One monitor of a public status page, as the public may see it.
#[derive(Clone, Debug)]
pub struct PublicMonitor {
    pub display_name: String,
    pub group: String,
    pub paused: bool,
    /// From live results only.
    pub latest: Option<LatestLive>,
    pub figures: netpulse_core::uptime::PageFigures,
}

/// Everything `/status/{slug}` shows, and nothing else.
#[derive(Clone, Debug)]
pub struct PublicStatusPage {
    pub slug: String,
    pub title: String,
    pub message: String,
    pub logo_url: Option<String>,
    pub generated_at: Timestamp,
    pub monitors: Vec<PublicMonitor>,
    /// Incidents with a public message, each with the display name of its monitor.
    pub incidents: Vec<(String, PublicIncident)>,
}

/// A notification due for delivery.
#[derive(Clone, Debug)]
pub struct OutboxItem {
    pub id: i64,
    pub channel: ChannelRecord,
    pub event: AlertEvent,
    pub attempts: u32,
}

/// What happened to one delivery attempt.
#[derive(Clone, Debug)]
pub enum Delivery {
    Sent { at: Timestamp },
    Retry { at: Timestamp, error: String },
    Failed { at: Timestamp, error: String },
}

/// A row of a channel's delivery log.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryRecord {
    pub dedup_key: String,
    pub kind: String,
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

/// A monitor as the scheduler needs it.
#[derive(Clone, Debug)]
pub struct ScheduledMonitor {
    pub tenant_id: TenantId,
    pub record: MonitorRecord,
    pub last_success_at: Option<Timestamp>,
}

/// What one ingest call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub inserted: usize,
    pub duplicates: usize,
    pub notices: usize,
    /// Monitors whose first failure asks for an immediate confirmation re-check.
    pub rechecks: Vec<MonitorId>,
    /// Health changes and incidents opened/reopened/resolved, for the live feed.
    pub changes: Vec<plan::LiveChange>,
}

/// What one retention step did, per kind of row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionPass {
    /// Raw results folded into minute rollups (and deleted), live or not.
    pub results_rolled: usize,
    pub minutes_deleted: usize,
    /// Hourly rollup rows folded into daily rollups (and deleted).
    pub hours_rolled: usize,
    pub days_deleted: usize,
    pub deliveries_deleted: usize,
}

impl RetentionPass {
    pub fn rows(&self) -> usize {
        self.results_rolled + self.minutes_deleted + self.hours_rolled + self.days_deleted + self.deliveries_deleted
    }
    /// Both passes together.
    pub fn plus(self, o: RetentionPass) -> RetentionPass {
        RetentionPass {
            results_rolled: self.results_rolled + o.results_rolled,
            minutes_deleted: self.minutes_deleted + o.minutes_deleted,
            hours_rolled: self.hours_rolled + o.hours_rolled,
            days_deleted: self.days_deleted + o.days_deleted,
            deliveries_deleted: self.deliveries_deleted + o.deliveries_deleted,
        }
    }
    /// Whether some kind hit the step's limit, so more rows may be due.
    pub fn more_left(&self, limit: usize) -> bool {
        [self.results_rolled, self.minutes_deleted, self.hours_rolled, self.days_deleted, self.deliveries_deleted]
            .iter()
            .any(|&n| n >= limit)
    }
}

/// A page of results, newest first; `next` continues after the last one.
#[derive(Clone, Debug)]
pub struct ResultsPage {
    pub results: Vec<CheckResult>,
    pub next: Option<String>,
}

/// Which results an uptime read counts: the caller says so with every tally and sparkline
/// read, so no read picks its evidence by accident.
///
/// `Live` is everything public and every real organisation: raw live results and the rollups
/// (which ingest and retention fill from live results only). `Demo` is only for the demo
/// organisation's own read-only dashboard and API (`Caller::evidence`): it counts raw
/// results of provenance `demo` over the whole window, never a rollup, and never a live
/// result. Status pages and badges have no evidence parameter to pass (`page_tallies`) or
/// pass `Live`, so nothing public counts demo or synthetic results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Evidence {
    #[default]
    Live,
    Demo,
}

impl Evidence {
    /// The provenance the read counts, as stored.
    pub fn provenance(self) -> netpulse_core::Provenance {
        match self {
            Evidence::Live => netpulse_core::Provenance::Live,
            Evidence::Demo => netpulse_core::Provenance::Demo,
        }
    }
}

/// Per monitor, `(hour start, tally of that hour)` in time order.
pub type HourlyTallies = HashMap<MonitorId, Vec<netpulse_core::uptime::HourTally>>;

/// Hour rows read in `(monitor, hour)` order, grouped per monitor (hours stay in order).
pub fn group_hours<E>(
    rows: impl IntoIterator<Item = Result<(MonitorId, Timestamp, Tally), E>>,
) -> Result<HourlyTallies, E> {
    let mut out = HourlyTallies::new();
    for row in rows {
        let (m, at, tally) = row?;
        out.entry(m).or_default().push((at, tally));
    }
    Ok(out)
}

/// Each monitor's hours summed into one tally.
pub fn sum_hours(hours: &HourlyTallies) -> HashMap<MonitorId, Tally> {
    let sum = |hs: &[netpulse_core::uptime::HourTally]| hs.iter().fold(Tally::default(), |acc, (_, t)| acc.plus(t));
    hours.iter().map(|(m, hs)| (m.clone(), sum(hs))).collect()
}

#[derive(Clone, Debug, Default)]
pub struct IncidentFilter {
    pub monitor: Option<MonitorId>,
    pub open_only: bool,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn ping(&self) -> StoreResult<()>;

    // --- bootstrap and authentication
    /// Create the default tenant and an owner token on an empty database. Returns the
    /// tenant and whether it was created now.
    async fn bootstrap(&self, token_hash: &str, now: Timestamp) -> StoreResult<(TenantId, bool)>;
    /// Create the tenant `t` named `name` unless it exists (the demo organisation, whose id
    /// is fixed). Returns whether it was created now.
    async fn ensure_tenant(&self, t: &TenantId, name: &str, now: Timestamp) -> StoreResult<bool>;
    /// Replace the bootstrap token (when `NETPULSE_ADMIN_TOKEN` is set).
    async fn set_bootstrap_token(&self, tenant: &TenantId, token_hash: &str, now: Timestamp) -> StoreResult<()>;
    async fn authenticate(&self, token_hash: &str) -> StoreResult<Option<TokenAuth>>;
    /// Note that a token was used at `now` (written at most once a minute per token).
    async fn touch_token(&self, token_hash: &str, now: Timestamp) -> StoreResult<()>;

    // --- accounts (users are not tenant data; memberships tie them to tenants)
    /// Create a user and its owner membership. The very first user of an install becomes
    /// owner of the oldest (bootstrap) tenant; later ones get `acct.tenant`, created now.
    /// Returns the tenant joined; `Conflict` when the e-mail is taken.
    async fn register(&self, acct: &NewAccount, now: Timestamp) -> StoreResult<TenantId>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    async fn user_by_id(&self, user: &UserId) -> StoreResult<Option<UserRecord>>;
    /// Replace a user's password hash and revoke every session of theirs except `keep` (the
    /// hash of the session that changed it, if any), in one transaction. Returns how many
    /// sessions were revoked.
    async fn set_password(
        &self,
        user: &UserId,
        password_hash: &str,
        keep: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<usize>;
    /// The user's first membership (by joining time).
    async fn first_membership(&self, user: &UserId) -> StoreResult<Option<(TenantId, Role)>>;
    async fn add_email_token(
        &self,
        user: &UserId,
        token_hash: &str,
        purpose: EmailPurpose,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
    /// Use an e-mail token once, atomically; a `Verify` token verifies its user.
    async fn use_email_token(
        &self,
        token_hash: &str,
        purpose: EmailPurpose,
        now: Timestamp,
    ) -> StoreResult<EmailTokenUse>;
    async fn create_session(&self, s: &NewSession) -> StoreResult<()>;
    /// Move a live session to tenant `t`, if its user is a member there; `false` otherwise.
    async fn switch_session(&self, id_hash: &str, t: &TenantId, now: Timestamp) -> StoreResult<bool>;
    /// The organisations `user` belongs to, oldest membership first.
    async fn memberships(&self, user: &UserId) -> StoreResult<Vec<Membership>>;

    // --- members and invitations of a tenant
    async fn list_members(&self, t: &TenantId) -> StoreResult<Vec<Member>>;
    async fn create_invitation(&self, t: &TenantId, inv: &Invitation, token_hash: &str) -> StoreResult<()>;
    /// Invitations neither accepted nor revoked (expired ones included), oldest first.
    async fn list_invitations(&self, t: &TenantId) -> StoreResult<Vec<Invitation>>;
    /// What the invitation token with this hash would do if presented at `now`.
    async fn invitation_state(&self, token_hash: &str, now: Timestamp) -> StoreResult<InvitationState>;
    /// Revoke a pending invitation of `t`; `false` when `t` has no such pending one.
    async fn revoke_invitation(&self, t: &TenantId, id: &str, now: Timestamp) -> StoreResult<bool>;
    /// Change `user`'s membership of `t`, asked by someone acting with the role `by`, under
    /// [`check_member_change`] in one transaction. Removal also revokes the user's sessions
    /// in `t` and the API tokens of `t` they created; a demotion lowers those tokens' role.
    async fn change_member(
        &self,
        t: &TenantId,
        user: &UserId,
        change: MemberChange,
        by: Role,
        now: Timestamp,
    ) -> StoreResult<MemberChangeOutcome>;
    /// `user` leaves `t` by themselves under [`check_leave`], in one transaction: the
    /// session `session_hash` moves to their oldest other membership if they have one, then
    /// the membership goes as on removal (their other sessions in `t` and the API tokens of
    /// `t` they created are revoked; so is the asking session when it had nowhere to go).
    async fn leave(&self, t: &TenantId, user: &UserId, session_hash: &str, now: Timestamp)
        -> StoreResult<LeaveOutcome>;
    /// Use an invitation once, atomically: mark it accepted by `user` and add the membership.
    async fn accept_invitation(&self, token_hash: &str, user: &UserId, now: Timestamp) -> StoreResult<InvitationUse>;
    /// The unexpired, unrevoked session with this hash, with the member's current role.
    async fn session(&self, id_hash: &str, now: Timestamp) -> StoreResult<Option<SessionAuth>>;
    async fn revoke_session(&self, id_hash: &str, now: Timestamp) -> StoreResult<()>;

    // --- API tokens of a tenant
    async fn create_token(&self, t: &TenantId, rec: &TokenRecord, token_hash: &str) -> StoreResult<()>;
    async fn list_tokens(&self, t: &TenantId) -> StoreResult<Vec<TokenRecord>>;
    async fn revoke_token(&self, t: &TenantId, id: &TokenId, now: Timestamp) -> StoreResult<bool>;

    // --- system paths
    async fn schedulable_monitors(&self) -> StoreResult<Vec<ScheduledMonitor>>;
    async fn ingest(&self, batch: &[CheckResult], now: Timestamp) -> StoreResult<IngestReport>;
    /// Keep a result the database refused for good ([`StoreError::Invalid`] from
    /// [`Store::ingest`]); one already kept stays as it was.
    async fn quarantine(&self, q: &QuarantinedResult) -> StoreResult<()>;
    /// The kept results, newest first.
    async fn quarantined_results(&self, limit: usize) -> StoreResult<Vec<QuarantinedResult>>;
    async fn claim_outbox(&self, now: Timestamp, limit: usize, lease_ms: i64) -> StoreResult<Vec<OutboxItem>>;
    async fn record_delivery(&self, id: i64, delivery: Delivery) -> StoreResult<()>;

    // --- storm control (the alert dispatcher, under its lease; see `core::storm`)
    /// The storm in progress on channel `ch`, if any.
    async fn storm(&self, t: &TenantId, ch: &ChannelId) -> StoreResult<Option<Storm>>;
    /// The pages (`opened`/`flapping`/`escalated` rows, sent or still pending) queued on `ch` since `since`.
    async fn recent_pages(&self, t: &TenantId, ch: &ChannelId, since: Timestamp)
        -> StoreResult<Vec<(i64, AlertEvent)>>;
    /// In one transaction: mark the pending rows `grouped` as grouped into the storm, save
    /// `storm` (or clear it: `None`), and queue `announce` on `ch` (once per dedup key).
    async fn save_storm(
        &self,
        t: &TenantId,
        ch: &ChannelId,
        storm: Option<&Storm>,
        grouped: &[i64],
        announce: Option<&AlertEvent>,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Every channel with a storm in progress.
    async fn active_storms(&self) -> StoreResult<Vec<(TenantId, ChannelId)>>;

    // --- an organisation's alerting defaults (`store::settings`)
    /// The tenant's defaults; all unset when it has none.
    async fn alerting_defaults(&self, t: &TenantId) -> StoreResult<AlertingDefaults>;
    /// Replace the tenant's defaults and, in the same transaction, bump `updated_at` of all
    /// its monitors (their effective policy changed: every cache keyed by the monitor row's
    /// version must see it).
    async fn set_alerting_defaults(&self, t: &TenantId, d: &AlertingDefaults, now: Timestamp) -> StoreResult<()>;
    /// Monitors whose next reminder or escalation (`core::incident::next_timer`, stored with
    /// each state) is due at `now`, soonest first; the dispatcher's timer sweep steps each
    /// with `Observation::Tick` through [`Store::observe`].
    async fn due_timers(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<(TenantId, MonitorId)>>;
    async fn heartbeat_monitor(&self, token: &str) -> StoreResult<Option<(TenantId, MonitorId, bool)>>;
    /// Take or renew the lease `name` for `holder` until `now + ttl_ms`, atomically: succeeds
    /// when nobody holds it, its holder's time ran out, or `holder` holds it already.
    async fn try_acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64, now: Timestamp) -> StoreResult<bool>;
    /// Give up the lease `name` if `holder` holds it.
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()>;
    /// The tenant owning monitor `m` (for signed public badges, whose URL names only the monitor).
    async fn monitor_tenant(&self, m: &MonitorId) -> StoreResult<Option<TenantId>>;
    /// One bounded retention step at the horizons `h`: fold up to `limit` raw results started
    /// before `h.raw` into minute rollups and delete them, in one statement-level step, so a
    /// result is counted in exactly one of the two even with several nodes running retention;
    /// likewise fold hourly rollups before `h.hour` into daily ones; delete up to `limit`
    /// minute rollups before `h.minute`, daily rollups before `h.day` and finished deliveries
    /// older than `h.raw`. Call again while [`RetentionPass::more_left`]. A step may do
    /// nothing while another node takes one (PostgreSQL); that node carries on.
    async fn apply_retention(&self, h: &Horizons, limit: usize) -> StoreResult<RetentionPass>;

    // --- monitors
    async fn create_monitor(&self, t: &TenantId, rec: &MonitorRecord) -> StoreResult<()>;
    async fn get_monitor(&self, t: &TenantId, id: &MonitorId) -> StoreResult<Option<MonitorView>>;
    async fn list_monitors(&self, t: &TenantId) -> StoreResult<Vec<MonitorView>>;
    async fn update_monitor(
        &self,
        t: &TenantId,
        id: &MonitorId,
        draft: &MonitorDraft,
        now: Timestamp,
    ) -> StoreResult<bool>;
    async fn delete_monitor(&self, t: &TenantId, id: &MonitorId) -> StoreResult<bool>;

    // --- results and uptime
    async fn list_results(
        &self,
        t: &TenantId,
        m: &MonitorId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
        after: Option<&str>,
    ) -> StoreResult<ResultsPage>;
    /// Results of evidence `ev` between `from` and `to`, counted by outcome (exact, from raw results).
    async fn tally(
        &self,
        t: &TenantId,
        m: &MonitorId,
        from: Timestamp,
        to: Timestamp,
        ev: Evidence,
    ) -> StoreResult<Tally>;
    /// Tallies of the planned window `w`. `Live`: raw results plus minute rollups over
    /// `w.fine`, hourly plus daily rollups over `w.coarse`, read in one statement (one
    /// snapshot, so a concurrent retention step can neither hide nor double a check).
    /// `Demo`: raw demo results over `w.from..w.to` (rollups hold no demo results).
    async fn tally_window(&self, t: &TenantId, m: &MonitorId, w: &UptimeWindow, ev: Evidence) -> StoreResult<Tally>;
    /// Per-monitor tallies since the hour of `from` (`Live`: from the hourly rollup; `Demo`:
    /// raw demo results of the tenant's monitors).
    async fn tallies_since(
        &self,
        t: &TenantId,
        from: Timestamp,
        ev: Evidence,
    ) -> StoreResult<HashMap<MonitorId, Tally>>;
    /// Each monitor's hourly tallies from the hour of `from` on, oldest first (the
    /// dashboard's sparklines; `Live`: the hourly rollup, `Demo`: raw demo results counted
    /// per hour); hours without results are absent.
    async fn hourly_tallies_since(&self, t: &TenantId, from: Timestamp, ev: Evidence) -> StoreResult<HourlyTallies>;
    async fn monitor_state(&self, t: &TenantId, m: &MonitorId) -> StoreResult<Option<MonitorState>>;
    /// The health now of each of `t`'s monitors whose health may have changed at or after
    /// `since` (the dashboard overview's catch-up, dashboard/events.rs). A superset is
    /// allowed, never a subset: SQLite keeps when each monitor's health last changed;
    /// PostgreSQL reads the monitors whose state row was written since (`state_touches`, by
    /// the database's clock) and, for a `since` older than those are kept, every monitor.
    async fn health_changed_since(&self, t: &TenantId, since: Timestamp) -> StoreResult<Vec<(MonitorId, Health)>>;

    // --- incidents
    async fn list_incidents(&self, t: &TenantId, f: &IncidentFilter, limit: usize) -> StoreResult<Vec<IncidentRecord>>;
    async fn get_incident(
        &self,
        t: &TenantId,
        id: &IncidentId,
    ) -> StoreResult<Option<(IncidentRecord, Vec<TimelineEntry>)>>;
    /// Apply a person's command through the state machine; `Ok(None)` when no such incident.
    async fn incident_command(
        &self,
        t: &TenantId,
        id: &IncidentId,
        cmd: IncidentCommand,
        now: Timestamp,
    ) -> StoreResult<Option<IncidentRecord>>;
    /// Feed a monitor an observation that is not a check result (maintenance starting or
    /// ending, a region going offline) through the state machine, in one transaction.
    /// Returns how many row changes it made (0: nothing changed); `Ok(None)` when no such monitor.
    async fn observe(
        &self,
        t: &TenantId,
        m: &MonitorId,
        obs: Observation,
        now: Timestamp,
    ) -> StoreResult<Option<usize>>;

    // --- maintenance windows
    async fn create_maintenance(&self, t: &TenantId, w: &MaintenanceWindow) -> StoreResult<()>;
    async fn list_maintenance(&self, t: &TenantId, m: &MonitorId) -> StoreResult<Vec<MaintenanceWindow>>;
    /// Cancel a window; an active one ends now (through the state machine). `false` if unknown.
    async fn cancel_maintenance(&self, t: &TenantId, id: &str, now: Timestamp) -> StoreResult<bool>;
    /// Start and end the windows that are due at `now`, each in one transaction with the
    /// state-machine step it causes (so a transition fires once). Returns how many moved.
    async fn advance_maintenance(&self, now: Timestamp) -> StoreResult<usize>;

    // --- channels
    async fn create_channel(&self, t: &TenantId, ch: &ChannelRecord) -> StoreResult<()>;
    async fn list_channels(&self, t: &TenantId) -> StoreResult<Vec<ChannelRecord>>;
    async fn get_channel(&self, t: &TenantId, id: &ChannelId) -> StoreResult<Option<ChannelRecord>>;
    async fn update_channel(&self, t: &TenantId, ch: &ChannelRecord) -> StoreResult<bool>;
    async fn delete_channel(&self, t: &TenantId, id: &ChannelId) -> StoreResult<bool>;
    async fn list_deliveries(&self, t: &TenantId, id: &ChannelId, limit: usize) -> StoreResult<Vec<DeliveryRecord>>;

    // --- status pages
    /// Create a page; a taken slug is a [`StoreError::Conflict`].
    async fn create_status_page(&self, t: &TenantId, p: &StatusPage) -> StoreResult<()>;
    /// Replace a page's fields and monitors; `false` if no such page of this tenant.
    async fn update_status_page(&self, t: &TenantId, p: &StatusPage) -> StoreResult<bool>;
    async fn delete_status_page(&self, t: &TenantId, id: &str) -> StoreResult<bool>;
    async fn list_status_pages(&self, t: &TenantId) -> StoreResult<Vec<StatusPage>>;
    /// A page by its public slug (system path: the page carries its tenant).
    async fn status_page_by_slug(&self, slug: &str) -> StoreResult<Option<StatusPage>>;
    /// Live tallies of these monitors for a status page at `now`: the hourly rollup summed
    /// per [`netpulse_core::uptime::bucket_start`] (about one row per monitor and day), each
    /// stamped with its bucket's start; hours the page ignores are left out.
    async fn page_tallies(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
        now: Timestamp,
    ) -> StoreResult<Vec<(MonitorId, Timestamp, Tally)>>;
    /// Whether each of these monitors (of `t`, still existing) is paused and its newest live
    /// result, in one query; a monitor that is gone or another tenant's is left out.
    async fn page_monitors(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
    ) -> StoreResult<HashMap<MonitorId, PageMonitorState>>;
    /// Post an incident to status pages with `message` (replacing an earlier one) and note it
    /// in the timeline; `false` if no such incident.
    async fn set_public_message(
        &self,
        t: &TenantId,
        id: &IncidentId,
        message: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Incidents of these monitors opened since `since` that carry a public message, newest first.
    async fn public_incidents(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
        since: Timestamp,
    ) -> StoreResult<Vec<PublicIncident>>;

    /// What `/status/{slug}` shows: display names, live-only status and uptime, posted
    /// incidents. Never a monitor's name, target, headers, errors or channels.
    async fn public_status_page(&self, slug: &str, now: Timestamp) -> StoreResult<Option<PublicStatusPage>> {
        let Some(page) = self.status_page_by_slug(slug).await? else { return Ok(None) };
        let t = &page.tenant_id;
        let ids: Vec<MonitorId> = page.monitors.iter().map(|m| m.monitor_id.clone()).collect();
        let since = now.minus_ms(90 * 86_400_000);
        let mut hours: HashMap<MonitorId, Vec<netpulse_core::uptime::HourTally>> = HashMap::new();
        for (m, h, tally) in self.page_tallies(t, &ids, now).await? {
            hours.entry(m).or_default().push((h, tally));
        }
        let states = self.page_monitors(t, &ids).await?;
        let mut monitors = Vec::with_capacity(page.monitors.len());
        for m in &page.monitors {
            let Some(state) = states.get(&m.monitor_id) else { continue };
            monitors.push(PublicMonitor {
                display_name: m.display_name.clone(),
                group: m.group.clone(),
                paused: state.paused,
                latest: state.latest,
                figures: netpulse_core::uptime::page_figures(
                    hours.get(&m.monitor_id).map(Vec::as_slice).unwrap_or(&[]),
                    now,
                ),
            });
        }
        let incidents = self
            .public_incidents(t, &ids, since)
            .await?
            .into_iter()
            .filter_map(|i| {
                let name = page.monitors.iter().find(|m| m.monitor_id == i.monitor_id)?.display_name.clone();
                Some((name, i))
            })
            .collect();
        Ok(Some(PublicStatusPage {
            slug: page.slug,
            title: page.title,
            message: page.message,
            logo_url: page.logo_url,
            generated_at: now,
            monitors,
            incidents,
        }))
    }
}

/// Where a due maintenance window goes at `now`: its new phase and its (possibly moved)
/// start and end. A window that ends is rescheduled to its next occurrence after `now` when
/// it repeats; a scheduled window whose end already passed (the engine was down) never
/// becomes active.
pub fn transition(w: &MaintenanceWindow, now: Timestamp) -> (&'static str, (Timestamp, Timestamp)) {
    let ended = w.ends_at <= now;
    match (w.phase.as_str(), ended, w.repeat_every_s) {
        ("scheduled", false, _) => ("active", (w.starts_at, w.ends_at)),
        (_, true, Some(every)) if every > 0 => {
            let step = every * 1000;
            let k = (now.since(w.ends_at) / step) + 1;
            ("scheduled", (w.starts_at.plus_ms(k * step), w.ends_at.plus_ms(k * step)))
        }
        (_, true, _) => ("over", (w.starts_at, w.ends_at)),
        (phase, false, _) => (if phase == "active" { "active" } else { "over" }, (w.starts_at, w.ends_at)),
    }
}

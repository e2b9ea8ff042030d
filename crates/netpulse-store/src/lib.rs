//! The store port: everything NetPulse persists, behind one contract, with its two backends
//! (`sqlite` embedded, `postgres` for scale-out through PgBouncer) and the facts the layers
//! above share with it (the [`clock`], [`Secret`]s, the `[storage]` configuration, the demo
//! tenant).
//!
//! The model types live in one module per area ([`accounts`], [`members`], [`monitors`],
//! [`results`], [`uptime`], [`incidents`], [`channels`], [`status_pages`], [`maintenance`],
//! [`settings`]) and are re-exported here.
//!
//! Invariants:
//! - Every method that touches tenant data takes a [`TenantId`] and scopes its query by it;
//!   an id of another tenant behaves exactly like an id that does not exist.
//! - [`Store::ingest`] is idempotent on result ids and atomic: a result, the monitor state it
//!   moves, the incident rows and the outbox rows of its notices commit together, so a
//!   redelivered batch or a restarted engine never steps a result twice or queues a notice twice.
//! - System methods without a tenant (scheduler, ingest, outbox) act on rows that already
//!   carry their tenant.

pub mod accounts;
pub mod channels;
pub mod clock;
pub mod config;
pub mod demo;
pub mod error;
pub mod incidents;
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
#[cfg(feature = "test-support")]
pub mod testing;
pub mod timers;
pub mod uptime;

pub use accounts::{
    EmailPurpose, EmailTokenUse, NewAccount, NewSession, Role, Scope, SessionAuth, TokenAuth, TokenRecord, UserRecord,
};
pub use channels::{ChannelKind, ChannelRecord, Delivery, DeliveryRecord, OutboxItem};
pub use error::{StoreError, StoreResult};
pub use incidents::{IncidentCommand, IncidentFilter, IncidentRecord, IncidentStatus, TimelineEntry};
pub use maintenance::{transition, MaintenanceWindow};
pub use members::{
    check_leave, check_member_change, Invitation, InvitationState, InvitationUse, LeaveOutcome, Member, MemberChange,
    MemberChangeOutcome, MemberRefusal, Membership,
};
pub use monitors::{MonitorRecord, MonitorStatus, MonitorView, ScheduledMonitor};
pub use quarantine::QuarantinedResult;
pub use results::{IngestReport, ResultsPage};
pub use secret::{write_secret_file, DatabaseUrl, Secret};
pub use settings::AlertingDefaults;
pub use status_pages::{
    LatestLive, PageMonitorState, PublicIncident, PublicMonitor, PublicStatusPage, StatusPage, StatusPageMonitor,
};
pub use uptime::{group_hours, sum_hours, Evidence, HourlyTallies, RetentionPass};

use async_trait::async_trait;
use netpulse_core::alert::AlertEvent;
use netpulse_core::incident::{Health, MonitorState, Observation};
use netpulse_core::monitor::MonitorDraft;
use netpulse_core::retention::{Horizons, UptimeWindow};
use netpulse_core::storm::Storm;
use netpulse_core::uptime::Tally;
use netpulse_core::{ChannelId, CheckResult, IncidentId, MonitorId, Outcome, TenantId, Timestamp, TokenId, UserId};
use std::collections::HashMap;

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

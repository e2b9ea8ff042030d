//! The PostgreSQL store, built to run behind PgBouncer in transaction pooling mode.
//!
//! Rules that keep it correct through a transaction pooler (see the stack notes): every
//! statement is an *unnamed* one sent with its parameter types (`query_typed`,
//! `execute_typed`), never a named prepared statement; work that spans statements — including
//! reads — runs inside one `BEGIN … COMMIT`; no session state (`SET`, session advisory locks,
//! temp tables) is relied on. Migrations are the exception: they run over a direct connection
//! (`storage.postgres.migrate_url`), see [`schema`].
//!
//! Concurrency: every writer of a monitor's state first locks its partition's row
//! (`state_partitions`, in partition order, see [`hot`]), and all but ingest then the
//! affected `monitors` rows (`FOR NO KEY UPDATE`, in id order), so two engine nodes never step
//! one monitor at once and never deadlock; the outbox is claimed with `FOR UPDATE SKIP
//! LOCKED`. Parsed drafts are cached by row version ([`facts`]); ingest keeps the monitors it
//! steps in memory and writes a state row only when the state changes how the monitor
//! behaves ([`hot`]).

mod accounts;
mod channels;
pub mod copy;
mod demo_tallies;
mod facts;
mod hot;
mod ingest;
mod maintenance;
mod members;
mod monitors;
pub mod pool;
mod quarantine;
mod reads;
mod rollups;
pub mod schema;
mod settings;
mod state;
mod status_pages;
mod storms;

use crate::*;
use pool::Pool;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

/// Run `$call` (a future using the pooled client `$c`) and let the pool see how it went.
macro_rules! pooled {
    ($store:expr, |$c:ident| $call:expr) => {{
        let mut $c = $store.pool.get().await?;
        let result = $call.await;
        $c.observe(&result);
        result
    }};
}

/// One typed parameter of an unnamed statement.
type Param<'a> = (&'a (dyn ToSql + Sync), Type);

/// The PostgreSQL implementation of [`crate::Store`].
pub struct PgStore {
    pool: Pool,
    /// Parsed monitor drafts for ingest and incident commands (see [`facts`]).
    drafts: facts::DraftCache,
    /// The monitors this store's ingest stepped, in memory (see [`hot`]).
    hot: hot::HotCache,
}

impl PgStore {
    /// A store over the pooled `url` (e.g. PgBouncer) with at most `pool_size` connections.
    /// Opens one connection to check that the database answers and is migrated.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let config = pool::parse_url(url, "storage.postgres.url")?;
        let store = Self {
            pool: Pool::new(config, pool_size),
            drafts: facts::DraftCache::default(),
            hot: hot::HotCache::default(),
        };
        let client = store.pool.get().await?;
        let migrated = client
            .query_typed(
                "SELECT 1 FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = 'schema_migrations'",
                &[],
            )
            .await?;
        if migrated.is_empty() {
            return Err(StoreError::Internal(format!(
                "the database at {} has no NetPulse schema; run `netpulse migrate` \
                 (or set storage.postgres.migrate_on_start = true)",
                store.pool.target()
            )));
        }
        drop(client);
        Ok(store)
    }
}

impl PgStore {
    fn caches(&self) -> ingest::Caches<'_> {
        ingest::Caches { drafts: &self.drafts, hot: &self.hot }
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        let Some(db) = e.as_db_error() else {
            // I/O, closed connection, protocol: the server or the pooler is unreachable.
            return if e.is_closed() || e.to_string().contains("error communicating") || is_io(&e) {
                StoreError::Unavailable(format!("PostgreSQL connection failed: {e}"))
            } else {
                StoreError::Internal(e.to_string())
            };
        };
        let code = db.code();
        let class = &code.code()[..2];
        if class == "08" // connection exception (PgBouncer reports its own failures here too)
            || class == "53" // insufficient resources, e.g. too many connections
            || class == "57" // operator intervention: shutdown, cannot connect now
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
        {
            StoreError::Unavailable(format!("PostgreSQL unavailable: {}", db.message()))
        } else if *code == SqlState::UNIQUE_VIOLATION {
            StoreError::Conflict(format!("already exists ({})", db.constraint().unwrap_or("unique constraint")))
        } else if class == "22" || class == "23" {
            // Data exception (a value out of range, text the database encoding cannot hold…)
            // or an integrity violation other than the unique one above: permanent.
            StoreError::Invalid(format!("PostgreSQL error {}: {}", code.code(), db.message()))
        } else {
            StoreError::Internal(format!("PostgreSQL error {}: {}", code.code(), db.message()))
        }
    }
}

fn is_io(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        pooled!(self, |c| async { Ok(c.query_typed("SELECT 1", &[]).await.map(drop)?) })
    }

    async fn bootstrap(&self, token_hash: &str, now: Timestamp) -> StoreResult<(TenantId, bool)> {
        pooled!(self, |c| monitors::bootstrap(&mut c, token_hash, now))
    }
    async fn set_bootstrap_token(&self, t: &TenantId, token_hash: &str, now: Timestamp) -> StoreResult<()> {
        pooled!(self, |c| monitors::set_bootstrap_token(&mut c, t, token_hash, now))
    }
    async fn authenticate(&self, token_hash: &str) -> StoreResult<Option<TokenAuth>> {
        pooled!(self, |c| monitors::authenticate(&c, token_hash))
    }

    async fn touch_token(&self, token_hash: &str, now: Timestamp) -> StoreResult<()> {
        pooled!(self, |c| accounts::touch_token(&c, token_hash, now))
    }

    async fn ensure_tenant(&self, t: &TenantId, name: &str, now: Timestamp) -> StoreResult<bool> {
        pooled!(self, |c| accounts::ensure_tenant(&mut c, t, name, now))
    }
    async fn register(&self, acct: &NewAccount, now: Timestamp) -> StoreResult<TenantId> {
        pooled!(self, |c| accounts::register(&mut c, acct, now))
    }
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        pooled!(self, |c| accounts::user_by_email(&c, email))
    }
    async fn user_by_id(&self, user: &UserId) -> StoreResult<Option<UserRecord>> {
        pooled!(self, |c| accounts::user_by_id(&c, user))
    }
    async fn set_password(
        &self,
        user: &UserId,
        password_hash: &str,
        keep: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<usize> {
        pooled!(self, |c| accounts::set_password(&mut c, user, password_hash, keep, now))
    }
    async fn switch_session(&self, id_hash: &str, t: &TenantId, now: Timestamp) -> StoreResult<bool> {
        pooled!(self, |c| members::switch_session(&mut c, id_hash, t, now))
    }
    async fn memberships(&self, user: &UserId) -> StoreResult<Vec<Membership>> {
        pooled!(self, |c| members::memberships(&mut c, user))
    }
    async fn list_members(&self, t: &TenantId) -> StoreResult<Vec<Member>> {
        pooled!(self, |c| members::list_members(&mut c, t))
    }
    async fn create_invitation(&self, t: &TenantId, inv: &Invitation, token_hash: &str) -> StoreResult<()> {
        pooled!(self, |c| members::create_invitation(&mut c, t, inv, token_hash))
    }
    async fn list_invitations(&self, t: &TenantId) -> StoreResult<Vec<Invitation>> {
        pooled!(self, |c| members::list_invitations(&mut c, t))
    }
    async fn invitation_state(&self, token_hash: &str, now: Timestamp) -> StoreResult<InvitationState> {
        pooled!(self, |c| members::invitation_state(&c, token_hash, now))
    }
    async fn revoke_invitation(&self, t: &TenantId, id: &str, now: Timestamp) -> StoreResult<bool> {
        pooled!(self, |c| members::revoke_invitation(&mut c, t, id, now))
    }
    async fn change_member(
        &self,
        t: &TenantId,
        user: &UserId,
        change: MemberChange,
        by: Role,
        now: Timestamp,
    ) -> StoreResult<MemberChangeOutcome> {
        pooled!(self, |c| members::change_member(&mut c, t, user, change, by, now))
    }
    async fn leave(
        &self,
        t: &TenantId,
        user: &UserId,
        session_hash: &str,
        now: Timestamp,
    ) -> StoreResult<LeaveOutcome> {
        pooled!(self, |c| members::leave(&mut c, t, user, session_hash, now))
    }
    async fn accept_invitation(&self, token_hash: &str, user: &UserId, now: Timestamp) -> StoreResult<InvitationUse> {
        pooled!(self, |c| members::accept_invitation(&mut c, token_hash, user, now))
    }
    async fn first_membership(&self, user: &UserId) -> StoreResult<Option<(TenantId, Role)>> {
        pooled!(self, |c| accounts::first_membership(&c, user))
    }
    async fn add_email_token(
        &self,
        user: &UserId,
        token_hash: &str,
        purpose: EmailPurpose,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        pooled!(self, |c| accounts::add_email_token(&c, user, token_hash, purpose, expires_at))
    }
    async fn use_email_token(
        &self,
        token_hash: &str,
        purpose: EmailPurpose,
        now: Timestamp,
    ) -> StoreResult<EmailTokenUse> {
        pooled!(self, |c| accounts::use_email_token(&mut c, token_hash, purpose, now))
    }
    async fn create_session(&self, s: &NewSession) -> StoreResult<()> {
        pooled!(self, |c| accounts::create_session(&c, s))
    }
    async fn session(&self, id_hash: &str, now: Timestamp) -> StoreResult<Option<SessionAuth>> {
        pooled!(self, |c| accounts::session(&c, id_hash, now))
    }
    async fn revoke_session(&self, id_hash: &str, now: Timestamp) -> StoreResult<()> {
        pooled!(self, |c| accounts::revoke_session(&c, id_hash, now))
    }
    async fn create_token(&self, t: &TenantId, rec: &TokenRecord, token_hash: &str) -> StoreResult<()> {
        pooled!(self, |c| accounts::create_token(&c, t, rec, token_hash))
    }
    async fn list_tokens(&self, t: &TenantId) -> StoreResult<Vec<TokenRecord>> {
        pooled!(self, |c| accounts::list_tokens(&c, t))
    }
    async fn revoke_token(&self, t: &TenantId, id: &TokenId, now: Timestamp) -> StoreResult<bool> {
        pooled!(self, |c| accounts::revoke_token(&c, t, id, now))
    }

    async fn schedulable_monitors(&self) -> StoreResult<Vec<ScheduledMonitor>> {
        pooled!(self, |c| monitors::schedulable(&c))
    }
    async fn ingest(&self, batch: &[CheckResult], now: Timestamp) -> StoreResult<IngestReport> {
        pooled!(self, |c| ingest::ingest(&mut c, self.caches(), batch, now))
    }
    async fn quarantine(&self, q: &QuarantinedResult) -> StoreResult<()> {
        pooled!(self, |c| quarantine::keep(&c, q))
    }
    async fn quarantined_results(&self, limit: usize) -> StoreResult<Vec<QuarantinedResult>> {
        pooled!(self, |c| quarantine::list(&c, limit))
    }
    async fn claim_outbox(&self, now: Timestamp, limit: usize, lease_ms: i64) -> StoreResult<Vec<OutboxItem>> {
        pooled!(self, |c| channels::claim_outbox(&mut c, now, limit, lease_ms))
    }
    async fn record_delivery(&self, id: i64, delivery: Delivery) -> StoreResult<()> {
        pooled!(self, |c| channels::record_delivery(&c, id, &delivery))
    }
    async fn storm(&self, t: &TenantId, ch: &ChannelId) -> StoreResult<Option<netpulse_core::storm::Storm>> {
        pooled!(self, |c| storms::storm(&c, t, ch))
    }
    async fn recent_pages(
        &self,
        t: &TenantId,
        ch: &ChannelId,
        since: Timestamp,
    ) -> StoreResult<Vec<(i64, AlertEvent)>> {
        pooled!(self, |c| storms::recent_pages(&c, t, ch, since))
    }
    async fn save_storm(
        &self,
        t: &TenantId,
        ch: &ChannelId,
        storm: Option<&netpulse_core::storm::Storm>,
        grouped: &[i64],
        announce: Option<&AlertEvent>,
        now: Timestamp,
    ) -> StoreResult<()> {
        pooled!(self, |c| storms::save_storm(&mut c, t, ch, storm, grouped, announce, now))
    }
    async fn active_storms(&self) -> StoreResult<Vec<(TenantId, ChannelId)>> {
        pooled!(self, |c| storms::active_storms(&c))
    }
    async fn alerting_defaults(&self, t: &TenantId) -> StoreResult<AlertingDefaults> {
        pooled!(self, |c| settings::alerting(&c, t))
    }
    async fn set_alerting_defaults(&self, t: &TenantId, d: &AlertingDefaults, now: Timestamp) -> StoreResult<()> {
        pooled!(self, |c| settings::set_alerting(&mut c, t, d, now))
    }
    async fn due_timers(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<(TenantId, MonitorId)>> {
        pooled!(self, |c| settings::due_timers(&c, now, limit))
    }
    async fn heartbeat_monitor(&self, token: &str) -> StoreResult<Option<(TenantId, MonitorId, bool)>> {
        pooled!(self, |c| monitors::by_heartbeat_token(&c, token))
    }
    /// One unnamed statement: the conflict update only happens when the lease is ours or
    /// expired, so the affected-row count says whether we hold it.
    async fn try_acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64, now: Timestamp) -> StoreResult<bool> {
        let (expires, now) = (now.plus_ms(ttl_ms).millis(), now.millis());
        let params: [Param; 4] =
            [(&name, Type::TEXT), (&holder, Type::TEXT), (&expires, Type::INT8), (&now, Type::INT8)];
        let sql = "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at \
                   WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= $4";
        pooled!(self, |c| async { Ok(c.execute_typed(sql, &params).await? == 1) })
    }
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        let params: [Param; 2] = [(&name, Type::TEXT), (&holder, Type::TEXT)];
        let sql = "DELETE FROM leases WHERE name = $1 AND holder = $2";
        pooled!(self, |c| async { Ok(c.execute_typed(sql, &params).await.map(drop)?) })
    }
    async fn monitor_tenant(&self, m: &MonitorId) -> StoreResult<Option<TenantId>> {
        pooled!(self, |c| monitors::tenant_of(&c, m))
    }
    async fn apply_retention(&self, h: &Horizons, limit: usize) -> StoreResult<RetentionPass> {
        pooled!(self, |c| rollups::apply_retention(&mut c, h, limit))
    }

    async fn create_monitor(&self, t: &TenantId, rec: &MonitorRecord) -> StoreResult<()> {
        pooled!(self, |c| monitors::create(&c, t, rec))
    }
    async fn get_monitor(&self, t: &TenantId, id: &MonitorId) -> StoreResult<Option<MonitorView>> {
        Ok(pooled!(self, |c| monitors::list(&c, t, Some(id)))?.pop())
    }
    async fn list_monitors(&self, t: &TenantId) -> StoreResult<Vec<MonitorView>> {
        pooled!(self, |c| monitors::list(&c, t, None))
    }
    async fn update_monitor(
        &self,
        t: &TenantId,
        id: &MonitorId,
        draft: &MonitorDraft,
        now: Timestamp,
    ) -> StoreResult<bool> {
        pooled!(self, |c| monitors::update(&mut c, t, id, draft, now))
    }
    async fn delete_monitor(&self, t: &TenantId, id: &MonitorId) -> StoreResult<bool> {
        self.drafts.forget(id);
        self.hot.forget(id);
        pooled!(self, |c| monitors::delete(&mut c, t, id))
    }

    async fn list_results(
        &self,
        t: &TenantId,
        m: &MonitorId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
        after: Option<&str>,
    ) -> StoreResult<ResultsPage> {
        pooled!(self, |c| reads::list_results(&c, t, m, (from, to), limit, after))
    }
    async fn tally(
        &self,
        t: &TenantId,
        m: &MonitorId,
        from: Timestamp,
        to: Timestamp,
        ev: Evidence,
    ) -> StoreResult<Tally> {
        pooled!(self, |c| reads::tally(&c, t, m, (from, to), ev))
    }
    async fn tally_window(&self, t: &TenantId, m: &MonitorId, w: &UptimeWindow, ev: Evidence) -> StoreResult<Tally> {
        match ev {
            Evidence::Live => pooled!(self, |c| rollups::tally_window(&mut c, t, m, w)),
            Evidence::Demo => pooled!(self, |c| reads::tally(&c, t, m, (w.from, w.to), ev)),
        }
    }
    async fn tallies_since(
        &self,
        t: &TenantId,
        from: Timestamp,
        ev: Evidence,
    ) -> StoreResult<HashMap<MonitorId, Tally>> {
        match ev {
            Evidence::Live => pooled!(self, |c| reads::tallies_since(&c, t, from)),
            Evidence::Demo => Ok(sum_hours(&pooled!(self, |c| demo_tallies::hourly_since(&c, t, from))?)),
        }
    }
    async fn hourly_tallies_since(&self, t: &TenantId, from: Timestamp, ev: Evidence) -> StoreResult<HourlyTallies> {
        match ev {
            Evidence::Live => pooled!(self, |c| reads::hourly_tallies_since(&c, t, from)),
            Evidence::Demo => pooled!(self, |c| demo_tallies::hourly_since(&c, t, from)),
        }
    }
    async fn monitor_state(&self, t: &TenantId, m: &MonitorId) -> StoreResult<Option<MonitorState>> {
        pooled!(self, |c| reads::monitor_state(&c, t, m))
    }
    async fn health_changed_since(&self, t: &TenantId, since: Timestamp) -> StoreResult<Vec<(MonitorId, Health)>> {
        pooled!(self, |c| reads::health_changed_since(&c, t, since))
    }

    async fn list_incidents(&self, t: &TenantId, f: &IncidentFilter, limit: usize) -> StoreResult<Vec<IncidentRecord>> {
        pooled!(self, |c| reads::list_incidents(&*c, t, f, None, limit))
    }
    async fn get_incident(
        &self,
        t: &TenantId,
        id: &IncidentId,
    ) -> StoreResult<Option<(IncidentRecord, Vec<TimelineEntry>)>> {
        pooled!(self, |c| reads::get_incident(&mut c, t, id))
    }
    async fn incident_command(
        &self,
        t: &TenantId,
        id: &IncidentId,
        cmd: IncidentCommand,
        now: Timestamp,
    ) -> StoreResult<Option<IncidentRecord>> {
        pooled!(self, |c| ingest::incident_command(&mut c, &self.drafts, t, id, cmd, now))
    }

    async fn observe(
        &self,
        t: &TenantId,
        m: &MonitorId,
        obs: Observation,
        now: Timestamp,
    ) -> StoreResult<Option<usize>> {
        pooled!(self, |c| ingest::observe(&mut c, &self.drafts, t, m, obs, now))
    }

    async fn create_maintenance(&self, t: &TenantId, w: &MaintenanceWindow) -> StoreResult<()> {
        pooled!(self, |c| maintenance::create(&c, t, w))
    }
    async fn list_maintenance(&self, t: &TenantId, m: &MonitorId) -> StoreResult<Vec<MaintenanceWindow>> {
        pooled!(self, |c| maintenance::list(&c, t, m))
    }
    async fn cancel_maintenance(&self, t: &TenantId, id: &str, now: Timestamp) -> StoreResult<bool> {
        pooled!(self, |c| maintenance::cancel(&mut c, &self.drafts, t, id, now))
    }
    async fn advance_maintenance(&self, now: Timestamp) -> StoreResult<usize> {
        pooled!(self, |c| maintenance::advance(&mut c, &self.drafts, now))
    }

    async fn create_channel(&self, t: &TenantId, ch: &ChannelRecord) -> StoreResult<()> {
        pooled!(self, |c| channels::create(&c, t, ch))
    }
    async fn list_channels(&self, t: &TenantId) -> StoreResult<Vec<ChannelRecord>> {
        pooled!(self, |c| channels::list(&c, t, None))
    }
    async fn get_channel(&self, t: &TenantId, id: &ChannelId) -> StoreResult<Option<ChannelRecord>> {
        Ok(pooled!(self, |c| channels::list(&c, t, Some(id)))?.pop())
    }
    async fn update_channel(&self, t: &TenantId, ch: &ChannelRecord) -> StoreResult<bool> {
        pooled!(self, |c| channels::update(&c, t, ch))
    }
    async fn delete_channel(&self, t: &TenantId, id: &ChannelId) -> StoreResult<bool> {
        pooled!(self, |c| channels::delete(&mut c, t, id))
    }
    async fn list_deliveries(&self, t: &TenantId, id: &ChannelId, limit: usize) -> StoreResult<Vec<DeliveryRecord>> {
        pooled!(self, |c| channels::deliveries(&c, t, id, limit))
    }
    async fn create_status_page(&self, t: &TenantId, p: &StatusPage) -> StoreResult<()> {
        pooled!(self, |c| status_pages::create(&mut c, t, p))
    }
    async fn update_status_page(&self, t: &TenantId, p: &StatusPage) -> StoreResult<bool> {
        pooled!(self, |c| status_pages::update(&mut c, t, p))
    }
    async fn delete_status_page(&self, t: &TenantId, id: &str) -> StoreResult<bool> {
        pooled!(self, |c| status_pages::delete(&mut c, t, id))
    }
    async fn list_status_pages(&self, t: &TenantId) -> StoreResult<Vec<StatusPage>> {
        pooled!(self, |c| status_pages::list(&mut c, t))
    }
    async fn status_page_by_slug(&self, slug: &str) -> StoreResult<Option<StatusPage>> {
        pooled!(self, |c| status_pages::by_slug(&mut c, slug))
    }
    async fn page_tallies(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
        now: Timestamp,
    ) -> StoreResult<Vec<(MonitorId, Timestamp, Tally)>> {
        pooled!(self, |c| status_pages::page_tallies(&c, t, monitors, now))
    }
    async fn page_monitors(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
    ) -> StoreResult<HashMap<MonitorId, PageMonitorState>> {
        pooled!(self, |c| status_pages::page_monitors(&c, t, monitors))
    }
    async fn set_public_message(
        &self,
        t: &TenantId,
        id: &IncidentId,
        message: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        pooled!(self, |c| status_pages::set_public_message(&mut c, t, id, message, now))
    }
    async fn public_incidents(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
        since: Timestamp,
    ) -> StoreResult<Vec<PublicIncident>> {
        pooled!(self, |c| status_pages::public_incidents(&c, t, monitors, since))
    }
}

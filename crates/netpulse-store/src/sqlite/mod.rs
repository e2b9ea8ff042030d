//! The embedded SQLite store: one file in WAL mode, one writer connection and a few readers,
//! each call run on the blocking pool.

mod accounts;
mod channels;
mod demo_tallies;
mod ingest;
mod maintenance;
mod members;
mod monitors;
mod quarantine;
mod reads;
mod rollups;
mod schema;
mod settings;
mod status_pages;
mod storms;

use super::*;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const READERS: usize = 4;

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: AtomicUsize,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            rusqlite::Error::SqliteFailure(f, _) if is_permanent(f) => StoreError::Invalid(e.to_string()),
            rusqlite::Error::ToSqlConversionFailure(_) => StoreError::Invalid(e.to_string()),
            _ => StoreError::Internal(e.to_string()),
        }
    }
}

/// A failure the same write meets again however often it is retried: a constraint other than
/// a unique key (CHECK, NOT NULL, foreign key, a trigger's `RAISE(ABORT)`, a STRICT column's
/// type), a value over SQLite's size limits, a datatype mismatch.
fn is_permanent(f: &rusqlite::ffi::Error) -> bool {
    use rusqlite::ErrorCode::*;
    let unique = [rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE, rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY];
    match f.code {
        ConstraintViolation => !unique.contains(&f.extended_code),
        TooBig | TypeMismatch => true,
        _ => false,
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Internal(format!("stored JSON is unreadable: {e}"))
    }
}

fn open(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let c = Connection::open_with_flags(path, flags)?;
    c.busy_timeout(std::time::Duration::from_secs(5))?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "NORMAL")?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    Ok(c)
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path` and migrate it.
    pub fn open(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut writer = open(path, OpenFlags::default())?;
        schema::migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| open(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX).map(Mutex::new))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Self { writer: Arc::new(Mutex::new(writer)), readers: Arc::new(readers), next_reader: AtomicUsize::new(0) })
    }

    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let w = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = w.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("store task failed: {e}")))?
    }

    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % READERS;
        tokio::task::spawn_blocking(move || {
            let c = readers[i].lock().unwrap_or_else(|p| p.into_inner());
            f(&c)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("store task failed: {e}")))?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?)).await
    }

    async fn bootstrap(&self, token_hash: &str, now: Timestamp) -> StoreResult<(TenantId, bool)> {
        let hash = token_hash.to_owned();
        self.write(move |c| monitors::bootstrap(c, &hash, now)).await
    }
    async fn ensure_tenant(&self, t: &TenantId, name: &str, now: Timestamp) -> StoreResult<bool> {
        let (t, name) = (t.clone(), name.to_owned());
        self.write(move |c| accounts::ensure_tenant(c, &t, &name, now)).await
    }
    async fn set_bootstrap_token(&self, t: &TenantId, token_hash: &str, now: Timestamp) -> StoreResult<()> {
        let (t, hash) = (t.clone(), token_hash.to_owned());
        self.write(move |c| monitors::set_bootstrap_token(c, &t, &hash, now)).await
    }
    async fn authenticate(&self, token_hash: &str) -> StoreResult<Option<TokenAuth>> {
        let hash = token_hash.to_owned();
        self.read(move |c| monitors::authenticate(c, &hash)).await
    }

    async fn touch_token(&self, token_hash: &str, now: Timestamp) -> StoreResult<()> {
        let hash = token_hash.to_owned();
        self.write(move |c| accounts::touch_token(c, &hash, now)).await
    }

    async fn register(&self, acct: &NewAccount, now: Timestamp) -> StoreResult<TenantId> {
        let acct = acct.clone();
        self.write(move |c| accounts::register(c, &acct, now)).await
    }
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        let email = email.to_owned();
        self.read(move |c| accounts::user_by_email(c, &email)).await
    }
    async fn user_by_id(&self, user: &UserId) -> StoreResult<Option<UserRecord>> {
        let user = user.clone();
        self.read(move |c| accounts::user_by_id(c, &user)).await
    }
    async fn set_password(
        &self,
        user: &UserId,
        password_hash: &str,
        keep: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<usize> {
        let (user, hash, keep) = (user.clone(), password_hash.to_owned(), keep.map(str::to_owned));
        self.write(move |c| accounts::set_password(c, &user, &hash, keep.as_deref(), now)).await
    }
    async fn switch_session(&self, id_hash: &str, t: &TenantId, now: Timestamp) -> StoreResult<bool> {
        let (hash, t) = (id_hash.to_owned(), t.clone());
        self.write(move |c| members::switch_session(c, &hash, &t, now)).await
    }
    async fn memberships(&self, user: &UserId) -> StoreResult<Vec<Membership>> {
        let user = user.clone();
        self.read(move |c| members::memberships(c, &user)).await
    }
    async fn list_members(&self, t: &TenantId) -> StoreResult<Vec<Member>> {
        let t = t.clone();
        self.read(move |c| members::list_members(c, &t)).await
    }
    async fn create_invitation(&self, t: &TenantId, inv: &Invitation, token_hash: &str) -> StoreResult<()> {
        let (t, inv, hash) = (t.clone(), inv.clone(), token_hash.to_owned());
        self.write(move |c| members::create_invitation(c, &t, &inv, &hash)).await
    }
    async fn list_invitations(&self, t: &TenantId) -> StoreResult<Vec<Invitation>> {
        let t = t.clone();
        self.read(move |c| members::list_invitations(c, &t)).await
    }
    async fn invitation_state(&self, token_hash: &str, now: Timestamp) -> StoreResult<InvitationState> {
        let hash = token_hash.to_owned();
        self.read(move |c| members::invitation_state(c, &hash, now)).await
    }
    async fn revoke_invitation(&self, t: &TenantId, id: &str, now: Timestamp) -> StoreResult<bool> {
        let (t, id) = (t.clone(), id.to_owned());
        self.write(move |c| members::revoke_invitation(c, &t, &id, now)).await
    }
    async fn change_member(
        &self,
        t: &TenantId,
        user: &UserId,
        change: MemberChange,
        by: Role,
        now: Timestamp,
    ) -> StoreResult<MemberChangeOutcome> {
        let (t, user) = (t.clone(), user.clone());
        self.write(move |c| members::change_member(c, &t, &user, change, by, now)).await
    }
    async fn leave(
        &self,
        t: &TenantId,
        user: &UserId,
        session_hash: &str,
        now: Timestamp,
    ) -> StoreResult<LeaveOutcome> {
        let (t, user, hash) = (t.clone(), user.clone(), session_hash.to_owned());
        self.write(move |c| members::leave(c, &t, &user, &hash, now)).await
    }
    async fn accept_invitation(&self, token_hash: &str, user: &UserId, now: Timestamp) -> StoreResult<InvitationUse> {
        let (hash, user) = (token_hash.to_owned(), user.clone());
        self.write(move |c| members::accept_invitation(c, &hash, &user, now)).await
    }
    async fn first_membership(&self, user: &UserId) -> StoreResult<Option<(TenantId, Role)>> {
        let user = user.clone();
        self.read(move |c| accounts::first_membership(c, &user)).await
    }
    async fn add_email_token(
        &self,
        user: &UserId,
        token_hash: &str,
        purpose: EmailPurpose,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let (user, hash) = (user.clone(), token_hash.to_owned());
        self.write(move |c| accounts::add_email_token(c, &user, &hash, purpose, expires_at)).await
    }
    async fn use_email_token(
        &self,
        token_hash: &str,
        purpose: EmailPurpose,
        now: Timestamp,
    ) -> StoreResult<EmailTokenUse> {
        let hash = token_hash.to_owned();
        self.write(move |c| accounts::use_email_token(c, &hash, purpose, now)).await
    }
    async fn create_session(&self, s: &NewSession) -> StoreResult<()> {
        let s = s.clone();
        self.write(move |c| accounts::create_session(c, &s)).await
    }
    async fn session(&self, id_hash: &str, now: Timestamp) -> StoreResult<Option<SessionAuth>> {
        let hash = id_hash.to_owned();
        self.read(move |c| accounts::session(c, &hash, now)).await
    }
    async fn revoke_session(&self, id_hash: &str, now: Timestamp) -> StoreResult<()> {
        let hash = id_hash.to_owned();
        self.write(move |c| accounts::revoke_session(c, &hash, now)).await
    }
    async fn create_token(&self, t: &TenantId, rec: &TokenRecord, token_hash: &str) -> StoreResult<()> {
        let (t, rec, hash) = (t.clone(), rec.clone(), token_hash.to_owned());
        self.write(move |c| accounts::create_token(c, &t, &rec, &hash)).await
    }
    async fn list_tokens(&self, t: &TenantId) -> StoreResult<Vec<TokenRecord>> {
        let t = t.clone();
        self.read(move |c| accounts::list_tokens(c, &t)).await
    }
    async fn revoke_token(&self, t: &TenantId, id: &TokenId, now: Timestamp) -> StoreResult<bool> {
        let (t, id) = (t.clone(), id.clone());
        self.write(move |c| accounts::revoke_token(c, &t, &id, now)).await
    }

    async fn schedulable_monitors(&self) -> StoreResult<Vec<ScheduledMonitor>> {
        self.read(monitors::schedulable).await
    }
    async fn ingest(&self, batch: &[CheckResult], now: Timestamp) -> StoreResult<IngestReport> {
        let batch = batch.to_vec();
        self.write(move |c| ingest::ingest(c, &batch, now)).await
    }
    async fn quarantine(&self, q: &QuarantinedResult) -> StoreResult<()> {
        let q = q.clone();
        self.write(move |c| quarantine::keep(c, &q)).await
    }
    async fn quarantined_results(&self, limit: usize) -> StoreResult<Vec<QuarantinedResult>> {
        self.read(move |c| quarantine::list(c, limit)).await
    }
    async fn claim_outbox(&self, now: Timestamp, limit: usize, lease_ms: i64) -> StoreResult<Vec<OutboxItem>> {
        self.write(move |c| channels::claim_outbox(c, now, limit, lease_ms)).await
    }
    async fn record_delivery(&self, id: i64, delivery: Delivery) -> StoreResult<()> {
        self.write(move |c| channels::record_delivery(c, id, &delivery)).await
    }
    async fn storm(&self, t: &TenantId, ch: &ChannelId) -> StoreResult<Option<netpulse_core::storm::Storm>> {
        let (t, ch) = (t.clone(), ch.clone());
        self.read(move |c| storms::storm(c, &t, &ch)).await
    }
    async fn recent_pages(
        &self,
        t: &TenantId,
        ch: &ChannelId,
        since: Timestamp,
    ) -> StoreResult<Vec<(i64, AlertEvent)>> {
        let (t, ch) = (t.clone(), ch.clone());
        self.read(move |c| storms::recent_pages(c, &t, &ch, since)).await
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
        let (t, ch, storm, grouped, announce) =
            (t.clone(), ch.clone(), storm.cloned(), grouped.to_vec(), announce.cloned());
        self.write(move |c| storms::save_storm(c, &t, &ch, storm.as_ref(), &grouped, announce.as_ref(), now)).await
    }
    async fn active_storms(&self) -> StoreResult<Vec<(TenantId, ChannelId)>> {
        self.read(storms::active_storms).await
    }
    async fn alerting_defaults(&self, t: &TenantId) -> StoreResult<AlertingDefaults> {
        let t = t.clone();
        self.read(move |c| settings::alerting(c, &t)).await
    }
    async fn set_alerting_defaults(&self, t: &TenantId, d: &AlertingDefaults, now: Timestamp) -> StoreResult<()> {
        let (t, d) = (t.clone(), d.clone());
        self.write(move |c| settings::set_alerting(c, &t, &d, now)).await
    }
    async fn due_timers(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<(TenantId, MonitorId)>> {
        self.read(move |c| settings::due_timers(c, now, limit)).await
    }
    async fn heartbeat_monitor(&self, token: &str) -> StoreResult<Option<(TenantId, MonitorId, bool)>> {
        let token = token.to_owned();
        self.read(move |c| monitors::by_heartbeat_token(c, &token)).await
    }
    async fn try_acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64, now: Timestamp) -> StoreResult<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |c| {
            let changed = c.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4",
                rusqlite::params![name, holder, now.plus_ms(ttl_ms).millis(), now.millis()],
            )?;
            Ok(changed == 1)
        })
        .await
    }
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |c| {
            c.execute("DELETE FROM leases WHERE name = ?1 AND holder = ?2", rusqlite::params![name, holder])?;
            Ok(())
        })
        .await
    }
    async fn monitor_tenant(&self, m: &MonitorId) -> StoreResult<Option<TenantId>> {
        let m = m.clone();
        self.read(move |c| monitors::tenant_of(c, &m)).await
    }

    async fn apply_retention(&self, h: &Horizons, limit: usize) -> StoreResult<RetentionPass> {
        let h = *h;
        self.write(move |c| rollups::apply_retention(c, &h, limit)).await
    }

    async fn create_monitor(&self, t: &TenantId, rec: &MonitorRecord) -> StoreResult<()> {
        let (t, rec) = (t.clone(), rec.clone());
        self.write(move |c| monitors::create(c, &t, &rec)).await
    }
    async fn get_monitor(&self, t: &TenantId, id: &MonitorId) -> StoreResult<Option<MonitorView>> {
        let (t, id) = (t.clone(), id.clone());
        self.read(move |c| Ok(monitors::list(c, &t, Some(&id))?.pop())).await
    }
    async fn list_monitors(&self, t: &TenantId) -> StoreResult<Vec<MonitorView>> {
        let t = t.clone();
        self.read(move |c| monitors::list(c, &t, None)).await
    }
    async fn update_monitor(
        &self,
        t: &TenantId,
        id: &MonitorId,
        draft: &MonitorDraft,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let (t, id, draft) = (t.clone(), id.clone(), draft.clone());
        self.write(move |c| monitors::update(c, &t, &id, &draft, now)).await
    }
    async fn delete_monitor(&self, t: &TenantId, id: &MonitorId) -> StoreResult<bool> {
        let (t, id) = (t.clone(), id.clone());
        self.write(move |c| monitors::delete(c, &t, &id)).await
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
        let (t, m, after) = (t.clone(), m.clone(), after.map(str::to_owned));
        self.read(move |c| reads::list_results(c, &t, &m, from, to, limit, after.as_deref())).await
    }
    async fn tally(
        &self,
        t: &TenantId,
        m: &MonitorId,
        from: Timestamp,
        to: Timestamp,
        ev: Evidence,
    ) -> StoreResult<Tally> {
        let (t, m) = (t.clone(), m.clone());
        self.read(move |c| reads::tally(c, &t, &m, (from, to), ev)).await
    }
    async fn tally_window(&self, t: &TenantId, m: &MonitorId, w: &UptimeWindow, ev: Evidence) -> StoreResult<Tally> {
        let (t, m, w) = (t.clone(), m.clone(), *w);
        self.read(move |c| match ev {
            Evidence::Live => rollups::tally_window(c, &t, &m, &w),
            Evidence::Demo => reads::tally(c, &t, &m, (w.from, w.to), ev),
        })
        .await
    }
    async fn tallies_since(
        &self,
        t: &TenantId,
        from: Timestamp,
        ev: Evidence,
    ) -> StoreResult<HashMap<MonitorId, Tally>> {
        let t = t.clone();
        self.read(move |c| match ev {
            Evidence::Live => reads::tallies_since(c, &t, from),
            Evidence::Demo => Ok(sum_hours(&demo_tallies::hourly_since(c, &t, from)?)),
        })
        .await
    }
    async fn hourly_tallies_since(&self, t: &TenantId, from: Timestamp, ev: Evidence) -> StoreResult<HourlyTallies> {
        let t = t.clone();
        self.read(move |c| match ev {
            Evidence::Live => reads::hourly_tallies_since(c, &t, from),
            Evidence::Demo => demo_tallies::hourly_since(c, &t, from),
        })
        .await
    }
    async fn monitor_state(&self, t: &TenantId, m: &MonitorId) -> StoreResult<Option<MonitorState>> {
        let (t, m) = (t.clone(), m.clone());
        self.read(move |c| reads::monitor_state(c, &t, &m)).await
    }
    async fn health_changed_since(&self, t: &TenantId, since: Timestamp) -> StoreResult<Vec<(MonitorId, Health)>> {
        let t = t.clone();
        self.read(move |c| reads::health_changed_since(c, &t, since)).await
    }

    async fn list_incidents(&self, t: &TenantId, f: &IncidentFilter, limit: usize) -> StoreResult<Vec<IncidentRecord>> {
        let (t, f) = (t.clone(), f.clone());
        self.read(move |c| reads::list_incidents(c, &t, &f, None, limit)).await
    }
    async fn get_incident(
        &self,
        t: &TenantId,
        id: &IncidentId,
    ) -> StoreResult<Option<(IncidentRecord, Vec<TimelineEntry>)>> {
        let (t, id) = (t.clone(), id.clone());
        self.read(move |c| reads::get_incident(c, &t, &id)).await
    }
    async fn incident_command(
        &self,
        t: &TenantId,
        id: &IncidentId,
        cmd: IncidentCommand,
        now: Timestamp,
    ) -> StoreResult<Option<IncidentRecord>> {
        let (t, id) = (t.clone(), id.clone());
        self.write(move |c| ingest::incident_command(c, &t, &id, cmd, now)).await
    }

    async fn observe(
        &self,
        t: &TenantId,
        m: &MonitorId,
        obs: Observation,
        now: Timestamp,
    ) -> StoreResult<Option<usize>> {
        let (t, m) = (t.clone(), m.clone());
        self.write(move |c| ingest::observe(c, &t, &m, obs, now)).await
    }

    async fn create_maintenance(&self, t: &TenantId, w: &MaintenanceWindow) -> StoreResult<()> {
        let (t, w) = (t.clone(), w.clone());
        self.write(move |c| maintenance::create(c, &t, &w)).await
    }
    async fn list_maintenance(&self, t: &TenantId, m: &MonitorId) -> StoreResult<Vec<MaintenanceWindow>> {
        let (t, m) = (t.clone(), m.clone());
        self.read(move |c| maintenance::list(c, &t, &m)).await
    }
    async fn cancel_maintenance(&self, t: &TenantId, id: &str, now: Timestamp) -> StoreResult<bool> {
        let (t, id) = (t.clone(), id.to_owned());
        self.write(move |c| maintenance::cancel(c, &t, &id, now)).await
    }
    async fn advance_maintenance(&self, now: Timestamp) -> StoreResult<usize> {
        self.write(move |c| maintenance::advance(c, now)).await
    }

    async fn create_channel(&self, t: &TenantId, ch: &ChannelRecord) -> StoreResult<()> {
        let (t, ch) = (t.clone(), ch.clone());
        self.write(move |c| channels::create(c, &t, &ch)).await
    }
    async fn list_channels(&self, t: &TenantId) -> StoreResult<Vec<ChannelRecord>> {
        let t = t.clone();
        self.read(move |c| channels::list(c, &t, None)).await
    }
    async fn get_channel(&self, t: &TenantId, id: &ChannelId) -> StoreResult<Option<ChannelRecord>> {
        let (t, id) = (t.clone(), id.clone());
        self.read(move |c| Ok(channels::list(c, &t, Some(&id))?.pop())).await
    }
    async fn update_channel(&self, t: &TenantId, ch: &ChannelRecord) -> StoreResult<bool> {
        let (t, ch) = (t.clone(), ch.clone());
        self.write(move |c| channels::update(c, &t, &ch)).await
    }
    async fn delete_channel(&self, t: &TenantId, id: &ChannelId) -> StoreResult<bool> {
        let (t, id) = (t.clone(), id.clone());
        self.write(move |c| channels::delete(c, &t, &id)).await
    }
    async fn list_deliveries(&self, t: &TenantId, id: &ChannelId, limit: usize) -> StoreResult<Vec<DeliveryRecord>> {
        let (t, id) = (t.clone(), id.clone());
        self.read(move |c| channels::deliveries(c, &t, &id, limit)).await
    }
    async fn create_status_page(&self, t: &TenantId, p: &StatusPage) -> StoreResult<()> {
        let (t, p) = (t.clone(), p.clone());
        self.write(move |c| status_pages::create(c, &t, &p)).await
    }
    async fn update_status_page(&self, t: &TenantId, p: &StatusPage) -> StoreResult<bool> {
        let (t, p) = (t.clone(), p.clone());
        self.write(move |c| status_pages::update(c, &t, &p)).await
    }
    async fn delete_status_page(&self, t: &TenantId, id: &str) -> StoreResult<bool> {
        let (t, id) = (t.clone(), id.to_owned());
        self.write(move |c| status_pages::delete(c, &t, &id)).await
    }
    async fn list_status_pages(&self, t: &TenantId) -> StoreResult<Vec<StatusPage>> {
        let t = t.clone();
        self.read(move |c| status_pages::list(c, &t)).await
    }
    async fn status_page_by_slug(&self, slug: &str) -> StoreResult<Option<StatusPage>> {
        let slug = slug.to_owned();
        self.read(move |c| status_pages::by_slug(c, &slug)).await
    }
    async fn page_tallies(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
        now: Timestamp,
    ) -> StoreResult<Vec<(MonitorId, Timestamp, Tally)>> {
        let (t, monitors) = (t.clone(), monitors.to_vec());
        self.read(move |c| status_pages::page_tallies(c, &t, &monitors, now)).await
    }
    async fn page_monitors(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
    ) -> StoreResult<HashMap<MonitorId, PageMonitorState>> {
        let (t, monitors) = (t.clone(), monitors.to_vec());
        self.read(move |c| status_pages::page_monitors(c, &t, &monitors)).await
    }
    async fn set_public_message(
        &self,
        t: &TenantId,
        id: &IncidentId,
        message: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let (t, id, message) = (t.clone(), id.clone(), message.to_owned());
        self.write(move |c| status_pages::set_public_message(c, &t, &id, &message, now)).await
    }
    async fn public_incidents(
        &self,
        t: &TenantId,
        monitors: &[MonitorId],
        since: Timestamp,
    ) -> StoreResult<Vec<PublicIncident>> {
        let (t, monitors) = (t.clone(), monitors.to_vec());
        self.read(move |c| status_pages::public_incidents(c, &t, &monitors, since)).await
    }
}

//! The PostgreSQL schema, as ordered migrations tracked in `schema_migrations`.
//!
//! Same tables and columns as the SQLite schema, in plain PostgreSQL types: BIGINT
//! millisecond timestamps, TEXT ids, TEXT JSON documents, BOOLEAN flags; no enum or domain
//! types (they would need type lookups that PgBouncer's transaction mode breaks).
//!
//! Migrations run over a direct connection (never through a transaction-mode PgBouncer,
//! which [`refuse_transaction_pooler`] detects), in one transaction that first takes
//! `pg_advisory_xact_lock(MIGRATION_LOCK)`, so engines starting together apply each
//! migration once, one after another.

use super::pool::{connect, describe, parse_url};
use crate::{StoreError, StoreResult};
use std::time::Duration;
use tokio_postgres::Client;

/// Advisory lock key serialising migrations ("netpulse" in ASCII, as an i64).
const MIGRATION_LOCK: i64 = 0x6e65_7470_756c_7365;

/// Append only; never edit a shipped migration. Numbers matched the SQLite migrations up to
/// 13; from 14 on each backend counts its own.
const MIGRATIONS: &[&str] = &[
    // 1: the core schema.
    r#"
    CREATE TABLE tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL);
    CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL,
        scope TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL, revoked_at BIGINT
    );
    CREATE TABLE monitors (
        id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL,
        draft TEXT NOT NULL, paused BOOLEAN NOT NULL, heartbeat_token TEXT UNIQUE,
        created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL
    );
    CREATE INDEX monitors_by_tenant ON monitors(tenant_id, created_at);
    CREATE TABLE monitor_state (
        monitor_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, state TEXT NOT NULL, health TEXT NOT NULL,
        last_checked_at BIGINT, last_outcome TEXT, last_latency_ms INTEGER, last_error TEXT,
        last_success_at BIGINT, open_incident TEXT
    );
    CREATE TABLE check_results (
        id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, monitor_id TEXT NOT NULL, region TEXT NOT NULL,
        worker TEXT NOT NULL, started_at BIGINT NOT NULL, finished_at BIGINT NOT NULL, outcome TEXT NOT NULL,
        dns_ms INTEGER, connect_ms INTEGER, tls_ms INTEGER, ttfb_ms INTEGER, total_ms INTEGER,
        status_code INTEGER, error TEXT, cert_expires_at BIGINT, provenance TEXT NOT NULL
    );
    CREATE INDEX check_results_by_monitor ON check_results(monitor_id, started_at);
    CREATE INDEX check_results_by_start ON check_results(started_at);
    CREATE TABLE uptime_hourly (
        monitor_id TEXT NOT NULL, hour_start BIGINT NOT NULL, tenant_id TEXT NOT NULL,
        up BIGINT NOT NULL DEFAULT 0, degraded BIGINT NOT NULL DEFAULT 0,
        down BIGINT NOT NULL DEFAULT 0, error BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (monitor_id, hour_start)
    );
    CREATE INDEX uptime_hourly_by_tenant ON uptime_hourly(tenant_id, hour_start);
    CREATE TABLE incidents (
        id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, monitor_id TEXT NOT NULL, status TEXT NOT NULL,
        cause TEXT NOT NULL, flapping BOOLEAN NOT NULL DEFAULT FALSE, opened_at BIGINT NOT NULL,
        acknowledged_at BIGINT, acknowledged_by TEXT, resolved_at BIGINT, resolved_by TEXT
    );
    CREATE INDEX incidents_by_tenant ON incidents(tenant_id, opened_at);
    CREATE TABLE incident_events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id TEXT NOT NULL,
        incident_id TEXT NOT NULL, at BIGINT NOT NULL, message TEXT NOT NULL
    );
    CREATE INDEX incident_events_by_incident ON incident_events(incident_id, seq);
    CREATE TABLE channels (
        id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL,
        kind TEXT NOT NULL, url TEXT NOT NULL, secret TEXT NOT NULL, enabled BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE alert_outbox (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id TEXT NOT NULL,
        channel_id TEXT NOT NULL, dedup_key TEXT NOT NULL, kind TEXT NOT NULL, event TEXT NOT NULL,
        status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at BIGINT NOT NULL,
        last_error TEXT, created_at BIGINT NOT NULL, sent_at BIGINT,
        UNIQUE (channel_id, dedup_key)
    );
    CREATE INDEX alert_outbox_due ON alert_outbox(status, next_attempt_at);
    "#,
    // 2: kind-specific channel settings.
    r#"
    ALTER TABLE channels ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
    "#,
    // 3: leases, so that one engine node schedules and one dispatches alerts at a time.
    r#"
    CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL);
    "#,
    // 4: maintenance windows (one-off, or repeating every `repeat_every_s`).
    r#"
    CREATE TABLE maintenance_windows (
        id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, monitor_id TEXT NOT NULL,
        starts_at BIGINT NOT NULL, ends_at BIGINT NOT NULL, repeat_every_s BIGINT,
        reason TEXT NOT NULL, phase TEXT NOT NULL DEFAULT 'scheduled'
    );
    CREATE INDEX maintenance_windows_due ON maintenance_windows(phase, starts_at);
    CREATE INDEX maintenance_windows_by_monitor ON maintenance_windows(tenant_id, monitor_id);
    "#,
    // 5: accounts: users, their memberships in tenants, browser sessions, e-mail tokens;
    // API tokens remember when they were last used and the role they act with (NULL: the
    // bootstrap token, which acts as an admin).
    r#"
    CREATE TABLE users (
        id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
        verified_at BIGINT, created_at BIGINT NOT NULL
    );
    CREATE TABLE memberships (
        user_id TEXT NOT NULL REFERENCES users(id), tenant_id TEXT NOT NULL REFERENCES tenants(id),
        role TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (user_id, tenant_id)
    );
    CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),
        tenant_id TEXT NOT NULL REFERENCES tenants(id), csrf TEXT NOT NULL,
        created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, revoked_at BIGINT
    );
    CREATE INDEX sessions_by_user ON sessions(user_id);
    CREATE TABLE email_tokens (
        token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id), purpose TEXT NOT NULL,
        expires_at BIGINT NOT NULL, used_at BIGINT
    );
    ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT;
    ALTER TABLE api_tokens ADD COLUMN role TEXT;
    "#,
    // 6: public status pages and their monitors; incidents posted with a public message.
    r#"
    CREATE TABLE status_pages (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        slug TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        logo_url TEXT,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX status_pages_by_tenant ON status_pages(tenant_id, created_at);
    CREATE TABLE status_page_monitors (
        page_id TEXT NOT NULL REFERENCES status_pages(id) ON DELETE CASCADE,
        tenant_id TEXT NOT NULL,
        monitor_id TEXT NOT NULL,
        display_name TEXT NOT NULL,
        grp TEXT NOT NULL DEFAULT '',
        position BIGINT NOT NULL,
        PRIMARY KEY (page_id, monitor_id)
    );
    ALTER TABLE incidents ADD COLUMN public_message TEXT;
    ALTER TABLE incidents ADD COLUMN public_message_at BIGINT;
    "#,
    // Retention tiers: raw results past raw retention fold into per-region minute rollups
    // (with latency), hourly rollups past hour retention fold into daily ones.
    r#"
    CREATE TABLE uptime_minute (
        tenant_id TEXT NOT NULL, monitor_id TEXT NOT NULL, minute_start BIGINT NOT NULL, region TEXT NOT NULL,
        up BIGINT NOT NULL DEFAULT 0, degraded BIGINT NOT NULL DEFAULT 0,
        down BIGINT NOT NULL DEFAULT 0, error BIGINT NOT NULL DEFAULT 0,
        latency_count BIGINT NOT NULL DEFAULT 0, latency_sum_ms BIGINT NOT NULL DEFAULT 0,
        latency_min_ms INTEGER, latency_max_ms INTEGER,
        PRIMARY KEY (tenant_id, monitor_id, minute_start, region)
    );
    CREATE INDEX uptime_minute_by_start ON uptime_minute(minute_start);
    CREATE TABLE uptime_daily (
        tenant_id TEXT NOT NULL, monitor_id TEXT NOT NULL, day_start BIGINT NOT NULL,
        up BIGINT NOT NULL DEFAULT 0, degraded BIGINT NOT NULL DEFAULT 0,
        down BIGINT NOT NULL DEFAULT 0, error BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (tenant_id, monitor_id, day_start)
    );
    CREATE INDEX uptime_daily_by_start ON uptime_daily(day_start);
    CREATE INDEX uptime_hourly_by_start ON uptime_hourly(hour_start);
    "#,
    // storm control: a channel's storm in progress (see core::storm).
    r#"
    CREATE TABLE alert_storms (
        tenant_id TEXT NOT NULL, channel_id TEXT NOT NULL, state TEXT NOT NULL,
        PRIMARY KEY (tenant_id, channel_id)
    );
    CREATE INDEX alert_outbox_pages ON alert_outbox(channel_id, created_at);
    "#,
    // Invitations by e-mail: a single-use token (stored as SHA-256) that makes whoever
    // presents it, signed in, a member of the tenant with the role given.
    r#"
    CREATE TABLE invitations (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        token_hash TEXT NOT NULL UNIQUE,
        email TEXT NOT NULL,
        role TEXT NOT NULL,
        invited_by TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        accepted_at BIGINT,
        accepted_by TEXT
    );
    CREATE INDEX invitations_by_tenant ON invitations(tenant_id, created_at);
    "#,
    // Checks made during a maintenance window, counted apart from the outcome columns.
    r#"
    ALTER TABLE uptime_hourly ADD COLUMN maintenance BIGINT NOT NULL DEFAULT 0;
    "#,
    // Member management: an API token remembers the person it belongs to (removing them
    // revokes it); an invitation can be revoked before it is used.
    r#"
    ALTER TABLE api_tokens ADD COLUMN created_by TEXT;
    CREATE INDEX api_tokens_by_creator ON api_tokens(tenant_id, created_by);
    ALTER TABLE invitations ADD COLUMN revoked_at BIGINT;
    "#,
    // Ingest: retention's time index as BRIN (results arrive in time order, so a block range
    // summary is enough and costs next to nothing per insert); room on every page for HOT
    // updates of the rows rewritten per batch (no index covers a column that changes with every result; the timer index of the next
    // migration covers `timer_at`, which changes only while an incident has a reminder or escalation due); and
    // a version on every state row, bumped by every write, so that ingest reads a state only
    // when it is not the one its node wrote last (then postgres/state_cache.rs; since
    // migration 13 ingest keeps states in memory instead, postgres/hot.rs).
    r#"
    DROP INDEX check_results_by_start;
    CREATE INDEX check_results_by_start ON check_results USING brin (started_at);
    ALTER TABLE monitor_state SET (fillfactor = 50);
    ALTER TABLE uptime_hourly SET (fillfactor = 70);
    ALTER TABLE monitor_state ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
    "#,
    // An organisation's alerting defaults (policy fields its monitors inherit, storm
    // control), JSON of `store::settings::AlertingDefaults`; no row means none set. And the
    // due time of each monitor's next reminder/escalation.
    r#"
    CREATE TABLE tenant_settings (
        tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
        alerting TEXT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    -- When the state's next reminder or escalation falls due (`core::incident::next_timer`),
    -- for the dispatcher's timer sweep.
    ALTER TABLE monitor_state ADD COLUMN timer_at BIGINT;
    CREATE INDEX monitor_state_timers ON monitor_state(timer_at) WHERE timer_at IS NOT NULL;
    "#,
    // Ingest keeps each monitor's state in memory and writes it back only when it stops
    // behaving like the stored one (postgres/hot.rs). Monitors fall into 64 partitions
    // (`hot::partition_of`); every writer of a monitor's state or facts other than that
    // ingest holds its partition's row and logs the monitor here, so every node's memory
    // drops exactly what another one changed. Touches older than ten minutes are pruned.
    r#"
    CREATE TABLE state_partitions (p INTEGER PRIMARY KEY, version BIGINT NOT NULL DEFAULT 0);
    INSERT INTO state_partitions (p) SELECT generate_series(0, 63);
    CREATE TABLE state_touches (
        p INTEGER NOT NULL,
        version BIGINT NOT NULL,
        monitor_id TEXT NOT NULL,
        at BIGINT NOT NULL DEFAULT (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
        PRIMARY KEY (p, version, monitor_id)
    );
    CREATE INDEX state_touches_by_age ON state_touches(at);
    "#,
    // Results the database refused for good (a poison result; see `ingest`), kept whole as
    // ASCII-only JSON with the database's reason, for an operator to look at.
    r#"
    CREATE TABLE quarantined_results (
        result_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        monitor_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        result TEXT NOT NULL,
        quarantined_at BIGINT NOT NULL
    );
    "#,
    // Daily rollups keep the maintenance count of the hours folded into them, like hourly ones.
    r#"
    ALTER TABLE uptime_daily ADD COLUMN maintenance BIGINT NOT NULL DEFAULT 0;
    "#,
    // 17: raw results partitioned by UTC day of `started_at`, and minute rollups by UTC day of
    // `minute_start` (see postgres/days.rs), so retention drops a day's partition instead of
    // deleting its rows. The results' key is (id, started_at): a partitioned table's unique
    // keys must hold the partition key. A populated table stays where it is and becomes the
    // partition `<table>_legacy` for every start up to the end of its newest day (results: at
    // least today): the results' key is rebuilt over (id, started_at), the other indexes
    // become the new table's, no row is copied; an empty one is dropped. Each table gets a
    // default partition for the days no other partition takes, and results a partition per
    // day up to a week ahead (retention makes the later ones; minute rollups get theirs when
    // retention folds a day of results into them). The minute rollups' index on
    // `minute_start` stays only on their legacy partition: days are dropped, not deleted.
    r#"
    ALTER TABLE check_results RENAME TO check_results_legacy;
    ALTER TABLE check_results_legacy RENAME CONSTRAINT check_results_pkey TO check_results_legacy_pkey;
    ALTER INDEX check_results_by_monitor RENAME TO check_results_legacy_by_monitor;
    ALTER INDEX check_results_by_start RENAME TO check_results_legacy_by_start;
    CREATE TABLE check_results (
        id TEXT NOT NULL, tenant_id TEXT NOT NULL, monitor_id TEXT NOT NULL, region TEXT NOT NULL,
        worker TEXT NOT NULL, started_at BIGINT NOT NULL, finished_at BIGINT NOT NULL, outcome TEXT NOT NULL,
        dns_ms INTEGER, connect_ms INTEGER, tls_ms INTEGER, ttfb_ms INTEGER, total_ms INTEGER,
        status_code INTEGER, error TEXT, cert_expires_at BIGINT, provenance TEXT NOT NULL,
        PRIMARY KEY (id, started_at)
    ) PARTITION BY RANGE (started_at);
    CREATE INDEX check_results_by_monitor ON check_results (monitor_id, started_at);
    CREATE INDEX check_results_by_start ON check_results USING brin (started_at);
    CREATE TABLE check_results_default PARTITION OF check_results DEFAULT;
    DO $$
    DECLARE
        day CONSTANT BIGINT := 86400000;
        today CONSTANT BIGINT := floor(extract(epoch FROM now()) * 1000 / 86400000)::BIGINT * 86400000;
        upto BIGINT := today;
        d BIGINT;
    BEGIN
        IF EXISTS (SELECT 1 FROM check_results_legacy) THEN
            SELECT greatest(today + day, (floor(max(started_at)::NUMERIC / day)::BIGINT + 1) * day)
              INTO upto FROM check_results_legacy;
            ALTER TABLE check_results_legacy DROP CONSTRAINT check_results_legacy_pkey;
            ALTER TABLE check_results_legacy ADD CONSTRAINT check_results_legacy_pkey PRIMARY KEY (id, started_at);
            -- Implies the partition's bound, so attaching it scans nothing more.
            EXECUTE format('ALTER TABLE check_results_legacy ADD CONSTRAINT check_results_legacy_range '
                           'CHECK (started_at < %s)', upto);
            EXECUTE format('ALTER TABLE check_results ATTACH PARTITION check_results_legacy '
                           'FOR VALUES FROM (MINVALUE) TO (%s)', upto);
        ELSE
            DROP TABLE check_results_legacy;
        END IF;
        d := upto;
        WHILE d <= today + 7 * day LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF check_results FOR VALUES FROM (%s) TO (%s)',
                           'check_results_' || to_char(to_timestamp(d / 1000) AT TIME ZONE 'UTC', 'YYYYMMDD'),
                           d, d + day);
            d := d + day;
        END LOOP;
    END $$;
    ALTER TABLE uptime_minute RENAME TO uptime_minute_legacy;
    ALTER TABLE uptime_minute_legacy RENAME CONSTRAINT uptime_minute_pkey TO uptime_minute_legacy_pkey;
    ALTER INDEX uptime_minute_by_start RENAME TO uptime_minute_legacy_by_start;
    CREATE TABLE uptime_minute (
        tenant_id TEXT NOT NULL, monitor_id TEXT NOT NULL, minute_start BIGINT NOT NULL, region TEXT NOT NULL,
        up BIGINT NOT NULL DEFAULT 0, degraded BIGINT NOT NULL DEFAULT 0,
        down BIGINT NOT NULL DEFAULT 0, error BIGINT NOT NULL DEFAULT 0,
        latency_count BIGINT NOT NULL DEFAULT 0, latency_sum_ms BIGINT NOT NULL DEFAULT 0,
        latency_min_ms INTEGER, latency_max_ms INTEGER,
        PRIMARY KEY (tenant_id, monitor_id, minute_start, region)
    ) PARTITION BY RANGE (minute_start);
    CREATE TABLE uptime_minute_default PARTITION OF uptime_minute DEFAULT;
    DO $$
    DECLARE
        day CONSTANT BIGINT := 86400000;
        upto BIGINT;
    BEGIN
        IF EXISTS (SELECT 1 FROM uptime_minute_legacy) THEN
            SELECT (floor(max(minute_start)::NUMERIC / day)::BIGINT + 1) * day INTO upto FROM uptime_minute_legacy;
            EXECUTE format('ALTER TABLE uptime_minute_legacy ADD CONSTRAINT uptime_minute_legacy_range '
                           'CHECK (minute_start < %s)', upto);
            EXECUTE format('ALTER TABLE uptime_minute ATTACH PARTITION uptime_minute_legacy '
                           'FOR VALUES FROM (MINVALUE) TO (%s)', upto);
        ELSE
            DROP TABLE uptime_minute_legacy;
        END IF;
    END $$;
    "#,
    // The delivery log: one row per attempt to deliver a notice (outbox rows' tries, tests),
    // with the receiver's answer (`store::deliveries`).
    r#"
    CREATE TABLE delivery_attempts (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id TEXT NOT NULL, outbox_id BIGINT,
        channel_id TEXT NOT NULL, channel_name TEXT NOT NULL, channel_kind TEXT NOT NULL, monitor_id TEXT,
        monitor_name TEXT NOT NULL, incident_id TEXT, event TEXT NOT NULL, dedup_key TEXT NOT NULL,
        attempt INTEGER NOT NULL, outcome TEXT NOT NULL, http_status INTEGER, error TEXT,
        next_attempt_at BIGINT, at BIGINT NOT NULL
    );
    CREATE INDEX delivery_attempts_log ON delivery_attempts(tenant_id, id);
    CREATE INDEX delivery_attempts_channel ON delivery_attempts(tenant_id, channel_id, id);
    CREATE INDEX delivery_attempts_delivered ON delivery_attempts(tenant_id, channel_id, id) WHERE outcome = 'delivered';
    CREATE INDEX delivery_attempts_incident ON delivery_attempts(tenant_id, incident_id, id) WHERE incident_id IS NOT NULL;
    CREATE INDEX delivery_attempts_at ON delivery_attempts(at);
    "#,
    // Incidents' public updates (state, impact, message), newest shown first on status pages
    // and in their feeds; the incident keeps its newest message in `public_message`. Each
    // incident posted before gets its message as its one update.
    r#"
    CREATE TABLE incident_updates (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        incident_id TEXT NOT NULL,
        state TEXT NOT NULL,
        impact TEXT NOT NULL,
        message TEXT NOT NULL,
        posted_at BIGINT NOT NULL
    );
    CREATE INDEX incident_updates_of_incident ON incident_updates(tenant_id, incident_id, posted_at);
    INSERT INTO incident_updates (id, tenant_id, incident_id, state, impact, message, posted_at)
        SELECT 'upd_' || substr(id, 5), tenant_id, id,
               CASE WHEN status = 'resolved' THEN 'resolved' ELSE 'investigating' END, 'major',
               public_message, public_message_at
        FROM incidents WHERE public_message IS NOT NULL;
    "#,
    // Maintenance windows a tenant chose to announce on its status pages.
    r#"
    ALTER TABLE maintenance_windows ADD COLUMN announce BOOLEAN NOT NULL DEFAULT FALSE;
    "#,
    // A status page's own host name, under which it is served at `/`; one page per name.
    r#"
    ALTER TABLE status_pages ADD COLUMN domain TEXT;
    CREATE UNIQUE INDEX status_pages_domain ON status_pages(domain) WHERE domain IS NOT NULL;
    "#,
    // Who issued the certificate a TLS check saw (the monitor page shows it); every day
    // partition gets the column from the partitioned table.
    r#"
    ALTER TABLE check_results ADD COLUMN cert_issuer TEXT;
    "#,
    // Status-page subscribers (e-mail, pending until the confirmation link is followed;
    // webhook) and the notices owed to them, once per subscriber and subject (an incident
    // update `upd_…`, or an announced maintenance window).
    r#"
    CREATE TABLE page_subscribers (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        page_id TEXT NOT NULL REFERENCES status_pages(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        address TEXT NOT NULL,
        secret TEXT NOT NULL UNIQUE,
        confirm_hash TEXT UNIQUE,
        confirm_expires_at BIGINT,
        created_at BIGINT NOT NULL,
        confirmed_at BIGINT,
        UNIQUE (page_id, kind, address)
    );
    CREATE INDEX page_subscribers_by_tenant ON page_subscribers(tenant_id, page_id);
    CREATE TABLE subscriber_notices (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        subscriber_id TEXT NOT NULL REFERENCES page_subscribers(id) ON DELETE CASCADE,
        subject_id TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        last_error TEXT,
        created_at BIGINT NOT NULL,
        sent_at BIGINT,
        UNIQUE (subscriber_id, subject_id)
    );
    CREATE INDEX subscriber_notices_due ON subscriber_notices(status, next_attempt_at);
    "#,
    // Real-visitor sources of monitors, the page views their visitors' browsers reported
    // (apart from check results: never counted as probe uptime), and daily counts of views
    // past the raw horizon.
    r#"
    CREATE TABLE visit_sources (
        id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, monitor_id TEXT NOT NULL,
        site_key TEXT NOT NULL UNIQUE, origins TEXT NOT NULL, sample_one_in INTEGER NOT NULL,
        per_minute INTEGER NOT NULL, health_url TEXT, created_at BIGINT NOT NULL,
        dropped_origin BIGINT NOT NULL DEFAULT 0, dropped_rate BIGINT NOT NULL DEFAULT 0,
        dropped_token BIGINT NOT NULL DEFAULT 0, dropped_bot BIGINT NOT NULL DEFAULT 0,
        dropped_malformed BIGINT NOT NULL DEFAULT 0, on_status_pages BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE INDEX visit_sources_by_monitor ON visit_sources(tenant_id, monitor_id);
    CREATE TABLE visits (
        source_id TEXT NOT NULL, tenant_id TEXT NOT NULL, monitor_id TEXT NOT NULL,
        at BIGINT NOT NULL, ok BOOLEAN NOT NULL, page_ms INTEGER, health_ms INTEGER,
        network TEXT, area TEXT, provenance TEXT NOT NULL
    );
    CREATE INDEX visits_by_monitor ON visits(tenant_id, monitor_id, at);
    CREATE INDEX visits_by_time ON visits(at);
    CREATE TABLE visit_days (
        source_id TEXT NOT NULL, tenant_id TEXT NOT NULL, monitor_id TEXT NOT NULL,
        day_start BIGINT NOT NULL, provenance TEXT NOT NULL, loads BIGINT NOT NULL,
        failed BIGINT NOT NULL, PRIMARY KEY (source_id, day_start, provenance)
    );
    CREATE INDEX visit_days_by_monitor ON visit_days(tenant_id, monitor_id, day_start);
    "#,
    // Versions of channels, status pages and maintenance windows (`updated_at`, ms; every
    // write moves it on), the ETag that If-Match is judged against: a channel's and a page's
    // start at its creation, a window's at 0.
    r#"
    ALTER TABLE channels ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
    UPDATE channels SET updated_at = created_at;
    ALTER TABLE status_pages ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
    UPDATE status_pages SET updated_at = created_at;
    ALTER TABLE maintenance_windows ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
    "#,
    // The other monitors (components) an incident update says the incident affects, besides
    // its own: their ids, space-separated.
    r#"
    ALTER TABLE incident_updates ADD COLUMN affects TEXT NOT NULL DEFAULT '';
    "#,
    // Real-visitor checks across engine nodes: each source's token key in the store (so any
    // node checks a token another served), and the views each source took in the last page
    // token's life: one row per token spent (unique per source) or pixel view, which bounds
    // the source's views a minute across nodes. And whether its owner opted it in to alerts
    // (notices then tell what its visitors saw).
    r#"
    ALTER TABLE visit_sources ADD COLUMN in_alerts BOOLEAN NOT NULL DEFAULT false;
    ALTER TABLE visit_sources ADD COLUMN token_key TEXT NOT NULL DEFAULT '';
    UPDATE visit_sources SET token_key = replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
    CREATE TABLE visit_spends (
        source_id TEXT NOT NULL REFERENCES visit_sources(id) ON DELETE CASCADE,
        nonce TEXT NOT NULL,
        at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (source_id, nonce)
    );
    CREATE INDEX visit_spends_by_time ON visit_spends(source_id, at);
    CREATE INDEX visit_spends_by_expiry ON visit_spends(source_id, expires_at);
    "#,
    // Each monitor's partition (`monitors::partition_of`: FNV-1a of its id's bytes modulo 64,
    // which only needs the hash modulo 64: start 5, then h = ((h XOR b) * 19) mod 64), so a
    // scheduler reads only its partitions; the index serves its reload of ids and versions.
    r#"
    ALTER TABLE monitors ADD COLUMN part INTEGER NOT NULL DEFAULT -1;
    WITH RECURSIVE f(id, bytes, i, h) AS (
        SELECT id, convert_to(id, 'UTF8'), 0, 5 FROM monitors
        UNION ALL
        SELECT id, bytes, i + 1, ((h # (get_byte(bytes, i) & 63)) * 19) & 63 FROM f WHERE i < length(bytes)
    )
    UPDATE monitors m SET part = f.h FROM f WHERE f.id = m.id AND f.i = length(f.bytes);
    CREATE INDEX monitors_schedulable ON monitors(part, id, updated_at) WHERE NOT paused;
    "#,
];

/// Bring the database at `url` (a direct connection) to the newest schema. Returns the
/// schema version.
pub async fn migrate(url: &str) -> StoreResult<u32> {
    migrate_up_to(url, MIGRATIONS.len()).await
}

/// Bring the database at `url` to schema version `version` at most, for tests of a migration
/// that need a database as it was before it.
#[cfg(feature = "test-support")]
pub async fn migrate_to(url: &str, version: u32) -> StoreResult<u32> {
    migrate_up_to(url, (version as usize).min(MIGRATIONS.len())).await
}

/// The version of the first migration whose text holds `marker` (for tests of a migration
/// that need a database as it was before it).
#[cfg(feature = "test-support")]
pub fn version_introducing(marker: &str) -> Option<u32> {
    MIGRATIONS.iter().position(|m| m.contains(marker)).map(|i| i as u32 + 1)
}

async fn migrate_up_to(url: &str, target_version: usize) -> StoreResult<u32> {
    let config = parse_url(url, "storage.postgres.migrate_url")?;
    let target = describe(&config);
    refuse_transaction_pooler(&config).await?;
    let mut client = connect(&config).await?;
    let tx = client.transaction().await?;
    tx.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock({MIGRATION_LOCK}); \
         CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL);"
    ))
    .await?;
    let current: Option<i32> = tx.query_one("SELECT MAX(version) FROM schema_migrations", &[]).await?.try_get(0)?;
    let current = current.unwrap_or(0).max(0) as usize;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Internal(format!(
            "the database at {target} has schema version {current}, newer than this engine's {}; upgrade the engine",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().take(target_version).skip(current) {
        tx.batch_execute(sql).await?;
        let version = (i + 1) as i32;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) \
             VALUES ($1, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT)",
            &[&version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(target_version.max(current) as u32)
}

/// Refuse to migrate through a connection pooler in transaction (or statement) mode.
///
/// The probe relies on what only a direct or session-pooled connection guarantees: a client
/// keeps one server backend for its whole life. Client A asks for its backend pid; then `k`
/// other clients each open a transaction, pinning a server, and A asks again. Directly (or in
/// session mode) no pinned pid equals A's and A's never changes. A transaction pooler hands
/// A's just-released server to a pinning client, moves A to another server, or makes A wait
/// for one — whichever way it picks idle servers (PgBouncer: most recent first by default,
/// oldest first with `server_round_robin`), one of the rounds `k = 1..=4` gives it away.
async fn refuse_transaction_pooler(config: &tokio_postgres::Config) -> StoreResult<()> {
    let a = connect(config).await?;
    let mut pins = Vec::with_capacity(PROBE_PINS);
    for _ in 0..PROBE_PINS {
        pins.push(connect(config).await?);
    }
    for k in 1..=PROBE_PINS {
        if moves_between_backends(&a, &mut pins[..k]).await? {
            return Err(StoreError::Internal(format!(
                "storage.postgres.migrate_url points at a connection pooler in transaction mode ({}), \
                 e.g. PgBouncer with pool_mode = transaction; migrations need a direct PostgreSQL connection \
                 (usually port 5432) or a session-mode pool: set storage.postgres.migrate_url",
                describe(config)
            )));
        }
    }
    Ok(())
}

/// Pinning clients of the pooler probe.
const PROBE_PINS: usize = 4;

async fn backend_pid(c: &Client) -> StoreResult<i32> {
    Ok(c.query_typed_one("SELECT pg_backend_pid()", &[]).await?.try_get(0)?)
}

/// One probe round with `pins.len()` pinning clients; true when the connection is pooled
/// per transaction.
async fn moves_between_backends(a: &Client, pins: &mut [Client]) -> StoreResult<bool> {
    let before = backend_pid(a).await?;
    let mut pinned = Vec::with_capacity(pins.len());
    let mut pinned_pids = Vec::with_capacity(pins.len());
    for pin in pins.iter_mut() {
        let tx = match pin.transaction().await {
            Ok(tx) => tx,
            // Statement-mode pools refuse transaction blocks.
            Err(e) if e.as_db_error().is_some() => return Ok(true),
            Err(e) => return Err(e.into()),
        };
        pinned_pids.push(backend_pid(tx.client()).await?);
        pinned.push(tx);
    }
    let after = tokio::time::timeout(Duration::from_secs(5), backend_pid(a)).await;
    for tx in pinned {
        tx.rollback().await?;
    }
    Ok(match after {
        Err(_) => true,
        Ok(after) => pinned_pids.contains(&before) || after? != before,
    })
}

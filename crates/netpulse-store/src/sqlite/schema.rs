//! The SQLite schema, as ordered migrations tracked in `PRAGMA user_version`.
//!
//! Every tenant-owned table has a `tenant_id` column, and every tenant query filters on it.
//! Times are INTEGER milliseconds since the epoch.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: the core schema.
    r#"
    CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        scope TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    );
    CREATE TABLE monitors (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        draft TEXT NOT NULL,
        paused INTEGER NOT NULL,
        heartbeat_token TEXT UNIQUE,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX monitors_by_tenant ON monitors(tenant_id, created_at);
    CREATE TABLE monitor_state (
        monitor_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        state TEXT NOT NULL,
        health TEXT NOT NULL,
        last_checked_at INTEGER,
        last_outcome TEXT,
        last_latency_ms INTEGER,
        last_error TEXT,
        last_success_at INTEGER,
        open_incident TEXT
    );
    CREATE TABLE check_results (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        monitor_id TEXT NOT NULL,
        region TEXT NOT NULL,
        worker TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        dns_ms INTEGER, connect_ms INTEGER, tls_ms INTEGER, ttfb_ms INTEGER, total_ms INTEGER,
        status_code INTEGER,
        error TEXT,
        cert_expires_at INTEGER,
        provenance TEXT NOT NULL
    );
    CREATE INDEX check_results_by_monitor ON check_results(monitor_id, started_at);
    CREATE TABLE uptime_hourly (
        monitor_id TEXT NOT NULL,
        hour_start INTEGER NOT NULL,
        tenant_id TEXT NOT NULL,
        up INTEGER NOT NULL DEFAULT 0,
        degraded INTEGER NOT NULL DEFAULT 0,
        down INTEGER NOT NULL DEFAULT 0,
        error INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (monitor_id, hour_start)
    ) WITHOUT ROWID;
    CREATE INDEX uptime_hourly_by_tenant ON uptime_hourly(tenant_id, hour_start);
    CREATE TABLE incidents (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        monitor_id TEXT NOT NULL,
        status TEXT NOT NULL,
        cause TEXT NOT NULL,
        flapping INTEGER NOT NULL DEFAULT 0,
        opened_at INTEGER NOT NULL,
        acknowledged_at INTEGER,
        acknowledged_by TEXT,
        resolved_at INTEGER,
        resolved_by TEXT
    );
    CREATE INDEX incidents_by_tenant ON incidents(tenant_id, opened_at);
    CREATE TABLE incident_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant_id TEXT NOT NULL,
        incident_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX incident_events_by_incident ON incident_events(incident_id, seq);
    CREATE TABLE channels (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE alert_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant_id TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        dedup_key TEXT NOT NULL,
        kind TEXT NOT NULL,
        event TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        sent_at INTEGER,
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
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );
    "#,
    // 4: maintenance windows (one-off, or repeating every `repeat_every_s`).
    r#"
    CREATE TABLE maintenance_windows (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        monitor_id TEXT NOT NULL,
        starts_at INTEGER NOT NULL,
        ends_at INTEGER NOT NULL,
        repeat_every_s INTEGER,
        reason TEXT NOT NULL,
        phase TEXT NOT NULL DEFAULT 'scheduled'
    );
    CREATE INDEX maintenance_windows_due ON maintenance_windows(phase, starts_at);
    CREATE INDEX maintenance_windows_by_monitor ON maintenance_windows(tenant_id, monitor_id);
    "#,
    // 5: accounts: users, their memberships in tenants, browser sessions, e-mail tokens;
    // API tokens remember when they were last used and the role they act with (NULL: the
    // bootstrap token, which acts as an admin).
    r#"
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        verified_at INTEGER,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE memberships (
        user_id TEXT NOT NULL REFERENCES users(id),
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        role TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, tenant_id)
    );
    CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        csrf TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked_at INTEGER
    );
    CREATE INDEX sessions_by_user ON sessions(user_id);
    CREATE TABLE email_tokens (
        token_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        purpose TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
    );
    ALTER TABLE api_tokens ADD COLUMN last_used_at INTEGER;
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
        created_at INTEGER NOT NULL
    );
    CREATE INDEX status_pages_by_tenant ON status_pages(tenant_id, created_at);
    CREATE TABLE status_page_monitors (
        page_id TEXT NOT NULL REFERENCES status_pages(id) ON DELETE CASCADE,
        tenant_id TEXT NOT NULL,
        monitor_id TEXT NOT NULL,
        display_name TEXT NOT NULL,
        grp TEXT NOT NULL DEFAULT '',
        position INTEGER NOT NULL,
        PRIMARY KEY (page_id, monitor_id)
    );
    ALTER TABLE incidents ADD COLUMN public_message TEXT;
    ALTER TABLE incidents ADD COLUMN public_message_at INTEGER;
    "#,
    // Retention tiers: raw results past raw retention fold into per-region minute rollups
    // (with latency), hourly rollups past hour retention fold into daily ones.
    r#"
    CREATE TABLE uptime_minute (
        tenant_id TEXT NOT NULL,
        monitor_id TEXT NOT NULL,
        minute_start INTEGER NOT NULL,
        region TEXT NOT NULL,
        up INTEGER NOT NULL DEFAULT 0,
        degraded INTEGER NOT NULL DEFAULT 0,
        down INTEGER NOT NULL DEFAULT 0,
        error INTEGER NOT NULL DEFAULT 0,
        latency_count INTEGER NOT NULL DEFAULT 0,
        latency_sum_ms INTEGER NOT NULL DEFAULT 0,
        latency_min_ms INTEGER,
        latency_max_ms INTEGER,
        PRIMARY KEY (tenant_id, monitor_id, minute_start, region)
    ) WITHOUT ROWID;
    CREATE INDEX uptime_minute_by_start ON uptime_minute(minute_start);
    CREATE TABLE uptime_daily (
        tenant_id TEXT NOT NULL,
        monitor_id TEXT NOT NULL,
        day_start INTEGER NOT NULL,
        up INTEGER NOT NULL DEFAULT 0,
        degraded INTEGER NOT NULL DEFAULT 0,
        down INTEGER NOT NULL DEFAULT 0,
        error INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (tenant_id, monitor_id, day_start)
    ) WITHOUT ROWID;
    CREATE INDEX uptime_daily_by_start ON uptime_daily(day_start);
    CREATE INDEX uptime_hourly_by_start ON uptime_hourly(hour_start);
    CREATE INDEX check_results_by_start ON check_results(started_at);
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
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        accepted_at INTEGER,
        accepted_by TEXT
    );
    CREATE INDEX invitations_by_tenant ON invitations(tenant_id, created_at);
    "#,
    // Checks made during a maintenance window, counted apart from the outcome columns.
    r#"
    ALTER TABLE uptime_hourly ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0;
    "#,
    // Member management: an API token remembers the person it belongs to (removing them
    // revokes it); an invitation can be revoked before it is used.
    r#"
    ALTER TABLE api_tokens ADD COLUMN created_by TEXT;
    CREATE INDEX api_tokens_by_creator ON api_tokens(tenant_id, created_by);
    ALTER TABLE invitations ADD COLUMN revoked_at INTEGER;
    "#,
    // PostgreSQL's migration of the same number makes its ingest indexes cheaper and versions
    // the state rows for its per-node state cache; the single-writer SQLite store keeps its
    // btree and needs no version, so this one only keeps the numbering equal.
    r#"
    SELECT 1;
    "#,
    // An organisation's alerting defaults (policy fields its monitors inherit, storm
    // control), JSON of `store::settings::AlertingDefaults`; no row means none set. And the
    // due time of each monitor's next reminder/escalation.
    r#"
    CREATE TABLE tenant_settings (
        tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
        alerting TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );
    -- When the state's next reminder or escalation falls due (`core::incident::next_timer`),
    -- for the dispatcher's timer sweep.
    ALTER TABLE monitor_state ADD COLUMN timer_at INTEGER;
    CREATE INDEX monitor_state_timers ON monitor_state(timer_at) WHERE timer_at IS NOT NULL;
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
        quarantined_at INTEGER NOT NULL
    );
    "#,
    // Daily rollups keep the maintenance count of the hours folded into them, like hourly ones.
    r#"
    ALTER TABLE uptime_daily ADD COLUMN maintenance BIGINT NOT NULL DEFAULT 0;
    "#,
    // When each monitor's health last changed (by the engine's clock), for the dashboard
    // overview's catch-up of the changes a page missed (`MonitorStore::health_changed_since`).
    r#"
    ALTER TABLE monitor_state ADD COLUMN health_changed_at INTEGER;
    CREATE INDEX monitor_state_health_changes ON monitor_state(tenant_id, health_changed_at);
    "#,
    // The delivery log: one row per attempt to deliver a notice (outbox rows' tries, tests),
    // with the receiver's answer (`store::deliveries`).
    r#"
    CREATE TABLE delivery_attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant_id TEXT NOT NULL,
        outbox_id INTEGER,
        channel_id TEXT NOT NULL,
        channel_name TEXT NOT NULL,
        channel_kind TEXT NOT NULL,
        monitor_id TEXT,
        monitor_name TEXT NOT NULL,
        incident_id TEXT,
        event TEXT NOT NULL,
        dedup_key TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        http_status INTEGER,
        error TEXT,
        next_attempt_at INTEGER,
        at INTEGER NOT NULL
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
        posted_at INTEGER NOT NULL
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
    ALTER TABLE maintenance_windows ADD COLUMN announce INTEGER NOT NULL DEFAULT 0;
    "#,
    // A status page's own host name, under which it is served at `/`; one page per name.
    r#"
    ALTER TABLE status_pages ADD COLUMN domain TEXT;
    CREATE UNIQUE INDEX status_pages_domain ON status_pages(domain) WHERE domain IS NOT NULL;
    "#,
    // Who issued the certificate a TLS check saw (the monitor page shows it).
    r#"
    ALTER TABLE check_results ADD COLUMN cert_issuer TEXT;
    "#,
    // Narrow raw results (issue #21: bytes per check): a result names its monitor and its
    // origin (region, worker) by a small integer key into `result_monitors` and
    // `result_origins` instead of four text columns, and its id is 16 bytes (see
    // `results::id_value`; an id that is not a canonical `res_…` stays text). No index on the
    // id: a redelivery is recognised by its monitor, start and id through
    // `check_results_by_monitor`. Existing rows are copied over; their ids are converted
    // after this step (`migrate`).
    r#"
    CREATE TABLE result_monitors (
        key INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        monitor_id TEXT NOT NULL,
        UNIQUE (monitor_id, tenant_id)
    );
    CREATE TABLE result_origins (
        key INTEGER PRIMARY KEY,
        region TEXT NOT NULL,
        worker TEXT NOT NULL,
        UNIQUE (region, worker)
    );
    INSERT INTO result_monitors (tenant_id, monitor_id) SELECT DISTINCT tenant_id, monitor_id FROM check_results;
    INSERT INTO result_origins (region, worker) SELECT DISTINCT region, worker FROM check_results;
    CREATE TABLE check_results_narrow (
        id NOT NULL,
        monitor_key INTEGER NOT NULL,
        origin_key INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        dns_ms INTEGER, connect_ms INTEGER, tls_ms INTEGER, ttfb_ms INTEGER, total_ms INTEGER,
        status_code INTEGER,
        error TEXT,
        cert_expires_at INTEGER,
        provenance TEXT NOT NULL,
        cert_issuer TEXT
    );
    INSERT INTO check_results_narrow
        SELECT r.id, m.key, o.key, r.started_at, r.finished_at, r.outcome, r.dns_ms, r.connect_ms, r.tls_ms,
               r.ttfb_ms, r.total_ms, r.status_code, r.error, r.cert_expires_at, r.provenance, r.cert_issuer
        FROM check_results r
        JOIN result_monitors m ON m.monitor_id = r.monitor_id AND m.tenant_id = r.tenant_id
        JOIN result_origins o ON o.region = r.region AND o.worker = r.worker
        ORDER BY r.rowid;
    DROP TABLE check_results;
    ALTER TABLE check_results_narrow RENAME TO check_results;
    CREATE INDEX check_results_by_monitor ON check_results(monitor_key, started_at);
    CREATE INDEX check_results_by_start ON check_results(started_at);
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
        confirm_expires_at INTEGER,
        created_at INTEGER NOT NULL,
        confirmed_at INTEGER,
        UNIQUE (page_id, kind, address)
    );
    CREATE INDEX page_subscribers_by_tenant ON page_subscribers(tenant_id, page_id);
    CREATE TABLE subscriber_notices (
        id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        subscriber_id TEXT NOT NULL REFERENCES page_subscribers(id) ON DELETE CASCADE,
        subject_id TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        sent_at INTEGER,
        UNIQUE (subscriber_id, subject_id)
    );
    CREATE INDEX subscriber_notices_due ON subscriber_notices(status, next_attempt_at);
    "#,
    // Real-visitor sources of monitors, the page views their visitors' browsers reported
    // (apart from check results: never counted as probe uptime), and daily counts of views
    // past the raw horizon.
    r#"
    CREATE TABLE visit_sources (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        monitor_id TEXT NOT NULL,
        site_key TEXT NOT NULL UNIQUE,
        origins TEXT NOT NULL,
        sample_one_in INTEGER NOT NULL,
        per_minute INTEGER NOT NULL,
        health_url TEXT,
        created_at INTEGER NOT NULL,
        dropped_origin INTEGER NOT NULL DEFAULT 0,
        dropped_rate INTEGER NOT NULL DEFAULT 0,
        dropped_token INTEGER NOT NULL DEFAULT 0,
        dropped_bot INTEGER NOT NULL DEFAULT 0,
        dropped_malformed INTEGER NOT NULL DEFAULT 0,
        on_status_pages INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX visit_sources_by_monitor ON visit_sources(tenant_id, monitor_id);
    CREATE TABLE visits (
        source_id TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        monitor_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        page_ms INTEGER,
        health_ms INTEGER,
        network TEXT,
        area TEXT,
        provenance TEXT NOT NULL
    );
    CREATE INDEX visits_by_monitor ON visits(tenant_id, monitor_id, at);
    CREATE INDEX visits_by_time ON visits(at);
    CREATE TABLE visit_days (
        source_id TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        monitor_id TEXT NOT NULL,
        day_start INTEGER NOT NULL,
        provenance TEXT NOT NULL,
        loads INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        PRIMARY KEY (source_id, day_start, provenance)
    );
    CREATE INDEX visit_days_by_monitor ON visit_days(tenant_id, monitor_id, day_start);
    "#,
    // Versions of channels, status pages and maintenance windows (`updated_at`, ms; every
    // write moves it on), the ETag that If-Match is judged against: a channel's and a page's
    // start at its creation, a window's at 0.
    r#"
    ALTER TABLE channels ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
    UPDATE channels SET updated_at = created_at;
    ALTER TABLE status_pages ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
    UPDATE status_pages SET updated_at = created_at;
    ALTER TABLE maintenance_windows ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
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
    ALTER TABLE visit_sources ADD COLUMN in_alerts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE visit_sources ADD COLUMN token_key TEXT NOT NULL DEFAULT '';
    UPDATE visit_sources SET token_key = lower(hex(randomblob(32)));
    CREATE TABLE visit_spends (
        source_id TEXT NOT NULL REFERENCES visit_sources(id) ON DELETE CASCADE,
        nonce TEXT NOT NULL,
        at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
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
    CREATE TEMP TABLE monitor_parts (id TEXT PRIMARY KEY, part INTEGER NOT NULL);
    CREATE TEMP TABLE hex_digits (c TEXT PRIMARY KEY, v INTEGER NOT NULL);
    INSERT INTO hex_digits VALUES ('0', 0), ('1', 1), ('2', 2), ('3', 3), ('4', 4), ('5', 5), ('6', 6),
        ('7', 7), ('8', 8), ('9', 9), ('A', 10), ('B', 11), ('C', 12), ('D', 13), ('E', 14), ('F', 15);
    WITH RECURSIVE f(id, bytes, i, h) AS (
        SELECT id, CAST(id AS BLOB), 1, 5 FROM monitors
        UNION ALL
        SELECT id, bytes, i + 1, ((((h | b.v) - (h & b.v)) * 19) % 64)
        FROM f JOIN (SELECT hi.c || lo.c AS x, (hi.v % 4) * 16 + lo.v AS v FROM hex_digits hi, hex_digits lo) b
            ON b.x = hex(substr(f.bytes, f.i, 1))
        WHERE f.i <= length(f.bytes)
    )
    INSERT INTO monitor_parts SELECT id, h FROM f WHERE i = length(bytes) + 1;
    DROP TABLE hex_digits;
    UPDATE monitors SET part = (SELECT part FROM monitor_parts p WHERE p.id = monitors.id);
    DROP TABLE monitor_parts;
    CREATE INDEX monitors_schedulable ON monitors(part, id, updated_at) WHERE paused = 0;
    "#,
];

/// The migration that narrowed `check_results` (its index in [`MIGRATIONS`]): after it, the
/// copied rows' text ids become 16-byte values.
const NARROW_RESULTS: usize = 21;

/// Bring the database to the newest schema; each migration commits on its own.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<u32> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        if i == NARROW_RESULTS {
            super::results::narrow_ids(&tx)?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as u32)?;
        tx.commit()?;
    }
    Ok(MIGRATIONS.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monitors stored before partitions were kept get the partition the engine computes,
    /// whatever bytes their ids hold.
    #[test]
    fn monitors_stored_before_their_partition_was_kept_get_it() {
        let at = MIGRATIONS.iter().position(|m| m.contains("monitors_schedulable")).unwrap();
        let mut c = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..at] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", at as u32).unwrap();
        c.execute("INSERT INTO tenants (id, name, created_at) VALUES ('ten_t', 't', 1)", []).unwrap();
        let mut ids: Vec<String> = (0..200).map(|i| format!("mon_{i:026}")).collect();
        ids.extend(["mon_01".into(), "mon_ünïcode_~\u{7f}".into(), format!("mon_{}", "z".repeat(40))]);
        for id in &ids {
            c.execute(
                "INSERT INTO monitors (id, tenant_id, name, draft, paused, created_at, updated_at) \
                 VALUES (?1, 'ten_t', 'm', '{}', 0, 1, 1)",
                [id],
            )
            .unwrap();
        }
        migrate(&mut c).unwrap();
        for id in &ids {
            let part: u32 = c.query_row("SELECT part FROM monitors WHERE id = ?1", [id], |r| r.get(0)).unwrap();
            assert_eq!(part, crate::partition_of(&netpulse_core::MonitorId::from_trusted(id.clone())), "{id}");
        }
    }

    /// A database with results in the wide layout keeps them through the narrowing: same
    /// monitor, origin and fields, the canonical id as 16 bytes, a legacy id as its text.
    #[test]
    fn results_stored_before_the_narrowing_are_kept() {
        let mut c = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..NARROW_RESULTS] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", NARROW_RESULTS as u32).unwrap();
        let id = netpulse_core::ResultId::from_parts(1_700_000_000_000, 42);
        for (rid, monitor) in [(id.as_str(), "mon_a"), ("res_legacy_5", "mon_b")] {
            c.execute(
                "INSERT INTO check_results (id, tenant_id, monitor_id, region, worker, started_at, finished_at, outcome, \
                 total_ms, provenance) VALUES (?1, 'ten_t', ?2, 'eu', 'w1', 1000, 1020, 'up', 20, 'live')",
                [rid, monitor],
            )
            .unwrap();
        }
        migrate(&mut c).unwrap();
        let rows: Vec<(String, String, String, String, i64)> = c
            .prepare(
                "SELECT typeof(r.id), m.monitor_id, o.region, o.worker, r.total_ms FROM check_results r \
                 JOIN result_monitors m ON m.key = r.monitor_key JOIN result_origins o ON o.key = r.origin_key \
                 WHERE m.tenant_id = 'ten_t' ORDER BY m.monitor_id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let row = |kind: &str, m: &str| (kind.to_owned(), m.to_owned(), "eu".to_owned(), "w1".to_owned(), 20);
        assert_eq!(rows, [row("blob", "mon_a"), row("text", "mon_b")]);
        let blob: Vec<u8> =
            c.query_row("SELECT id FROM check_results WHERE typeof(id) = 'blob'", [], |r| r.get(0)).unwrap();
        assert_eq!(super::super::results::id_value(id.as_str()), rusqlite::types::Value::Blob(blob));
    }
}

//! `/api/v1/monitors`: create, read, update (JSON merge patch), delete, pause/resume,
//! results (paginated, time range) and uptime over a window.
//!
//! Input is a flat object: monitor fields (`name`, `interval_s`, …) beside the check's own
//! fields (`kind`, `url`, …). It becomes a validated [`MonitorDraft`] before any I/O.
//! `managed_by` (`"file"` or `null`) marks a monitor kept by a monitors-as-code file:
//! `netpulse apply` sets it, the dashboard's edit form warns that the next apply overwrites
//! edits, and an edit keeps it.

use crate::base::audience::Audience;
use crate::base::input::path_id;
use crate::base::input::{parse_field, JsonBody};
use crate::base::input::{PathParam, QueryParams};
use crate::base::precondition::{self, etag_header, IfMatch};
use crate::base::{ApiError, ApiResult};
use crate::base::{AppState, Caller};
use axum::extract::State;
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use netpulse_core::incident::PolicyLayer;
use netpulse_core::monitor::{CheckSpec, Interval, ManagedBy, MonitorDraft};
use netpulse_core::uptime::Tally;
use netpulse_core::{ChannelId, MonitorId, Timestamp};
use netpulse_store::clock;
use netpulse_store::{AlertingDefaults, Evidence, MonitorRecord, MonitorView};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

const MONITOR_FIELDS: [&str; 11] = [
    "name",
    "interval_s",
    "timeout_ms",
    "retries",
    "regions",
    "tags",
    "paused",
    "policy",
    "channels",
    "depends_on",
    "managed_by",
];

/// Turn a request object into a validated draft.
pub fn parse_draft(mut body: Map<String, Value>, s: &AppState) -> ApiResult<MonitorDraft> {
    let mut take = |k: &str| body.remove(k);
    let name: String = parse_field("name", take("name").ok_or_else(|| ApiError::invalid("name", "is required"))?)?;
    let cfg = &s.config.monitors;
    let interval_s: u32 = take("interval_s").map_or(Ok(cfg.default_interval_s), |v| parse_field("interval_s", v))?;
    let timeout_ms: u32 = take("timeout_ms")
        .map_or(Ok(cfg.default_timeout_ms.min(interval_s.saturating_mul(1000))), |v| parse_field("timeout_ms", v))?;
    let retries: u8 = take("retries").map_or(Ok(0), |v| parse_field("retries", v))?;
    let regions: Vec<String> =
        take("regions").map_or_else(|| Ok(vec![cfg.local_region.clone()]), |v| parse_field("regions", v))?;
    let tags: Vec<String> = take("tags").map_or(Ok(vec![]), |v| parse_field("tags", v))?;
    let paused: bool = take("paused").map_or(Ok(false), |v| parse_field("paused", v))?;
    let policy_in = take("policy");
    let channels: Option<Vec<ChannelId>> = take("channels").map_or(Ok(None), |v| parse_field("channels", v))?;
    let depends_on: Option<MonitorId> = take("depends_on").map_or(Ok(None), |v| parse_field("depends_on", v))?;
    let managed_by: Option<ManagedBy> = take("managed_by").map_or(Ok(None), |v| parse_field("managed_by", v))?;
    let spec = parse_spec(body)?;
    let policy = parse_policy(policy_in, &spec)?;
    let draft = MonitorDraft {
        name: name.trim().to_owned(),
        spec,
        interval: Interval::new(interval_s, cfg.min_interval_s)?,
        timeout_ms,
        retries,
        regions,
        tags,
        paused,
        policy,
        channels,
        depends_on,
        managed_by,
    };
    draft.validate()?;
    crate::base::outbound::refuse_blocked_target(&draft.spec, &s.config.ssrf)?;
    let served = &s.config.regions;
    for (i, r) in draft.regions.iter().enumerate() {
        if !served.contains(r) {
            return Err(ApiError::invalid(
                format!("regions[{i}]"),
                format!(
                    "no checker serves region `{r}`; served: {} (add regions with gateway.regions and `netpulse ca issue`)",
                    served.join(", ")
                ),
            ));
        }
    }
    Ok(draft)
}

/// The check's own fields, parsed per kind so that errors name the field (`url`, not `body`).
fn parse_spec(mut body: Map<String, Value>) -> ApiResult<CheckSpec> {
    const KINDS: &str = "one of http, tcp, dns, tls, websocket, ping, grpc, heartbeat";
    let kind = body.remove("kind").ok_or_else(|| ApiError::invalid("kind", format!("is required: {KINDS}")))?;
    let fields = Value::Object(body);
    Ok(match kind.as_str() {
        Some("http") => CheckSpec::Http(parse_field("", fields)?),
        Some("tcp") => CheckSpec::Tcp(parse_field("", fields)?),
        Some("dns") => CheckSpec::Dns(parse_field("", fields)?),
        Some("tls") => CheckSpec::Tls(parse_field("", fields)?),
        Some("heartbeat") => CheckSpec::Heartbeat(parse_field("", fields)?),
        Some("websocket") => CheckSpec::WebSocket(parse_field("", fields)?),
        Some("ping") => CheckSpec::Ping(parse_field("", fields)?),
        Some("grpc") => CheckSpec::Grpc(parse_field("", fields)?),
        _ => return Err(ApiError::invalid("kind", format!("{kind} is not a monitor kind; use {KINDS}"))),
    })
}

/// The policy fields the input sets on this monitor. A field left out, or given as
/// `"inherit"` (or `null` for a field that has no "none"), is not set: it follows the
/// organisation's defaults. `null` sets "none" for a nullable field (no reminders, a majority
/// quorum, no escalation). A heartbeat's missed
/// deadline is already confirmed by its grace period, so heartbeats set both thresholds to 1
/// unless the input sets them.
fn parse_policy(v: Option<Value>, spec: &CheckSpec) -> ApiResult<PolicyLayer> {
    let mut set = Map::new();
    if spec.is_push() {
        set.insert("confirm_threshold".into(), json!(1));
        set.insert("recovery_threshold".into(), json!(1));
    }
    match v {
        None => {}
        Some(Value::Object(fields)) => {
            for (k, val) in fields {
                // `null` for a field that cannot be "none" can only mean: not set here.
                if val == INHERIT || (val.is_null() && !NULLABLE.contains(&k.as_str())) {
                    set.remove(&k);
                } else {
                    set.insert(k, val);
                }
            }
        }
        Some(_) => return Err(ApiError::invalid("policy", "must be an object")),
    }
    parse_field("policy", Value::Object(set))
}

/// The policy fields whose `null` is a value ("none"), not "inherit".
const NULLABLE: [&str; 3] = ["reminder_interval_s", "quorum", "escalate_after_s"];

/// The value that returns a policy field to the organisation's default.
pub(crate) const INHERIT: &str = "inherit";

/// The organisation's alerting defaults, which every monitor's effective policy is resolved over.
pub(crate) async fn defaults(s: &AppState, caller: &Caller) -> ApiResult<AlertingDefaults> {
    Ok(s.store.alerting_defaults(caller.tenant()).await?)
}

/// The input shape of a stored draft: what GET returns and PATCH merges into.
pub(crate) fn draft_json(d: &MonitorDraft) -> Map<String, Value> {
    let Value::Object(mut m) = serde_json::to_value(&d.spec).expect("spec serializes") else {
        unreachable!("spec is an object")
    };
    m.insert("name".into(), json!(d.name));
    m.insert("interval_s".into(), json!(d.interval.secs()));
    m.insert("timeout_ms".into(), json!(d.timeout_ms));
    m.insert("retries".into(), json!(d.retries));
    m.insert("regions".into(), json!(d.regions));
    m.insert("tags".into(), json!(d.tags));
    m.insert("paused".into(), json!(d.paused));
    m.insert("policy".into(), json!(d.policy));
    m.insert("channels".into(), json!(d.channels));
    m.insert("depends_on".into(), json!(d.depends_on));
    m.insert("managed_by".into(), json!(d.managed_by));
    m
}

/// A monitor in its API shape, as `a` may see it: `policy` is the effective policy (its own
/// fields over the organisation's `defaults`), `policy_inherited` the fields it does not set.
pub fn monitor_json(
    v: &MonitorView,
    defaults: &AlertingDefaults,
    base_url: &str,
    uptime_24h: Option<f64>,
    a: Audience,
) -> Value {
    let r = &v.record;
    let mut m = draft_json(&r.draft);
    m.insert("policy".into(), json!(defaults.policy_for(&r.draft.policy)));
    m.insert("policy_inherited".into(), json!(r.draft.policy.unset_fields()));
    m.insert("id".into(), json!(r.id));
    if let Some(t) = &r.heartbeat_token {
        m.insert("heartbeat_url".into(), json!(format!("{base_url}/api/v1/heartbeat/{t}")));
    }
    let st = &v.status;
    m.insert(
        "status".into(),
        json!({
            "health": if r.draft.paused { "paused" } else { st.health.as_str() },
            "last_checked_at": st.last_checked_at.map(Timestamp::to_rfc3339),
            "last_outcome": st.last_outcome,
            "last_latency_ms": st.last_latency_ms,
            "last_error": st.last_error,
            "open_incident": st.open_incident,
        }),
    );
    m.insert("uptime_24h".into(), json!(uptime_24h));
    m.insert("created_at".into(), json!(r.created_at.to_rfc3339()));
    m.insert("updated_at".into(), json!(r.updated_at.to_rfc3339()));
    crate::base::audience::monitor(&mut m, a);
    Value::Object(m)
}

pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let view = create_from(&s, &caller, body).await?;
    let d = defaults(&s, &caller).await?;
    let body = Json(monitor_json(&view, &d, &s.base_url, None, caller.audience()));
    Ok((StatusCode::CREATED, etag(&view), body))
}

/// Create a monitor from the flat input shape: the API's `POST` and the dashboard's form.
pub(crate) async fn create_from(s: &AppState, caller: &Caller, body: Map<String, Value>) -> ApiResult<MonitorView> {
    caller.require_write()?;
    caller.require_verified()?;
    let draft = parse_draft(body, s)?;
    let id: MonitorId = clock::fresh();
    check_parent(s, caller, &id, &draft).await?;
    check_policy(s, caller, &draft).await?;
    let now = clock::now();
    let heartbeat_token = draft.spec.is_push().then(|| clock::secret_token("hb_"));
    let rec = MonitorRecord {
        id,
        tenant_id: caller.tenant().clone(),
        draft,
        heartbeat_token,
        created_at: now,
        updated_at: now,
    };
    let cap = s.config.monitors.max_per_tenant;
    if !s.store.create_monitor_within(caller.tenant(), &rec, cap).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "monitor_limit_reached",
            format!(
                "this organisation has {cap} monitors, the most allowed (monitors.max_per_tenant); delete one first, or ask the operator to raise the limit"
            ),
        ));
    }
    s.monitors_changed.notify_one();
    s.live.monitor_created(&rec);
    s.store.get_monitor(caller.tenant(), &rec.id).await?.ok_or_else(|| ApiError::not_found("monitor"))
}

pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    let views = s.store.list_monitors(caller.tenant()).await?;
    let tallies = s.store.tallies_since(caller.tenant(), clock::now().minus_ms(86_400_000), caller.evidence()).await?;
    let d = defaults(&s, &caller).await?;
    let data: Vec<Value> = views
        .iter()
        .map(|v| {
            let uptime = tallies.get(&v.record.id).and_then(Tally::uptime_percent);
            monitor_json(v, &d, &s.base_url, uptime, caller.audience())
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}

pub(crate) async fn load(s: &AppState, caller: &Caller, id: &str) -> ApiResult<MonitorView> {
    let id = path_id(id, MonitorId::parse, "monitor")?;
    s.store.get_monitor(caller.tenant(), &id).await?.ok_or_else(|| ApiError::not_found("monitor"))
}

/// A monitor's entity tag: its version (`updated_at` in ms, which every update moves on).
pub(crate) fn etag(v: &MonitorView) -> [(HeaderName, String); 1] {
    etag_header(v.record.updated_at)
}

pub async fn get(State(s): State<AppState>, caller: Caller, PathParam(id): PathParam) -> ApiResult<impl IntoResponse> {
    let v = load(&s, &caller, &id).await?;
    let now = clock::now();
    let (from, to) = (now.minus_ms(86_400_000), now.plus_ms(1));
    let uptime = s.store.tally(caller.tenant(), &v.record.id, from, to, caller.evidence()).await?.uptime_percent();
    let d = defaults(&s, &caller).await?;
    Ok((etag(&v), Json(monitor_json(&v, &d, &s.base_url, uptime, caller.audience()))))
}

/// `PATCH`: a JSON merge patch over the monitor's input shape; the whole result is validated.
/// With `If-Match`, written only while the monitor is still the version named (else `412`).
pub async fn update(
    State(s): State<AppState>,
    caller: Caller,
    if_match: IfMatch,
    PathParam(id): PathParam,
    JsonBody(patch): JsonBody,
) -> ApiResult<impl IntoResponse> {
    caller.require_write()?;
    let v = load(&s, &caller, &id).await?;
    let expected = if_match.expected(v.record.updated_at);
    let mut merged = draft_json(&v.record.draft);
    if patch.get("kind").is_some_and(|k| Some(k) != merged.get("kind")) {
        return Err(ApiError::invalid("kind", "cannot change a monitor's kind; create a new monitor instead"));
    }
    for (k, val) in patch {
        match (merged.get_mut(&k), val) {
            // `policy` merges field by field, so `{"policy":{"quorum":2}}` keeps escalation; in it
            // `null` is a value ("none") and `"inherit"` unsets a field (see `parse_policy`).
            (Some(Value::Object(into)), Value::Object(obj)) if k == "policy" => into.extend(obj),
            // Other nested objects merge recursively.
            (Some(Value::Object(into)), Value::Object(obj)) => merge_patch(into, obj),
            (_, Value::Null) if !MONITOR_FIELDS.contains(&k.as_str()) => {
                merged.remove(&k);
            }
            (_, val) => {
                merged.insert(k, val);
            }
        }
    }
    let view = replace(&s, &caller, v, merged, expected).await?;
    let d = defaults(&s, &caller).await?;
    Ok((etag(&view), Json(monitor_json(&view, &d, &s.base_url, None, caller.audience()))))
}

/// RFC 7396 JSON merge patch of `patch` into `into`: `null` removes a key, objects merge
/// recursively, anything else replaces.
pub(crate) fn merge_patch(into: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (k, val) in patch {
        match (into.get_mut(&k), val) {
            (_, Value::Null) => {
                into.remove(&k);
            }
            (Some(Value::Object(inner)), Value::Object(obj)) => merge_patch(inner, obj),
            (_, val) => {
                into.insert(k, val);
            }
        }
    }
}

/// `depends_on` must name another monitor of the same account that does not depend on this one.
async fn check_parent(s: &AppState, caller: &Caller, id: &MonitorId, draft: &MonitorDraft) -> ApiResult<()> {
    let Some(parent) = &draft.depends_on else { return Ok(()) };
    if parent == id {
        return Err(ApiError::invalid("depends_on", "a monitor cannot depend on itself"));
    }
    let Some(p) = s.store.get_monitor(caller.tenant(), parent).await? else {
        return Err(ApiError::invalid("depends_on", format!("no monitor {parent} in this account")));
    };
    if p.record.draft.depends_on.as_ref() == Some(id) {
        return Err(ApiError::invalid(
            "depends_on",
            format!("{parent} already depends on this monitor; remove that first"),
        ));
    }
    Ok(())
}

/// `channels` and the monitor's own `policy.escalate_to` must name channels of the same
/// account (another organisation's id behaves as one that exists nowhere), so a typo cannot
/// make a monitor page nobody; and its effective policy (over the organisation's defaults)
/// must hold together.
async fn check_policy(s: &AppState, caller: &Caller, draft: &MonitorDraft) -> ApiResult<()> {
    let chosen = draft.channels.iter().flatten().enumerate().map(|(i, ch)| (format!("channels[{i}]"), ch));
    let escalation =
        draft.policy.escalate_to.iter().flatten().enumerate().map(|(i, ch)| (format!("policy.escalate_to[{i}]"), ch));
    let named: Vec<(String, &ChannelId)> = chosen.chain(escalation).collect();
    if !named.is_empty() {
        let known = existing_channels(s, caller).await?;
        if let Some((field, ch)) = named.into_iter().find(|(_, ch)| !known.contains(*ch)) {
            return Err(ApiError::invalid(field, format!("no channel {ch} in this account")));
        }
    }
    defaults(s, caller).await?.policy_for(&draft.policy).validate()?;
    Ok(())
}

/// The ids of the caller's organisation's channels.
pub(crate) async fn existing_channels(s: &AppState, caller: &Caller) -> ApiResult<HashSet<ChannelId>> {
    Ok(s.store.list_channels(caller.tenant()).await?.into_iter().map(|c| c.id).collect())
}

/// Replace a monitor's definition with `input` (the whole flat input shape), validated as on
/// create; with `expected`, only while the monitor is still that version (else `412`).
pub(crate) async fn replace(
    s: &AppState,
    caller: &Caller,
    v: MonitorView,
    input: Map<String, Value>,
    expected: Option<Timestamp>,
) -> ApiResult<MonitorView> {
    caller.require_write()?;
    let draft = parse_draft(input, s)?;
    check_parent(s, caller, &v.record.id, &draft).await?;
    check_policy(s, caller, &draft).await?;
    let written = s.store.update_monitor_if(caller.tenant(), &v.record.id, &draft, clock::now(), expected).await?;
    let current = async { Ok(load(s, caller, v.record.id.as_str()).await?.record.updated_at) };
    precondition::judge(written, "monitor", current).await?;
    s.monitors_changed.notify_one();
    s.store.get_monitor(caller.tenant(), &v.record.id).await?.ok_or_else(|| ApiError::not_found("monitor"))
}

/// Pause or resume: the definition as read, with `paused` set, written only if it is still
/// the version read (read again and retried when another write came between), so a pause
/// never writes back an older definition over a change made meanwhile.
async fn set_paused(s: AppState, caller: Caller, id: String, paused: bool) -> ApiResult<impl IntoResponse> {
    caller.require_write()?;
    let mut tries = 0;
    let view = loop {
        let v = load(&s, &caller, &id).await?;
        let version = v.record.updated_at;
        let mut input = draft_json(&v.record.draft);
        input.insert("paused".into(), json!(paused));
        match replace(&s, &caller, v, input, Some(version)).await {
            Err(e) if e.status == StatusCode::PRECONDITION_FAILED && tries < 10 => tries += 1,
            done => break done?,
        }
    };
    let d = defaults(&s, &caller).await?;
    Ok((etag(&view), Json(monitor_json(&view, &d, &s.base_url, None, caller.audience()))))
}

pub async fn pause(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> ApiResult<impl IntoResponse> {
    set_paused(s, caller, id, true).await
}

pub async fn resume(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> ApiResult<impl IntoResponse> {
    set_paused(s, caller, id, false).await
}

pub async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> ApiResult<impl IntoResponse> {
    caller.require_write()?;
    let id = path_id(&id, MonitorId::parse, "monitor")?;
    let sources = s.store.visit_sources(caller.tenant(), Some(&id)).await?;
    if !s.store.delete_monitor(caller.tenant(), &id).await? {
        return Err(ApiError::not_found("monitor"));
    }
    for src in &sources {
        s.visitors.forget(src); // its real-visitor sources went with it
    }
    s.monitors_changed.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

/// Time-range query: `from`/`to` as RFC 3339 or Unix milliseconds; `window` like `24h`, `7d`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    window: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

pub fn parse_time(field: &str, s: &str) -> ApiResult<Timestamp> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(Timestamp::from_millis(ms));
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| Timestamp::from_millis((t.unix_timestamp_nanos() / 1_000_000) as i64))
        .map_err(|_| {
            ApiError::invalid(
                field,
                format!("`{s}` is not a time; use RFC 3339 (2026-01-31T12:00:00Z) or Unix milliseconds"),
            )
        })
}

pub fn parse_window(s: &str) -> ApiResult<i64> {
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n
        .parse()
        .map_err(|_| ApiError::invalid("window", format!("`{s}` is not a window; write e.g. 30m, 24h, 7d")))?;
    let unit_ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(ApiError::invalid("window", format!("`{s}`: the unit must be m, h or d"))),
    };
    if !(1..=400 * 86_400_000).contains(&(n * unit_ms)) {
        return Err(ApiError::invalid("window", "must be between 1m and 400d"));
    }
    Ok(n * unit_ms)
}

fn range(q: &RangeQuery, default_window_ms: i64) -> ApiResult<(Timestamp, Timestamp)> {
    let to = q.to.as_deref().map(|t| parse_time("to", t)).transpose()?.unwrap_or_else(|| clock::now().plus_ms(1));
    let from = match (&q.from, &q.window) {
        (Some(f), _) => parse_time("from", f)?,
        (None, Some(w)) => to.minus_ms(parse_window(w)?),
        (None, None) => to.minus_ms(default_window_ms),
    };
    if from >= to {
        return Err(ApiError::invalid("from", "must be earlier than `to`"));
    }
    Ok((from, to))
}

pub async fn results(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam,
    QueryParams(q): QueryParams<RangeQuery>,
) -> ApiResult<impl IntoResponse> {
    let v = load(&s, &caller, &id).await?;
    let (from, to) = range(&q, 7 * 86_400_000)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
    }
    let page = s.store.list_results(caller.tenant(), &v.record.id, from, to, limit, q.cursor.as_deref()).await?;
    let data: Vec<Value> = page.results.iter().map(result_json).collect();
    Ok(Json(json!({ "data": data, "next_cursor": page.next })))
}

pub fn result_json(r: &netpulse_core::CheckResult) -> Value {
    json!({
        "id": r.id, "region": r.region, "worker": r.worker,
        "started_at": r.started_at.to_rfc3339(), "finished_at": r.finished_at.to_rfc3339(),
        "outcome": r.outcome, "status_code": r.status_code, "error": r.error,
        "timings": r.timings, "cert_expires_at": r.cert_expires_at.map(Timestamp::to_rfc3339),
        "cert_issuer": r.cert_issuer, "provenance": r.provenance,
    })
}

pub async fn uptime(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam,
    QueryParams(q): QueryParams<RangeQuery>,
) -> ApiResult<impl IntoResponse> {
    let v = load(&s, &caller, &id).await?;
    let (from, to) = range(&q, 86_400_000)?;
    // Raw results where they are kept, then minute, hourly and daily rollups by age.
    let (now, retention) = (clock::now(), &s.config.retention);
    let w = retention.window(from, to, now);
    let ev = caller.evidence();
    let tally = s.store.tally_window(caller.tenant(), &v.record.id, &w, ev).await?;
    // The demo's figures come from its raw sample results only (`Evidence::Demo`).
    let (sources, counts_as_up) = match ev {
        Evidence::Live => (w.sources(&retention.horizons(now)), "up and degraded checks; only live results count"),
        Evidence::Demo => {
            (vec!["results"], "up and degraded checks; the demo organisation counts its sample (demo) results")
        }
    };
    Ok(Json(json!({
        "monitor_id": v.record.id,
        "from": w.from.to_rfc3339(), "to": w.to.to_rfc3339(),
        "sources": sources,
        "uptime_percent": tally.uptime_percent(),
        "checks": tally,
        "evidence": ev.provenance(),
        "counts_as_up": counts_as_up,
    })))
}

//! Real-visitor sources: `POST|GET /api/v1/monitors/{id}/visitor-sources`,
//! `DELETE /api/v1/visitor-sources/{id}`. A source gives a monitor's site owner a public site
//! key, the script and pixel tags to embed, and the origins whose pages may report; its
//! answers carry the refused beacons counted by reason. What visitors report is served by
//! [`crate::dashboard::visitor_beacons`].

use crate::base::input::{parse_field, JsonBody, PathParam};
use crate::base::{ApiError, ApiResult, AppState, Caller};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use netpulse_core::visits::VisitTally;
use netpulse_core::MonitorId;
use netpulse_store::{clock, Evidence, VisitSource};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Origins a source may list at most.
const MAX_ORIGINS: usize = 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceIn {
    origins: Vec<String>,
    sample_one_in: Option<u32>,
    per_minute: Option<u32>,
    health_url: Option<String>,
    #[serde(default)]
    on_status_pages: bool,
    #[serde(default)]
    in_alerts: bool,
}

/// `https://shop.example.com[:port]`, lower-cased, as a browser sends it in `Origin`: a
/// trailing `/` and the scheme's default port are dropped.
fn parse_origin(o: &str) -> Result<String, &'static str> {
    let o = o.trim().trim_end_matches('/').to_ascii_lowercase();
    let o = match (o.strip_suffix(":443"), o.strip_suffix(":80")) {
        (Some(bare), _) if o.starts_with("https://") => bare.to_owned(),
        (_, Some(bare)) if o.starts_with("http://") => bare.to_owned(),
        _ => o,
    };
    let rest = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))
        .ok_or("must start with https:// or http://")?;
    let (host, port) =
        rest.rsplit_once(':').filter(|(h, _)| !h.ends_with(']') || h.starts_with('[')).unwrap_or((rest, ""));
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && !host.ends_with('.')
        && !host.starts_with('.')
        && (host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            || (host.starts_with('[')
                && host.ends_with(']')
                && host[1..host.len() - 1].parse::<std::net::Ipv6Addr>().is_ok()));
    if !host_ok || (!port.is_empty() && port.parse::<u16>().map_or(true, |p| p == 0)) {
        return Err("must be an origin: a scheme and a host name, with a port if not the default, and no path");
    }
    Ok(o)
}

fn parse_source(input: SourceIn, monitor: MonitorId) -> ApiResult<VisitSource> {
    if input.origins.is_empty() || input.origins.len() > MAX_ORIGINS {
        return Err(ApiError::invalid("origins", "list between 1 and 20 origins whose pages may report"));
    }
    let mut origins = Vec::with_capacity(input.origins.len());
    for (i, o) in input.origins.iter().enumerate() {
        let o = parse_origin(o).map_err(|m| ApiError::invalid(format!("origins[{i}]"), m))?;
        if !origins.contains(&o) {
            origins.push(o);
        }
    }
    let sample_one_in = input.sample_one_in.unwrap_or(10);
    if !(1..=1000).contains(&sample_one_in) {
        return Err(ApiError::invalid("sample_one_in", "must be between 1 (every page view) and 1000"));
    }
    let per_minute = input.per_minute.unwrap_or(60);
    if !(1..=10_000).contains(&per_minute) {
        return Err(ApiError::invalid("per_minute", "must be between 1 and 10000 beacons a minute"));
    }
    let health_url = input.health_url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
    if let Some(u) = &health_url {
        let scheme_ok = u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/');
        if !scheme_ok || u.len() > 2000 || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ApiError::invalid(
                "health_url",
                "must be an http(s) URL or a path on the site (/health), at most 2000 characters",
            ));
        }
    }
    let random = clock::random_u128();
    Ok(VisitSource {
        id: format!("vis_{}", netpulse_core::ids::encode_base32(random)),
        tenant_id: netpulse_core::TenantId::from_trusted(String::new()),
        monitor_id: monitor,
        site_key: netpulse_store::visits::new_site_key(clock::random_u128()),
        origins,
        sample_one_in,
        per_minute,
        health_url,
        on_status_pages: input.on_status_pages,
        in_alerts: input.in_alerts,
        created_at: clock::now(),
        dropped: Default::default(),
        token_key: netpulse_store::visits::new_token_key(clock::random_u128(), clock::random_u128()),
    })
}

/// A source as the API and the dashboard show it: its tags to embed, and its refused beacons
/// (those this node has not written yet included).
pub(crate) fn source_json(s: &AppState, src: &VisitSource) -> Value {
    let base = s.base_url.trim_end_matches('/');
    let key = &src.site_key;
    let dropped = src.dropped.plus(&s.visitors.unwritten(&src.id));
    json!({
        "id": src.id, "monitor_id": src.monitor_id, "site_key": key, "origins": src.origins,
        "sample_one_in": src.sample_one_in, "per_minute": src.per_minute, "health_url": src.health_url,
        "on_status_pages": src.on_status_pages, "in_alerts": src.in_alerts,
        "created_at": src.created_at.to_rfc3339(),
        "dropped": dropped,
        "script_tag": format!("<script src=\"{base}/rv/{key}/script.js\" async></script>"),
        "pixel_tag": format!(
            "<img src=\"{base}/rv/{key}/pixel.gif\" width=\"1\" height=\"1\" alt=\"\" referrerpolicy=\"origin\">"
        ),
        "privacy_url": format!("{base}/privacy/real-visitors"),
    })
}

/// The visits to monitor `m` over the last 24 hours, as the caller's evidence counts them.
pub(crate) async fn last_day(s: &AppState, caller: &Caller, m: &MonitorId) -> ApiResult<VisitTally> {
    let now = clock::now();
    let range = (now.minus_ms(86_400_000), now.plus_ms(1));
    let ev: Evidence = caller.evidence();
    let tallies = s.store.visit_tallies(caller.tenant(), std::slice::from_ref(m), range, ev).await?;
    Ok(tallies.get(m).copied().unwrap_or_default())
}

/// The visits to incident `rec`'s monitor while it was open (until now if it still is).
pub(crate) async fn during(
    s: &AppState,
    caller: &Caller,
    rec: &netpulse_store::IncidentRecord,
) -> ApiResult<VisitTally> {
    let until = rec.resolved_at.unwrap_or_else(|| clock::now().plus_ms(1));
    let m = &rec.monitor_id;
    let tallies =
        s.store.visit_tallies(caller.tenant(), std::slice::from_ref(m), (rec.opened_at, until), caller.evidence());
    Ok(tallies.await?.get(m).copied().unwrap_or_default())
}

pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let src = create_from(&s, &caller, &id, body).await?;
    Ok((StatusCode::CREATED, Json(source_json(&s, &src))))
}

/// Create a source on monitor `id` from the API's input shape (the API and the dashboard).
pub(crate) async fn create_from(
    s: &AppState,
    caller: &Caller,
    id: &str,
    body: Map<String, Value>,
) -> ApiResult<VisitSource> {
    caller.require_write()?;
    let m = super::monitors::load(s, caller, id).await?.record.id;
    let mut src = parse_source(parse_field("", Value::Object(body))?, m)?;
    src.tenant_id = caller.tenant().clone();
    s.store.create_visit_source(caller.tenant(), &src).await?;
    s.visitors.forget_unknown(&src.site_key);
    if src.on_status_pages {
        s.status_cache.clear();
    }
    Ok(src)
}

pub async fn list(State(s): State<AppState>, caller: Caller, PathParam(id): PathParam) -> ApiResult<impl IntoResponse> {
    let m = super::monitors::load(&s, &caller, &id).await?.record.id;
    let rows = s.store.visit_sources(caller.tenant(), Some(&m)).await?;
    let day = last_day(&s, &caller, &m).await?;
    Ok(Json(json!({
        "data": rows.iter().map(|r| source_json(&s, r)).collect::<Vec<_>>(),
        "last_24h": { "loads": day.loads, "failed": day.failed, "median_page_ms": day.median_page_ms,
                      "percent_ok": day.percent_ok() },
    })))
}

pub async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> ApiResult<impl IntoResponse> {
    delete_source(&s, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete source `id` of the caller's tenant, and its visits.
pub(crate) async fn delete_source(s: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    caller.require_write()?;
    let found = s.store.visit_sources(caller.tenant(), None).await?.into_iter().find(|v| v.id == id);
    let Some(src) = found else { return Err(ApiError::not_found("visitor source")) };
    if !s.store.delete_visit_source(caller.tenant(), id).await? {
        return Err(ApiError::not_found("visitor source"));
    }
    s.visitors.forget(&src);
    s.status_cache.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_origin;

    #[test]
    fn origins_are_a_scheme_a_host_and_maybe_a_port() {
        assert_eq!(parse_origin("https://Shop.Example/").unwrap(), "https://shop.example");
        assert_eq!(parse_origin("http://127.0.0.1:8000").unwrap(), "http://127.0.0.1:8000");
        assert_eq!(parse_origin("https://[::1]:8443").unwrap(), "https://[::1]:8443");
        assert_eq!(parse_origin("https://shop.example:443").unwrap(), "https://shop.example", "as browsers send it");
        assert_eq!(parse_origin("http://shop.example:80/").unwrap(), "http://shop.example");
        assert_eq!(parse_origin("http://shop.example:443").unwrap(), "http://shop.example:443");
        for bad in [
            "shop.example",
            "https://shop.example/cart",
            "ftp://x",
            "https://",
            "https://a:0",
            "https://*.x",
            "https://shop.example.",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}

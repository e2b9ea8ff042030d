//! Public SVG badges for READMEs: `GET /badge/{monitor_id}/status.svg?key=…` and
//! `GET /badge/{monitor_id}/uptime.svg?key=…&window=24h|7d|30d`.
//!
//! Auth model: a badge URL is a capability. `key` is HMAC-SHA256(server secret, monitor id),
//! truncated to 128 bits, hex; the secret is `netpulse-data/badge-secret` (32 random bytes,
//! created 0600 at first start). The monitor page shows the signed URLs; rotating the file
//! revokes every badge. A wrong key and an unknown monitor answer the same 404.
//! Badges show only a fixed label and a status or percentage, never a name, URL or host.
//! Only `live` results count toward uptime. Cached for 60 s, with an ETag.

use crate::base::ApiError;
use crate::base::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use netpulse_core::incident::Health;
use netpulse_core::{MonitorId, TenantId};
use netpulse_store::clock;
use netpulse_store::Evidence;
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
pub struct BadgeQuery {
    key: Option<String>,
    window: Option<String>,
}

/// The badge URLs and a Markdown snippet, for the monitor page.
pub fn snippet(base_url: &str, id: &MonitorId, key: &str) -> Markup {
    let base = base_url.trim_end_matches('/');
    let status = format!("{base}/badge/{id}/status.svg?key={key}");
    let uptime = format!("{base}/badge/{id}/uptime.svg?key={key}&window=30d");
    html! {
        h2 { "Badges" }
        p { img src=(status) alt="status badge"; " " img src=(uptime) alt="uptime badge"; }
        p.sub { "Anyone with these URLs sees this monitor's status and uptime (never its name or target). Markdown:" }
        pre #badge-markdown { "![status](" (status) ")\n![uptime 30d](" (uptime) ")" }
    }
}

/// The monitor's tenant, if the key is right.
async fn authorised(s: &AppState, id: &str, q: &BadgeQuery) -> Result<(TenantId, MonitorId), ApiError> {
    let missing = || ApiError::not_found("badge");
    let id = MonitorId::parse(id).map_err(|_| missing())?;
    if !q.key.as_deref().is_some_and(|k| s.badge_key.verify(&id, k)) {
        return Err(missing());
    }
    let tenant = s.store.monitor_tenant(&id).await?.ok_or_else(missing)?;
    Ok((tenant, id))
}

pub async fn status(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<BadgeQuery>,
    headers: HeaderMap,
) -> Response {
    let (t, id) = match authorised(&s, &id, &q).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let view = match s.store.get_monitor(&t, &id).await {
        Ok(Some(v)) => v,
        Ok(None) => return ApiError::not_found("badge").into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let (value, color) = if view.record.draft.paused {
        ("paused", GREY)
    } else {
        match view.status.health {
            Health::Up => ("up", GREEN),
            Health::Degraded => ("degraded", YELLOW),
            Health::Suspect => ("suspect", YELLOW),
            Health::Down => ("down", RED),
            Health::Unknown => ("unknown", GREY),
        }
    };
    svg_response(&render("status", value, color), &headers)
}

pub async fn uptime(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<BadgeQuery>,
    headers: HeaderMap,
) -> Response {
    let (label, hours) = match q.window.as_deref().unwrap_or("24h") {
        "24h" => ("uptime 24h", 24),
        "7d" => ("uptime 7d", 24 * 7),
        "30d" => ("uptime 30d", 24 * 30),
        _ => return ApiError::invalid("window", "must be 24h, 7d or 30d").into_response(),
    };
    let (t, id) = match authorised(&s, &id, &q).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let now = clock::now();
    let from = now.minus_ms(hours * 3_600_000);
    // Public: live evidence only. Raw results where they are kept, rollups beyond (see `retention`).
    let window = s.config.retention.window(from, now.plus_ms(1), now);
    let tally = match s.store.tally_window(&t, &id, &window, Evidence::Live).await {
        Ok(t) => t,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let (value, color) = match tally.uptime_percent() {
        None => ("no data".to_owned(), GREY),
        Some(p) if p >= 99.9 => (format!("{p:.2}%"), GREEN),
        Some(p) if p >= 99.0 => (format!("{p:.2}%"), YELLOW),
        Some(p) => (format!("{p:.2}%"), RED),
    };
    svg_response(&render(label, &value, color), &headers)
}

const GREEN: &str = "#16803c";
const YELLOW: &str = "#b26a00";
const RED: &str = "#c62828";
const GREY: &str = "#8792a2";

/// Approximate text width in px at 11 px Verdana-ish.
fn text_width(s: &str) -> usize {
    s.chars().map(|c| if c.is_ascii_uppercase() || c == '%' || c == 'm' || c == 'w' { 9 } else { 7 }).sum::<usize>()
        + 10
}

/// A flat two-part badge, well-formed XML (no HTML void tags). Both texts come from fixed
/// sets or numbers; escaped anyway.
pub fn render(label: &str, value: &str, color: &str) -> String {
    let (lw, vw) = (text_width(label), text_width(value));
    let w = lw + vw;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(w) height="20" role="img" aria-label={ (label) ": " (value) } {
            title { (label) ": " (value) }
            rect width=(lw) height="20" fill="#555" {}
            rect x=(lw) width=(vw) height="20" fill=(color) {}
            g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" {
                text x=(lw / 2) y="14" { (label) }
                text x=(lw + vw / 2) y="14" { (value) }
            }
        }
    }
    .into_string()
}

fn svg_response(svg: &str, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(svg.as_bytes()))[..20]);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut r = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { svg.to_owned().into_response() };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex is ASCII"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    if fresh {
        h.remove(header::CONTENT_TYPE);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badge_text_is_escaped() {
        assert!(render("status", "<x>", GREY).contains("&lt;x&gt;"));
    }
}

//! The public side of real-visitor checks: what a site owner embeds, and what it reports.
//!
//! - `GET /rv/{site_key}/script.js`: served per page view (never cached). One view in the
//!   source's `sample_one_in` gets a reporter carrying a signed page token good for one
//!   beacon within 30 minutes; the others, and browsers that send `DNT: 1` or `Sec-GPC: 1`,
//!   get a script that does nothing. The reporter waits for the page's `load`, reads the
//!   navigation timing, fetches the owner's health URL if there is one, and posts a beacon
//!   without credentials: no cookie is ever set or read.
//! - `POST /rv/{site_key}/beacon`: accepted only from the source's own origins (`Origin`
//!   checked, and CORS allows only them), with an unused, unexpired token served to the same
//!   client, within the source's budget a minute and the client's tenth of it, from a
//!   browser's user agent, as a body of at most 2 KiB. Anything else is refused and counted
//!   by reason, never stored. A visit is stored with its time to the minute.
//! - `GET /rv/{site_key}/pixel.gif`: for pages without scripts: a 1×1 image whose load counts
//!   as a page view that loaded (sampled here, the page's origin read from the `Referer`).
//! - `GET /privacy/real-visitors`: what is and is not collected, for owners to link to.
//!
//! Every endpoint is throttled per client address too; the address itself is never stored.

use crate::accounts::ClientIp;
use crate::base::visitor_gate::{DropReason, DropWrite, TokenRefusal, DROPS_EVERY};
use crate::base::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use netpulse_core::visits::BeaconIn;
use netpulse_core::Timestamp;
use netpulse_store::{clock, Recorded, Spend, VisitRow, VisitSource};
use std::time::Instant;

/// The largest beacon body accepted.
pub const MAX_BEACON_BYTES: usize = 2048;

/// The reporter, with `__CONFIG__` replaced by its settings (beacon URL, token, health URL).
const REPORTER: &str = include_str!("visitor_reporter.js");

/// What unsampled and opted-out page views get.
const IDLE_SCRIPT: &str = "/* NetPulse real-visitor check: nothing is reported for this page view */\n";

/// A 1×1 transparent GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Words in the user agents of crawlers and link previewers (lower case).
const BOT_WORDS: [&str; 7] = ["bot", "crawl", "spider", "slurp", "preview", "fetch", "monitor"];

/// Whether the visitor asked not to be tracked.
fn opted_out(h: &HeaderMap) -> bool {
    ["dnt", "sec-gpc"].iter().any(|n| h.get(*n).is_some_and(|v| v.as_bytes() == b"1"))
}

/// Whether the request comes from a crawler rather than a visitor's browser (or names none).
fn is_bot(h: &HeaderMap) -> bool {
    let ua = h.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    ua.is_empty() || BOT_WORDS.iter().any(|w| ua.contains(w))
}

/// A site key's shape: `pk_` and 24 base32 characters.
fn plausible_key(key: &str) -> bool {
    key.strip_prefix("pk_").is_some_and(|k| k.len() == 24 && k.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The source of `key`, from the gate's cache or the store.
async fn source(s: &AppState, key: &str) -> Option<VisitSource> {
    if !plausible_key(key) {
        return None;
    }
    let now = Instant::now();
    if let Some(known) = s.visitors.cached(key, now) {
        return known;
    }
    match s.store.visit_source_by_key(key).await {
        Ok(found) => {
            s.visitors.remember(key, found.clone(), now);
            found
        }
        Err(e) => {
            tracing::warn!(error = %e, "reading a real-visitor source failed");
            None
        }
    }
}

/// Count a refused beacon of `src`: the first after a quiet spell written before answering,
/// later ones together a few seconds on.
async fn refuse(s: &AppState, src: &VisitSource, why: DropReason) {
    let write = |s: AppState, id: String, due: netpulse_store::VisitDrops| async move {
        if let Err(e) = s.store.add_visit_drops(&id, &due).await {
            tracing::warn!(error = %e, source = %id, "counting refused beacons failed");
        }
    };
    match s.visitors.refused(&src.id, why, Instant::now()) {
        DropWrite::Now(due) => write(s.clone(), src.id.clone(), due).await,
        DropWrite::Later => {
            let (s, id) = (s.clone(), src.id.clone());
            tokio::spawn(async move {
                tokio::time::sleep(DROPS_EVERY).await;
                let due = s.visitors.take_drops(&id, Instant::now());
                if due.total() > 0 {
                    write(s.clone(), id.clone(), due).await;
                }
                s.visitors.settle(&id);
            });
        }
        DropWrite::Pending => {}
    }
}

/// When a visit is stored: to the minute, so a stored visit cannot be matched against the
/// site's own access logs by its exact time.
fn visit_time() -> netpulse_core::Timestamp {
    let now = clock::now().millis();
    netpulse_core::Timestamp::from_millis(now - now.rem_euclid(60_000))
}

/// One page view in `n`.
fn sampled(n: u32) -> bool {
    n <= 1 || clock::random_u128().is_multiple_of(u128::from(n))
}

/// The origin (`scheme://host[:port]`) of a URL, lower-cased.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{}://{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase()))
}

/// Whether `origin` is one `src` accepts beacons from.
fn allowed(src: &VisitSource, origin: Option<&str>) -> bool {
    origin.is_some_and(|o| src.origins.iter().any(|a| a.eq_ignore_ascii_case(o)))
}

fn script_answer(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/javascript; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub async fn script(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !s.visitors.per_client.allow(&ip, Instant::now()) {
        return script_answer(StatusCode::TOO_MANY_REQUESTS, IDLE_SCRIPT.into());
    }
    let Some(src) = source(&s, &key).await else {
        return script_answer(StatusCode::NOT_FOUND, "/* NetPulse: no real-visitor source has this key */\n".into());
    };
    if opted_out(&headers) || !sampled(src.sample_one_in) {
        return script_answer(StatusCode::OK, IDLE_SCRIPT.into());
    }
    let token = s.visitors.issue(&src, &ip, clock::now().millis(), clock::random_u128() as u64);
    let config = serde_json::json!({
        "b": format!("{}/rv/{key}/beacon", s.base_url.trim_end_matches('/')),
        "t": token,
        "h": src.health_url,
    });
    script_answer(StatusCode::OK, REPORTER.replace("__CONFIG__", &config.to_string()))
}

/// An answer to a beacon, with CORS allowing the source's origin when it is one.
fn beacon_answer(status: StatusCode, origin: Option<&str>, error: Option<(&'static str, &str)>) -> Response {
    let mut r = match error {
        Some((code, message)) => crate::base::ApiError::new(status, code, message.to_owned()).into_response(),
        None => status.into_response(),
    };
    if let Some(o) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
    }
    r.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
    r
}

pub async fn beacon(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !s.visitors.per_client.allow(&ip, Instant::now()) {
        return beacon_answer(StatusCode::TOO_MANY_REQUESTS, None, Some(("rate_limited", "too many beacons")));
    }
    let Some(src) = source(&s, &key).await else {
        return beacon_answer(StatusCode::NOT_FOUND, None, Some(("not_found", "no real-visitor source has this key")));
    };
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if !allowed(&src, origin) {
        refuse(&s, &src, DropReason::Origin).await;
        let msg = "beacons are accepted only from the origins listed on this source";
        return beacon_answer(StatusCode::FORBIDDEN, None, Some(("origin_not_allowed", msg)));
    }
    match accept(&s, &src, &ip, &headers, &body).await {
        Ok(()) => beacon_answer(StatusCode::NO_CONTENT, origin, None),
        Err((status, why, code, message)) => {
            if let Some(why) = why {
                refuse(&s, &src, why).await;
            }
            beacon_answer(status, origin, Some((code, message)))
        }
    }
}

type Refusal = (StatusCode, Option<DropReason>, &'static str, &'static str);

/// A token spent already, on this node or (as the store says) another.
const REPLAYED: Refusal =
    (StatusCode::FORBIDDEN, Some(DropReason::Token), "invalid_token", "the page token was used already");

/// Store the beacon `body` from `client` at an allowed origin, or say why not.
async fn accept(
    s: &AppState,
    src: &VisitSource,
    client: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Refusal> {
    if opted_out(headers) {
        return Err((StatusCode::NO_CONTENT, None, "opted_out", "the browser asked not to be tracked"));
    }
    if is_bot(headers) {
        return Err((StatusCode::NO_CONTENT, Some(DropReason::Bot), "bot", "crawlers are not visitors"));
    }
    let malformed = |m| (StatusCode::BAD_REQUEST, Some(DropReason::Malformed), "invalid_beacon", m);
    if body.len() > MAX_BEACON_BYTES {
        let m = "a beacon is at most 2048 bytes";
        return Err((StatusCode::PAYLOAD_TOO_LARGE, Some(DropReason::Malformed), "too_large", m));
    }
    let input: BeaconIn = serde_json::from_slice(body).map_err(|_| malformed("the body is not a beacon"))?;
    let visit = input.visit().map_err(|_| malformed("a field of the beacon is out of range"))?;
    let now_ms = clock::now().millis();
    let token = s.visitors.check(src, client, &input.t, now_ms).map_err(|r| {
        let m = match r {
            TokenRefusal::Forged => "the page token is missing, or not valid for this source and client",
            TokenRefusal::Expired => "the page token has expired",
            TokenRefusal::Replayed => REPLAYED.3,
        };
        (StatusCode::FORBIDDEN, Some(DropReason::Token), "invalid_token", m)
    })?;
    if !s.visitors.within_budget(src, client, Instant::now()) {
        let m = "this source's budget of beacons a minute (or this client's share of it) is spent";
        return Err((StatusCode::TOO_MANY_REQUESTS, Some(DropReason::Rate), "rate_limited", m));
    }
    if !s.visitors.mark_used(&src.id, &token, now_ms) {
        return Err(REPLAYED);
    }
    record(s, src, VisitRow { at: visit_time(), visit, demo: false, spends: Some(token.spend(now_ms)) }).await
}

/// Store a view; the store refuses a token spent on another node, and views past the
/// source's budget over every node.
async fn record(s: &AppState, src: &VisitSource, row: VisitRow) -> Result<(), Refusal> {
    match s.store.record_visit(src, &row).await {
        Ok(Recorded::Stored) => Ok(()),
        Ok(Recorded::NoSource) => {
            Err((StatusCode::NOT_FOUND, None, "not_found", "no real-visitor source has this key"))
        }
        Ok(Recorded::Replayed) => Err(REPLAYED),
        Ok(Recorded::OverBudget) => {
            let m = "this source's budget of beacons a minute is spent";
            Err((StatusCode::TOO_MANY_REQUESTS, Some(DropReason::Rate), "rate_limited", m))
        }
        Err(e) => {
            tracing::warn!(error = %e, source = %src.id, "storing a visit failed");
            Err((StatusCode::SERVICE_UNAVAILABLE, None, "unavailable", "the visit could not be stored; try later"))
        }
    }
}

fn pixel_answer(status: StatusCode) -> Response {
    let mut r = (status, PIXEL).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub async fn pixel(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !s.visitors.per_client.allow(&ip, Instant::now()) {
        return pixel_answer(StatusCode::TOO_MANY_REQUESTS);
    }
    let Some(src) = source(&s, &key).await else { return pixel_answer(StatusCode::NOT_FOUND) };
    let page = headers.get(header::REFERER).and_then(|v| v.to_str().ok()).and_then(origin_of);
    if !allowed(&src, page.as_deref()) {
        refuse(&s, &src, DropReason::Origin).await;
        return pixel_answer(StatusCode::FORBIDDEN);
    }
    if opted_out(&headers) || !sampled(src.sample_one_in) {
        return pixel_answer(StatusCode::OK);
    }
    if is_bot(&headers) {
        refuse(&s, &src, DropReason::Bot).await;
        return pixel_answer(StatusCode::OK);
    }
    if !s.visitors.within_budget(&src, &ip, Instant::now()) {
        refuse(&s, &src, DropReason::Rate).await;
        return pixel_answer(StatusCode::TOO_MANY_REQUESTS);
    }
    let visit = BeaconIn::default().visit().expect("an empty beacon is a view that loaded");
    // A pixel has no token: its view spends a share of the budget under a nonce of its own.
    let now_ms = clock::now().millis();
    let spend = Spend {
        nonce: format!("px{:032x}", clock::random_u128()),
        at: Timestamp::from_millis(now_ms),
        expires_at: Timestamp::from_millis(now_ms + 60_000),
    };
    match record(&s, &src, VisitRow { at: visit_time(), visit, demo: false, spends: Some(spend) }).await {
        Ok(()) => pixel_answer(StatusCode::OK),
        Err((status, why, ..)) => {
            if let Some(why) = why {
                refuse(&s, &src, why).await;
            }
            pixel_answer(status)
        }
    }
}

/// The privacy note owners link to.
pub async fn privacy() -> Response {
    let body = html! {
        h1 { "Real-visitor checks: what is collected" }
        p { "A site that embeds this monitor's real-visitor script lets a sample of its page views "
            "(by default one in ten) report whether the page loaded and how fast, so that its "
            "operators learn about outages their visitors see." }
        h2 { "What a report holds" }
        ul {
            li { "whether the page loaded, and whether the site's health address answered" }
            li { "the page's load time and the health address's answer time, in milliseconds" }
            li { "the network type the browser reports (slow-2g, 2g, 3g or 4g), if it does" }
            li { "the continent of the browser's time zone (Europe, America, Asia, …), if it has one" }
            li { "the time of the report, to the minute" }
        }
        h2 { "What is never collected" }
        ul {
            li { "no cookie is set or read, and no local storage is used" }
            li { "no IP address is stored: it is held in memory only to limit how fast one client may report" }
            li { "no user agent, no page address beyond the site's origin, no identifier, no fingerprint" }
        }
        p { "If the site names a health address on another site, the visitor's browser fetches it like "
            "any other address a page loads, and that site receives the request." }
        h2 { "Opting out" }
        p { "A browser that sends Do Not Track (" code { "DNT: 1" } ") or Global Privacy Control ("
            code { "Sec-GPC: 1" } ") reports nothing." }
        p { "Reports are kept in full as long as the monitor's raw check results, then only as daily "
            "counts." }
    };
    super::page("Real-visitor checks: privacy", None, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_read_off_referers_and_compared_whole() {
        assert_eq!(origin_of("https://Shop.Example/cart?x=1").as_deref(), Some("https://shop.example"));
        assert_eq!(origin_of("http://127.0.0.1:8000/").as_deref(), Some("http://127.0.0.1:8000"));
        assert_eq!(origin_of("nonsense"), None);
        let src = VisitSource {
            id: "vis_a".into(),
            tenant_id: netpulse_core::TenantId::from_trusted("ten_a".into()),
            monitor_id: netpulse_core::MonitorId::from_trusted("mon_a".into()),
            site_key: "pk_a".into(),
            origins: vec!["https://shop.example".into()],
            sample_one_in: 1,
            per_minute: 60,
            health_url: None,
            created_at: netpulse_core::Timestamp::from_secs(1),
            on_status_pages: false,
            in_alerts: false,
            dropped: Default::default(),
            token_key: String::new(),
        };
        assert!(allowed(&src, Some("https://shop.example")));
        assert!(!allowed(&src, Some("https://shop.example.evil.test")));
        assert!(!allowed(&src, Some("http://shop.example")));
        assert!(!allowed(&src, None));
    }

    #[test]
    fn crawlers_and_agentless_clients_are_not_visitors() {
        let ua = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::USER_AGENT, HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(is_bot(&ua("Mozilla/5.0 (compatible; Googlebot/2.1)")));
        assert!(is_bot(&HeaderMap::new()));
        assert!(!is_bot(&ua("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36")));
    }
}

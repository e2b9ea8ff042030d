//! Public status pages, managed by their tenant: `POST|GET /api/v1/status-pages`,
//! `PATCH|DELETE /api/v1/status-pages/{id}`. Incidents reach them through their public updates
//! ([`super::incident_updates`]); the pages themselves are served by the dashboard
//! (`dashboard/status_page.rs`). A page's `GET`, `POST` and `PATCH` answers carry an `ETag`
//! (its version); a `PATCH` with `If-Match` changes it only while it is still that version
//! (else `412`; see [`crate::base::precondition`]).

use crate::base::input::PathParam;
use crate::base::input::{parse_field, JsonBody};
use crate::base::page_domains::valid_domain;
use crate::base::precondition::{self, etag_header, IfMatch};
use crate::base::{ApiError, ApiResult};
use crate::base::{AppState, Caller};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use netpulse_core::MonitorId;
use netpulse_store::clock;
use netpulse_store::{StatusPage, StatusPageMonitor, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashSet;

/// At most this many monitors on one page.
pub const MAX_MONITORS: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageIn {
    slug: Option<String>,
    title: Option<String>,
    message: Option<String>,
    /// `null` removes the logo.
    #[serde(default, with = "double_option")]
    logo_url: Option<Option<String>>,
    /// `null` removes the domain.
    #[serde(default, with = "double_option")]
    domain: Option<Option<String>>,
    monitors: Option<Vec<MonitorIn>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MonitorIn {
    monitor_id: String,
    /// Required; optional here so that a missing one is named in full (`monitors[0].display_name`).
    display_name: Option<String>,
    #[serde(default)]
    group: String,
}

/// Tell a missing key from an explicit `null`.
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

/// A slug is 3 to 40 of `a-z`, `0-9` and `-`.
pub fn valid_slug(s: &str) -> bool {
    (3..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

pub(super) fn text(field: &str, s: &str, min: usize, max: usize) -> ApiResult<String> {
    let s = s.trim();
    let n = s.chars().count();
    if n < min || n > max {
        return Err(ApiError::invalid(field, format!("must be {min} to {max} characters")));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid(field, "must not contain control characters"));
    }
    Ok(s.to_owned())
}

/// A page's own host name: a DNS name that is not this server's.
fn domain(s: &AppState, d: &str) -> ApiResult<String> {
    let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
    if !valid_domain(&d) {
        return Err(ApiError::invalid(
            "domain",
            "must be a host name such as status.example.com (no scheme, port or path)",
        ));
    }
    if url::Url::parse(&s.base_url).ok().and_then(|u| u.host_str().map(str::to_owned)).as_deref() == Some(d.as_str()) {
        return Err(ApiError::invalid(
            "domain",
            "is this server's own name (http.public_url); give the page a name of its own",
        ));
    }
    Ok(d)
}

pub use netpulse_store::status_pages::page_url;

fn logo(s: &str) -> ApiResult<String> {
    let u = url::Url::parse(s).map_err(|e| ApiError::invalid("logo_url", format!("is not a URL: {e}")))?;
    if !matches!(u.scheme(), "https" | "http") || s.len() > 500 {
        return Err(ApiError::invalid("logo_url", "must be an http(s) URL of at most 500 characters"));
    }
    Ok(u.to_string())
}

/// Check the monitors: ids of this tenant, named, each once.
async fn monitors(s: &AppState, caller: &Caller, input: Vec<MonitorIn>) -> ApiResult<Vec<StatusPageMonitor>> {
    if input.len() > MAX_MONITORS {
        return Err(ApiError::invalid("monitors", format!("at most {MAX_MONITORS} monitors per page")));
    }
    let mine: HashSet<MonitorId> =
        s.store.list_monitors(caller.tenant()).await?.into_iter().map(|v| v.record.id).collect();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(input.len());
    for (i, m) in input.into_iter().enumerate() {
        let field = |f: &str| format!("monitors[{i}].{f}");
        let id = MonitorId::parse(&m.monitor_id)
            .ok()
            .filter(|id| mine.contains(id))
            .ok_or_else(|| ApiError::invalid(field("monitor_id"), "no such monitor"))?;
        if !seen.insert(id.clone()) {
            return Err(ApiError::invalid(field("monitor_id"), "is on the page twice"));
        }
        out.push(StatusPageMonitor {
            monitor_id: id,
            display_name: text(&field("display_name"), m.display_name.as_deref().unwrap_or(""), 1, 100)?,
            group: text(&field("group"), &m.group, 0, 100)?,
        });
    }
    Ok(out)
}

/// Apply `input` to `page` (a new, empty page when creating).
async fn apply(s: &AppState, caller: &Caller, page: &mut StatusPage, input: PageIn) -> ApiResult<()> {
    if let Some(slug) = input.slug {
        if !valid_slug(&slug) {
            return Err(ApiError::invalid("slug", "must be 3 to 40 characters of a-z, 0-9 and -"));
        }
        if slug == netpulse_store::demo::page::SLUG && slug != page.slug {
            return Err(ApiError::invalid("slug", "`demo` is kept for the demo organisation's page; choose another"));
        }
        page.slug = slug;
    }
    if let Some(title) = input.title {
        page.title = text("title", &title, 1, 100)?;
    }
    if let Some(message) = input.message {
        page.message = text("message", &message, 0, 2000)?;
    }
    if let Some(l) = input.logo_url {
        page.logo_url = l.as_deref().map(logo).transpose()?;
    }
    if let Some(d) = input.domain {
        page.domain = d.as_deref().map(|d| domain(s, d)).transpose()?;
    }
    if let Some(m) = input.monitors {
        page.monitors = monitors(s, caller, m).await?;
    }
    Ok(())
}

fn page_json(s: &AppState, p: &StatusPage) -> Value {
    json!({
        "id": p.id, "slug": p.slug, "title": p.title, "message": p.message, "logo_url": p.logo_url,
        "domain": p.domain, "created_at": p.created_at.to_rfc3339(),
        "public_url": page_url(&s.base_url, &p.slug, p.domain.as_deref()),
        "monitors": p.monitors.iter().map(|m| json!({
            "monitor_id": m.monitor_id, "display_name": m.display_name, "group": m.group,
        })).collect::<Vec<_>>(),
    })
}

fn slug_conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(m) => {
            let (field, message) = if m.contains("domain") {
                ("domain", "domain: another page is served under this name")
            } else {
                ("slug", "slug: is already taken")
            };
            ApiError {
                status: StatusCode::CONFLICT,
                code: "conflict",
                message: message.into(),
                field: Some(field.into()),
                retry_after: None,
            }
        }
        e => e.into(),
    }
}

pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    caller.require_write()?;
    let input: PageIn = parse_field("", Value::Object(body))?;
    if input.slug.is_none() {
        return Err(ApiError::invalid("slug", "is required"));
    }
    if input.title.is_none() {
        return Err(ApiError::invalid("title", "is required"));
    }
    let now = clock::now();
    let mut page = StatusPage {
        id: format!("sp_{}", netpulse_core::ids::encode_base32(clock::random_u128())),
        tenant_id: caller.tenant().clone(),
        slug: String::new(),
        title: String::new(),
        message: String::new(),
        logo_url: None,
        domain: None,
        created_at: now,
        updated_at: now,
        monitors: Vec::new(),
    };
    apply(&s, &caller, &mut page, input).await?;
    s.store.create_status_page(caller.tenant(), &page).await.map_err(slug_conflict)?;
    s.status_cache.clear();
    Ok((StatusCode::CREATED, etag_header(page.updated_at), Json(with_subscribers(page_json(&s, &page), 0))))
}

pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    let pages = s.store.list_status_pages(caller.tenant()).await?;
    let counts = s.store.subscriber_counts(caller.tenant()).await?;
    let count = |p: &StatusPage| counts.get(&p.id).copied().unwrap_or(0);
    let data: Vec<Value> = pages.iter().map(|p| with_subscribers(page_json(&s, p), count(p))).collect();
    Ok(Json(json!({ "data": data })))
}

pub(crate) async fn find(s: &AppState, caller: &Caller, id: &str) -> ApiResult<StatusPage> {
    let missing = || ApiError::not_found("status page");
    if !id.starts_with("sp_") {
        return Err(missing());
    }
    s.store.list_status_pages(caller.tenant()).await?.into_iter().find(|p| p.id == id).ok_or_else(missing)
}

pub async fn get(State(s): State<AppState>, caller: Caller, PathParam(id): PathParam) -> ApiResult<impl IntoResponse> {
    let page = find(&s, &caller, &id).await?;
    Ok((etag_header(page.updated_at), Json(counted(&s, &caller, &page).await?)))
}

/// A page's JSON with its count of confirmed subscribers (`subscribers`; the list is
/// `GET /api/v1/status-pages/{id}/subscribers`).
fn with_subscribers(mut page: Value, confirmed: usize) -> Value {
    page["subscribers"] = json!(confirmed);
    page
}

/// One page's JSON with its subscriber count read now.
async fn counted(s: &AppState, caller: &Caller, page: &StatusPage) -> ApiResult<Value> {
    let counts = s.store.subscriber_counts(caller.tenant()).await?;
    Ok(with_subscribers(page_json(s, page), counts.get(&page.id).copied().unwrap_or(0)))
}

/// `PATCH`: the fields given replace the page's. With `If-Match`, written only while the
/// page is still the version named (else `412`).
pub async fn update(
    State(s): State<AppState>,
    caller: Caller,
    if_match: IfMatch,
    PathParam(id): PathParam,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    caller.require_write()?;
    let mut page = find(&s, &caller, &id).await?;
    let expected = if_match.expected(page.updated_at);
    let input: PageIn = parse_field("", Value::Object(body))?;
    apply(&s, &caller, &mut page, input).await?;
    page.updated_at = clock::now();
    let written = s.store.update_status_page_if(caller.tenant(), &page, expected).await.map_err(slug_conflict)?;
    precondition::judge(written, "status page", async { Ok(find(&s, &caller, &id).await?.updated_at) }).await?;
    s.status_cache.clear();
    let page = find(&s, &caller, &id).await?;
    Ok((etag_header(page.updated_at), Json(counted(&s, &caller, &page).await?)))
}

pub async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> ApiResult<impl IntoResponse> {
    caller.require_write()?;
    if !id.starts_with("sp_") || !s.store.delete_status_page(caller.tenant(), &id).await? {
        return Err(ApiError::not_found("status page"));
    }
    s.status_cache.clear();
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(valid_slug("acme-status-1"));
        assert!(!valid_slug("ab"));
        assert!(!valid_slug("Acme"));
        assert!(!valid_slug("a_b_c"));
        assert!(!valid_slug(&"a".repeat(41)));
    }
}

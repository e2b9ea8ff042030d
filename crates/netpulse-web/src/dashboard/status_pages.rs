//! `GET /status-pages`: the organisation's public status pages, each with its public URL, how
//! many monitors it shows and how many confirmed subscribers (e-mail and webhook) follow it.
//! Pages and subscribers are managed through the API (`/api/v1/status-pages`); the page never
//! shows a subscriber's address.

use super::{page, signed_in};
use crate::api::status_pages::page_url;
use crate::base::{ApiError, AppState};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;

pub async fn list(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let auth = match signed_in(&s, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let t = auth.tenant();
    let (pages, counts) = match (s.store.list_status_pages(t).await, s.store.subscriber_counts(t).await) {
        (Ok(p), Ok(c)) => (p, c),
        (Err(e), _) | (_, Err(e)) => return ApiError::from(e).into_response(),
    };
    let body = html! {
        h1 { "Status pages" }
        p.sub { "Public pages of your monitors; created and changed through the API (" code { "/api/v1/status-pages" } "). Subscribers are the confirmed e-mail and webhook subscribers that get each posted update." }
        @if pages.is_empty() {
            p { "No status pages yet." }
        } @else {
            table #status-pages {
                thead { tr { th { "Page" } th { "Public URL" } th { "Monitors" } th { "Subscribers" } } }
                tbody {
                    @for p in &pages {
                        @let url = page_url(&s.base_url, &p.slug, p.domain.as_deref());
                        tr {
                            td { (p.title) }
                            td { a href=(url) { (url) } }
                            td { (p.monitors.len()) }
                            td.subscribers { (counts.get(&p.id).copied().unwrap_or(0)) }
                        }
                    }
                }
            }
        }
    };
    page("Status pages", Some(&auth), body).into_response()
}

//! A status page's incident history, one calendar month (UTC) at a time:
//! `GET /status/{slug}/history?month=2026-11` (the current month without `month`), with
//! links to the months before and after. Cached like the page itself, per slug and month.

use super::status_page::{incident_article, respond, Format};
use crate::base::status_cache::Entry;
use crate::base::{ApiError, AppState};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{html, PreEscaped, DOCTYPE};
use netpulse_core::Timestamp;
use netpulse_store::clock;
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
pub struct HistoryQuery {
    pub month: Option<String>,
}

/// A calendar month, UTC.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Month {
    year: i32,
    month: u8,
}

impl Month {
    fn of(t: Timestamp) -> Month {
        let d = time::OffsetDateTime::from_unix_timestamp(t.millis().div_euclid(1000))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        Month { year: d.year(), month: d.month() as u8 }
    }

    /// `YYYY-MM`, from 2000-01 on.
    fn parse(s: &str) -> Option<Month> {
        let (y, m) = s.split_once('-')?;
        let (year, month) = (y.parse().ok()?, m.parse().ok()?);
        (y.len() == 4 && m.len() == 2 && year >= 2000 && (1..=12).contains(&month)).then_some(Month { year, month })
    }

    fn start(self) -> Timestamp {
        let m = time::Month::try_from(self.month).unwrap_or(time::Month::January);
        let d = time::Date::from_calendar_date(self.year, m, 1).unwrap_or(time::Date::MIN);
        Timestamp::from_secs(d.midnight().assume_utc().unix_timestamp())
    }

    fn next(self) -> Month {
        if self.month == 12 {
            Month { year: self.year + 1, month: 1 }
        } else {
            Month { month: self.month + 1, ..self }
        }
    }

    fn previous(self) -> Month {
        if self.month == 1 {
            Month { year: self.year - 1, month: 12 }
        } else {
            Month { month: self.month - 1, ..self }
        }
    }

    fn key(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    fn name(self) -> String {
        format!("{} {}", time::Month::try_from(self.month).unwrap_or(time::Month::January), self.year)
    }
}

/// `/status/{slug}/history`.
pub async fn show(s: &AppState, slug: &str, month: Option<&str>, headers: &HeaderMap) -> Response {
    if !crate::api::status_pages::valid_slug(slug) {
        return ApiError::not_found("status page").into_response();
    }
    let now = Month::of(clock::now());
    let month = match month.map(Month::parse) {
        None => now,
        Some(Some(m)) if m <= now => m,
        Some(_) => {
            return ApiError::invalid("month", "must be a month from 2000-01 to this one, as YYYY-MM").into_response()
        }
    };
    let (store, read_slug, base) = (s.store.clone(), slug.to_owned(), s.base_url.clone());
    let read = move || async move {
        let Some(page) = store.status_page_by_slug(&read_slug).await? else { return Ok(None) };
        let incidents = store.posted_incidents(&page, month.start(), month.next().start()).await?;
        let url = crate::api::status_pages::page_url(&base, &page.slug, page.domain.as_deref());
        let html = render(&page.title, &url, &incidents, month, month < now).into_string();
        let digest = &hex::encode(Sha256::digest(html.as_bytes()))[..24];
        Ok(Some(Entry::new(vec![(format!("\"m{digest}\""), html)])))
    };
    match s.status_cache.get_or_read(&format!("{slug} {}", month.key()), read).await {
        Ok(Some(e)) => respond(e.get(0), Format::Html, headers),
        Ok(None) => ApiError::not_found("status page").into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The month's page (`url`: where the status page is read; `later`: whether a later month
/// may be asked for).
fn render(
    title: &str,
    url: &str,
    incidents: &[(String, netpulse_store::PublicIncident)],
    month: Month,
    later: bool,
) -> maud::Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) ": incident history" }
                style { (PreEscaped(super::status_page::STYLE)) }
            }
            body { main {
                header.page { h1 { (title) } }
                h2 { "Incident history: " (month.name()) }
                p.sub {
                    a href={ (url) "/history?month=" (month.previous().key()) } { "← " (month.previous().name()) }
                    @if later { " · " a href={ (url) "/history?month=" (month.next().key()) } { (month.next().name()) " →" } }
                    " · " a href=(url) { "Current status" }
                }
                @if incidents.is_empty() { p.sub { "No incidents posted in " (month.name()) "." } }
                @for (name, i) in incidents { (incident_article(name, i)) }
                footer.sub { p { "Powered by NetPulse." } }
            }
            (super::status_page::local_time()) }
        }
    }
}

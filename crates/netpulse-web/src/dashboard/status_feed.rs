//! A status page's incident updates as feeds a reader can follow without signing up:
//! Atom (RFC 4287) at `/status/{slug}/feed.atom` and JSON Feed 1.1 at `/status/{slug}/feed.json`.
//! One entry per public update, newest first, at most [`MAX_ENTRIES`]; rendered with the page's
//! reading (same cache and ETag rules as the page), so they show exactly what the page shows.

use netpulse_store::{IncidentUpdate, PublicStatusPage};
use serde_json::json;
use std::fmt::Write;

/// The most entries a feed carries.
pub const MAX_ENTRIES: usize = 50;

/// The page's updates with their monitor's display name, newest first.
fn entries(page: &PublicStatusPage) -> Vec<(&str, &IncidentUpdate)> {
    let mut all: Vec<(&str, &IncidentUpdate)> =
        page.incidents.iter().flat_map(|(name, i)| i.updates.iter().map(move |u| (name.as_str(), u))).collect();
    all.sort_by(|a, b| b.1.posted_at.cmp(&a.1.posted_at).then_with(|| b.1.id.cmp(&a.1.id)));
    all.truncate(MAX_ENTRIES);
    all
}

/// Text for XML content and attribute values.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// The page's Atom feed (`url`: where the page is read).
pub fn atom(page: &PublicStatusPage, url: &str) -> String {
    let entries = entries(page);
    let updated = entries.first().map_or(page.generated_at, |(_, u)| u.posted_at).to_rfc3339();
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = write!(
        out,
        "<id>{u}</id>\n<title>{t}: incident updates</title>\n<author><name>{t}</name></author>\n\
         <link rel=\"alternate\" href=\"{u}\"/>\n<link rel=\"self\" href=\"{u}/feed.atom\"/>\n<updated>{updated}</updated>\n",
        u = xml(url),
        t = xml(&page.title),
    );
    for (name, u) in entries {
        let _ = write!(
            out,
            "<entry>\n<id>{page}#{id}</id>\n<title>{title}</title>\n<link rel=\"alternate\" href=\"{page}\"/>\n\
             <updated>{at}</updated>\n<category term=\"{state}\"/>\n<category term=\"{impact}\"/>\n\
             <content type=\"text\">{message}</content>\n</entry>\n",
            page = xml(url),
            id = u.id,
            title = xml(&u.title(name)),
            at = u.posted_at.to_rfc3339(),
            state = u.state.as_str(),
            impact = u.impact.as_str(),
            message = xml(&u.message),
        );
    }
    out.push_str("</feed>\n");
    out
}

/// The page's JSON Feed 1.1 (`url`: where the page is read).
pub fn json_feed(page: &PublicStatusPage, url: &str) -> String {
    let items: Vec<_> = entries(page)
        .into_iter()
        .map(|(name, u)| {
            json!({
                "id": u.id, "url": url, "title": u.title(name), "content_text": u.message,
                "date_published": u.posted_at.to_rfc3339(), "tags": [u.state.as_str(), u.impact.as_str()],
            })
        })
        .collect();
    json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": format!("{}: incident updates", page.title),
        "home_page_url": url,
        "feed_url": format!("{url}/feed.json"),
        "items": items,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::xml;

    #[test]
    fn markup_and_control_characters_cannot_break_the_feed() {
        assert_eq!(xml("<b>\"a\" & 'b'</b>\u{1}"), "&lt;b&gt;&quot;a&quot; &amp; &apos;b&apos;&lt;/b&gt;");
    }
}

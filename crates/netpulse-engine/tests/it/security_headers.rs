//! The security headers of every answer: each dashboard page is sent with a
//! Content-Security-Policy that allows exactly the inline script and style the page carries
//! (by hash: no `'unsafe-inline'`, no `style` or `on…` attributes that it would block), no
//! framing (`frame-ancestors 'none'`, `X-Frame-Options: DENY`), `nosniff` and a same-origin
//! referrer policy; API answers, errors included, are `nosniff`.

use crate::harness::*;
use crate::routes::{self, placeholder};
use base64::Engine as _;
use sha2::{Digest, Sha256};

const COOKIE: &str = "np_session=np_test_owner_token_0123456789abcdef";

/// The texts of the `<tag>…</tag>` elements of `html`.
fn inline(html: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    html.match_indices(&open)
        .filter_map(|(at, _)| {
            let rest = &html[at + open.len()..];
            rest.find(&close).map(|end| rest[..end].to_owned())
        })
        .collect()
}

fn hash_source(text: &str) -> String {
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes())))
}

fn header<'a>(h: &'a http::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn every_dashboard_page_allows_exactly_its_inline_code_and_refuses_framing() {
    let app = spawn_app().await;
    let monitor = app
        .create_monitor(
            serde_json::json!({ "name": "db", "kind": "tcp", "host": "db.example.com", "port": 5432, "paused": true }),
        )
        .await;
    let pick = |segment: &str| if segment == "monitors" { monitor.clone() } else { placeholder(segment) };
    // Ids of the kinds a reader has none of stand in for pages answering "not found".
    let pages: Vec<String> = routes::all()
        .into_iter()
        .filter(|r| r.dashboard && r.method == "GET")
        .filter(|r| !["/events", "/badge/", "/status/", "/demo"].iter().any(|p| r.path.starts_with(p)))
        .map(|r| routes::fill(&r, &pick))
        .collect();
    let mut scripts = 0;
    for path in &pages {
        let (status, html, h) = app.raw("GET", path, None, &[("cookie", COOKIE)]).await;
        let csp = header(&h, "content-security-policy");
        assert!(csp.starts_with("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{path}: {csp:?}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(header(&h, "x-frame-options"), "DENY", "{path}");
        assert_eq!(header(&h, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&h, "referrer-policy"), "same-origin", "{path}");
        if !header(&h, "content-type").starts_with("text/html") {
            continue;
        }
        for (kind, directive) in [("script", "script-src"), ("style", "style-src")] {
            let allowed = csp.split(';').map(str::trim).find(|d| d.starts_with(directive)).unwrap_or("");
            for text in inline(&html, kind) {
                assert!(allowed.contains(&hash_source(&text)), "{path} ({status}): an inline {kind} the CSP blocks");
                scripts += usize::from(kind == "script");
            }
        }
        assert!(!html.contains(" style=\""), "{path}: a style attribute, which the CSP blocks");
        assert!(!html.contains(" onclick=") && !html.contains(" onsubmit="), "{path}: an inline handler");
    }
    assert!(scripts >= pages.len() / 2, "signed-in pages carry the dashboard's script: {scripts} on {pages:?}");
}

#[tokio::test]
async fn api_answers_and_errors_are_nosniff() {
    let app = spawn_app().await;
    for (path, token) in [("/api/v1/monitors", Some(TOKEN)), ("/api/v1/monitors", None), ("/api/v1/nope", Some(TOKEN))]
    {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let (status, body, h) = app.raw("GET", path, None, &headers).await;
        assert!(header(&h, "content-type").starts_with("application/json"), "{path} {status}: {body}");
        assert_eq!(header(&h, "x-content-type-options"), "nosniff", "{path} {status}");
    }
}

//! The security headers of the dashboard's answers: a Content-Security-Policy that lets a page
//! run only the dashboard's own inline script and style (allowed by their SHA-256 hashes, so an
//! injected `<script>` or `style` attribute does nothing), talk only to this origin (the
//! live stream, badge refreshes, forms), and never be framed (`frame-ancestors 'none'`, and
//! `X-Frame-Options: DENY` for older browsers); `X-Content-Type-Options: nosniff`; and
//! `Referrer-Policy: same-origin`, so monitor and incident URLs never leave in a Referer.
//!
//! An answer that sets its own policy keeps it: public status pages and badges have theirs
//! (`status_page.rs`, `badges.rs`).

use axum::http::{header, HeaderValue};
use axum::response::Response;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The `'sha256-…'` source of an inline element's text.
pub(super) fn hash_source(text: &str) -> String {
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes())))
}

/// The dashboard's policy: its inline scripts and styles by hash, this origin for the rest.
pub fn policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        let sources = |texts: &[&str]| texts.iter().map(|t| hash_source(t)).collect::<Vec<_>>().join(" ");
        format!(
            "default-src 'none'; script-src {scripts}; style-src {styles}; img-src 'self'; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            scripts = sources(&super::INLINE_SCRIPTS),
            styles = sources(&super::INLINE_STYLES),
        )
    })
}

/// Add the dashboard's security headers to `r`, unless it carries a policy of its own.
pub async fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy()));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("same-origin"));
    }
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_policy_names_each_inline_text_by_its_hash_and_allows_nothing_inline_else() {
        let p = super::policy();
        for text in super::super::INLINE_SCRIPTS.iter().chain(&super::super::INLINE_STYLES) {
            assert!(p.contains(&super::hash_source(text)), "{p}");
        }
        assert!(!p.contains("unsafe-inline") && !p.contains("unsafe-eval"), "{p}");
        assert!(p.contains("frame-ancestors 'none'") && p.starts_with("default-src 'none'"), "{p}");
        // The known answer of a hash source (CSP Level 2's own example).
        assert_eq!(
            super::hash_source("alert('Hello, world.');"),
            "'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng='"
        );
    }
}

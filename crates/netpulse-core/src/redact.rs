//! Hiding credentials in what is shown: the rule every reader-facing text applies to a
//! monitor's target (a URL's user name and password, query values whose name looks like a
//! credential). Who may see values whole in the API and dashboard is the web layer's decision
//! (its audience); notices never do ([`described`]): they leave the account. This module only
//! knows how a value looks with its credentials hidden.

use crate::CheckSpec;

/// What a hidden value reads as.
pub const HIDDEN: &str = "[hidden]";

/// Whether a header or parameter of this name usually carries a credential.
pub fn looks_like_credential(name: &str) -> bool {
    const WORDS: [&str; 9] = ["auth", "token", "secret", "key", "pass", "cookie", "session", "signature", "credential"];
    let n = name.to_ascii_lowercase();
    WORDS.iter().any(|w| n.contains(w))
}

/// `raw` without the user name (`https://TOKEN@host/` is a credential) and password, and with
/// credential-looking query values hidden; text that is not a URL is hidden whole.
pub fn url(raw: &str) -> String {
    let Ok(mut u) = url::Url::parse(raw) else { return HIDDEN.to_owned() };
    if !u.username().is_empty() {
        let _ = u.set_username(HIDDEN);
    }
    if u.password().is_some() {
        let _ = u.set_password(Some(HIDDEN));
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if looks_like_credential(&k) { HIDDEN.to_owned() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// A monitor's target (`spec.target()`) with its credentials hidden.
pub fn target(spec: &CheckSpec) -> String {
    match spec {
        CheckSpec::Http(h) => url(h.url.as_url().as_str()),
        CheckSpec::WebSocket(w) => url(w.url.as_url().as_str()),
        other => other.target(),
    }
}

/// What a notice says is checked: [`CheckSpec::target`] (`GET https://…` for HTTP) with the
/// URL's credentials hidden by [`url`], the rule viewers get. Every notice carries only this
/// (`AlertEvent::target`), so no channel can show more.
pub fn described(spec: &CheckSpec) -> String {
    match spec {
        CheckSpec::Http(h) => format!("{} {}", h.method, url(h.url.as_url().as_str())),
        CheckSpec::WebSocket(w) => url(w.url.as_url().as_str()),
        other => other.target(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_target_keeps_the_method_and_hides_credentials() {
        let spec: CheckSpec = serde_json::from_value(serde_json::json!({
            "kind": "http", "method": "POST",
            "url": "https://ops:hunter22@api.example.com/v1?token=abc123&page=2",
        }))
        .unwrap();
        assert_eq!(
            described(&spec),
            "POST https://%5Bhidden%5D:%5Bhidden%5D@api.example.com/v1?token=%5Bhidden%5D&page=2"
        );
        let tcp: CheckSpec =
            serde_json::from_value(serde_json::json!({ "kind": "tcp", "host": "db", "port": 5432 })).unwrap();
        assert_eq!(described(&tcp), "db:5432");
    }
}

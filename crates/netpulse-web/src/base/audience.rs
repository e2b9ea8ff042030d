//! What an answer may show, by who reads it: the one redaction rule of the API and the
//! dashboard.
//!
//! Members, admins and owners see their organisation's configuration whole (they edit it).
//! Viewers, read tokens and the demo visitor are a [`Audience::Restricted`] audience: every
//! value that works as a credential is replaced by [`HIDDEN`] before the answer is built —
//! channel URLs (chat webhook URLs are bearer credentials, e-mail channels list addresses),
//! channel delivery errors (they quote the URL), monitor headers whose name looks like a
//! credential (`Authorization`, `X-Api-Key`, `Cookie`, …), request bodies, the user name
//! and password in a URL and query parameters that look like credentials, heartbeat push
//! URLs, members' e-mail addresses, and the names and certificate serials of the
//! install's workers.
//! Handlers do not redact themselves: they pass the caller's audience to the DTO
//! conversion (`monitor_json`, `channel_json`, …), which calls this module.

use netpulse_core::redact;
pub use netpulse_core::redact::{looks_like_credential, HIDDEN};
use serde_json::{Map, Value};

/// Who reads an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Members and up: everything of their organisation.
    Trusted,
    /// Viewers, read tokens, the demo visitor: no secrets.
    Restricted,
}

impl Audience {
    pub fn of(role: netpulse_store::Role, demo: bool) -> Self {
        if demo || role < netpulse_store::Role::Member {
            Audience::Restricted
        } else {
            Audience::Trusted
        }
    }
    pub fn restricted(self) -> bool {
        self == Audience::Restricted
    }
}

/// A URL as `a` may see it ([`redact::url`] for a restricted audience).
pub fn url(raw: &str, a: Audience) -> String {
    if a.restricted() {
        redact::url(raw)
    } else {
        raw.to_owned()
    }
}

/// A monitor's target (`spec.target()`) as `a` may see it.
pub fn target(spec: &netpulse_core::CheckSpec, a: Audience) -> String {
    match (spec, a) {
        (_, Audience::Restricted) => redact::target(spec),
        (netpulse_core::CheckSpec::Http(h), Audience::Trusted) => h.url.as_url().as_str().to_owned(),
        (other, Audience::Trusted) => other.target(),
    }
}

/// Redact a monitor in its API shape (`monitor_json`).
pub fn monitor(m: &mut Map<String, Value>, a: Audience) {
    if !a.restricted() {
        return;
    }
    if let Some(Value::Array(headers)) = m.get_mut("headers") {
        for h in headers.iter_mut().filter_map(Value::as_object_mut) {
            if h.get("name").and_then(Value::as_str).is_some_and(looks_like_credential) {
                h.insert("value".into(), Value::from(HIDDEN));
            }
        }
    }
    // A request body or a WebSocket message may carry a credential.
    for key in ["body", "send", "heartbeat_url"] {
        if m.get(key).is_some_and(|v| !v.is_null()) {
            m.insert(key.into(), Value::from(HIDDEN));
        }
    }
    if let Some(u) = m.get("url").and_then(Value::as_str).map(|u| url(u, a)) {
        m.insert("url".into(), Value::from(u));
    }
}

/// Redact a channel in its API shape (`channel_json`).
pub fn channel(c: &mut Map<String, Value>, a: Audience) {
    if a.restricted() {
        c.insert("url".into(), Value::from(HIDDEN));
        c.remove("secret");
    }
}

/// A member's e-mail address as `a` may see it.
pub fn email(e: &str, a: Audience) -> String {
    if a.restricted() {
        HIDDEN.to_owned()
    } else {
        e.to_owned()
    }
}

/// Regions as `a` may see them: worker names and certificate serials identify the
/// install's machines, not the reader's organisation.
pub fn regions(
    mut rs: Vec<netpulse_pipeline::gateway::fleet::RegionView>,
    a: Audience,
) -> Vec<netpulse_pipeline::gateway::fleet::RegionView> {
    if a.restricted() {
        for w in rs.iter_mut().flat_map(|r| r.workers.iter_mut()) {
            w.name = HIDDEN.to_owned();
            w.serial = HIDDEN.to_owned();
        }
    }
    rs
}

/// A delivery error as `a` may see it (errors quote the channel's URL).
pub fn delivery_error(e: Option<String>, a: Audience) -> Option<String> {
    e.map(|e| if a.restricted() { HIDDEN.to_owned() } else { e })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn restricted_readers_see_no_credentials_and_trusted_ones_see_all() {
        let m = json!({
            "url": "https://ops-user-7a:hunter22@example.com/p?api_key=abc123&page=2",
            "headers": [{ "name": "Authorization", "value": "Bearer s3cr3t" }, { "name": "Accept", "value": "text/html" }],
            "body": "{\"password\":\"pw\"}",
            "heartbeat_url": "https://np.example.com/api/v1/heartbeat/hb_1",
        });
        let Value::Object(mut shown) = m.clone() else { unreachable!() };
        monitor(&mut shown, Audience::Restricted);
        let text = Value::Object(shown.clone()).to_string();
        for secret in ["ops-user-7a", "hunter22", "abc123", "s3cr3t", "\\\"pw\\\"", "hb_1"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(text.contains("text/html") && text.contains("page=2"), "harmless values stay: {text}");
        let Value::Object(mut full) = m.clone() else { unreachable!() };
        monitor(&mut full, Audience::Trusted);
        assert_eq!(Value::Object(full), m);
    }

    #[test]
    fn viewers_and_the_demo_are_restricted() {
        use netpulse_store::Role;
        assert_eq!(Audience::of(Role::Viewer, false), Audience::Restricted);
        assert_eq!(Audience::of(Role::Owner, true), Audience::Restricted);
        assert_eq!(Audience::of(Role::Member, false), Audience::Trusted);
    }
}

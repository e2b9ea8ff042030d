//! The monitor form's fields and the two conversions around them: submitted form text into
//! the API's flat JSON input shape (so [`crate::api::monitors::parse_draft`] refuses bad
//! input with the API's own message), and a stored monitor back into form text for editing.
//! Form field names are the API's field names; policy fields are written `policy.<name>`.

use serde_json::{Map, Value};
use std::collections::HashMap;

/// The text a user typed, by field name; a checkbox is present when ticked.
pub type FormValues = HashMap<String, String>;

/// How a field is typed and turned into JSON.
#[derive(Clone, Copy)]
pub enum Input {
    /// Sent as typed, even empty (so an empty required field gets the API's message).
    Text,
    /// Left out when empty.
    Optional,
    /// A number when it is one, left out when empty, otherwise the text (which the API refuses).
    Number,
    Check,
    /// Comma-separated, into a list of strings; left out when empty.
    List,
    /// One `Name: value` per line, into `[{name, value}]`.
    Headers,
    Multiline,
    Choice(&'static [&'static str]),
    /// `yes` / `no` into a boolean; left out when empty (the organisation's default).
    YesNo,
}

pub struct Field {
    pub key: &'static str,
    pub label: &'static str,
    pub input: Input,
    /// The kinds this field belongs to; empty means every kind.
    pub kinds: &'static [&'static str],
    pub hint: &'static str,
}

pub const KINDS: [&str; 5] = ["http", "tcp", "dns", "tls", "heartbeat"];
const ALL: &[&str] = &[];
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const RECORD_TYPES: &[&str] = &["A", "AAAA", "CNAME", "MX", "TXT", "NS"];

const fn f(
    key: &'static str,
    label: &'static str,
    input: Input,
    kinds: &'static [&'static str],
    hint: &'static str,
) -> Field {
    Field { key, label, input, kinds, hint }
}

/// The hint of a policy field: empty means the field is not set on the monitor.
const INHERITS: &str = "empty: the organisation's default (Alerting defaults)";

/// Every field, in the order the form shows them.
pub const FIELDS: &[Field] = &[
    f("name", "Name", Input::Text, ALL, ""),
    f("url", "URL", Input::Text, &["http"], "http:// or https://"),
    f("method", "Method", Input::Choice(METHODS), &["http"], ""),
    f("headers", "Request headers", Input::Headers, &["http"], "one Name: value per line"),
    f("body", "Request body", Input::Multiline, &["http"], "optional"),
    f("expected_status", "Expected status", Input::Optional, &["http"], "e.g. 200-299,301; empty: 200-399"),
    f("keyword", "Body must contain", Input::Optional, &["http"], "optional"),
    f("keyword_absent", "Body must not contain", Input::Optional, &["http"], "optional"),
    f("degraded_after_ms", "Degraded after (ms)", Input::Number, &["http"], "optional; slower answers are degraded"),
    f("follow_redirects", "Follow redirects", Input::Check, &["http"], ""),
    f("host", "Host", Input::Text, &["tcp", "tls"], ""),
    f("port", "Port", Input::Number, &["tcp", "tls"], ""),
    f("query", "Name to resolve", Input::Text, &["dns"], "e.g. example.com"),
    f("record_type", "Record type", Input::Choice(RECORD_TYPES), &["dns"], ""),
    f("expected", "Expected answer", Input::Optional, &["dns"], "optional"),
    f("resolver", "Resolver", Input::Optional, &["dns"], "optional ip:port; the system resolver when empty"),
    f("warn_days", "Warn days before expiry", Input::Number, &["tls"], ""),
    f("verify_tls", "Verify TLS certificate", Input::Check, &["http", "tls"], ""),
    f("grace_s", "Grace (s)", Input::Number, &["heartbeat"], "how late a beat may be"),
    f("interval_s", "Interval (s)", Input::Number, ALL, ""),
    f("timeout_ms", "Timeout (ms)", Input::Number, ALL, ""),
    f("retries", "Retries", Input::Number, ALL, "extra attempts inside one check"),
    f("regions", "Regions", Input::List, ALL, "comma-separated"),
    f("tags", "Tags", Input::List, ALL, "comma-separated"),
    f("paused", "Paused", Input::Check, ALL, ""),
    f("policy.confirm_threshold", "Failed checks to open an incident", Input::Number, ALL, INHERITS),
    f("policy.recovery_threshold", "Good checks to resolve it", Input::Number, ALL, INHERITS),
    f("policy.reminder_interval_s", "Remind every (s)", Input::Number, ALL, INHERITS),
    f("policy.notify_on_resolve", "Notify on resolve", Input::YesNo, ALL, INHERITS),
    f(
        "policy.flap_window_s",
        "Flap window (s)",
        Input::Number,
        ALL,
        "0 turns flap detection off; empty: the organisation's default",
    ),
    f("policy.quorum", "Regions that must be down", Input::Number, ALL, INHERITS),
];

impl Field {
    pub fn applies_to(&self, kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }
}

/// The API input for `kind` from the submitted form; fields of other kinds are ignored.
pub fn to_input(kind: &str, form: &FormValues) -> Map<String, Value> {
    let mut out = Map::new();
    let mut policy = Map::new();
    out.insert("kind".into(), Value::String(kind.to_owned()));
    for field in FIELDS.iter().filter(|f| f.applies_to(kind)) {
        let raw = form.get(field.key).map(String::as_str);
        let Some(value) = field_json(field.input, raw) else { continue };
        match field.key.strip_prefix("policy.") {
            Some(k) => policy.insert(k.to_owned(), value),
            None => out.insert(field.key.to_owned(), value),
        };
    }
    out.insert("policy".into(), Value::Object(policy));
    out
}

fn field_json(input: Input, raw: Option<&str>) -> Option<Value> {
    let text = raw.unwrap_or("");
    let trimmed = text.trim();
    match input {
        Input::Check => Some(Value::Bool(raw.is_some())),
        Input::Text => Some(Value::String(trimmed.to_owned())),
        _ if trimmed.is_empty() => None,
        Input::Choice(_) => Some(Value::String(trimmed.to_owned())),
        Input::YesNo => Some(match trimmed {
            "yes" => Value::Bool(true),
            "no" => Value::Bool(false),
            other => Value::String(other.to_owned()),
        }),
        Input::Optional | Input::Multiline => Some(Value::String(text.to_owned())),
        Input::Number => Some(trimmed.parse::<i64>().map_or_else(|_| Value::String(trimmed.to_owned()), Value::from)),
        Input::List => Some(trimmed.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()),
        Input::Headers => Some(Value::Array(text.lines().filter(|l| !l.trim().is_empty()).map(header_json).collect())),
    }
}

fn header_json(line: &str) -> Value {
    let (name, value) = line.split_once(':').unwrap_or((line, ""));
    serde_json::json!({ "name": name.trim(), "value": value.trim() })
}

/// Form text for a stored monitor's input shape (what `draft_json` returns).
pub fn from_input(input: &Map<String, Value>) -> FormValues {
    let mut out = FormValues::new();
    let policy = input.get("policy").and_then(Value::as_object);
    for field in FIELDS {
        let value = match field.key.strip_prefix("policy.") {
            Some(k) => policy.and_then(|p| p.get(k)),
            None => input.get(field.key),
        };
        if let Some(text) = value.and_then(|v| field_text(field.input, v)) {
            out.insert(field.key.to_owned(), text);
        }
    }
    out
}

fn field_text(input: Input, v: &Value) -> Option<String> {
    match (input, v) {
        (_, Value::Null) | (Input::Check, Value::Bool(false)) => None,
        (Input::YesNo, Value::Bool(b)) => Some((if *b { "yes" } else { "no" }).into()),
        (Input::Check, _) => Some("on".into()),
        (Input::List, Value::Array(items)) => {
            Some(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
        }
        (Input::Headers, Value::Array(items)) => Some(
            items
                .iter()
                .map(|h| format!("{}: {}", h["name"].as_str().unwrap_or(""), h["value"].as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        (_, Value::String(s)) => Some(s.clone()),
        (_, other) => Some(other.to_string()),
    }
}

/// The form field an API error's field names: `regions[1]` → `regions`,
/// `headers[0].name` → `headers`; `None` when the form has no such field.
pub fn form_field(api_field: &str) -> Option<&'static str> {
    let base = api_field.split('[').next().unwrap_or(api_field);
    FIELDS.iter().map(|f| f.key).find(|k| *k == base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> FormValues {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn form_text_becomes_the_api_input_shape() {
        let f = form(&[
            ("name", " Shop "),
            ("url", "https://shop.example/health"),
            ("host", "ignored.example"),
            ("interval_s", "30"),
            ("timeout_ms", ""),
            ("tags", "shop, , eu"),
            ("headers", "X-Api-Key: s3cret\n\nAccept: text/html"),
            ("policy.confirm_threshold", "3"),
            ("policy.quorum", ""),
            ("verify_tls", "on"),
        ]);
        let got = Value::Object(to_input("http", &f));
        assert_eq!(got["name"], json!("Shop"));
        assert_eq!(got["interval_s"], json!(30));
        assert!(got.get("timeout_ms").is_none(), "empty numbers take the API default");
        assert!(got.get("host").is_none(), "fields of other kinds are left out");
        assert_eq!(got["tags"], json!(["shop", "eu"]));
        assert_eq!(
            got["headers"],
            json!([{"name": "X-Api-Key", "value": "s3cret"}, {"name": "Accept", "value": "text/html"}])
        );
        assert_eq!(got["policy"], json!({ "confirm_threshold": 3 }), "empty policy fields are not set");
        assert_eq!((got["verify_tls"].clone(), got["follow_redirects"].clone()), (json!(true), json!(false)));
    }

    #[test]
    fn a_number_that_is_not_one_stays_text_for_the_api_to_refuse() {
        let got = to_input("tcp", &form(&[("port", "eighty")]));
        assert_eq!(got["port"], json!("eighty"));
    }

    #[test]
    fn a_stored_monitor_round_trips_through_the_form() {
        let input = json!({
            "kind": "http", "name": "Shop", "url": "https://shop.example/", "method": "GET",
            "headers": [{"name": "Accept", "value": "text/html"}], "body": null,
            "expected_status": "200-399", "keyword": null, "keyword_absent": null, "degraded_after_ms": 800,
            "follow_redirects": true, "verify_tls": false, "interval_s": 60, "timeout_ms": 5000, "retries": 0,
            "regions": ["local"], "tags": ["a", "b"], "paused": false,
            "policy": { "confirm_threshold": 2, "recovery_threshold": 2, "reminder_interval_s": null,
                        "notify_on_resolve": true, "flap_window_s": 900, "quorum": null },
        });
        let Value::Object(input) = input else { unreachable!() };
        let text = from_input(&input);
        assert_eq!(text["tags"], "a, b");
        assert_eq!(text["headers"], "Accept: text/html");
        assert!(!text.contains_key("verify_tls"));
        let back = to_input("http", &text);
        for k in ["name", "url", "headers", "degraded_after_ms", "follow_redirects", "verify_tls", "tags"] {
            assert_eq!(back.get(k), input.get(k), "{k}");
        }
        assert_eq!(
            back["policy"],
            json!({ "confirm_threshold": 2, "recovery_threshold": 2, "notify_on_resolve": true, "flap_window_s": 900 })
        );
    }

    #[test]
    fn api_error_fields_point_at_form_fields() {
        assert_eq!(form_field("regions[1]"), Some("regions"));
        assert_eq!(form_field("headers[0].name"), Some("headers"));
        assert_eq!(form_field("policy.quorum"), Some("policy.quorum"));
        assert_eq!(form_field("channels"), None);
    }
}

//! The monitor form's fields and the two conversions around them: submitted form text into
//! the API's flat JSON input shape (so [`crate::api::monitors::parse_draft`] refuses bad
//! input with the API's own message), and a stored monitor back into form text for editing.
//! Form field names are the API's field names; policy fields are written `policy.<name>`.
//! A nullable policy field (reminders, quorum) is a three-way choice sent as
//! `policy.<name>.choice`: `inherit` (not set: the organisation's default), `value` (the
//! number in `policy.<name>`), or its explicit "none" word (`never`, `majority`), which the
//! API input writes as `null`.

use crate::base::ApiError;
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
    /// One entry per line, into a list of strings; left out when empty.
    Lines,
    Multiline,
    Choice(&'static [&'static str]),
    /// `yes` / `no` into a boolean; left out when empty (the organisation's default).
    YesNo,
    /// A nullable policy field: inherit, a number, or its explicit "none" ([`OrNone`]).
    OrNone(&'static OrNone),
}

/// What "none" (`null`) means for a nullable policy field, and how the form words it.
pub struct OrNone {
    /// The choice's value in the form for "none" (`never`, `majority`).
    pub word: &'static str,
    /// The words for "none" (`never`, `a majority of live regions`).
    pub none: &'static str,
    /// The words before the number (`every`) and after it (`s`; `one` after a 1).
    pub before: &'static str,
    pub unit: &'static str,
    pub one: &'static str,
}

/// The choice a nullable field's value is read by: `policy.quorum.choice`.
pub fn choice_key(key: &str) -> String {
    format!("{key}.choice")
}

pub const INHERIT: &str = "inherit";
pub const VALUE: &str = "value";

impl OrNone {
    /// An effective value in words: `never`, `every 600 s`.
    pub fn describe(&self, v: &Value) -> String {
        match v {
            Value::Null => self.none.to_owned(),
            v => {
                let unit = if v.as_u64() == Some(1) { self.one } else { self.unit };
                format!("{} {v} {unit}", self.before).trim().to_owned()
            }
        }
    }

    /// The chosen one of the three; a form sent without a choice (an older page, a script)
    /// means a value when the number is filled in, else inherit.
    pub fn choice<'a>(&self, key: &str, form: &'a FormValues) -> &'a str {
        match form.get(&choice_key(key)).map(|c| c.trim()) {
            Some(c) if !c.is_empty() => c,
            _ if form.get(key).is_some_and(|n| !n.trim().is_empty()) => VALUE,
            _ => INHERIT,
        }
    }

    /// The API input for the field: left out (inherit), `null` (none) or the number.
    fn json(&self, key: &str, form: &FormValues) -> Result<Option<Value>, ApiError> {
        let number = form.get(key).map(|n| n.trim()).unwrap_or("");
        let choice = self.choice(key, form);
        match choice {
            INHERIT => Ok(None),
            VALUE if number.is_empty() => {
                Err(ApiError::invalid(key, format!("enter a number, or choose {INHERIT} or {}", self.none)))
            }
            VALUE => Ok(field_json(Input::Number, Some(number))),
            w if w == self.word => Ok(Some(Value::Null)),
            other => Err(ApiError::invalid(
                key,
                format!("{other} is not a choice here; choose {INHERIT}, {VALUE} or {}", self.word),
            )),
        }
    }
}

const REMINDERS: OrNone = OrNone { word: "never", none: "never", before: "every", unit: "s", one: "s" };
const QUORUM: OrNone =
    OrNone { word: "majority", none: "a majority of live regions", before: "", unit: "regions", one: "region" };

pub struct Field {
    pub key: &'static str,
    pub label: &'static str,
    pub input: Input,
    /// The kinds this field belongs to; empty means every kind.
    pub kinds: &'static [&'static str],
    pub hint: &'static str,
}

pub const KINDS: [&str; 8] = ["http", "tcp", "dns", "tls", "websocket", "ping", "grpc", "heartbeat"];
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
    f("url", "URL", Input::Text, &["http", "websocket"], "http:// or https:// (WebSocket: ws:// or wss://)"),
    f("method", "Method", Input::Choice(METHODS), &["http"], ""),
    f("headers", "Request headers", Input::Headers, &["http"], "one Name: value per line"),
    f("body", "Request body", Input::Multiline, &["http"], "optional"),
    f("expected_status", "Expected status", Input::Optional, &["http"], "e.g. 200-299,301; empty: 200-399"),
    f("keyword", "Body must contain", Input::Optional, &["http"], "optional"),
    f("keyword_absent", "Body must not contain", Input::Optional, &["http"], "optional"),
    f(
        "assertions",
        "Response assertions",
        Input::Lines,
        &["http"],
        "one per line, all must hold: $.status == \"ok\", $.items.length > 0, header.content-type contains \"json\"",
    ),
    f(
        "degraded_after_ms",
        "Degraded after (ms)",
        Input::Number,
        &["http", "websocket", "ping", "grpc"],
        "optional; slower answers are degraded (ping: the average round trip)",
    ),
    f("follow_redirects", "Follow redirects", Input::Check, &["http"], ""),
    f("send", "Message to send", Input::Optional, &["websocket"], "optional text sent once connected"),
    f("expect", "Reply must contain", Input::Optional, &["websocket"], "optional; empty: the handshake is enough"),
    f("host", "Host", Input::Text, &["tcp", "tls", "ping", "grpc"], ""),
    f("port", "Port", Input::Number, &["tcp", "tls", "grpc"], ""),
    f(
        "service",
        "Service",
        Input::Optional,
        &["grpc"],
        "as registered, e.g. shop.v1.Cart; empty: the server as a whole",
    ),
    f("tls", "Use TLS", Input::Check, &["grpc"], "off: plaintext HTTP/2 (h2c)"),
    f("count", "Packets", Input::Number, &["ping"], "echo requests per check, 1 to 10; empty: 3"),
    f("packet_interval_ms", "Between packets (ms)", Input::Number, &["ping"], "10 to 1000; empty: 200"),
    f(
        "loss_threshold_percent",
        "Down at packet loss (%)",
        Input::Number,
        &["ping"],
        "1 to 100; empty: 100 (down only when every packet is lost)",
    ),
    f("ip_version", "IP version", Input::Number, &["ping"], "4 or 6; empty: the host's first address"),
    f("query", "Name to resolve", Input::Text, &["dns"], "e.g. example.com"),
    f("record_type", "Record type", Input::Choice(RECORD_TYPES), &["dns"], ""),
    f("expected", "Expected answer", Input::Optional, &["dns"], "optional"),
    f("resolver", "Resolver", Input::Optional, &["dns"], "optional ip:port; the system resolver when empty"),
    f("warn_days", "Warn days before expiry", Input::Number, &["tls"], ""),
    f("verify_tls", "Verify TLS certificate", Input::Check, &["http", "tls", "websocket", "grpc"], ""),
    f("grace_s", "Grace (s)", Input::Number, &["heartbeat"], "how late a beat may be"),
    f("interval_s", "Interval (s)", Input::Number, ALL, ""),
    f("timeout_ms", "Timeout (ms)", Input::Number, ALL, ""),
    f("retries", "Retries", Input::Number, ALL, "extra attempts inside one check"),
    f("regions", "Regions", Input::List, ALL, "comma-separated"),
    f("tags", "Tags", Input::List, ALL, "comma-separated"),
    f("paused", "Paused", Input::Check, ALL, ""),
    f("policy.confirm_threshold", "Failed checks to open an incident", Input::Number, ALL, INHERITS),
    f("policy.recovery_threshold", "Good checks to resolve it", Input::Number, ALL, INHERITS),
    f("policy.reminder_interval_s", "Reminders while down", Input::OrNone(&REMINDERS), ALL, "at least 60 s"),
    f("policy.notify_on_resolve", "Notify on resolve", Input::YesNo, ALL, INHERITS),
    f(
        "policy.flap_window_s",
        "Flap window (s)",
        Input::Number,
        ALL,
        "0 turns flap detection off; empty: the organisation's default",
    ),
    f(
        "policy.quorum",
        "Regions that must be down",
        Input::OrNone(&QUORUM),
        ALL,
        "more than are live means all of them",
    ),
];

impl Field {
    pub fn applies_to(&self, kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }
}

/// The API input for `kind` from the submitted form; fields of other kinds are ignored. A
/// nullable policy field's choice that cannot be read is refused here, naming the field.
pub fn to_input(kind: &str, form: &FormValues) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    let mut policy = Map::new();
    out.insert("kind".into(), Value::String(kind.to_owned()));
    for field in FIELDS.iter().filter(|f| f.applies_to(kind)) {
        let raw = form.get(field.key).map(String::as_str);
        let value = match field.input {
            Input::OrNone(n) => n.json(field.key, form)?,
            input => field_json(input, raw),
        };
        let Some(value) = value else { continue };
        match field.key.strip_prefix("policy.") {
            Some(k) => policy.insert(k.to_owned(), value),
            None => out.insert(field.key.to_owned(), value),
        };
    }
    out.insert("policy".into(), Value::Object(policy));
    Ok(out)
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
        Input::Optional | Input::Multiline | Input::OrNone(_) => Some(Value::String(text.to_owned())),
        Input::Number => Some(trimmed.parse::<i64>().map_or_else(|_| Value::String(trimmed.to_owned()), Value::from)),
        Input::List => Some(trimmed.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()),
        Input::Headers => Some(Value::Array(text.lines().filter(|l| !l.trim().is_empty()).map(header_json).collect())),
        Input::Lines => Some(text.lines().map(str::trim).filter(|l| !l.is_empty()).collect()),
    }
}

fn header_json(line: &str) -> Value {
    let (name, value) = line.split_once(':').unwrap_or((line, ""));
    serde_json::json!({ "name": name.trim(), "value": value.trim() })
}

/// Form text for a stored monitor's input shape (what `draft_json` returns: its policy has
/// only the fields the monitor sets, `null` for an explicit "none").
pub fn from_input(input: &Map<String, Value>) -> FormValues {
    let mut out = FormValues::new();
    let policy = input.get("policy").and_then(Value::as_object);
    for field in FIELDS {
        let value = match field.key.strip_prefix("policy.") {
            Some(k) => policy.and_then(|p| p.get(k)),
            None => input.get(field.key),
        };
        if let Input::OrNone(n) = field.input {
            let choice = match value {
                None => INHERIT,
                Some(Value::Null) => n.word,
                Some(_) => VALUE,
            };
            out.insert(choice_key(field.key), choice.to_owned());
        }
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
        (Input::Lines, Value::Array(items)) => {
            Some(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"))
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
            ("assertions", "$.status == \"ok\"\n\n  size < 1000 "),
            ("policy.confirm_threshold", "3"),
            ("policy.quorum", ""),
            ("verify_tls", "on"),
        ]);
        let got = Value::Object(to_input("http", &f).unwrap());
        assert_eq!(got["name"], json!("Shop"));
        assert_eq!(got["interval_s"], json!(30));
        assert!(got.get("timeout_ms").is_none(), "empty numbers take the API default");
        assert!(got.get("host").is_none(), "fields of other kinds are left out");
        assert_eq!(got["tags"], json!(["shop", "eu"]));
        assert_eq!(
            got["headers"],
            json!([{"name": "X-Api-Key", "value": "s3cret"}, {"name": "Accept", "value": "text/html"}])
        );
        assert_eq!(got["assertions"], json!(["$.status == \"ok\"", "size < 1000"]));
        assert_eq!(got["policy"], json!({ "confirm_threshold": 3 }), "empty policy fields are not set");
        assert_eq!((got["verify_tls"].clone(), got["follow_redirects"].clone()), (json!(true), json!(false)));
    }

    #[test]
    fn a_number_that_is_not_one_stays_text_for_the_api_to_refuse() {
        let got = to_input("tcp", &form(&[("port", "eighty")])).unwrap();
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
        let back = to_input("http", &text).unwrap();
        for k in ["name", "url", "headers", "degraded_after_ms", "follow_redirects", "verify_tls", "tags"] {
            assert_eq!(back.get(k), input.get(k), "{k}");
        }
        assert_eq!(
            back["policy"],
            json!({ "confirm_threshold": 2, "recovery_threshold": 2, "notify_on_resolve": true, "flap_window_s": 900,
                    "reminder_interval_s": null, "quorum": null }),
            "an explicit never / majority stays explicit"
        );
    }

    #[test]
    fn a_nullable_policy_field_is_inherit_a_value_or_its_none() {
        let policy = |pairs: &[(&str, &str)]| to_input("tcp", &form(pairs)).map(|m| m["policy"].clone());
        let r = "policy.reminder_interval_s";
        let choice = "policy.reminder_interval_s.choice";
        assert_eq!(policy(&[(choice, "never"), (r, "600")]).unwrap(), json!({ "reminder_interval_s": null }));
        assert_eq!(policy(&[(choice, "inherit"), (r, "600")]).unwrap(), json!({}));
        assert_eq!(policy(&[(choice, "value"), (r, "600")]).unwrap(), json!({ "reminder_interval_s": 600 }));
        assert_eq!(policy(&[(r, "600")]).unwrap(), json!({ "reminder_interval_s": 600 }), "no choice sent: the number");
        assert_eq!(policy(&[("policy.quorum.choice", "majority")]).unwrap(), json!({ "quorum": null }));
        let e = policy(&[(choice, "value"), (r, " ")]).unwrap_err();
        assert_eq!(e.field.as_deref(), Some(r));
        assert!(e.message.contains("enter a number"), "{}", e.message);
        let e = policy(&[("policy.quorum.choice", "never")]).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("policy.quorum"));
    }

    #[test]
    fn api_error_fields_point_at_form_fields() {
        assert_eq!(form_field("regions[1]"), Some("regions"));
        assert_eq!(form_field("headers[0].name"), Some("headers"));
        assert_eq!(form_field("policy.quorum"), Some("policy.quorum"));
        assert_eq!(form_field("channels"), None);
    }
}
